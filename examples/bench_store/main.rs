//! Store benchmark: 10,000 records — 3 sensitive fields of 16, 11 and 200
//! bytes and 2 plain fields — written with `put_many` and read back with
//! decrypting queries, beside plain diesel inserting and reading the same
//! rows unencrypted into the same database, in the same run. On an SQLite
//! file and on PostgreSQL.
//!
//! Each round also measures, in the same run:
//! - plain diesel inserting and fetching strongroom's own stored rows
//!   (records, meta index, batch signatures; `stored`), with no parsing or
//!   cryptography: the database work of strongroom's stored shape;
//! - plain diesel inserting and fetching the least stored shape the design
//!   allows (`least_shape`);
//! - the mandated cryptography alone, on one core and on every core
//!   (`floor`);
//! - the stored bytes per record of each, from the database (`size`);
//! - strongroom's reads warm (one client, its caches full) and cold (a
//!   fresh client that must unwrap the key and verify every batch), five
//!   samples each, and single-record `get` latencies warm and cold;
//! - the same workload through the typed layer (`#[derive(Sensitive)]` and
//!   `Repo`), compared with the key-value path.
//!
//! Run: `cargo run --release --example bench_store [records] [rounds]`
//! (default 10000 4; an even number of rounds balances which of the
//! key-value and typed paths goes first). Its last line is one JSON object
//! (see `report`). `--scale N` runs the scale benchmark instead (`scale`).
//! PostgreSQL from `STRONGROOM_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/test` (skipped if unreachable);
//! `BENCH_ONLY=sqlite` or `BENCH_ONLY=postgres` runs one backend.

mod floor;
#[path = "../common/machine.rs"]
mod machine;
mod report;
mod scale;
#[path = "../common/scratch_pg.rs"]
mod scratch_pg;

use machine::{cpu_time, load_average};
mod size;

use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use strongroom::{Client, Fields, NewRecord, Plain, Query, RecordId, Sensitive, Store};

use crate::size::SizeDb;

#[derive(Clone, Sensitive)]
// The same record type as the key-value path (each path writes into a
// freshly emptied store), so both store rows of the same size.
#[sensitive(record_type = "patient")]
struct TypedPatient {
    clinic: String,
    ward: String,
    #[sensitive]
    name: String,
    #[sensitive]
    national_id: String,
    #[sensitive]
    notes: String,
}

diesel::table! {
    plain_patients (id) {
        id -> Text,
        name -> Text,
        national_id -> Text,
        notes -> Text,
        clinic -> Text,
        ward -> Text,
        created_at -> BigInt,
    }
}

#[derive(Insertable, Queryable, Selectable, Clone)]
#[diesel(table_name = plain_patients, treat_none_as_default_value = false)]
struct PlainPatient {
    id: String,
    name: String,
    national_id: String,
    notes: String,
    clinic: String,
    ward: String,
    created_at: i64,
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS plain_patients (id TEXT PRIMARY KEY NOT NULL, \
    name TEXT NOT NULL, national_id TEXT NOT NULL, notes TEXT NOT NULL, clinic TEXT NOT NULL, \
    ward TEXT NOT NULL, created_at BIGINT NOT NULL)";
const INDEX: &str =
    "CREATE INDEX IF NOT EXISTS plain_patients_created ON plain_patients (created_at, id)";

/// A value of `len` bytes that starts with the record's number.
fn value(len: usize, i: usize) -> String {
    let mut s = format!("{i:08}");
    while s.len() < len {
        s.push('x');
    }
    s.truncate(len);
    s
}

/// The benchmark's rows: values of 16, 11 and 200 bytes, `clinics`
/// distinct clinics and 7 wards.
fn plain_rows(n: usize, clinics: usize) -> Vec<PlainPatient> {
    let now = chrono::Utc::now().timestamp_micros();
    (0..n)
        .map(|i| PlainPatient {
            id: RecordId::random().to_string(), // the same time-ordered ids strongroom uses
            name: value(16, i),
            national_id: value(11, i),
            notes: value(200, i),
            clinic: format!("clinic-{:03}", i % clinics),
            ward: format!("ward-{}", i % 7),
            created_at: now,
        })
        .collect()
}

fn new_records(rows: &[PlainPatient]) -> anyhow::Result<Vec<NewRecord>> {
    rows.iter()
        .map(|r| {
            let fields = Fields::new()
                .with("name", &r.name)?
                .with("national_id", &r.national_id)?
                .with("notes", &r.notes)?;
            let plain = Plain::from([
                ("clinic".to_owned(), r.clinic.clone()),
                ("ward".to_owned(), r.ward.clone()),
            ]);
            Ok(NewRecord::new("patient", fields, plain))
        })
        .collect()
}

/// How the plain baseline inserts; it tries each its database has and keeps
/// the fastest, so the ratio never flatters strongroom with a slow baseline.
#[derive(Clone, Copy, Debug)]
enum InsertWay {
    /// Multi-row statements of 200 rows.
    MultiRow,
    /// One prepared single-row statement per row.
    PerRow,
    /// PostgreSQL's binary `COPY … FROM STDIN`.
    Copy,
}

/// Pages through rows by keyset, as strongroom's query does: `fetch` asks
/// for one row more than `page` after the key of the last row kept (none
/// at first), so it knows whether another page follows; returns how many
/// rows there were.
fn count_by_keyset<R, K>(
    page: i64,
    mut fetch: impl FnMut(Option<K>) -> QueryResult<Vec<R>>,
    key: impl Fn(&R) -> K,
) -> anyhow::Result<usize> {
    let page = usize::try_from(page)?;
    let mut total = 0;
    let mut after = None;
    loop {
        let mut rows = fetch(after.take())?;
        let more = rows.len() > page;
        rows.truncate(page);
        total += rows.len();
        match rows.last() {
            Some(last) if more => after = Some(key(last)),
            _ => return Ok(total),
        }
    }
}

/// Inserts `rows` into `table` the given way, inside the caller's
/// transaction.
macro_rules! insert_way {
    ($conn:expr, $table:expr, $rows:expr, $way:expr, $copy:expr) => {
        match $way {
            InsertWay::PerRow => {
                for row in $rows {
                    diesel::insert_into($table).values(row).execute($conn)?;
                }
            }
            InsertWay::MultiRow => {
                for chunk in $rows.chunks(200) {
                    diesel::insert_into($table).values(chunk).execute($conn)?;
                }
            }
            InsertWay::Copy => $copy($conn, $table, $rows)?,
        }
    };
}

/// SQLite has no `COPY` (and `ways` never offers it there).
fn no_copy<T, R>(_: &mut diesel::SqliteConnection, _: T, _: R) -> QueryResult<()> {
    unreachable!("SQLite has no COPY")
}

/// PostgreSQL's binary `COPY … FROM STDIN` of `rows` into `table`.
macro_rules! pg_copy {
    () => {
        |conn: &mut diesel::PgConnection, table, rows| -> QueryResult<()> {
            diesel::copy_from(table)
                .from_insertable(rows)
                .execute(conn)
                .map(drop)
        }
    };
}

// After the macros they use.
mod least_shape;
mod stored;

/// Everything the benchmark does with plain diesel on one database.
trait PlainDb: least_shape::LeastDb + stored::StoredDb + SizeDb {
    /// Creates the plain table if needed and empties it.
    fn reset(&mut self) -> anyhow::Result<()>;
    /// Brings the database to the same state before every timed insert:
    /// on SQLite no free pages and an empty WAL left by earlier phases; on
    /// PostgreSQL no dirty buffers from them.
    fn settle(&mut self) -> anyhow::Result<()>;
    /// The insert ways this database has.
    fn ways(&self) -> &'static [InsertWay];
    /// Inserts in one transaction.
    fn insert(&mut self, rows: &[PlainPatient], way: InsertWay) -> anyhow::Result<()>;
    /// Reads every plain row by keyset pages; returns how many.
    fn read_all(&mut self, page: i64) -> anyhow::Result<usize>;
}

macro_rules! plain_db {
    ($conn:ty, $ways:expr, $copy:expr, $empty_plain:expr, $settle:expr) => {
        impl PlainDb for $conn {
            fn reset(&mut self) -> anyhow::Result<()> {
                diesel::sql_query(CREATE).execute(self)?;
                diesel::sql_query(INDEX).execute(self)?;
                self.batch_execute($empty_plain)?;
                Ok(())
            }

            fn settle(&mut self) -> anyhow::Result<()> {
                self.batch_execute($settle)?;
                Ok(())
            }

            fn ways(&self) -> &'static [InsertWay] {
                $ways
            }

            fn insert(&mut self, rows: &[PlainPatient], way: InsertWay) -> anyhow::Result<()> {
                self.transaction(|conn| {
                    insert_way!(conn, plain_patients::table, rows, way, $copy);
                    Ok::<_, diesel::result::Error>(())
                })?;
                Ok(())
            }

            fn read_all(&mut self, page: i64) -> anyhow::Result<usize> {
                use crate::plain_patients::dsl::{created_at, id, plain_patients as table};
                count_by_keyset(
                    page,
                    |after: Option<(i64, String)>| {
                        let mut q = table
                            .select(PlainPatient::as_select())
                            .order((created_at.asc(), id.asc()))
                            .limit(page + 1)
                            .into_boxed();
                        if let Some((t, last)) = after {
                            // A row-value comparison, as strongroom's own
                            // keyset cursor uses, so both engines seek the
                            // index.
                            q = q.filter(
                                diesel::dsl::sql::<diesel::sql_types::Bool>(
                                    "(plain_patients.created_at, plain_patients.id) > (",
                                )
                                .bind::<diesel::sql_types::BigInt, _>(t)
                                .sql(", ")
                                .bind::<diesel::sql_types::Text, _>(last)
                                .sql(")"),
                            );
                        }
                        q.load(self)
                    },
                    |row: &PlainPatient| (row.created_at, row.id.clone()),
                )
            }
        }
    };
}

plain_db!(
    diesel::SqliteConnection,
    &[InsertWay::MultiRow, InsertWay::PerRow],
    no_copy,
    // SQLite empties a table whole when DELETE has no WHERE.
    "DELETE FROM plain_patients",
    "VACUUM; PRAGMA wal_checkpoint(TRUNCATE)"
);
plain_db!(
    diesel::PgConnection,
    &[InsertWay::MultiRow, InsertWay::PerRow, InsertWay::Copy],
    pg_copy!(),
    // TRUNCATE, as the store's reset does: DELETE would leave dead rows
    // and index entries that slow the next insert.
    "TRUNCATE plain_patients",
    "CHECKPOINT"
);

/// Reads every record through the key-value API, page by page with
/// `query`, decoding each field as an application would.
fn read_encrypted(client: &Client) -> anyhow::Result<usize> {
    let mut total = 0;
    let mut query = Query::new().record_type("patient").limit(1000);
    loop {
        let page = client.query(&query)?;
        anyhow::ensure!(page.skipped.is_empty(), "records skipped");
        decode(&page.records)?;
        total += page.records.len();
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => return Ok(total),
        }
    }
}

/// The same read through `query_pages`, which fetches the next page
/// while the current one is opened.
fn read_encrypted_pages(client: &Client) -> anyhow::Result<usize> {
    let mut total = 0;
    let mut failed = None;
    client
        .query_pages(&Query::new().record_type("patient").limit(1000), |page| {
            let checked = if page.skipped.is_empty() {
                decode(&page.records)
            } else {
                Err(anyhow::anyhow!("records skipped"))
            };
            match checked {
                Ok(()) => {
                    total += page.records.len();
                    Ok(())
                }
                Err(err) => {
                    failed = Some(err);
                    Err(strongroom::Error::InvalidInput(
                        "the benchmark's check failed",
                    ))
                }
            }
        })
        .map_err(|err| failed.take().unwrap_or_else(|| err.into()))?;
    Ok(total)
}

/// Decodes every field of the records, as an application would.
fn decode(records: &[strongroom::Record]) -> anyhow::Result<()> {
    for record in records {
        let name: String = record.field("name")?;
        let national_id: String = record.field("national_id")?;
        let notes: String = record.field("notes")?;
        std::hint::black_box((name, national_id, notes));
    }
    Ok(())
}

fn typed_values(rows: &[PlainPatient]) -> Vec<TypedPatient> {
    rows.iter()
        .map(|r| TypedPatient {
            clinic: r.clinic.clone(),
            ward: r.ward.clone(),
            name: r.name.clone(),
            national_id: r.national_id.clone(),
            notes: r.notes.clone(),
        })
        .collect()
}

fn read_typed(client: &Client) -> anyhow::Result<usize> {
    let repo = client.repo::<TypedPatient>();
    let mut total = 0;
    let mut query = repo.query().limit(1000);
    loop {
        let page = query.fetch()?;
        anyhow::ensure!(page.skipped.is_empty(), "records skipped");
        total += page.records.len();
        match page.next {
            Some(cursor) => query = repo.query().limit(1000).after(cursor),
            None => return Ok(total),
        }
    }
}

/// Samples of every read (warm and cold alike); a round keeps their median.
const READS: usize = 5;
/// `get` samples per round: warm, with the batch cache cleared, cold.
const GETS: [usize; 3] = [200, 50, 20];

/// The median of `READS` timed runs of `read`.
fn median_of_reads(mut read: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(READS);
    for _ in 0..READS {
        let t = Instant::now();
        read()?;
        times.push(t.elapsed());
    }
    Ok(median(times))
}

/// The median (the mean of the middle two of an even count).
fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2
    } else {
        v[mid]
    }
}

/// The median of numbers (the mean of the middle two of an even count).
fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

/// Every round of one backend.
struct Rounds {
    /// The fastest plain insert way of each round.
    plain_ways: Vec<InsertWay>,
    /// The median plain write of each insert way.
    plain_by_way: Vec<(InsertWay, Duration)>,
    /// Each round's measurements.
    rounds: Vec<Round>,
    /// How busy the machine was.
    machine: Machine,
}

/// How busy the shared machine was during a backend's rounds: the load
/// average (1 minute) at their start and end, and the CPU this process
/// got (user + system time over wall time; the PostgreSQL server's work
/// is not in it). Linux only (`/proc`); `None` elsewhere.
#[derive(Clone, Copy)]
struct Machine {
    load_start: Option<f64>,
    load_end: Option<f64>,
    cpu_share: Option<f64>,
}

/// One round's measurements.
#[derive(Default)]
struct Round {
    plain_write: Duration,
    plain_read: Duration,
    enc_write: Duration,
    /// Reading everything again with the same client (key and batches
    /// cached).
    enc_read: Duration,
    /// Reading everything with a fresh client (one key unwrap, every batch
    /// verified).
    enc_read_cold: Duration,
    /// Reading everything warm through `query_pages` (the next page
    /// fetched while the current one is opened).
    enc_read_pages: Duration,
    /// Inserting strongroom's stored rows (records, meta index, batches)
    /// with plain diesel in one transaction, the fastest way (no sealing,
    /// no signing).
    stored_write: Duration,
    /// Fetching them with plain diesel (no parsing, no cryptography).
    stored_fetch: Duration,
    /// Inserting the least stored shape the design allows (see
    /// `least_shape`), the fastest way.
    least_write: Duration,
    /// Fetching it.
    least_read: Duration,
    typed_write: Duration,
    typed_read: Duration,
    /// `get` of one record: warm (key and batch cached), with the batch
    /// cache cleared, and by a fresh client.
    get_warm: Duration,
    get_batch_uncached: Duration,
    get_cold: Duration,
    /// Stored bytes per record: strongroom's tables, the plain table, the
    /// least shape's table.
    bytes: f64,
    plain_bytes: f64,
    least_bytes: f64,
    /// strongroom's bytes per record, by table.
    per_table: std::collections::BTreeMap<String, f64>,
    /// The mandated cryptography alone (see `floor`).
    floor: Option<floor::Floors>,
}

impl Round {
    fn floor(&self) -> &floor::Floors {
        self.floor.as_ref().expect("measured every round")
    }
}

/// Whether a table is strongroom's.
fn strongroom_table(name: &str) -> bool {
    !stored::NOT_STRONGROOM.contains(&name)
}

/// The client a `get` sample runs on: the warm reader, or a fresh one.
enum Getter<'a> {
    Warm(&'a Client),
    Fresh(Box<Client>),
}

impl Getter<'_> {
    fn client(&self) -> &Client {
        match self {
            Getter::Warm(client) => client,
            Getter::Fresh(client) => client,
        }
    }
}

/// The median time of `get` of each id, on the client `prepare` gives
/// (made, or its cache cleared, before the clock starts); each record is
/// decoded.
fn time_gets<'a>(
    ids: impl Iterator<Item = RecordId>,
    mut prepare: impl FnMut() -> anyhow::Result<Getter<'a>>,
) -> anyhow::Result<Duration> {
    let mut times = vec![];
    for id in ids {
        let getter = prepare()?;
        let t = Instant::now();
        let record = getter.client().get(id)?;
        times.push(t.elapsed());
        decode(std::slice::from_ref(&record))?;
    }
    Ok(median(times))
}

/// `count` ids spread evenly over `ids`.
fn spread(ids: &[RecordId], count: usize) -> impl Iterator<Item = RecordId> + '_ {
    let step = (ids.len() / count.max(1)).max(1);
    ids.iter().step_by(step).take(count).copied()
}

fn run(
    label: &str,
    store_url: &str,
    plain: &mut dyn PlainDb,
    sql_reset: &dyn Fn() -> anyhow::Result<()>,
    n: usize,
    rounds: usize,
    dir: &std::path::Path,
) -> anyhow::Result<Rounds> {
    let store = Store::open_or_create(store_url)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (load_start, cpu_start, wall) = (load_average(), cpu_time(), Instant::now());
    let mut times = vec![];
    let mut fastest_ways = vec![];
    let mut by_way: Vec<(InsertWay, Vec<Duration>)> =
        plain.ways().iter().map(|w| (*w, vec![])).collect();
    for round in 0..rounds {
        sql_reset()?;
        plain.reset()?;
        // One client per path: a client remembers the key versions it used,
        // and each path starts from an emptied store.
        let profiles =
            [false, true].map(|typed| dir.join(format!("{label}-{round}-{typed}.profile")));
        let mut time = Round::default();
        let rows = plain_rows(n, 10);

        // The plain baseline inserts every way its database has and keeps
        // the fastest (see `InsertWay`), starting with a different way each
        // round.
        let mut fastest = Duration::MAX;
        let mut best = InsertWay::MultiRow;
        let ways = plain.ways();
        for k in 0..ways.len() {
            plain.reset()?;
            plain.settle()?;
            let empty = plain.table_bytes()?;
            let way = ways[(round + k) % ways.len()];
            let t = Instant::now();
            plain.insert(&rows, way)?;
            let took = t.elapsed();
            time.plain_bytes =
                size::per_record(&empty, &plain.table_bytes()?, n, |t| t == "plain_patients");
            by_way[(round + k) % ways.len()].1.push(took);
            if took < fastest {
                fastest = took;
                best = way;
            }
        }
        time.plain_write = fastest;
        fastest_ways.push(best);

        time.plain_read = median_of_reads(|| {
            anyhow::ensure!(plain.read_all(1000)? == n);
            Ok(())
        })?;

        // The least stored shape the design allows, with plain diesel.
        let least = least_shape::rows(&rows);
        time.least_write = Duration::MAX;
        for k in 0..ways.len() {
            let way = ways[(round + k) % ways.len()];
            plain.least_reset()?;
            plain.settle()?;
            let empty = plain.table_bytes()?;
            let t = Instant::now();
            plain.least_insert(&least, way)?;
            time.least_write = time.least_write.min(t.elapsed());
            time.least_bytes =
                size::per_record(&empty, &plain.table_bytes()?, n, |t| t == "least_records");
        }
        time.least_read = median_of_reads(|| {
            anyhow::ensure!(plain.least_read_all(1000)? == n);
            Ok(())
        })?;
        plain.least_reset()?;

        // Key-value and typed paths, each into the same empty schema, in
        // alternating order from round to round.
        let typed_first = round % 2 == 1;
        for typed in [typed_first, !typed_first] {
            sql_reset()?;
            let profile = &profiles[usize::from(typed)];
            let writer = Client::open_or_create(profile, &store)?;
            plain.settle()?;
            if typed {
                let values = typed_values(&rows);
                let t = Instant::now();
                writer.repo::<TypedPatient>().insert_many(values)?;
                time.typed_write = t.elapsed();
                let reader = Client::open_or_create(profile, &store)?;
                // A first, cold read fills the caches; the warm ones count.
                anyhow::ensure!(read_typed(&reader)? == n);
                time.typed_read = median_of_reads(|| {
                    anyhow::ensure!(read_typed(&reader)? == n);
                    Ok(())
                })?;
                continue;
            }
            let empty = plain.table_bytes()?;
            // Building the fields is part of the work, as it is for the
            // typed path.
            let t = Instant::now();
            let written = writer.put_many(&new_records(&rows)?)?;
            time.enc_write = t.elapsed();
            let ids: Vec<RecordId> = written.iter().map(|meta| meta.id).collect();
            let full = plain.table_bytes()?;
            time.bytes = size::per_record(&empty, &full, n, strongroom_table);
            time.per_table = size::per_table(&empty, &full, n, strongroom_table);

            // Cold: a fresh client each time (made before the clock starts),
            // which unwraps the key once and verifies every batch.
            let batches = u64::try_from(n.div_ceil(200))?;
            let mut cold = vec![];
            let mut reader = None;
            for _ in 0..READS {
                let fresh = Client::open_or_create(profile, &store)?;
                let t = Instant::now();
                anyhow::ensure!(read_encrypted(&fresh)? == n);
                cold.push(t.elapsed());
                let stats = fresh.stats();
                anyhow::ensure!(
                    stats.key_unwraps == 1 && stats.batch_verifications == batches,
                    "a cold read unwrapped {} keys and verified {} batches",
                    stats.key_unwraps,
                    stats.batch_verifications
                );
                reader = Some(fresh);
            }
            time.enc_read_cold = median(cold);
            // Warm: the last of those clients again, its caches full.
            let reader = reader.context("no reads")?;
            time.enc_read = median_of_reads(|| {
                anyhow::ensure!(read_encrypted(&reader)? == n);
                Ok(())
            })?;
            time.enc_read_pages = median_of_reads(|| {
                anyhow::ensure!(read_encrypted_pages(&reader)? == n);
                Ok(())
            })?;
            let stats = reader.stats();
            anyhow::ensure!(
                stats.key_unwraps == 1 && stats.batch_verifications == batches,
                "a warm read unwrapped a key or verified a batch"
            );

            // `get`: warm, with the batch cache cleared, by a fresh client.
            let fresh = || {
                Ok(Getter::Fresh(Box::new(Client::open_or_create(
                    profile, &store,
                )?)))
            };
            time.get_warm = time_gets(spread(&ids, GETS[0]), || Ok(Getter::Warm(&reader)))?;
            time.get_batch_uncached = time_gets(spread(&ids, GETS[1]), || {
                reader.clear_batch_cache();
                Ok(Getter::Warm(&reader))
            })?;
            time.get_cold = time_gets(spread(&ids, GETS[2]), fresh)?;

            let writer_id = writer.id().to_string();
            time.stored_fetch = median_of_reads(|| {
                anyhow::ensure!(plain.fetch_stored(&writer_id, 1000)? == n);
                Ok(())
            })?;
            // Taking the rows out and putting them back leaves the
            // store as the write left it.
            time.stored_write = Duration::MAX;
            for k in 0..ways.len() {
                let way = ways[(round + k) % ways.len()];
                let stored = plain.take_stored()?;
                stored.check(n)?;
                plain.settle()?;
                let t = Instant::now();
                plain.insert_stored(&stored, way)?;
                time.stored_write = time.stored_write.min(t.elapsed());
            }
        }
        time.floor = Some(floor::measure(n, cores));
        times.push(time);
    }
    let cpu_share = match (cpu_start, cpu_time()) {
        (Some(start), Some(end)) => {
            Some((end - start).as_secs_f64() / wall.elapsed().as_secs_f64())
        }
        _ => None,
    };
    Ok(Rounds {
        plain_ways: fastest_ways,
        plain_by_way: by_way.into_iter().map(|(w, d)| (w, median(d))).collect(),
        rounds: times,
        machine: Machine {
            load_start,
            load_end: load_average(),
            cpu_share,
        },
    })
}

/// What re-reading the profile before a key decision costs (once per
/// transaction, never per record): the median of many re-reads when the file
/// is unchanged (a lock and a `stat`) and when another process has just
/// written it (a read, parse and merge).
fn profile_reread_cost(dir: &std::path::Path) -> anyhow::Result<(Duration, Duration)> {
    use strongroom::{PeerTrust, Profile, ProfileOptions};
    let path = dir.join("reread.profile");
    Profile::create(&path, ProfileOptions::named("reread"))?;
    let mut reader = Profile::load(&path, None)?;
    let mut writer = Profile::load(&path, None)?;
    let unchanged = (0..2000)
        .map(|_| {
            let t = Instant::now();
            reader.refresh().map(|()| t.elapsed())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut changed = Vec::with_capacity(200);
    for i in 0..200 {
        writer.set_peer_trust(if i % 2 == 0 {
            PeerTrust::Verified
        } else {
            PeerTrust::FirstUse
        })?;
        let t = Instant::now();
        reader.refresh()?;
        changed.push(t.elapsed());
    }
    Ok((median(unchanged), median(changed)))
}

/// An SQLite store file in `dir` (created with strongroom's schema), and a
/// plain connection to it with the store's settings.
fn sqlite_file(dir: &std::path::Path, name: &str) -> anyhow::Result<(String, String)> {
    let file = dir.join(name);
    let url = format!("sqlite://{}", file.display());
    drop(Store::open_or_create(&url)?);
    Ok((url, file.to_str().context("path")?.to_owned()))
}

/// A plain SQLite connection with the settings strongroom's own
/// connections use (`Store::open`): WAL, `synchronous = NORMAL`, its page
/// cache.
fn sqlite_connection(path: &str) -> anyhow::Result<diesel::SqliteConnection> {
    let mut conn = diesel::SqliteConnection::establish(path)?;
    conn.batch_execute(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384",
    )?;
    Ok(conn)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir()?;
    if args.first().map(String::as_str) == Some("--scale") {
        let n: usize = args
            .get(1)
            .context("usage: bench_store --scale N")?
            .parse()?;
        return scale::run(n, dir.path());
    }
    let n: usize = args
        .first()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let rounds: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(4);
    anyhow::ensure!(
        n >= GETS[0] && rounds >= 1,
        "at least {} records and one round",
        GETS[0]
    );
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("strongroom store benchmark: {cores} cores; compare ratios, not absolute times");

    let (unchanged, changed) = profile_reread_cost(dir.path())?;
    println!(
        "profile re-read before each key decision (once per transaction, e.g. once per \
         put_many of {n} records): {unchanged:.1?} unchanged, {changed:.1?} after another \
         process wrote it"
    );

    let only = std::env::var("BENCH_ONLY").unwrap_or_default();

    // SQLite: one file holds the plaintext table, the least shape's and
    // strongroom's.
    let mut sqlite_json = serde_json::Value::Null;
    if only.is_empty() || only == "sqlite" {
        let (url, path) = sqlite_file(dir.path(), "bench.db")?;
        let mut sqlite = sqlite_connection(&path)?;
        let reset = move || stored::reset_sqlite(&mut diesel::SqliteConnection::establish(&path)?);
        let r = run("sqlite", &url, &mut sqlite, &reset, n, rounds, dir.path())?;
        report::print("SQLite file", n, &r);
        sqlite_json = report::json(n, &r);
    }

    // PostgreSQL: a database of its own, dropped after.
    let mut postgres_json = serde_json::Value::Null;
    if only.is_empty() || only == "postgres" {
        let result = scratch_pg::with_scratch_database("PostgreSQL", |url| {
            drop(Store::open(url)?);
            let mut pg = diesel::PgConnection::establish(url)?;
            let reset_url = url.to_owned();
            let reset =
                move || stored::reset_postgres(&mut diesel::PgConnection::establish(&reset_url)?);
            run("postgres", url, &mut pg, &reset, n, rounds, dir.path())
        })?;
        if let Some(r) = result {
            report::print("PostgreSQL", n, &r);
            postgres_json = report::json(n, &r);
        }
    }
    // The last line: one JSON object, SQLite first (a backend not run is
    // null).
    println!("{{\"sqlite\": {sqlite_json}, \"postgres\": {postgres_json}}}");
    Ok(())
}
