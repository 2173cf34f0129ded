//! Sharing benchmark: share and revoke on a record type with 10,000 and
//! with 100,000 records (time and rows written must not grow with the
//! count), and a reader's query of 1,000 shared records from 10 writers
//! (10 unwraps, then cache hits). On an SQLite file and on PostgreSQL.
//!
//! Run: `cargo run --release --example bench_sharing`
//! (PostgreSQL from `STRONGROOM_TEST_POSTGRES`; skipped if unreachable).

#[path = "common/scratch_pg.rs"]
mod scratch_pg;

use std::time::{Duration, Instant};

use diesel::{Connection, QueryableByName, RunQueryDsl};
use strongroom::{Client, Fields, NewRecord, Plain, Query, Store};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn key_rows(url: &str) -> anyhow::Result<i64> {
    let sql = "SELECT (SELECT COUNT(*) FROM access_keys) + (SELECT COUNT(*) FROM policies) AS n";
    let rows: Vec<Count> = if let Some(path) = url.strip_prefix("sqlite://") {
        diesel::sql_query(sql).load(&mut diesel::SqliteConnection::establish(path)?)?
    } else {
        diesel::sql_query(sql).load(&mut diesel::PgConnection::establish(url)?)?
    };
    Ok(rows[0].n)
}

fn fill(client: &Client, record_type: &str, n: usize) -> anyhow::Result<()> {
    for start in (0..n).step_by(10_000) {
        let batch: Vec<NewRecord> = (start..(start + 10_000).min(n))
            .map(|i| {
                let fields = Fields::new()
                    .with("name", &format!("{i:016}"))?
                    .with("notes", &"x".repeat(200))?;
                Ok(NewRecord::new(record_type, fields, Plain::new()))
            })
            .collect::<anyhow::Result<_>>()?;
        client.put_many(&batch)?;
    }
    Ok(())
}

fn run(label: &str, url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let store = Store::open_or_create(url)?;
    let open =
        |name: &str| Client::open_or_create(dir.join(format!("{label}-{name}.profile")), &store);
    let writer = open("writer")?;
    let reader = open("reader")?;
    let other = open("other")?;
    println!("\n{label}");
    println!(
        "  {:>8}  {:>10} {:>6}   {:>10} {:>6}",
        "records", "share", "rows", "revoke", "rows"
    );
    for n in [10_000usize, 100_000] {
        let record_type = format!("type_{n}");
        fill(&writer, &record_type, n)?;
        writer.share(&record_type, other.id())?;
        let before = key_rows(url)?;
        let t = Instant::now();
        writer.share(&record_type, reader.id())?;
        let share_time = t.elapsed();
        let share_rows = key_rows(url)? - before;
        let before = key_rows(url)?;
        let t = Instant::now();
        let revoked = writer.revoke(&record_type, reader.id())?;
        let revoke_time = t.elapsed();
        let revoke_rows = revoked.rows_deleted + revoked.wrapped_keys;
        anyhow::ensure!(
            key_rows(url)? - before == revoked.wrapped_keys as i64 - revoked.rows_deleted as i64
        );
        println!(
            "  {n:>8}  {share_time:>10.1?} {share_rows:>6}   {revoke_time:>10.1?} {revoke_rows:>6}"
        );
    }

    // A reader's query over 1,000 records shared by 10 writers.
    let reader = open("multi-reader")?;
    for w in 0..10 {
        let writer = open(&format!("writer-{w}"))?;
        fill(&writer, "shared_type", 100)?;
        writer.share("shared_type", reader.id())?;
    }
    let query = Query::new().record_type("shared_type").shared().limit(1000);
    let t = Instant::now();
    let page = reader.query(&query)?;
    let cold = t.elapsed();
    anyhow::ensure!(page.records.len() == 1000 && page.skipped.is_empty());
    let unwraps_cold = reader.stats().key_unwraps;
    let mut warm = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        anyhow::ensure!(reader.query(&query)?.records.len() == 1000);
        warm.push(t.elapsed());
    }
    warm.sort();
    let warm: Duration = warm[2];
    println!(
        "  reader query, 1,000 records from 10 writers: cold {cold:.1?} ({unwraps_cold} unwraps), warm {warm:.1?} ({} unwraps in total, {} cache hits)",
        reader.stats().key_unwraps,
        reader.stats().key_cache_hits
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!(
        "strongroom sharing benchmark (compare across rows; absolute times depend on the machine)"
    );
    run(
        "SQLite file",
        &format!("sqlite://{}", dir.path().join("share.db").display()),
        dir.path(),
    )?;
    scratch_pg::with_scratch_database("PostgreSQL", |url| run("PostgreSQL", url, dir.path()))?;
    Ok(())
}
