//! A PostgreSQL database of a benchmark's own, created on the server named
//! by `STRONGROOM_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and dropped after, whatever
//! the benchmark's outcome.

use anyhow::Context;
use diesel::{Connection, RunQueryDsl};

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
    let name = format!("strongroom_bench_{}", uuid::Uuid::new_v4().simple());
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin)?;
    let url = format!("{}/{name}", admin_url.rsplit_once('/').context("url")?.0);
    let result = bench(&url);
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)?;
    result.map(Some)
}
