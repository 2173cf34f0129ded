//! Store benchmark: 10,000 records — 3 sensitive fields of 16, 11 and 200
//! bytes and 2 plain fields — written with `put_many` and read back with a
//! decrypting query (three reads a round, the median kept), beside plain
//! diesel inserting and reading the same rows unencrypted into the same
//! database, in the same run. On an SQLite file and on PostgreSQL.
//!
//! To show what the stored shape itself costs, plain diesel also inserts
//! and fetches strongroom's own stored rows (records, meta index, batch
//! signatures), with no parsing or cryptography; `floor` adds the mandated
//! cryptography to get the least ratio any implementation of the design
//! could reach on this machine.
//!
//! The same workload also runs through the typed layer (`#[derive(Sensitive)]`
//! and `Repo`), compared with the key-value path.
//!
//! Run: `cargo run --release --example bench_store [records] [rounds]`
//! (an even number of rounds balances which of the key-value and typed
//! paths goes first)
//! (PostgreSQL from `STRONGROOM_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/test`; skipped if unreachable).

mod floor;
#[path = "../common/scratch_pg.rs"]
mod scratch_pg;

use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use strongroom::{Client, Fields, NewRecord, Plain, Query, Sensitive, Store};

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

// strongroom's own table, read here without strongroom: what fetching its
// stored rows costs before any parsing or cryptography.
diesel::table! {
    records (record_id) {
        record_id -> Text,
        writer_id -> Text,
        record_type -> Text,
        version -> BigInt,
        plain -> Text,
        data -> Text,
        key_version -> Integer,
        batch_id -> Nullable<Text>,
        batch_index -> Nullable<Integer>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    meta_index (tag, record_id) {
        tag -> BigInt,
        record_id -> Text,
    }
}

diesel::table! {
    record_batches (batch_id) {
        batch_id -> Text,
        writer_id -> Text,
        digests -> Text,
        signature -> Text,
        created_at -> BigInt,
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = records, treat_none_as_default_value = false)]
#[allow(dead_code)] // fetched, never looked at
struct StoredRow {
    record_id: String,
    writer_id: String,
    record_type: String,
    version: i64,
    plain: String,
    data: String,
    key_version: i32,
    batch_id: Option<String>,
    batch_index: Option<i32>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = meta_index, treat_none_as_default_value = false)]
struct StoredMeta {
    tag: i64,
    record_id: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = record_batches, treat_none_as_default_value = false)]
struct StoredBatch {
    batch_id: String,
    writer_id: String,
    digests: String,
    signature: String,
    created_at: i64,
}

/// Everything a `put_many` stored for its records: rows, meta-index rows
/// and batch signatures.
struct Stored {
    records: Vec<StoredRow>,
    meta: Vec<StoredMeta>,
    batches: Vec<StoredBatch>,
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

fn value(len: usize, i: usize) -> String {
    let mut s = format!("{i:08}");
    while s.len() < len {
        s.push('x');
    }
    s.truncate(len);
    s
}

fn plain_rows(n: usize) -> Vec<PlainPatient> {
    let now = chrono::Utc::now().timestamp_micros();
    (0..n)
        .map(|i| PlainPatient {
            id: strongroom::RecordId::random().to_string(), // the same time-ordered ids strongroom uses,
            name: value(16, i),
            national_id: value(11, i),
            notes: value(200, i),
            clinic: format!("clinic-{}", i % 10),
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

trait PlainDb: least_shape::LeastDb {
    fn reset(&mut self) -> anyhow::Result<()>;
    /// Brings the database to the same state before every timed insert:
    /// on SQLite no free pages and an empty WAL left by earlier phases; on
    /// PostgreSQL no dirty buffers from them.
    fn settle(&mut self) -> anyhow::Result<()>;
    /// The insert ways this database has.
    fn ways(&self) -> &'static [InsertWay];
    /// Inserts in one transaction.
    fn insert(&mut self, rows: &[PlainPatient], way: InsertWay) -> anyhow::Result<()>;
    fn read_all(&mut self, page: i64) -> anyhow::Result<usize>;
    /// Fetches `writer`'s stored strongroom rows of type `patient`, as
    /// strongroom's query selects them, without parsing or decrypting.
    fn fetch_stored(&mut self, writer: &str, page: i64) -> anyhow::Result<usize>;
    /// Takes every stored record, meta-index and batch row out of the
    /// database (they are put back by [`PlainDb::insert_stored`]).
    fn take_stored(&mut self) -> anyhow::Result<Stored>;
    /// Inserts stored rows in one transaction, as strongroom's write does
    /// (batches, records, meta index), with no parsing or cryptography.
    fn insert_stored(&mut self, stored: &Stored, way: InsertWay) -> anyhow::Result<()>;
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

macro_rules! plain_db {
    ($conn:ty, $ways:expr, $copy:expr, $empty_plain:expr, $empty_stored:expr, $settle:expr) => {
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

            fn take_stored(&mut self) -> anyhow::Result<Stored> {
                self.transaction(|conn| {
                    let stored = Stored {
                        records: records::table.select(StoredRow::as_select()).load(conn)?,
                        meta: meta_index::table
                            .select(StoredMeta::as_select())
                            .load(conn)?,
                        batches: record_batches::table
                            .select(StoredBatch::as_select())
                            .load(conn)?,
                    };
                    conn.batch_execute($empty_stored)?;
                    Ok(stored)
                })
            }

            fn insert_stored(&mut self, stored: &Stored, way: InsertWay) -> anyhow::Result<()> {
                self.transaction(|conn| {
                    insert_way!(conn, record_batches::table, &stored.batches, way, $copy);
                    insert_way!(conn, records::table, &stored.records, way, $copy);
                    insert_way!(conn, meta_index::table, &stored.meta, way, $copy);
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

            fn fetch_stored(&mut self, writer: &str, page: i64) -> anyhow::Result<usize> {
                use crate::records::dsl as r;
                count_by_keyset(
                    page,
                    |after: Option<(i64, String)>| {
                        let mut q = r::records
                            .select(StoredRow::as_select())
                            .filter(r::writer_id.eq(writer.to_owned()))
                            .filter(r::record_type.eq("patient"))
                            .order((r::created_at.asc(), r::record_id.asc()))
                            .limit(page + 1)
                            .into_boxed();
                        if let Some((t, last)) = after {
                            q = q.filter(
                                diesel::dsl::sql::<diesel::sql_types::Bool>(
                                    "(records.created_at, records.record_id) > (",
                                )
                                .bind::<diesel::sql_types::BigInt, _>(t)
                                .sql(", ")
                                .bind::<diesel::sql_types::Text, _>(last)
                                .sql(")"),
                            );
                        }
                        q.load(self)
                    },
                    |row: &StoredRow| (row.created_at, row.record_id.clone()),
                )
            }
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

// After the macros it uses.
mod least_shape;

plain_db!(
    diesel::SqliteConnection,
    &[InsertWay::MultiRow, InsertWay::PerRow],
    no_copy,
    // SQLite empties a table whole when DELETE has no WHERE.
    "DELETE FROM plain_patients",
    "DELETE FROM meta_index; DELETE FROM records; DELETE FROM record_batches",
    "VACUUM; PRAGMA wal_checkpoint(TRUNCATE)"
);
plain_db!(
    diesel::PgConnection,
    &[InsertWay::MultiRow, InsertWay::PerRow, InsertWay::Copy],
    pg_copy!(),
    // TRUNCATE, as the store's reset does: DELETE would leave dead rows
    // and index entries that slow the next insert.
    "TRUNCATE plain_patients",
    "TRUNCATE meta_index, records, record_batches",
    "CHECKPOINT"
);

/// Reads every record through the key-value API, decoding each field as
/// an application would.
fn read_encrypted(client: &Client) -> anyhow::Result<usize> {
    let mut total = 0;
    let mut query = Query::new().record_type("patient").limit(1000);
    loop {
        let page = client.query(&query)?;
        anyhow::ensure!(page.skipped.is_empty(), "records skipped");
        for record in &page.records {
            let name: String = record.field("name")?;
            let national_id: String = record.field("national_id")?;
            let notes: String = record.field("notes")?;
            std::hint::black_box((name, national_id, notes));
        }
        total += page.records.len();
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => return Ok(total),
        }
    }
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

/// Reads per path and round; the round keeps their median (the first one
/// starts with a cold key cache: one unwrap).
const READS: usize = 3;

fn median_of_reads(mut read: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(READS);
    for _ in 0..READS {
        let t = Instant::now();
        read()?;
        times.push(t.elapsed());
    }
    Ok(median(times))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Result4 {
    /// The fastest plain insert way of each round.
    plain_ways: Vec<InsertWay>,
    /// The median plain write of each insert way.
    plain_by_way: Vec<(InsertWay, Duration)>,
    /// Each round's times.
    rounds: Vec<Round>,
}

impl Result4 {
    /// The median over the rounds of one time.
    fn median(&self, time: fn(&Round) -> Duration) -> Duration {
        median(self.rounds.iter().map(time).collect())
    }
}

/// One round's times.
#[derive(Default)]
struct Round {
    plain_write: Duration,
    enc_write: Duration,
    plain_read: Duration,
    enc_read: Duration,
    /// Fetching strongroom's stored rows with plain diesel (no parsing,
    /// no cryptography).
    stored_fetch: Duration,
    /// Inserting the least stored shape the design allows (see
    /// `least_shape`), the fastest way.
    least_write: Duration,
    /// Fetching it.
    least_read: Duration,
    /// Inserting strongroom's stored rows (records, meta index, batches)
    /// with plain diesel in one transaction, the fastest way (no sealing,
    /// no signing).
    stored_write: Duration,
    typed_write: Duration,
    typed_read: Duration,
    /// The mandated cryptography alone, one core (see `floor`).
    floor: Option<floor::Floors>,
}

/// The median, lowest and highest of the ratio `a / b` taken within each
/// round: steadier than a ratio of medians when the machine's speed drifts
/// between rounds.
fn round_ratios(rounds: &[Round], a: fn(&Round) -> Duration, b: fn(&Round) -> Duration) -> String {
    let mut ratios: Vec<f64> = rounds
        .iter()
        .map(|r| a(r).as_secs_f64() / b(r).as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    format!(
        "{:.2}x (rounds {:.2}-{:.2})",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    )
}

fn run(
    label: &str,
    store_url: &str,
    plain: &mut dyn PlainDb,
    sql_reset: &dyn Fn() -> anyhow::Result<()>,
    n: usize,
    rounds: usize,
    dir: &std::path::Path,
) -> anyhow::Result<Result4> {
    let store = Store::open(store_url)?;
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
        let rows = plain_rows(n);

        // The plain baseline inserts every way its database has and keeps
        // the fastest (see `InsertWay`), starting with a different way each
        // round.
        let mut fastest = Duration::MAX;
        let mut best = InsertWay::MultiRow;
        let ways = plain.ways();
        for k in 0..ways.len() {
            plain.reset()?;
            plain.settle()?;
            let way = ways[(round + k) % ways.len()];
            let t = Instant::now();
            plain.insert(&rows, way)?;
            let took = t.elapsed();
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
            let t = Instant::now();
            plain.least_insert(&least, way)?;
            time.least_write = time.least_write.min(t.elapsed());
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
                let reader = Client::open_or_create(profile, &store)?; // cold key cache
                time.typed_read = median_of_reads(|| {
                    anyhow::ensure!(read_typed(&reader)? == n);
                    Ok(())
                })?;
            } else {
                // Building the fields is part of the work, as it is for the
                // typed path.
                let t = Instant::now();
                writer.put_many(&new_records(&rows)?)?;
                time.enc_write = t.elapsed();
                let reader = Client::open_or_create(profile, &store)?; // cold key cache
                time.enc_read = median_of_reads(|| {
                    anyhow::ensure!(read_encrypted(&reader)? == n);
                    Ok(())
                })?;
                anyhow::ensure!(reader.stats().key_unwraps == 1);
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
                    anyhow::ensure!(
                        stored.records.len() == n
                            && stored.meta.len() == 2 * n
                            && stored.batches.len() == n.div_ceil(200),
                        "unexpected stored rows"
                    );
                    plain.settle()?;
                    let t = Instant::now();
                    plain.insert_stored(&stored, way)?;
                    time.stored_write = time.stored_write.min(t.elapsed());
                }
            }
        }
        time.floor = Some(floor::measure(n));
        times.push(time);
    }
    Ok(Result4 {
        plain_ways: fastest_ways,
        plain_by_way: by_way.into_iter().map(|(w, d)| (w, median(d))).collect(),
        rounds: times,
    })
}

fn report(label: &str, n: usize, r: &Result4, write_target: f64, read_target: f64) {
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let plain_write = r.median(|x| x.plain_write);
    let enc_write = r.median(|x| x.enc_write);
    let plain_read = r.median(|x| x.plain_read);
    let enc_read = r.median(|x| x.enc_read);
    println!(
        "\n{label}: {n} records, {} rounds (times: medians; ratios: median of each round's ratio)",
        r.rounds.len()
    );
    println!(
        "  write  plain {:>9.0} rec/s ({:>8.1?})   strongroom {:>9.0} rec/s ({:>8.1?})   ratio {} (target <= {write_target}x)",
        rate(plain_write),
        plain_write,
        rate(enc_write),
        enc_write,
        round_ratios(&r.rounds, |x| x.enc_write, |x| x.plain_write)
    );
    println!(
        "  read   plain {:>9.0} rec/s ({:>8.1?})   strongroom {:>9.0} rec/s ({:>8.1?})   ratio {} (target <= {read_target}x)",
        rate(plain_read),
        plain_read,
        rate(enc_read),
        enc_read,
        round_ratios(&r.rounds, |x| x.enc_read, |x| x.plain_read)
    );
    println!(
        "  (plain write: fastest insert way per round {:?}; strongroom write against each way: {})",
        r.plain_ways,
        r.plain_by_way
            .iter()
            .map(|(w, d)| format!(
                "{w:?} {d:.1?} -> {:.2}x",
                enc_write.as_secs_f64() / d.as_secs_f64()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    // Each round's bound: their median, and their range (noise only adds
    // time, so the lowest round is the most telling).
    let bound = |base: fn(&Round) -> Duration,
                 crypto: fn(&floor::Floors) -> Duration,
                 plain: fn(&Round) -> Duration| {
        let mut b: Vec<f64> = r
            .rounds
            .iter()
            .filter_map(|x| {
                Some(floor::Floor::bound(
                    base(x),
                    crypto(x.floor.as_ref()?),
                    cores,
                    plain(x),
                ))
            })
            .collect();
        b.sort_by(f64::total_cmp);
        format!(
            "{:.2}x (rounds {:.2}-{:.2})",
            b[b.len() / 2],
            b[0],
            b[b.len() - 1]
        )
    };
    let crypto = |time: fn(&floor::Floors) -> Duration| {
        median(
            r.rounds
                .iter()
                .filter_map(|x| x.floor.as_ref().map(time))
                .collect(),
        )
    };
    println!(
        "  floor  mandated crypto alone, one core: write {:.1?}, read {:.1?} (signing envelopes as text; as bytes {:.1?}, {:.1?}); reads are warm (batches verified and cached)",
        crypto(|f| f.text.write),
        crypto(|f| f.text.read),
        crypto(|f| f.binary.write),
        crypto(|f| f.binary.read),
    );
    println!(
        "         least ratio on {cores} cores, plain's database work + that crypto: write {}, read {}",
        bound(|x| x.plain_write, |f| f.text.write, |x| x.plain_write),
        bound(|x| x.plain_read, |f| f.text.read, |x| x.plain_read),
    );
    // A stored shape inserted and fetched by plain diesel, and the least
    // ratio it leaves once the cryptography is added.
    let shape = |label: &str,
                 what: &str,
                 write: fn(&Round) -> Duration,
                 read: fn(&Round) -> Duration,
                 crypto_write: fn(&floor::Floors) -> Duration,
                 crypto_read: fn(&floor::Floors) -> Duration| {
        println!(
            "  {label} {what}, plain diesel: inserting {:.1?} ({} plain), fetching {:.1?} ({} plain)",
            r.median(write),
            round_ratios(&r.rounds, write, |x| x.plain_write),
            r.median(read),
            round_ratios(&r.rounds, read, |x| x.plain_read),
        );
        println!(
            "         least ratio on {cores} cores with that crypto: write {}, read {}",
            bound(write, crypto_write, |x| x.plain_write),
            bound(read, crypto_read, |x| x.plain_read),
        );
    };
    shape(
        "stored",
        "strongroom's stored rows",
        |x| x.stored_write,
        |x| x.stored_fetch,
        |f| f.text.write,
        |f| f.text.read,
    );
    shape(
        "least ",
        "stored shape the design allows (binary, no meta or batch index)",
        |x| x.least_write,
        |x| x.least_read,
        |f| f.binary.write,
        |f| f.binary.read,
    );
    println!(
        "  typed  write {:>8.1?} ({} key-value)   read {:>8.1?} ({} key-value)   (target <= 1.10x)",
        r.median(|x| x.typed_write),
        round_ratios(&r.rounds, |x| x.typed_write, |x| x.enc_write),
        r.median(|x| x.typed_read),
        round_ratios(&r.rounds, |x| x.typed_read, |x| x.enc_read)
    );
}

/// What re-reading the profile before a key decision costs (once per
/// transaction, never per record): the median of many re-reads when the file
/// is unchanged (a lock and a `stat`) and when another process has just
/// written it (a read, parse and merge).
fn profile_reread_cost(dir: &std::path::Path) -> anyhow::Result<(Duration, Duration)> {
    use strongroom::profile::{PeerTrust, Profile, ProfileOptions};
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

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(4);
    let dir = tempfile::tempdir()?;
    println!(
        "strongroom store benchmark: {} cores; compare ratios, not absolute times",
        std::thread::available_parallelism().map_or(1, usize::from)
    );

    let (unchanged, changed) = profile_reread_cost(dir.path())?;
    println!(
        "profile re-read before each key decision (once per transaction, e.g. once per \
         put_many of {n} records): {unchanged:.1?} unchanged, {changed:.1?} after another \
         process wrote it"
    );

    // BENCH_ONLY=sqlite or BENCH_ONLY=postgres runs one backend (profiling).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();

    // SQLite: one file holds both the plaintext table and strongroom's.
    if only.is_empty() || only == "sqlite" {
        let file = dir.path().join("bench.db");
        let url = format!("sqlite://{}", file.display());
        drop(Store::open(&url)?);
        let mut sqlite = diesel::SqliteConnection::establish(file.to_str().context("path")?)?;
        diesel::sql_query("PRAGMA journal_mode = WAL").execute(&mut sqlite)?;
        diesel::sql_query("PRAGMA synchronous = NORMAL").execute(&mut sqlite)?;
        // The page cache strongroom's connections use (`Store::open`).
        diesel::sql_query("PRAGMA cache_size = -16384").execute(&mut sqlite)?;
        let reset_file = file.clone();
        let reset = move || -> anyhow::Result<()> {
            let mut c = diesel::SqliteConnection::establish(reset_file.to_str().context("path")?)?;
            for t in [
                "meta_index",
                "records",
                "record_batches",
                "access_keys",
                "key_heads",
            ] {
                diesel::sql_query(format!("DELETE FROM {t}")).execute(&mut c)?;
            }
            Ok(())
        };
        let r = run("sqlite", &url, &mut sqlite, &reset, n, rounds, dir.path())?;
        report("SQLite file", n, &r, 3.0, 3.0);
    }
    if !(only.is_empty() || only == "postgres") {
        return Ok(());
    }

    // PostgreSQL: a database of its own, dropped after.
    let result = scratch_pg::with_scratch_database("PostgreSQL", |url| {
        drop(Store::open(url)?);
        let mut pg = diesel::PgConnection::establish(url)?;
        let reset_url = url.to_owned();
        let reset = move || -> anyhow::Result<()> {
            let mut c = diesel::PgConnection::establish(&reset_url)?;
            diesel::sql_query(
                "TRUNCATE meta_index, records, record_batches, access_keys, key_heads",
            )
            .execute(&mut c)?;
            Ok(())
        };
        run("postgres", url, &mut pg, &reset, n, rounds, dir.path())
    })?;
    if let Some(result) = result {
        report("PostgreSQL", n, &result, 2.0, 2.0);
    }
    Ok(())
}
