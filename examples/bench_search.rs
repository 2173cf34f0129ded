//! Search benchmark (issue 17, point 7): equality lookups through a blind
//! index among N records (100,000 by default, 1,000,000 with `--million`)
//! beside a lookup on a plaintext indexed column and a read by id, in the
//! same run, and the insert cost of one index a record. On an SQLite file
//! and on PostgreSQL.
//!
//! Run: `cargo run --release --example bench_search -- [--records N]
//! [--million] [--backend sqlite|postgres|both] [--rounds R] [--lookups L]
//! [--bits B]` (defaults: 100,000 records, both backends, 3 rounds of 1,000
//! lookups of each kind, the bits the planner picks for N records).
//!
//! For each backend it:
//! - writes N records of type `ssn_indexed` with a blind index on the
//!   sensitive field `ssn` (11 bytes, every value distinct; a second
//!   sensitive field `name`, 16 bytes), and the same N values as records of
//!   type `ssn_unindexed`, which declares no index, with `put_many` in
//!   batches of 10,000, the two types alternating batch by batch (which goes
//!   first alternates too); and the same values into the benchmark's own
//!   plain diesel table, `bench_plain (id, ssn, name)` with a B-tree index on
//!   `ssn`, in the same database. Insert cost of the index: records/s with
//!   and without it, and the median of each batch pair's ratio;
//! - prints the plans of strongroom's lookup, two statements
//!   (`records::select` in `src/store/records.rs`): the candidates' ids from
//!   `blind_index_values` by one equality a value (`indexes::candidates` in
//!   `src/store/indexes.rs`), then their records by primary key
//!   (`EXPLAIN QUERY PLAN` on SQLite; on PostgreSQL `EXPLAIN (ANALYZE,
//!   BUFFERS)` of each statement prepared with parameters, as diesel
//!   prepares it, both as a custom plan and as the generic plan a cached
//!   statement may switch to), and the plan of the plain lookup. strongroom
//!   does not expose its SQL: the statements are **reconstructed by hand**
//!   from that code, with the same select lists, conditions, order and
//!   `limit + 1`; the benchmark checks that they return as many rows as the
//!   library's query had candidates. If the first search of a phase takes
//!   more than a second, the plans are only explained, not run, and no
//!   lookups are timed in that phase (PostgreSQL's `statement_timeout` is
//!   60 s in the scratch database);
//! - times random exact-match lookups, `--rounds` rounds of `--lookups`
//!   each, the three kinds in turns for the same random record: strongroom's
//!   `query` with `index_eq` (index values, candidates, verify, decrypt,
//!   compare; both fields decoded), plain diesel's `SELECT … WHERE ssn = $1`
//!   and strongroom's `get` of the same record by id (both fields decoded).
//!   Median and p95 of each kind, the ratios search / plain and search /
//!   get (median of each round's ratio of medians, range over the rounds)
//!   and the average number of discarded candidates a lookup;
//! - does all that twice: with the planner statistics the database has
//!   right after the inserts (strongroom never runs `ANALYZE`; PostgreSQL's
//!   autovacuum may have), then after `ANALYZE`.
//!
//! Its last line is one JSON object, `{"search": {"sqlite": {...},
//! "postgres": {...}, "machine": {...}}}` (a backend not run is `null`).
//! PostgreSQL from `STRONGROOM_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`), in a scratch database of
//! this run's own, dropped at the end; the SQLite file lives in a temporary
//! directory removed at the end.

#[path = "common/machine.rs"]
mod machine;
#[path = "common/scratch_pg.rs"]
mod scratch_pg;

use machine::{cpu_time, load_average, source_commit};

use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Integer, Text};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use strongroom::index::{plan, IndexQuery, IndexSpec, DEFAULT_BITS};
use strongroom::{Client, ClientId, Fields, NewRecord, Plain, Query, RecordId, Store};

const INDEXED: &str = "ssn_indexed";
const UNINDEXED: &str = "ssn_unindexed";
const INDEX: &str = "ssn";
/// Records a `put_many` writes.
const BATCH: usize = 10_000;
/// Rows a plain multi-row `INSERT` statement holds.
const PLAIN_ROWS_PER_STATEMENT: usize = 200;
/// Untimed lookups of each kind before the timed ones.
const WARMUP: usize = 50;
/// A first search slower than this skips the phase's timed lookups.
const SLOW: Duration = Duration::from_secs(1);
/// PostgreSQL's `statement_timeout` in the scratch database: a lookup
/// whose plan scans every record for every candidate must not run for
/// hours.
const PG_STATEMENT_TIMEOUT: &str = "60s";
/// The default page size of a `Query` (100), plus one: the `LIMIT` the
/// library binds.
const QUERY_LIMIT: i64 = 101;

diesel::table! {
    bench_plain (id) {
        id -> Text,
        ssn -> Text,
        name -> Text,
    }
}

#[derive(Insertable)]
#[diesel(table_name = bench_plain, treat_none_as_default_value = false)]
struct PlainRow {
    id: String,
    ssn: String,
    name: String,
}

const CREATE_PLAIN: &str = "CREATE TABLE bench_plain (id TEXT PRIMARY KEY NOT NULL, \
     ssn TEXT NOT NULL, name TEXT NOT NULL); \
     CREATE INDEX bench_plain_by_ssn ON bench_plain (ssn)";

/// Record `i`'s SSN, `AAA-GG-SSSS`: distinct for every `i` below 10^9
/// (multiplying by 3^18, which is prime to 10^9, permutes the residues), so
/// neighbouring records get unrelated values.
fn ssn(i: usize) -> String {
    let v = (i as u64 * 387_420_489) % 1_000_000_000;
    format!(
        "{:03}-{:02}-{:04}",
        v / 1_000_000,
        (v / 10_000) % 100,
        v % 10_000
    )
}

/// Record `i`'s name, 16 bytes.
fn name(i: usize) -> String {
    format!("name-{i:011}")
}

fn new_records(record_type: &str, range: std::ops::Range<usize>) -> anyhow::Result<Vec<NewRecord>> {
    range
        .map(|i| {
            let fields = Fields::new().with("ssn", &ssn(i))?.with("name", &name(i))?;
            Ok(NewRecord::new(record_type, fields, Plain::new()))
        })
        .collect()
}

// ---------------------------------------------------------------------
// The database as plain diesel sees it.

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct ValueRow {
    #[diesel(sql_type = Binary)]
    value: Vec<u8>,
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

#[derive(QueryableByName)]
struct PgPlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

#[derive(QueryableByName)]
struct Analyzed {
    #[diesel(sql_type = Text)]
    relname: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    analyzed: bool,
}

/// Statements and their plans (a heading, then the plan's lines).
type Plans = Vec<(String, Vec<String>)>;

/// One backend's plain connection: the benchmark's own table, plans and
/// sizes.
trait Db {
    /// Creates `bench_plain` and its index.
    fn create_plain(&mut self) -> anyhow::Result<()>;
    /// Inserts rows into `bench_plain` in one transaction, in multi-row
    /// statements.
    fn insert_plain(&mut self, rows: &[PlainRow]) -> anyhow::Result<()>;
    /// The plain lookup: `bench_plain`'s rows whose `ssn` is `ssn`.
    fn lookup_plain(&mut self, ssn: &str) -> anyhow::Result<Vec<(String, String, String)>>;
    /// The blind index value stored for `record`'s index `ssn`.
    fn index_value(&mut self, record: RecordId) -> anyhow::Result<Vec<u8>>;
    /// The plans of strongroom's lookup of `value` among `writer`'s
    /// records, headed, and the rows the statement returns; `run`: run the
    /// statement (PostgreSQL's `EXPLAIN ANALYZE`, and the count; false when
    /// the library's own lookup was too slow to run it again).
    fn lookup_plans(
        &mut self,
        writer: ClientId,
        value: &[u8],
        run: bool,
    ) -> anyhow::Result<(Plans, Option<i64>)>;
    /// The plan of the plain lookup of `ssn`.
    fn plain_plan(&mut self, ssn: &str) -> anyhow::Result<Vec<String>>;
    /// Gathers the planner's statistics.
    fn analyze(&mut self) -> anyhow::Result<()>;
    /// Whether the planner has statistics for `records` and
    /// `blind_index_values`, if the backend can tell.
    fn statistics(&mut self) -> anyhow::Result<String>;
    /// Bytes of `blind_index_values` (table and index) and of
    /// `bench_plain`'s index on `ssn`.
    fn sizes(&mut self) -> anyhow::Result<(i64, i64)>;
    /// Checkpoints (SQLite: truncates the WAL), so the lookups do not
    /// inherit the inserts' dirty pages.
    fn settle(&mut self) -> anyhow::Result<()>;
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The select list of `RECORD_COLUMNS` (`src/store/rows.rs`) on SQLite:
/// `Bytes` columns cast to BLOB, `Wide` ones to BIGINT, the storage
/// classes of the keys.
fn sqlite_record_columns() -> String {
    let blob = |c: &str| format!("CAST(records.{c} AS BLOB)");
    let wide = |c: &str| format!("CAST(records.{c} AS BIGINT)");
    [
        blob("record_id"),
        blob("writer_id"),
        blob("record_type"),
        wide("version"),
        blob("plain"),
        blob("sealed_fields"),
        wide("key_version"),
        blob("batch_id"),
        wide("batch_index"),
        wide("created_at"),
        wide("updated_at"),
        "((typeof(records.record_id) <> 'blob') + 2 * (typeof(records.created_at) <> 'integer') \
         + 4 * (typeof(records.created_at) IN ('text', 'blob')) \
         + 8 * (typeof(records.updated_at) <> 'integer') \
         + 16 * (typeof(records.updated_at) IN ('text', 'blob')))"
            .to_owned(),
        blob("file_head"),
        blob("blind_indexes"),
    ]
    .join(", ")
}

/// The same on PostgreSQL (`Bytes` is the column itself there).
const PG_RECORD_COLUMNS: &str = "records.record_id, records.writer_id, records.record_type, \
     CAST(records.version AS BIGINT), records.plain, records.sealed_fields, \
     CAST(records.key_version AS BIGINT), records.batch_id, \
     CAST(records.batch_index AS BIGINT), CAST(records.created_at AS BIGINT), \
     CAST(records.updated_at AS BIGINT), CAST(0 AS BIGINT), records.file_head, \
     records.blind_indexes";

// strongroom's lookup is two statements (`records::select` in
// src/store/records.rs): the candidates, one equality lookup per index value
// (`indexes::candidates` in src/store/indexes.rs; one live index version
// here, so one value), then the candidates' records by primary key, the
// writer and type conditions wrapped in `coalesce(…, false)` so that no
// index serves them, ordered, `limit + 1`.

/// Statement 1 on SQLite, the value written in.
fn sqlite_candidates_sql(value: &[u8]) -> String {
    format!(
        "SELECT CAST(blind_index_values.record_id AS BLOB) FROM blind_index_values \
         WHERE blind_index_values.record_type = {} AND blind_index_values.index_name = {} \
         AND blind_index_values.value = x'{}'",
        quote(INDEXED),
        quote(INDEX),
        hex::encode(value)
    )
}

/// Statement 2 on SQLite, the values written in (diesel binds `false` as
/// an integer).
fn sqlite_records_sql(writer: ClientId, ids: &[Vec<u8>]) -> String {
    let ids: Vec<String> = ids
        .iter()
        .map(|id| format!("x'{}'", hex::encode(id)))
        .collect();
    format!(
        "SELECT {} FROM records WHERE records.record_id IN ({}) \
         AND coalesce(records.writer_id = x'{}', 0) AND coalesce(records.record_type = {}, 0) \
         ORDER BY records.created_at ASC, records.record_id ASC LIMIT {QUERY_LIMIT}",
        sqlite_record_columns(),
        ids.join(", "),
        hex::encode(writer.as_uuid().as_bytes()),
        quote(INDEXED),
    )
}

/// Statement 1 on PostgreSQL, with parameters where diesel binds them.
const PG_CANDIDATES_SQL: &str = "SELECT blind_index_values.record_id FROM blind_index_values \
     WHERE blind_index_values.record_type = $1 AND blind_index_values.index_name = $2 \
     AND blind_index_values.value = $3";
const PG_CANDIDATES_TYPES: &str = "text, text, bytea";

/// Statement 2 on PostgreSQL: diesel binds `eq_any` as one array
/// (`= ANY($1)`, a `uuid[]`) and `false` as a parameter.
fn pg_records_sql() -> String {
    format!(
        "SELECT {PG_RECORD_COLUMNS} FROM records WHERE records.record_id = ANY($1) \
         AND coalesce(records.writer_id = $2, $3) AND coalesce(records.record_type = $4, $5) \
         ORDER BY records.created_at ASC, records.record_id ASC LIMIT $6"
    )
}
const PG_RECORDS_TYPES: &str = "uuid[], uuid, boolean, text, boolean, bigint";

/// `sql` with `$1`, `$2`, … replaced by `args`.
fn with_args(sql: &str, args: &[String]) -> String {
    let mut out = sql.to_owned();
    for (i, arg) in args.iter().enumerate().rev() {
        out = out.replace(&format!("${}", i + 1), arg);
    }
    out
}

impl Db for diesel::SqliteConnection {
    fn create_plain(&mut self) -> anyhow::Result<()> {
        self.batch_execute(CREATE_PLAIN)?;
        Ok(())
    }

    fn insert_plain(&mut self, rows: &[PlainRow]) -> anyhow::Result<()> {
        self.transaction(|conn| {
            for chunk in rows.chunks(PLAIN_ROWS_PER_STATEMENT) {
                diesel::insert_into(bench_plain::table)
                    .values(chunk)
                    .execute(conn)?;
            }
            QueryResult::Ok(())
        })?;
        Ok(())
    }

    fn lookup_plain(&mut self, ssn: &str) -> anyhow::Result<Vec<(String, String, String)>> {
        Ok(bench_plain::table
            .filter(bench_plain::ssn.eq(ssn))
            .select((bench_plain::id, bench_plain::ssn, bench_plain::name))
            .load(self)?)
    }

    fn index_value(&mut self, record: RecordId) -> anyhow::Result<Vec<u8>> {
        let rows: Vec<ValueRow> = diesel::sql_query(format!(
            "SELECT value FROM blind_index_values WHERE record_id = x'{}' AND index_name = {}",
            hex::encode(record.as_uuid().as_bytes()),
            quote(INDEX)
        ))
        .load(self)?;
        Ok(rows.into_iter().next().context("no index row")?.value)
    }

    fn lookup_plans(
        &mut self,
        writer: ClientId,
        value: &[u8],
        run: bool,
    ) -> anyhow::Result<(Plans, Option<i64>)> {
        let candidates_sql = sqlite_candidates_sql(value);
        let ids: Vec<ValueRow> = diesel::sql_query(format!(
            "SELECT CAST(record_id AS BLOB) AS value FROM blind_index_values \
             WHERE record_type = {} AND index_name = {} AND value = x'{}'",
            quote(INDEXED),
            quote(INDEX),
            hex::encode(value)
        ))
        .load(self)?;
        let ids: Vec<Vec<u8>> = ids.into_iter().map(|r| r.value).collect();
        let records_sql = sqlite_records_sql(writer, &ids);
        let plans = vec![
            (
                format!("1. EXPLAIN QUERY PLAN {candidates_sql}"),
                sqlite_explain(self, &candidates_sql)?,
            ),
            (
                format!("2. EXPLAIN QUERY PLAN {records_sql}"),
                sqlite_explain(self, &records_sql)?,
            ),
        ];
        let count = if run {
            let count: Vec<Count> =
                diesel::sql_query(format!("SELECT COUNT(*) AS n FROM ({records_sql})"))
                    .load(self)?;
            Some(count[0].n)
        } else {
            None
        };
        Ok((plans, count))
    }

    fn plain_plan(&mut self, ssn: &str) -> anyhow::Result<Vec<String>> {
        sqlite_explain(
            self,
            &format!(
                "SELECT id, ssn, name FROM bench_plain WHERE ssn = {}",
                quote(ssn)
            ),
        )
    }

    fn analyze(&mut self) -> anyhow::Result<()> {
        diesel::sql_query("ANALYZE").execute(self)?;
        Ok(())
    }

    fn statistics(&mut self) -> anyhow::Result<String> {
        let rows: Vec<Count> = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'sqlite_stat1'",
        )
        .load(self)?;
        Ok(if rows[0].n == 0 {
            "none (no sqlite_stat1: SQLite never analyzes by itself)".to_owned()
        } else {
            "sqlite_stat1 present".to_owned()
        })
    }

    fn sizes(&mut self) -> anyhow::Result<(i64, i64)> {
        let size = |conn: &mut Self, names: &str| -> anyhow::Result<i64> {
            let rows: Vec<Count> = diesel::sql_query(format!(
                "SELECT COALESCE(SUM(pgsize), 0) AS n FROM dbstat WHERE name IN ({names})"
            ))
            .load(conn)
            .context("the dbstat virtual table (SQLITE_ENABLE_DBSTAT_VTAB)")?;
            Ok(rows[0].n)
        };
        Ok((
            size(self, "'blind_index_values', 'blind_index_values_lookup'")?,
            size(self, "'bench_plain_by_ssn'")?,
        ))
    }

    fn settle(&mut self) -> anyhow::Result<()> {
        self.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")?;
        Ok(())
    }
}

fn sqlite_explain(conn: &mut diesel::SqliteConnection, sql: &str) -> anyhow::Result<Vec<String>> {
    let rows: Vec<SqlitePlanRow> =
        diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load(conn)?;
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

fn pg_explain(conn: &mut diesel::PgConnection, sql: &str) -> anyhow::Result<Vec<String>> {
    let rows: Vec<PgPlanLine> = diesel::sql_query(sql).load(conn)?;
    Ok(rows.into_iter().map(|r| r.line).collect())
}

impl Db for diesel::PgConnection {
    fn create_plain(&mut self) -> anyhow::Result<()> {
        self.batch_execute(CREATE_PLAIN)?;
        Ok(())
    }

    fn insert_plain(&mut self, rows: &[PlainRow]) -> anyhow::Result<()> {
        self.transaction(|conn| {
            for chunk in rows.chunks(PLAIN_ROWS_PER_STATEMENT) {
                diesel::insert_into(bench_plain::table)
                    .values(chunk)
                    .execute(conn)?;
            }
            QueryResult::Ok(())
        })?;
        Ok(())
    }

    fn lookup_plain(&mut self, ssn: &str) -> anyhow::Result<Vec<(String, String, String)>> {
        Ok(bench_plain::table
            .filter(bench_plain::ssn.eq(ssn))
            .select((bench_plain::id, bench_plain::ssn, bench_plain::name))
            .load(self)?)
    }

    fn index_value(&mut self, record: RecordId) -> anyhow::Result<Vec<u8>> {
        let rows: Vec<ValueRow> = diesel::sql_query(format!(
            "SELECT value FROM blind_index_values WHERE record_id = '{record}'::uuid \
             AND index_name = {}",
            quote(INDEX)
        ))
        .load(self)?;
        Ok(rows.into_iter().next().context("no index row")?.value)
    }

    fn lookup_plans(
        &mut self,
        writer: ClientId,
        value: &[u8],
        run: bool,
    ) -> anyhow::Result<(Plans, Option<i64>)> {
        let explain = if run {
            "EXPLAIN (ANALYZE, BUFFERS)"
        } else {
            "EXPLAIN"
        };
        let candidates_args = [
            quote(INDEXED),
            quote(INDEX),
            format!("'\\x{}'::bytea", hex::encode(value)),
        ];
        let ids: Vec<ValueRow> = diesel::sql_query(format!(
            "SELECT uuid_send(c.record_id) AS value FROM ({}) c",
            with_args(PG_CANDIDATES_SQL, &candidates_args)
        ))
        .load(self)?;
        let ids: Vec<String> = ids
            .iter()
            .map(|r| uuid::Uuid::from_slice(&r.value).map(|u| format!("'{u}'::uuid")))
            .collect::<Result<_, _>>()?;
        let records_sql = pg_records_sql();
        let records_args = [
            format!("ARRAY[{}]::uuid[]", ids.join(", ")),
            format!("'{writer}'::uuid"),
            "false".to_owned(),
            quote(INDEXED),
            "false".to_owned(),
            QUERY_LIMIT.to_string(),
        ];
        let mut plans = Vec::new();
        for (step, name, types, sql, args) in [
            (
                1,
                "bench_candidates",
                PG_CANDIDATES_TYPES,
                PG_CANDIDATES_SQL.to_owned(),
                &candidates_args[..],
            ),
            (
                2,
                "bench_records",
                PG_RECORDS_TYPES,
                records_sql.clone(),
                &records_args[..],
            ),
        ] {
            self.batch_execute(&format!("PREPARE {name}({types}) AS {sql}"))?;
            plans.push((
                format!("{step}. PREPARE {name}({types}) AS {sql}"),
                Vec::new(),
            ));
            let execute = format!("EXECUTE {name}({})", args.join(", "));
            let result = (|| -> anyhow::Result<()> {
                for mode in ["force_custom_plan", "force_generic_plan"] {
                    self.batch_execute(&format!("SET plan_cache_mode = {mode}"))?;
                    plans.push((
                        format!("SET plan_cache_mode = {mode}; {explain} {execute}"),
                        pg_explain(self, &format!("{explain} {execute}"))?,
                    ));
                }
                Ok(())
            })();
            self.batch_execute(&format!("RESET plan_cache_mode; DEALLOCATE {name}"))?;
            result?;
        }
        if !run {
            return Ok((plans, None));
        }
        let count: Vec<Count> = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM ({}) q",
            with_args(&records_sql, &records_args)
        ))
        .load(self)?;
        Ok((plans, Some(count[0].n)))
    }

    fn plain_plan(&mut self, ssn: &str) -> anyhow::Result<Vec<String>> {
        pg_explain(
            self,
            &format!(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT id, ssn, name FROM bench_plain WHERE ssn = {}",
                quote(ssn)
            ),
        )
    }

    fn analyze(&mut self) -> anyhow::Result<()> {
        diesel::sql_query("ANALYZE").execute(self)?;
        Ok(())
    }

    fn statistics(&mut self) -> anyhow::Result<String> {
        let rows: Vec<Analyzed> = diesel::sql_query(
            "SELECT relname::text AS relname, \
             (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL) AS analyzed \
             FROM pg_stat_user_tables \
             WHERE relname IN ('records', 'blind_index_values', 'bench_plain') ORDER BY relname",
        )
        .load(self)?;
        Ok(rows
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r.relname,
                    if r.analyzed {
                        "analyzed"
                    } else {
                        "not analyzed"
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(", "))
    }

    fn sizes(&mut self) -> anyhow::Result<(i64, i64)> {
        let rows: Vec<Count> = diesel::sql_query(
            "SELECT pg_total_relation_size('blind_index_values') AS n \
             UNION ALL SELECT pg_relation_size('bench_plain_by_ssn')",
        )
        .load(self)?;
        Ok((rows[0].n, rows[1].n))
    }

    fn settle(&mut self) -> anyhow::Result<()> {
        self.batch_execute("CHECKPOINT")?;
        Ok(())
    }
}

// ---------------------------------------------------------------------
// Measuring.

/// The median (the mean of the middle two of an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

/// The 95th percentile (nearest rank).
fn p95(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((v.len() as f64) * 0.95).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn range(v: &[f64]) -> (f64, f64) {
    (
        v.iter().copied().fold(f64::INFINITY, f64::min),
        v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

struct Config {
    records: usize,
    rounds: usize,
    lookups: usize,
    bits: u16,
}

/// The three lookups, timed for the same record.
#[derive(Clone, Copy)]
enum Kind {
    Search,
    Plain,
    Get,
}

/// One backend: fill, plans, lookups as loaded and after `ANALYZE`.
fn run_backend(
    label: &str,
    url: &str,
    db: &mut dyn Db,
    cfg: &Config,
    dir: &std::path::Path,
) -> anyhow::Result<Value> {
    let n = cfg.records;
    let load_start = load_average();
    let cpu_start = cpu_time();
    let wall = Instant::now();
    let store = Store::open_or_create(url)?;
    let tag = label.split_whitespace().next().unwrap_or("store");
    let client = Client::open_or_create(dir.join(format!("search-{tag}.profile")), &store)?;
    let spec = IndexSpec::on_field(INDEX).bits(cfg.bits);
    client.declare_indexes(INDEXED, [spec])?;
    let planned = plan(n as u64, cfg.bits);
    println!(
        "\n{label}: {n} records (sensitive `ssn`, 11 bytes, distinct; `name`, 16 bytes); \
         blind index `{INDEX}` keeping {} bits: {:.1} records share a value on average \
         (planner: {})",
        cfg.bits,
        planned.expected_per_value,
        planned
            .warning
            .map_or("no warning".to_owned(), |w| format!("WARNING, {w}"))
    );
    db.create_plain()?;

    // Fill: the indexed and the unindexed type alternate batch by batch,
    // and the plain table takes the same values.
    let mut ids: Vec<RecordId> = Vec::with_capacity(n);
    let (mut with_time, mut without_time, mut plain_time) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut batch_ratios = Vec::new();
    let batches = n.div_ceil(BATCH);
    for b in 0..batches {
        let span = b * BATCH..((b + 1) * BATCH).min(n);
        let indexed = new_records(INDEXED, span.clone())?;
        let unindexed = new_records(UNINDEXED, span.clone())?;
        let (mut with, mut without) = (Duration::ZERO, Duration::ZERO);
        let mut indexed_ids = Vec::new();
        // The indexed type goes first in even batches, the unindexed one in
        // odd ones; the plain table last.
        let order: [usize; 3] = if b % 2 == 0 { [0, 1, 2] } else { [1, 0, 2] };
        for step in order {
            match step {
                0 => {
                    let t = Instant::now();
                    let metas = client.put_many(&indexed)?;
                    with = t.elapsed();
                    indexed_ids = metas.iter().map(|m| m.id).collect();
                }
                1 => {
                    let t = Instant::now();
                    client.put_many(&unindexed)?;
                    without = t.elapsed();
                }
                _ => {
                    let rows: Vec<PlainRow> = span
                        .clone()
                        .map(|i| PlainRow {
                            id: RecordId::random().to_string(),
                            ssn: ssn(i),
                            name: name(i),
                        })
                        .collect();
                    let t = Instant::now();
                    db.insert_plain(&rows)?;
                    plain_time += t.elapsed();
                }
            }
        }
        anyhow::ensure!(indexed_ids.len() == span.len(), "put_many returned too few");
        ids.extend(indexed_ids);
        with_time += with;
        without_time += without;
        batch_ratios.push(with.as_secs_f64() / without.as_secs_f64());
        if b % 10 == 0 || b + 1 == batches {
            println!(
                "  batch {:>4} of {batches}: with the index {:>7.0} records/s, without {:>7.0} \
                 records/s ({:.2}x)",
                b + 1,
                span.len() as f64 / with.as_secs_f64(),
                span.len() as f64 / without.as_secs_f64(),
                with.as_secs_f64() / without.as_secs_f64()
            );
        }
    }
    let with_rate = n as f64 / with_time.as_secs_f64();
    let without_rate = n as f64 / without_time.as_secs_f64();
    let plain_rate = n as f64 / plain_time.as_secs_f64();
    let insert_ratio = median(batch_ratios.clone());
    let (lo, hi) = range(&batch_ratios);
    println!(
        "  insert (put_many, batches of {BATCH}): with the index {with_rate:.0} records/s, \
         without {without_rate:.0} records/s: the index costs {insert_ratio:.2}x the time \
         (median of the batch pairs; {lo:.2}-{hi:.2}); plain diesel inserting the same values \
         {plain_rate:.0} rows/s"
    );
    db.settle()?;
    let (index_bytes, plain_index_bytes) = db.sizes()?;
    println!(
        "  blind_index_values (table and index): {:.1} bytes a record; bench_plain's index on \
         ssn: {:.1} bytes a row",
        index_bytes as f64 / n as f64,
        plain_index_bytes as f64 / n as f64
    );

    let mut json = json!({
        "records": n,
        "bits": cfg.bits,
        "expected_per_value": round2(planned.expected_per_value),
        "planner_warning": planned.warning.map(|w| w.to_string()),
        "insert": {
            "with_index_per_s": with_rate.round(),
            "without_index_per_s": without_rate.round(),
            "with_to_without": round2(insert_ratio),
            "with_to_without_range": [round2(lo), round2(hi)],
            "plain_per_s": plain_rate.round(),
        },
        "index_bytes_per_record": round2(index_bytes as f64 / n as f64),
        "plain_ssn_index_bytes_per_row": round2(plain_index_bytes as f64 / n as f64),
    });

    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    for (phase, analyze) in [("as_loaded", false), ("analyzed", true)] {
        if analyze {
            db.analyze()?;
            println!("  after ANALYZE:");
        } else {
            println!("  with the statistics as loaded:");
        }
        println!("    statistics: {}", db.statistics()?);
        let phase_json = lookups(&client, db, &ids, cfg, &mut rng)?;
        if let Some(object) = json.as_object_mut() {
            object.insert(phase.to_owned(), phase_json);
        }
    }
    let elapsed = wall.elapsed();
    let cpu_share = match (cpu_start, cpu_time()) {
        (Some(a), Some(b)) => Some(round2((b - a).as_secs_f64() / elapsed.as_secs_f64())),
        _ => None,
    };
    if let Some(object) = json.as_object_mut() {
        object.insert(
            "machine".to_owned(),
            json!({
                "load_start": load_start,
                "load_end": load_average(),
                "process_cpu_share": cpu_share,
                "seconds": round2(elapsed.as_secs_f64()),
            }),
        );
    }
    Ok(json)
}

/// Prints the plans, then times the lookups in rounds.
fn lookups(
    client: &Client,
    db: &mut dyn Db,
    ids: &[RecordId],
    cfg: &Config,
    rng: &mut rand::rngs::StdRng,
) -> anyhow::Result<Value> {
    let n = ids.len();

    // One search, timed alone: a plan that scans makes it take seconds (or
    // fail on PostgreSQL's statement timeout), and then nothing more is
    // run in this phase but the plans.
    let probe = rng.gen_range(0..n);
    let value = db.index_value(ids[probe])?;
    let t = Instant::now();
    let probed = client.query(&search_query(&ssn(probe)));
    let probe_time = t.elapsed();
    let (fast, candidates) = match &probed {
        Ok(page) if probe_time < SLOW => (true, page.records.len() + page.discarded),
        Ok(_) => (false, 0),
        Err(err) => {
            println!("    the first search failed after {probe_time:.1?}: {err}");
            (false, 0)
        }
    };
    println!(
        "    the first search (record {probe}, statement not yet prepared): {probe_time:.1?}{}",
        if fast {
            String::new()
        } else {
            format!(
                ": slower than {SLOW:?}, so the plans are not run (EXPLAIN only) and no lookups \
                 are timed in this phase"
            )
        }
    );
    // The plans, for that record's value, and a check that the
    // reconstructed statement finds the candidates the library found.
    let (plans, rows) = db.lookup_plans(client.id(), &value, fast)?;
    if let Some(rows) = rows {
        anyhow::ensure!(
            rows == candidates as i64,
            "the reconstructed lookup returns {rows} rows; the library's query had {candidates} \
             candidates: the reconstruction no longer matches src/store/records.rs"
        );
    }
    println!(
        "    plan of strongroom's lookup (SQL reconstructed from src/store/records.rs; {}):",
        match rows {
            Some(rows) => format!(
                "it returns {rows} rows, the candidates the library's query verified for record \
                 {probe}"
            ),
            None => "not run".to_owned(),
        }
    );
    let mut plan_json = Vec::new();
    for (heading, lines) in &plans {
        println!("      {heading}");
        for line in lines {
            println!("      | {line}");
        }
        plan_json.push(json!({"statement": heading, "plan": lines}));
    }
    let plain_plan = db.plain_plan(&ssn(probe))?;
    println!("    plan of the plain lookup (SELECT id, ssn, name FROM bench_plain WHERE ssn = …):");
    for line in &plain_plan {
        println!("      | {line}");
    }
    if !fast {
        return Ok(json!({
            "first_search_ms": round2(probe_time.as_secs_f64() * 1e3),
            "first_search_error": probed.err().map(|e| e.to_string()),
            "lookups": 0,
            "plans": plan_json,
            "plain_plan": plain_plan,
        }));
    }

    // Warm every path, then the timed rounds.
    for _ in 0..WARMUP {
        let i = rng.gen_range(0..n);
        for kind in [Kind::Search, Kind::Plain, Kind::Get] {
            one(client, db, ids, i, kind)?;
        }
    }
    let mut all = [Vec::new(), Vec::new(), Vec::new()];
    let mut search_to_plain = Vec::new();
    let mut search_to_get = Vec::new();
    let mut discarded = 0usize;
    for round in 0..cfg.rounds {
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        for s in 0..cfg.lookups {
            let i = rng.gen_range(0..n);
            let kinds = [Kind::Search, Kind::Plain, Kind::Get];
            for k in 0..3 {
                let kind = kinds[(s + k) % 3];
                let (took, dropped) = one(client, db, ids, i, kind)?;
                times[kind as usize].push(us(took));
                discarded += dropped;
            }
        }
        let medians: Vec<f64> = times.iter().map(|t| median(t.clone())).collect();
        search_to_plain.push(medians[0] / medians[1]);
        search_to_get.push(medians[0] / medians[2]);
        println!(
            "    round {}: medians search {:.0} µs, plain {:.0} µs, get {:.0} µs: \
             search/plain {:.2}x, search/get {:.2}x",
            round + 1,
            medians[0],
            medians[1],
            medians[2],
            medians[0] / medians[1],
            medians[0] / medians[2]
        );
        for (a, t) in all.iter_mut().zip(times) {
            a.extend(t);
        }
    }
    let total = cfg.rounds * cfg.lookups;
    let stats: Vec<(f64, f64)> = all
        .iter()
        .map(|t| (median(t.clone()), p95(t.clone())))
        .collect();
    let (sp, (sp_lo, sp_hi)) = (median(search_to_plain.clone()), range(&search_to_plain));
    let (sg, (sg_lo, sg_hi)) = (median(search_to_get.clone()), range(&search_to_get));
    let avg_discarded = discarded as f64 / total as f64;
    println!(
        "    {total} lookups of each kind, median / p95: search {:.0} / {:.0} µs, plain {:.0} / \
         {:.0} µs, get by id {:.0} / {:.0} µs",
        stats[0].0, stats[0].1, stats[1].0, stats[1].1, stats[2].0, stats[2].1
    );
    println!(
        "    search / plain {sp:.2}x ({sp_lo:.2}-{sp_hi:.2}), search / get {sg:.2}x \
         ({sg_lo:.2}-{sg_hi:.2}); discarded candidates a search: {avg_discarded:.2} \
         (expected about {:.2})",
        (n as f64 - 1.0) / 2f64.powi(i32::from(cfg.bits))
    );
    Ok(json!({
        "lookups": total,
        "search_median_us": stats[0].0.round(),
        "search_p95_us": stats[0].1.round(),
        "plain_median_us": stats[1].0.round(),
        "plain_p95_us": stats[1].1.round(),
        "get_median_us": stats[2].0.round(),
        "get_p95_us": stats[2].1.round(),
        "search_to_plain": round2(sp),
        "search_to_plain_range": [round2(sp_lo), round2(sp_hi)],
        "search_to_get": round2(sg),
        "search_to_get_range": [round2(sg_lo), round2(sg_hi)],
        "discarded_per_search": round2(avg_discarded),
        "first_search_ms": round2(probe_time.as_secs_f64() * 1e3),
        "plans": plan_json,
        "plain_plan": plain_plan,
    }))
}

fn search_query(value: &str) -> Query {
    Query::new()
        .record_type(INDEXED)
        .index_eq(IndexQuery::new(INDEX).with("ssn", value))
}

/// One lookup of record `i` of the given kind, checked; its time and (for
/// a search) the candidates it discarded.
fn one(
    client: &Client,
    db: &mut dyn Db,
    ids: &[RecordId],
    i: usize,
    kind: Kind,
) -> anyhow::Result<(Duration, usize)> {
    let wanted = ssn(i);
    let t = Instant::now();
    let (found, discarded) = match kind {
        Kind::Search => {
            let page = client.query(&search_query(&wanted))?;
            anyhow::ensure!(
                page.records.len() == 1 && page.skipped.is_empty(),
                "a search found {} records ({} skipped)",
                page.records.len(),
                page.skipped.len()
            );
            let r = &page.records[0];
            anyhow::ensure!(r.id() == ids[i], "a search found another record");
            (
                (r.field::<String>("ssn")?, r.field::<String>("name")?),
                page.discarded,
            )
        }
        Kind::Plain => {
            let mut rows = db.lookup_plain(&wanted)?;
            anyhow::ensure!(rows.len() == 1, "a plain lookup found {} rows", rows.len());
            let (_, s, nm) = rows.remove(0);
            ((s, nm), 0)
        }
        Kind::Get => {
            let r = client.get(ids[i])?;
            ((r.field::<String>("ssn")?, r.field::<String>("name")?), 0)
        }
    };
    let took = t.elapsed();
    anyhow::ensure!(
        found.0 == wanted && found.1 == name(i),
        "a lookup returned other values"
    );
    Ok((took, discarded))
}

fn main() -> anyhow::Result<()> {
    let mut records = 100_000usize;
    let mut backend = "both".to_owned();
    let mut rounds = 3usize;
    let mut lookups = 1000usize;
    let mut bits: Option<u16> = None;
    let usage = "usage: bench_search [--records N] [--million] [--backend sqlite|postgres|both] \
                 [--rounds R] [--lookups L] [--bits B]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().context(usage);
        match a.as_str() {
            "--records" => records = value()?.parse()?,
            "--million" => records = 1_000_000,
            "--backend" => backend = value()?.clone(),
            "--rounds" => rounds = value()?.parse()?,
            "--lookups" => lookups = value()?.parse()?,
            "--bits" => bits = Some(value()?.parse()?),
            other => anyhow::bail!("{usage}; not {other}"),
        }
    }
    anyhow::ensure!(
        ["sqlite", "postgres", "both"].contains(&backend.as_str()),
        "{usage}"
    );
    anyhow::ensure!(
        (2..1_000_000_000).contains(&records) && rounds >= 1 && lookups >= 1,
        "2 to 999,999,999 records, at least one round and one lookup"
    );
    // The planner's bits for this many records (`IndexSpec::expected_records`);
    // `IndexSpec::on_field` alone keeps DEFAULT_BITS, its pick for a million.
    let bits = bits.unwrap_or_else(|| strongroom::index::bits_for(records as u64));
    let cfg = Config {
        records,
        rounds,
        lookups,
        bits,
    };

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (commit, dirty) = source_commit();
    let load_start = load_average();
    println!(
        "strongroom search benchmark: {records} records, index bits {bits} (planner's pick for \
         {records}; IndexSpec's default is {DEFAULT_BITS}), {rounds} rounds of {lookups} lookups, \
         {cores} cores, commit {} (library sources {}), load {load_start:?}; compare ratios, not \
         absolute times",
        commit.as_deref().unwrap_or("?"),
        match dirty {
            Some(true) => "CHANGED since it",
            Some(false) => "as committed",
            None => "?",
        }
    );

    let dir = tempfile::tempdir()?;
    let mut sqlite_json = Value::Null;
    if backend != "postgres" {
        let file = dir.path().join("search.db");
        let url = format!("sqlite://{}", file.display());
        drop(Store::open_or_create(&url)?);
        let mut conn =
            diesel::SqliteConnection::establish(file.to_str().context("a UTF-8 temp path")?)?;
        // The settings strongroom's own connections use (`Store::open`).
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384",
        )?;
        sqlite_json = run_backend("SQLite file", &url, &mut conn, &cfg, dir.path())?;
    }
    let mut postgres_json = Value::Null;
    if backend != "sqlite" {
        let result = scratch_pg::with_scratch_database("PostgreSQL", |url| {
            let mut conn = diesel::PgConnection::establish(url)?;
            // Every connection opened from now on (the store's included).
            conn.batch_execute(&format!(
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout = %L', \
                 current_database(), '{PG_STATEMENT_TIMEOUT}'); END $$"
            ))?;
            drop(conn);
            drop(Store::open_or_create(url)?);
            let mut conn = diesel::PgConnection::establish(url)?;
            run_backend("PostgreSQL", url, &mut conn, &cfg, dir.path())
        })?;
        postgres_json = result.unwrap_or_default();
    }
    let machine = json!({
        "commit": commit,
        "library_sources_changed": dirty,
        "cores": cores,
        "load_start": load_start,
        "load_end": load_average(),
        "rounds": rounds,
        "lookups_per_round": lookups,
    });
    println!(
        "{}",
        json!({"search": {"sqlite": sqlite_json, "postgres": postgres_json, "machine": machine}})
    );
    Ok(())
}
