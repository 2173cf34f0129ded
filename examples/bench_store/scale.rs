//! The scale benchmark, `bench_store --scale N` (not in CI): N records of
//! the benchmark's shape (3 sensitive fields of 16, 11 and 200 bytes, 2
//! plain fields: `clinic` with 100 distinct values, `ward` with 7) written
//! through the public API in `put_many` batches of 10,000 into an empty
//! store, on an SQLite file and on PostgreSQL. It prints:
//!
//! - the insert rate of every tenth batch, and of the first and last;
//!   beside them, the median rate of the first tenth of the batches and of
//!   the last tenth (up to ten each), which tells a falling rate from the
//!   noise of two single batches;
//! - a decrypting page of 1,000 at the start and at the end of the keyset
//!   (each field decoded; one untimed read of each, then five alternating
//!   samples, the median);
//! - a page filtered by plain equality (`clinic`, 1% of the records) beside
//!   the unfiltered page at the start, measured the same way;
//! - the pages twice: with the planner statistics the database has right
//!   after the inserts, and after `ANALYZE`;
//! - the query plans of both pages: `EXPLAIN QUERY PLAN` on SQLite,
//!   `EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL, of the SQL strongroom runs
//!   for them as reconstructed in `stored::page_sql` (from
//!   `src/store/records.rs`, values as literals).
//!
//! Its last line is one JSON object: `{"scale": {"sqlite": {...},
//! "postgres": {...}}}`.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use serde_json::json;
use strongroom::{Client, Cursor, Query, Store};

use super::{decode, median, median_f64, new_records, plain_rows, scratch_pg, stored};

/// Records a `put_many` writes.
const BATCH: usize = 10_000;
/// Records a page holds.
const PAGE: usize = 1000;
/// Distinct values of the filtered plain field: 1% selectivity.
const CLINICS: usize = 100;
/// The value the filtered page asks for.
const CLINIC: &str = "clinic-042";
/// Timed samples of each page.
const SAMPLES: usize = 5;

/// Targets: the last batch's insert rate within 1.3x of the first's, the
/// page at the end within 1.5x of the page at the start, the filtered page
/// within 2x of the unfiltered one.
const INSERT_TARGET: f64 = 1.3;
const END_TARGET: f64 = 1.5;
const FILTER_TARGET: f64 = 2.0;

/// A database that can explain a query's plan.
pub trait Explain {
    fn explain(&mut self, sql: &str) -> anyhow::Result<Vec<String>>;
    /// An id (hyphenated UUID) as this backend's SQL literal.
    fn id_literal(&self, id: &str) -> String;
    /// Turns PostgreSQL's parallel workers off (`on` false) or back to
    /// the server's setting, for the session: strongroom's filtered page
    /// runs with them off. Nothing on SQLite.
    fn parallel_workers(&mut self, on: bool) -> anyhow::Result<()>;
    /// Gathers the planner's statistics (`ANALYZE`).
    fn analyze(&mut self) -> anyhow::Result<()>;
}

#[derive(QueryableByName)]
struct SqlitePlanRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Integer)]
    parent: i32,
    #[diesel(sql_type = Text)]
    detail: String,
}

impl Explain for diesel::SqliteConnection {
    fn id_literal(&self, id: &str) -> String {
        format!("x'{}'", id.replace('-', ""))
    }

    fn parallel_workers(&mut self, _on: bool) -> anyhow::Result<()> {
        Ok(())
    }

    fn analyze(&mut self) -> anyhow::Result<()> {
        diesel::sql_query("ANALYZE").execute(self)?;
        Ok(())
    }

    fn explain(&mut self, sql: &str) -> anyhow::Result<Vec<String>> {
        let rows: Vec<SqlitePlanRow> =
            diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load(self)?;
        // Indent each step under its parent, as the sqlite3 shell does.
        let mut depth = std::collections::HashMap::from([(0, 0usize)]);
        Ok(rows
            .iter()
            .map(|row| {
                let d = depth.get(&row.parent).copied().unwrap_or(0) + 1;
                depth.insert(row.id, d);
                format!("{}{}", "  ".repeat(d - 1), row.detail)
            })
            .collect())
    }
}

#[derive(QueryableByName)]
struct PgPlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

impl Explain for diesel::PgConnection {
    fn id_literal(&self, id: &str) -> String {
        format!("'{id}'::uuid")
    }

    fn parallel_workers(&mut self, on: bool) -> anyhow::Result<()> {
        diesel::sql_query(if on {
            "RESET max_parallel_workers_per_gather"
        } else {
            "SET max_parallel_workers_per_gather = 0"
        })
        .execute(self)?;
        Ok(())
    }

    fn analyze(&mut self) -> anyhow::Result<()> {
        diesel::sql_query("ANALYZE").execute(self)?;
        Ok(())
    }

    fn explain(&mut self, sql: &str) -> anyhow::Result<Vec<String>> {
        let rows: Vec<PgPlanLine> =
            diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS) {sql}")).load(self)?;
        Ok(rows.into_iter().map(|row| row.line).collect())
    }
}

/// Runs the scale benchmark on both backends.
pub fn run(n: usize, dir: &std::path::Path) -> anyhow::Result<()> {
    anyhow::ensure!(n >= 2 * PAGE, "--scale needs at least {} records", 2 * PAGE);
    println!(
        "strongroom scale benchmark: {n} records in put_many batches of {BATCH}, on {} cores \
         (compare ratios, not absolute times)",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let mut sqlite_json = serde_json::Value::Null;
    if only.is_empty() || only == "sqlite" {
        let (url, path) = super::sqlite_file(dir, "scale.db")?;
        let mut conn = super::sqlite_connection(&path)?;
        sqlite_json = scale("SQLite file", &url, &mut conn, n, dir)?;
    }
    let mut postgres_json = serde_json::Value::Null;
    if only.is_empty() || only == "postgres" {
        let result = scratch_pg::with_scratch_database("PostgreSQL", |url| {
            drop(Store::open(url)?);
            let mut conn = diesel::PgConnection::establish(url)?;
            scale("PostgreSQL", url, &mut conn, n, dir)
        })?;
        postgres_json = result.unwrap_or_default();
    }
    println!("{{\"scale\": {{\"sqlite\": {sqlite_json}, \"postgres\": {postgres_json}}}}}");
    Ok(())
}

/// One decrypting page of `query`; checks its size.
fn page(client: &Client, query: &Query, expected: usize) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let page = client.query(query)?;
    decode(&page.records)?;
    let took = t.elapsed();
    anyhow::ensure!(
        page.records.len() == expected && page.skipped.is_empty(),
        "a page of {} records ({} skipped), {expected} expected",
        page.records.len(),
        page.skipped.len()
    );
    Ok(took)
}

/// The median of `SAMPLES` reads of each query, taken in turns after one
/// untimed read of each (so both find the key and their batches cached).
fn alternate(client: &Client, queries: &[(&Query, usize)]) -> anyhow::Result<Vec<Duration>> {
    for (query, expected) in queries {
        page(client, query, *expected)?;
    }
    let mut samples = vec![Vec::with_capacity(SAMPLES); queries.len()];
    for _ in 0..SAMPLES {
        for ((query, expected), times) in queries.iter().zip(&mut samples) {
            times.push(page(client, query, *expected)?);
        }
    }
    Ok(samples.into_iter().map(median).collect())
}

fn rate(records: usize, took: Duration) -> f64 {
    records as f64 / took.as_secs_f64()
}

fn scale(
    label: &str,
    url: &str,
    conn: &mut dyn Explain,
    n: usize,
    dir: &std::path::Path,
) -> anyhow::Result<serde_json::Value> {
    println!("\n{label}: {n} records");
    let store = Store::open_or_create(url)?;
    let name = label.split_whitespace().next().unwrap_or("store");
    let client = Client::open_or_create(dir.join(format!("scale-{name}.profile")), &store)?;

    // Inserts, batch by batch.
    let batches = n.div_ceil(BATCH);
    let mut rates = Vec::with_capacity(batches);
    let total = Instant::now();
    for b in 0..batches {
        let len = BATCH.min(n - b * BATCH);
        let records = new_records(&plain_rows(len, CLINICS))?;
        let t = Instant::now();
        client.put_many(&records)?;
        let r = rate(len, t.elapsed());
        rates.push(r);
        if b % 10 == 0 || b + 1 == batches {
            println!(
                "  insert batch {:>4} of {batches} ({:>9} records stored): {r:>8.0} records/s",
                b + 1,
                b * BATCH + len
            );
        }
    }
    let (first, last) = (rates[0], rates[batches - 1]);
    let insert_ratio = first / last;
    println!(
        "  insert: {:.1?} in all; first batch {first:.0} records/s, last {last:.0} records/s: \
         the first {insert_ratio:.2}x the last [target <= {INSERT_TARGET}x: {}]",
        total.elapsed(),
        verdict(insert_ratio, INSERT_TARGET)
    );
    // Two single batches are two samples of a rate that varies from batch
    // to batch on a shared machine: beside the target's figure, the median
    // of the first tenth of the batches against that of the last tenth
    // (up to ten batches each) says whether the rate really falls.
    let tenth = (batches / 10).clamp(1, 10);
    let (head_median, tail_median) = (
        median_f64(rates[..tenth].to_vec()),
        median_f64(rates[batches - tenth..].to_vec()),
    );
    let trend_ratio = head_median / tail_median;
    let (slowest, fastest) = rates
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    println!(
        "  insert trend: median of the first {tenth} batches {head_median:.0} records/s, \
         of the last {tenth} {tail_median:.0} records/s: {trend_ratio:.2}x \
         (single batches ranged {slowest:.0}-{fastest:.0} records/s)"
    );

    // The keyset, walked once without decrypting (records still verified)
    // to find where its last full page starts.
    let walk = Instant::now();
    let mut query = Query::new().record_type("patient").limit(PAGE).meta_only();
    let mut end: Option<Cursor> = None;
    let mut start_of_this: Option<Cursor> = None;
    let mut seen = 0;
    loop {
        let page = client.query(&query)?;
        anyhow::ensure!(page.skipped.is_empty(), "records skipped");
        seen += page.records.len();
        if page.records.len() == PAGE {
            end = start_of_this.clone();
        }
        match page.next {
            Some(cursor) => {
                start_of_this = Some(cursor.clone());
                query = query.after(cursor);
            }
            None => break,
        }
    }
    anyhow::ensure!(seen == n, "the keyset holds {seen} records, {n} written");
    println!(
        "  keyset walked without decrypting in {:.1?} ({} pages)",
        walk.elapsed(),
        n.div_ceil(PAGE)
    );
    let end = end.ok_or_else(|| anyhow::anyhow!("no full page after the first"))?;

    // Pages at the start and at the end of the keyset, and filtered: with
    // the planner statistics the database has right after the inserts
    // (strongroom never runs ANALYZE; PostgreSQL's autovacuum does within
    // a minute or so, SQLite never by itself), then after ANALYZE.
    let mut json = json!({
        "records": n,
        "batch": BATCH,
        "insert_first_per_s": first.round(),
        "insert_last_per_s": last.round(),
        "insert_first_to_last": round3(insert_ratio),
        "insert_batches_per_median": tenth,
        "insert_first_median_per_s": head_median.round(),
        "insert_last_median_per_s": tail_median.round(),
        "insert_median_first_to_last": round3(trend_ratio),
        "insert_batch_range_per_s": [slowest.round(), fastest.round()],
    });
    let queries = Pages {
        start: Query::new().record_type("patient").limit(PAGE),
        end: Query::new().record_type("patient").limit(PAGE).after(end),
        filtered: Query::new()
            .record_type("patient")
            .limit(PAGE)
            .plain_eq("clinic", CLINIC),
        matching: (0..n)
            .filter(|i| (i % BATCH) % CLINICS == 42)
            .count()
            .min(PAGE),
    };
    let writer = client.id().to_string();
    println!("  pages with the statistics as loaded:");
    let loaded = queries.measure(&client, conn, &writer)?;
    conn.analyze()?;
    println!("  pages after ANALYZE:");
    let analyzed = queries.measure(&client, conn, &writer)?;
    if let Some(object) = json.as_object_mut() {
        object.insert("as_loaded".to_owned(), loaded);
        object.insert("analyzed".to_owned(), analyzed);
    }
    Ok(json)
}

/// The pages the scale run reads.
struct Pages {
    start: Query,
    end: Query,
    filtered: Query,
    /// Records the filtered page returns.
    matching: usize,
}

impl Pages {
    /// Times the three pages, prints their ratios and the plans of the
    /// unfiltered and filtered pages.
    fn measure(
        &self,
        client: &Client,
        conn: &mut dyn Explain,
        writer: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let matching = self.matching;
        let times = alternate(
            client,
            &[
                (&self.start, PAGE),
                (&self.end, PAGE),
                (&self.filtered, matching),
            ],
        )?;
        let (start, end, filtered) = (times[0], times[1], times[2]);
        let end_ratio = end.as_secs_f64() / start.as_secs_f64();
        let filter_ratio = filtered.as_secs_f64() / start.as_secs_f64();
        println!(
            "    decrypting page of {PAGE}: at the start {start:.1?}, at the end {end:.1?}: \
             {end_ratio:.2}x [target <= {END_TARGET}x: {}]",
            verdict(end_ratio, END_TARGET)
        );
        println!(
            "    page filtered by plain equality (clinic = {CLINIC}, 1% of the records; \
             {matching} returned): {filtered:.1?}, {filter_ratio:.2}x the unfiltered page \
             [target <= {FILTER_TARGET}x: {}]",
            verdict(filter_ratio, FILTER_TARGET)
        );
        if matching < PAGE {
            println!(
                "    (the filtered page holds fewer than {PAGE} records: a full one needs at \
                 least {} records)",
                PAGE * CLINICS
            );
        }
        // The plans of both, from the SQL strongroom runs for them.
        for (what, tag) in [
            ("unfiltered page", None),
            ("filtered page", Some(stored::meta_tag("clinic", CLINIC))),
        ] {
            let sql = stored::page_sql(&conn.id_literal(writer), "patient", tag, None, PAGE);
            println!("    plan of the {what} (SQL reconstructed from src/store/records.rs):");
            println!("      {sql}");
            // As strongroom runs a filtered page: no parallel workers.
            conn.parallel_workers(tag.is_none())?;
            let plan = conn.explain(&sql);
            conn.parallel_workers(true)?;
            for line in plan? {
                println!("      | {line}");
            }
        }
        Ok(json!({
            "page_start_ms": ms(start),
            "page_end_ms": ms(end),
            "page_end_to_start": round3(end_ratio),
            "filtered_page_ms": ms(filtered),
            "filtered_page_records": matching,
            "filtered_to_unfiltered": round3(filter_ratio),
        }))
    }
}

fn verdict(ratio: f64, target: f64) -> &'static str {
    if ratio <= target {
        "met"
    } else {
        "missed"
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
