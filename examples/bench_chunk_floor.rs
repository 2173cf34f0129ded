//! The chunk-insert floor of a file upload (issue 16, point 7): how fast
//! each database can take a file's sealed chunks at all, under the
//! variants that might raise that floor, and the best put ratio any
//! two-thread upload could reach on this machine with each of them.
//!
//! Run: `cargo run --release --example bench_chunk_floor -- [SIZE_MIB]
//! [ROUNDS]` (default 1024 MiB, 3 rounds; `BENCH_ONLY=sqlite` or
//! `BENCH_ONLY=postgres` runs one backend).
//!
//! In every round, interleaved so that the machine's noise falls on all
//! of them alike, it times:
//! - **the cryptography alone**, one thread: orion's streaming AEAD
//!   sealing `SIZE` bytes in 64 KiB and in 256 KiB chunks (`seal`), and
//!   the library's BLAKE2b digest of the sealed chunks (`digest`);
//! - **SQLite**: plain diesel inserting `SIZE` bytes of pre-sealed chunks
//!   (random bytes: sealed chunks do not compress) into a table of
//!   `file_chunks`' shape, one statement a chunk, in one transaction, in
//!   a fresh WAL database (`synchronous = NORMAL`, a 16 MiB cache, as the
//!   store) made with `page_size` 4096 (SQLite's default), 16384 (the
//!   store's default) and 65536, each with 64 KiB and 256 KiB chunks; the
//!   time includes the commit and the checkpoint SQLite runs after it;
//! - **PostgreSQL**: the same rows by `COPY` (as the library) in batches
//!   of 1 MiB and 8 MiB, with 64 KiB and 256 KiB chunks, into a table of
//!   `file_chunks`' shape with `STORAGE EXTERNAL` (as the migration), in a
//!   scratch database; besides the wall time, the CPU time of this
//!   process's inserting thread and of every `postgres` process on the
//!   machine (`/proc`), so the server's cost per byte is known.
//!
//! - **what the page size costs records** (SQLite, through the library,
//!   `StoreOptions::sqlite_page_size`): in a fresh file per page size,
//!   300 single `put`s (a transaction each), one `put_many` of 5,000
//!   records (three sensitive fields of 16, 11 and 200 bytes and two plain
//!   ones, as `bench_store`), a read of them all in pages of 1,000, and
//!   the file's bytes per record after a checkpoint, less the empty
//!   store's (every table and index holds at least one page, which at
//!   64 KiB pages would otherwise add about 350 bytes a record here).
//!
//! From each variant it prints the **ceiling**: the best put / bare-seal
//! ratio an upload could reach that seals on one thread and inserts on
//! another, with the digest on whichever thread suits it better (the
//! library now digests on a third thread; where the insert is the slower
//! stage, as on SQLite, the ceiling is the same), and on PostgreSQL also within the machine's cores
//! (sealing + digest + client + server CPU ≤ the core count). The bare
//! seal in that ratio is the one at the same chunk size. A ceiling below
//! issue 16's target (0.70 SQLite, 0.50 PostgreSQL) means no
//! implementation of that shape can meet it here.
//!
//! MB/s are 10^6 bytes of sealed chunks a second. The last line is one
//! JSON object with every variant's medians.

#[path = "common/batches.rs"]
mod batches;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/scratch_pg.rs"]
mod scratch_pg;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use orion::hazardous::aead::streaming::{
    Nonce, SecretKey, StreamTag, StreamXChaCha20Poly1305, ABYTES,
};
use serde_json::{json, Value};
use strongroom::hazmat::file::ChunksDigest;
use strongroom::{Client, Fields, NewRecord, Plain, Query, Store, StoreOptions};

const MIB: usize = 1024 * 1024;
const CHUNK_SIZES: [usize; 2] = [64 * 1024, 256 * 1024];
const SQLITE_PAGES: [u32; 3] = [4096, 16384, 65536];
const COPY_BATCH_BYTES: [usize; 2] = [MIB, 8 * MIB];
const TARGET_SQLITE: f64 = 0.70;
const TARGET_POSTGRES: f64 = 0.50;

diesel::table! {
    floor_chunks (record_id, version, seq) {
        record_id -> Binary,
        version -> BigInt,
        seq -> BigInt,
        chunk -> Binary,
    }
}

#[derive(Insertable)]
#[diesel(table_name = floor_chunks, treat_none_as_default_value = false)]
struct ChunkRow<'a> {
    record_id: &'a [u8],
    version: i64,
    seq: i64,
    chunk: &'a [u8],
}

/// Sixteen sealed-size chunks of random bytes (xorshift64).
fn sample(chunk: usize) -> Vec<Vec<u8>> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ chunk as u64;
    (0..16)
        .map(|_| {
            (0..chunk + ABYTES)
                .map(|_| batches::xorshift64(&mut x) as u8)
                .collect()
        })
        .collect()
}

/// The CPU time of the calling thread (`/proc/thread-self/stat`, ticks of
/// 1/100 s).
fn thread_cpu() -> Duration {
    proc_cpu(Path::new("/proc/thread-self/stat")).unwrap_or_default()
}

fn proc_cpu(stat: &Path) -> Option<Duration> {
    let stat = std::fs::read_to_string(stat).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The CPU time of every living process named `postgres` on the machine
/// (a backend that exits within the timed part is missed, so the server's
/// share can only come out low); good enough over seconds.
fn postgres_cpu() -> Duration {
    let mut total = Duration::ZERO;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return total;
    };
    for entry in dir.flatten() {
        let path = entry.path().join("stat");
        let Ok(stat) = std::fs::read_to_string(&path) else {
            continue;
        };
        if stat.contains("(postgres)") {
            total += proc_cpu(&path).unwrap_or_default();
        }
    }
    total
}

/// orion's streaming AEAD sealing `size` bytes in `chunk`-byte pieces, and
/// the library's digest over the sealed chunks, timed apart.
fn crypto(size: usize, chunk: usize) -> anyhow::Result<(Duration, Duration)> {
    let key = SecretKey::try_from(&[7u8; 32][..]).map_err(|_| anyhow::anyhow!("key"))?;
    let nonce = Nonce::try_from(&[9u8; 24][..]).map_err(|_| anyhow::anyhow!("nonce"))?;
    let mut sealer = StreamXChaCha20Poly1305::new(&key, &nonce);
    let plain = vec![0x42u8; chunk];
    let mut sealed = vec![0u8; chunk + ABYTES];
    let ad = [0x5au8; 80];
    let mut digest = ChunksDigest::new()?;
    let (mut seal_t, mut digest_t) = (Duration::ZERO, Duration::ZERO);
    let count = size.div_ceil(chunk);
    for seq in 0..count {
        let tag = if seq + 1 == count {
            StreamTag::Finish
        } else {
            StreamTag::Message
        };
        let t0 = Instant::now();
        sealer
            .seal_chunk(&plain, Some(&ad), &mut sealed, &tag)
            .map_err(|_| anyhow::anyhow!("seal"))?;
        let t1 = Instant::now();
        digest.add(seq as u64, &sealed)?;
        digest_t += t1.elapsed();
        seal_t += t1 - t0;
    }
    std::hint::black_box(digest.finish()?);
    Ok((seal_t, digest_t))
}

/// One timed insert: wall, inserting-thread CPU, `postgres` CPU.
struct Insert {
    wall: Duration,
    client: Duration,
    server: Duration,
}

/// Inserts `size` bytes of `rows` cycling through `sample`, in one
/// transaction, through `insert` (a batch of rows at a time).
fn insert_all<C: Connection>(
    conn: &mut C,
    size: usize,
    per_batch: usize,
    sample: &[Vec<u8>],
    mut insert: impl FnMut(&mut C, &[ChunkRow<'_>]) -> anyhow::Result<()>,
) -> anyhow::Result<Insert> {
    let id = [0xabu8; 16];
    let chunk = sample[0].len() - ABYTES;
    let count = size.div_ceil(chunk);
    let (c0, s0, t0) = (thread_cpu(), postgres_cpu(), Instant::now());
    conn.transaction::<_, anyhow::Error, _>(|conn| {
        batches::in_batches(
            count,
            per_batch,
            |seq| ChunkRow {
                record_id: &id,
                version: 1,
                seq: seq as i64,
                chunk: &sample[seq % sample.len()],
            },
            |rows| insert(conn, rows),
        )
    })?;
    let wall = t0.elapsed();
    Ok(Insert {
        wall,
        client: thread_cpu().saturating_sub(c0),
        server: postgres_cpu().saturating_sub(s0),
    })
}

fn sqlite_round(dir: &Path, page: u32, sample: &[Vec<u8>], size: usize) -> anyhow::Result<Insert> {
    let path = dir.join(format!("floor-{page}-{}.db", sample[0].len()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut conn = diesel::SqliteConnection::establish(path.to_str().context("path")?)?;
    conn.batch_execute(&format!(
        "PRAGMA page_size = {page}; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384; \
         CREATE TABLE floor_chunks (record_id BLOB NOT NULL, version BIGINT NOT NULL, \
         seq BIGINT NOT NULL, chunk BLOB NOT NULL, PRIMARY KEY (record_id, version, seq));"
    ))?;
    let got: i32 = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
        "(SELECT page_size FROM pragma_page_size())",
    ))
    .get_result(&mut conn)?;
    anyhow::ensure!(got as u32 == page, "page_size {page} took ({got})");
    let insert = insert_all(&mut conn, size, 1, sample, |conn, rows| {
        diesel::insert_into(floor_chunks::table)
            .values(&rows[0])
            .execute(conn)?;
        Ok(())
    })?;
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(insert)
}

fn postgres_round(
    url: &str,
    batch_bytes: usize,
    sample: &[Vec<u8>],
    size: usize,
) -> anyhow::Result<Insert> {
    let mut conn = diesel::PgConnection::establish(url)?;
    conn.batch_execute(
        "DROP TABLE IF EXISTS floor_chunks; \
         CREATE TABLE floor_chunks (record_id bytea NOT NULL, version BIGINT NOT NULL, \
         seq BIGINT NOT NULL, chunk bytea NOT NULL, PRIMARY KEY (record_id, version, seq)); \
         ALTER TABLE floor_chunks ALTER COLUMN chunk SET STORAGE EXTERNAL; CHECKPOINT;",
    )?;
    let per_batch = (batch_bytes / (sample[0].len() - ABYTES)).max(1);
    let insert = insert_all(&mut conn, size, per_batch, sample, |conn, rows| {
        diesel::copy_from(floor_chunks::table)
            .from_insertable(rows)
            .execute(conn)?;
        Ok(())
    })?;
    conn.batch_execute("DROP TABLE floor_chunks; CHECKPOINT;")?;
    Ok(insert)
}

/// The library's record work on a fresh SQLite file made with `page`-byte
/// pages: (median single put, put_many of 5,000, read of all, bytes per
/// record), in seconds and bytes.
fn records_round(dir: &Path, page: u32) -> anyhow::Result<[f64; 4]> {
    let path = dir.join(format!("records-{page}.db"));
    let url = format!("sqlite://{}", path.display());
    let store = Store::open_with(
        &url,
        StoreOptions::default()
            .create_if_missing()
            .sqlite_page_size(page),
    )?;
    let client = Client::open_or_create(dir.join(format!("records-{page}.profile")), &store)?;
    // The empty store's bytes (every table and index holds at least one
    // page), left out of the bytes a record.
    let empty = checkpointed_len(&path)?;
    let record = |i: usize| -> anyhow::Result<NewRecord> {
        let text = |len: usize| format!("{i:0len$}");
        Ok(NewRecord::new(
            "patient",
            Fields::new()
                .with("name", &text(16))?
                .with("national_id", &text(11))?
                .with("notes", &text(200))?,
            Plain::from([
                ("clinic".to_owned(), format!("clinic-{:03}", i % 100)),
                ("ward".to_owned(), format!("ward-{}", i % 7)),
            ]),
        ))
    };
    let mut singles = Vec::new();
    for i in 0..300 {
        let r = record(i)?;
        let t = Instant::now();
        client.put(&r.record_type, &r.fields, &r.plain)?;
        singles.push(t.elapsed().as_secs_f64());
    }
    let batch = (300..5300)
        .map(record)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let t = Instant::now();
    client.put_many(&batch)?;
    let put_many = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut query = Query::new().record_type("patient").limit(1000);
    let mut read = 0;
    loop {
        let page = client.query(&query)?;
        read += page.records.len();
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => break,
        }
    }
    let read_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(read == 5300, "read {read} of 5300 records");
    drop((client, store));
    let bytes = (checkpointed_len(&path)? - empty) as f64 / 5300.0;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok([median(singles), put_many, read_s, bytes])
}

/// The SQLite file's length once its WAL is checkpointed into it.
fn checkpointed_len(path: &Path) -> anyhow::Result<u64> {
    let mut conn = diesel::SqliteConnection::establish(path.to_str().context("path")?)?;
    conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")?;
    drop(conn);
    Ok(std::fs::metadata(path)?.len())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The best put / bare ratio of a two-thread upload (one thread seals,
/// the other inserts; the digest on the better side), and, with `server`,
/// within `cores` in all. All arguments are seconds per byte.
fn ceiling(seal: f64, digest: f64, insert_wall: f64, client: f64, server: f64, cores: f64) -> f64 {
    let digest_with_inserter = seal.max(insert_wall + digest);
    let digest_with_sealer = (seal + digest).max(insert_wall);
    let per_byte = digest_with_inserter
        .min(digest_with_sealer)
        .max(server)
        .max((seal + digest + client + server) / cores);
    seal / per_byte
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size_mib: usize = args.first().map(|a| a.parse()).transpose()?.unwrap_or(1024);
    let rounds: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(3);
    let size = size_mib * MIB;
    let only = std::env::var("BENCH_ONLY").ok();
    let run_sqlite = only.as_deref() != Some("postgres");
    let run_postgres = only.as_deref() != Some("sqlite");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let (commit, dirty) = machine::source_commit();
    let load_start = machine::load_average();
    eprintln!(
        "bench_chunk_floor: {size_mib} MiB, {rounds} rounds, {cores} cores, load {load_start:?}"
    );

    let samples: Vec<Vec<Vec<u8>>> = CHUNK_SIZES.iter().map(|&c| sample(c)).collect();
    let dir = tempfile::tempdir()?;
    let mut times: std::collections::BTreeMap<String, Vec<[f64; 3]>> = Default::default();
    let mut record = |key: String, v: [f64; 3]| times.entry(key).or_default().push(v);

    let postgres = |f: &mut dyn FnMut(&str) -> anyhow::Result<()>| {
        scratch_pg::with_scratch_database("bench_chunk_floor", |url| f(url))
    };
    let mut record_costs: std::collections::BTreeMap<u32, Vec<[f64; 4]>> = Default::default();
    let mut run_rounds = |url: Option<&str>| -> anyhow::Result<()> {
        for round in 1..=rounds {
            if run_sqlite {
                for page in SQLITE_PAGES {
                    let r = records_round(dir.path(), page)?;
                    eprintln!(
                        "  round {round} records, sqlite page {page}: put {:.0} µs, put_many 5,000 {:.0} ms, read {:.0} ms, {:.0} bytes a record",
                        r[0] * 1e6, r[1] * 1e3, r[2] * 1e3, r[3]
                    );
                    record_costs.entry(page).or_default().push(r);
                }
            }
            for (c, sample) in CHUNK_SIZES.iter().zip(&samples) {
                let (seal, digest) = crypto(size, *c)?;
                let bytes = (size.div_ceil(*c) * (c + ABYTES)) as f64;
                record(
                    format!("crypto/{}k", c / 1024),
                    [
                        seal.as_secs_f64() / bytes,
                        digest.as_secs_f64() / bytes,
                        0.0,
                    ],
                );
                if run_sqlite {
                    for page in SQLITE_PAGES {
                        let i = sqlite_round(dir.path(), page, sample, size)?;
                        eprintln!(
                            "  round {round} sqlite page {page} chunk {}k: {:.2} s ({:.1} MB/s), thread cpu {:.2} s",
                            c / 1024,
                            i.wall.as_secs_f64(),
                            bytes / i.wall.as_secs_f64() / 1e6,
                            i.client.as_secs_f64()
                        );
                        record(
                            format!("sqlite/page{page}/{}k", c / 1024),
                            [
                                i.wall.as_secs_f64() / bytes,
                                i.client.as_secs_f64() / bytes,
                                0.0,
                            ],
                        );
                    }
                }
                if let Some(url) = url {
                    for batch in COPY_BATCH_BYTES {
                        let i = postgres_round(url, batch, sample, size)?;
                        eprintln!(
                            "  round {round} postgres copy {} MiB chunk {}k: {:.2} s ({:.1} MB/s), client cpu {:.2} s, postgres cpu {:.2} s",
                            batch / MIB,
                            c / 1024,
                            i.wall.as_secs_f64(),
                            bytes / i.wall.as_secs_f64() / 1e6,
                            i.client.as_secs_f64(),
                            i.server.as_secs_f64()
                        );
                        record(
                            format!("postgres/copy{}m/{}k", batch / MIB, c / 1024),
                            [
                                i.wall.as_secs_f64() / bytes,
                                i.client.as_secs_f64() / bytes,
                                i.server.as_secs_f64() / bytes,
                            ],
                        );
                    }
                }
            }
        }
        Ok(())
    };
    if run_postgres {
        let ran = postgres(&mut |url| run_rounds(Some(url)))?;
        if ran.is_none() {
            eprintln!("!!! PostgreSQL unreachable: its variants are SKIPPED");
            if run_sqlite {
                run_rounds(None)?;
            }
        }
    } else {
        run_rounds(None)?;
    }

    let med = |key: &str, i: usize| -> Option<f64> {
        times
            .get(key)
            .map(|v| median(v.iter().map(|x| x[i]).collect()))
    };
    let mut out = serde_json::Map::new();
    println!();
    println!("| variant | insert MB/s | client CPU | server CPU | bare seal MB/s | ceiling put / seal | target |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for key in times.keys().filter(|k| !k.starts_with("crypto/")) {
        let chunk = key.rsplit('/').next().unwrap_or_default();
        let (Some(seal), Some(digest)) = (
            med(&format!("crypto/{chunk}"), 0),
            med(&format!("crypto/{chunk}"), 1),
        ) else {
            continue;
        };
        let (wall, client, server) = (
            med(key, 0).unwrap_or(0.0),
            med(key, 1).unwrap_or(0.0),
            med(key, 2).unwrap_or(0.0),
        );
        let postgres = key.starts_with("postgres/");
        let (target, cores_for) = if postgres {
            (TARGET_POSTGRES, cores)
        } else {
            (TARGET_SQLITE, f64::INFINITY)
        };
        let ceil = ceiling(seal, digest, wall, client, server, cores_for);
        println!(
            "| {key} | {:.0} | {:.2} core | {} | {:.0} | **{:.2}** | {target:.2} |",
            1e-6 / wall,
            client / wall,
            if postgres {
                format!("{:.2} core", server / wall)
            } else {
                "-".into()
            },
            1e-6 / seal,
            ceil
        );
        out.insert(
            key.clone(),
            json!({
                "insert_mbps": (1e-6 / wall * 10.0).round() / 10.0,
                "client_cpu_share": (client / wall * 100.0).round() / 100.0,
                "server_cpu_share": (server / wall * 100.0).round() / 100.0,
                "bare_seal_mbps": (1e-6 / seal * 10.0).round() / 10.0,
                "digest_mbps": (1e-6 / digest * 10.0).round() / 10.0,
                "ceiling_ratio": (ceil * 100.0).round() / 100.0,
                "target": target,
            }),
        );
    }
    if !record_costs.is_empty() {
        println!();
        println!("| SQLite page size | single put (median) | put_many of 5,000 | read of 5,300 | bytes a record |");
        println!("| ---: | ---: | ---: | ---: | ---: |");
        for (page, rounds) in &record_costs {
            let m = |i: usize| median(rounds.iter().map(|r| r[i]).collect());
            println!(
                "| {page} | {:.0} µs | {:.1} ms | {:.1} ms | {:.0} |",
                m(0) * 1e6,
                m(1) * 1e3,
                m(2) * 1e3,
                m(3)
            );
            out.insert(
                format!("records/page{page}"),
                json!({
                    "put_us": (m(0) * 1e7).round() / 10.0,
                    "put_many_5000_ms": (m(1) * 1e4).round() / 10.0,
                    "read_5300_ms": (m(2) * 1e4).round() / 10.0,
                    "bytes_per_record": m(3).round(),
                }),
            );
        }
    }
    let machine: Value = json!({
        "commit": commit, "library_sources_changed": dirty, "cores": cores,
        "size_mib": size_mib, "rounds": rounds,
        "load_start": load_start, "load_end": machine::load_average(),
    });
    out.insert("machine".into(), machine);
    println!("{}", Value::Object(out));
    Ok(())
}
