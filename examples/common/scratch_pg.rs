//! A PostgreSQL database of a benchmark's own, created on the server named
//! by `STRONGROOM_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and dropped after, whatever
//! the benchmark's outcome (an error or a panic included).

use anyhow::Context;
use diesel::{Connection, RunQueryDsl};

/// Drops the database when it goes out of scope.
struct Scratch {
    admin: diesel::PgConnection,
    name: String,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(err) = diesel::sql_query(drop).execute(&mut self.admin) {
            eprintln!("could not drop the scratch database {}: {err}", self.name);
        }
    }
}

/// Runs `bench` with the URL of a fresh database, then drops it. An
/// unreachable server is reported loudly and skipped: `Ok(None)`.
pub fn with_scratch_database<T>(
    label: &str,
    bench: impl FnOnce(&str) -> anyhow::Result<T>,
) -> anyhow::Result<Option<T>> {
    let admin_url = std::env::var("STRONGROOM_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mut admin = match diesel::PgConnection::establish(&admin_url) {
        Ok(admin) => admin,
        Err(err) => {
            println!("\n{label}: SKIPPED, not reachable at {admin_url}: {err}");
            return Ok(None);
        }
    };
    // The admin URL with its database name replaced (its query kept).
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url.as_str(), String::new()),
    };
    let server = base.rsplit_once('/').context("a database URL")?.0;
    let name = format!("strongroom_bench_{}", uuid::Uuid::new_v4().simple());
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin)?;
    let scratch = Scratch { admin, name };
    let url = format!("{server}/{}{query}", scratch.name);
    let result = bench(&url);
    drop(scratch);
    result.map(Some)
}
