//! Files benchmark (issue 16, point 7): `Client::put_file` and
//! `Client::read_file` of large bodies against orion's streaming AEAD
//! alone over the same bytes, in the same run, on an SQLite file and on
//! PostgreSQL, with each measurement's peak resident memory.
//!
//! Run: `cargo run --release --example bench_files -- [SIZE_MIB ...]
//! [--rounds N] [--phases]` (default sizes 100 and 1024 MiB, 3 rounds).
//!
//! Each (backend, size) runs in a child process of its own (this program
//! again, with a hidden `--child` argument), so its peak RSS (`VmHWM`) is
//! its own; another child that only opens the store and the client gives
//! the baseline. In every round a child measures:
//! - **bare**: orion's `StreamXChaCha20Poly1305` sealing the body in 64 KiB
//!   chunks (`Message`, the last one `Finish`) into a reused buffer, and
//!   opening each sealed chunk back, timed apart (the bytes generated
//!   before the clock runs, and compared after it stops);
//! - **put**: `put_file` from a reader that generates the body
//!   (xorshift64) as it is read, never holding it, end to end;
//! - **get**: `read_file` into a writer that discards the bytes but
//!   checks their checksum and length against the generator's;
//! - then deletes the record (`Client::delete`) and, untimed, truncates
//!   SQLite's WAL or runs PostgreSQL's `VACUUM`, so rounds start alike.
//!
//! `--phases` also runs, per (backend, size), a child that times the
//! parts of an upload and a download apart, grouped by the library's
//! threads. Upload (three): generating the body and the library's sealer
//! (`hazmat::file`, `without_digest`) on the caller's; the chunks' BLAKE2b
//! digest on a second; plain diesel inserting pre-sealed chunks of the
//! same shape as `file_chunks` the way the library does (SQLite, at the
//! store's page size: one statement per chunk; PostgreSQL: `COPY` of 16
//! chunks) on a third. Download (two): plain diesel fetching 16 chunks a
//! query and the digest on one, the library's opener and this benchmark's
//! checksum on the other. From those it prints the best ratio the threads
//! allow (bare over the slowest thread's time) and the ratio if nothing
//! overlapped.
//!
//! `BENCH_SQLITE_PAGE_SIZE` makes the SQLite file with another page size;
//! `BENCH_WARMUP_MIB` puts and deletes a body of that size, untimed,
//! before the rounds (every round after the first reuses the pages the
//! one before it freed; with it, the first does too).
//!
//! MB/s are 10^6 bytes of plaintext a second. Ratios are the median of
//! each round's own ratio. The last line is one JSON object:
//! `{"sqlite": {"100": {...}, ...}, "postgres": {...}, "machine": {...}}`.
//! PostgreSQL from `STRONGROOM_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`), in a scratch database of
//! this run's own, dropped at the end; skipped if unreachable.

#[path = "common/batches.rs"]
mod batches;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/scratch_pg.rs"]
mod scratch_pg;

use machine::{cpu_time, load_average, source_commit};

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use orion::hazardous::aead::streaming::{
    Nonce, SecretKey, StreamTag, StreamXChaCha20Poly1305, ABYTES,
};
use serde_json::{json, Value};
use strongroom::hazmat::file::{ChunkPosition, ChunksDigest, FileContext, FileOpener, FileSealer};
use strongroom::hazmat::AccessKey;
use strongroom::{Client, ClientId, Plain, RecordId, Store, StoreOptions};

/// The library's chunk size (`DEFAULT_CHUNK_SIZE`).
const CHUNK: usize = 64 * 1024;
/// About the length of the associated data the library gives each chunk.
const AD_LEN: usize = 80;
/// Chunks per insert (PostgreSQL's `COPY`) and per fetch, as the library.
const CHUNKS_PER_STATEMENT: usize = 16;
const MIB: u64 = 1024 * 1024;

/// The targets of issue 16: put and get at least this share of the bare
/// AEAD's throughput, and a peak RSS below 64 MiB at every size.
const TARGET_SQLITE: f64 = 0.70;
const TARGET_POSTGRES: f64 = 0.50;
const TARGET_RSS_MIB: f64 = 64.0;

const RECORD_TYPE: &str = "bench_file";

// ---------------------------------------------------------------------
// The body: generated as it is read, with a checksum of what was given.

/// A checksum of a byte stream that does not depend on how the stream is
/// split: four multiply-rotate lanes over 32-byte blocks, then the tail
/// and the length.
#[derive(Clone)]
struct Checksum {
    lanes: [u64; 4],
    pending: [u8; 32],
    filled: usize,
    len: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Checksum {
            lanes: [1, 2, 3, 4],
            pending: [0; 32],
            filled: 0,
            len: 0,
        }
    }
}

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

impl Checksum {
    #[inline]
    fn block(&mut self, block: &[u8]) {
        for (lane, word) in self.lanes.iter_mut().zip(block.chunks_exact(8)) {
            let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            *lane = (*lane ^ w).wrapping_mul(MUL).rotate_left(29);
        }
    }

    fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.filled > 0 {
            let take = (32 - self.filled).min(bytes.len());
            self.pending[self.filled..self.filled + take].copy_from_slice(&bytes[..take]);
            self.filled += take;
            bytes = &bytes[take..];
            if self.filled < 32 {
                return;
            }
            let block = self.pending;
            self.block(&block);
            self.filled = 0;
        }
        let mut blocks = bytes.chunks_exact(32);
        for block in &mut blocks {
            self.block(block);
        }
        let rest = blocks.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    fn finish(&self) -> (u64, u64) {
        let mut lanes = self.lanes;
        for (i, byte) in self.pending[..self.filled].iter().enumerate() {
            lanes[i % 4] = (lanes[i % 4] ^ u64::from(*byte) ^ 0x100).wrapping_mul(MUL);
        }
        let sum = lanes
            .iter()
            .fold(self.len, |h, l| (h ^ l).wrapping_mul(MUL).rotate_left(31));
        (sum, self.len)
    }
}

/// `size` pseudo-random bytes (xorshift64), made as they are read.
struct Body {
    state: u64,
    remaining: u64,
    /// The rest of a word split by a read, and how many of its bytes are
    /// left.
    word: u64,
    left: usize,
    sum: Checksum,
}

impl Body {
    fn new(seed: u64, size: u64) -> Body {
        Body {
            state: seed.wrapping_mul(MUL) | 1,
            remaining: size,
            word: 0,
            left: 0,
            sum: Checksum::default(),
        }
    }

    #[inline]
    fn next_word(&mut self) -> u64 {
        batches::xorshift64(&mut self.state)
    }

    #[inline]
    fn take_byte(&mut self) -> u8 {
        let byte = (self.word >> (8 * (8 - self.left))) as u8;
        self.left -= 1;
        byte
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let out = &mut buf[..n];
        let mut i = 0;
        while self.left > 0 && i < n {
            out[i] = self.take_byte();
            i += 1;
        }
        let mut words = out[i..].chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&self.next_word().to_le_bytes());
        }
        let rest = words.into_remainder();
        if !rest.is_empty() {
            self.word = self.next_word();
            self.left = 8;
            for b in rest {
                *b = self.take_byte();
            }
        }
        self.sum.update(out);
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A writer that keeps only the checksum of what it was given.
#[derive(Default)]
struct Check(Checksum);

impl Write for Check {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Fills `buf` from `source` as far as it goes.
fn read_full(source: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

// ---------------------------------------------------------------------
// The machine.

/// This process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmHWM's value")?
        .parse()?)
}

/// Free bytes on the file system holding `path` (`df -Pk`).
fn free_bytes(path: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(path).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let kib: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64().max(1e-9)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn secs(v: &Value, key: &str) -> anyhow::Result<f64> {
    v.get(key)
        .and_then(Value::as_f64)
        .with_context(|| format!("no {key} in a child's round"))
}

// ---------------------------------------------------------------------
// Children: the measurements.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn parse(s: &str) -> anyhow::Result<Backend> {
        match s {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" => Ok(Backend::Postgres),
            _ => bail!("backend sqlite or postgres, not {s}"),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
    fn target(self) -> f64 {
        match self {
            Backend::Sqlite => TARGET_SQLITE,
            Backend::Postgres => TARGET_POSTGRES,
        }
    }
}

fn open_store(backend: Backend, url: &str) -> anyhow::Result<Store> {
    Ok(match backend {
        Backend::Sqlite => {
            // `BENCH_SQLITE_PAGE_SIZE` makes new files with another page
            // size than the library's default, for an A/B in one run.
            let mut options = StoreOptions::default().create_if_missing();
            if let Ok(size) = std::env::var("BENCH_SQLITE_PAGE_SIZE") {
                options = options.sqlite_page_size(size.parse()?);
            }
            Store::open_with(url, options)?
        }
        Backend::Postgres => Store::open(url)?,
    })
}

/// The SQLite file of a `sqlite://` URL.
fn sqlite_path(url: &str) -> anyhow::Result<&str> {
    url.strip_prefix("sqlite://").context("a sqlite:// URL")
}

/// Untimed, between rounds: SQLite's WAL checkpointed and truncated,
/// PostgreSQL's dead rows vacuumed.
fn settle(backend: Backend, url: &str) -> anyhow::Result<()> {
    match backend {
        Backend::Sqlite => diesel::SqliteConnection::establish(sqlite_path(url)?)?
            .batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")?,
        Backend::Postgres => diesel::PgConnection::establish(url)?.batch_execute("VACUUM")?,
    }
    Ok(())
}

/// orion's streaming AEAD alone over `size` generated bytes: the time
/// sealing and the time opening, apart.
fn bare(size: u64, seed: u64) -> anyhow::Result<(Duration, Duration)> {
    let key = SecretKey::try_from(&[7u8; 32][..]).map_err(|_| anyhow::anyhow!("key"))?;
    let nonce = Nonce::try_from(&[9u8; 24][..]).map_err(|_| anyhow::anyhow!("nonce"))?;
    let mut sealer = StreamXChaCha20Poly1305::new(&key, &nonce);
    let mut opener = StreamXChaCha20Poly1305::new(&key, &nonce);
    let ad = [0x5au8; AD_LEN];
    let mut body = Body::new(seed, size);
    let mut plain = vec![0u8; CHUNK];
    let mut sealed = vec![0u8; CHUNK + ABYTES];
    let mut opened = vec![0u8; CHUNK];
    let (mut seal_t, mut open_t) = (Duration::ZERO, Duration::ZERO);
    loop {
        let n = read_full(&mut body, &mut plain)?;
        let last = body.remaining == 0;
        let tag = if last {
            StreamTag::Finish
        } else {
            StreamTag::Message
        };
        let t = Instant::now();
        sealer
            .seal_chunk(&plain[..n], Some(&ad), &mut sealed[..n + ABYTES], &tag)
            .map_err(|_| anyhow::anyhow!("seal"))?;
        let t2 = Instant::now();
        let got = opener
            .open_chunk(&sealed[..n + ABYTES], Some(&ad), &mut opened[..n])
            .map_err(|_| anyhow::anyhow!("open"))?;
        let t3 = Instant::now();
        seal_t += t2 - t;
        open_t += t3 - t2;
        anyhow::ensure!(got == tag && opened[..n] == plain[..n], "bare round trip");
        if last {
            return Ok((seal_t, open_t));
        }
    }
}

/// `--child BACKEND SIZE_MIB ROUNDS URL`: the rounds of one (backend,
/// size); prints `CHILD {json}`.
fn child(backend: Backend, size_mib: u64, rounds: usize, url: &str) -> anyhow::Result<()> {
    let size = size_mib * MIB;
    let dir = tempfile::tempdir()?;
    let store = open_store(backend, url)?;
    let client = Client::open_or_create(dir.path().join("bench.profile"), &store)?;
    let rss_open = peak_rss_kib()?;
    // `BENCH_WARMUP_MIB`: an untimed put and delete of that many MiB
    // before the rounds, so the first round's file has free pages to
    // reuse (SQLite) as the later rounds' have.
    if let Ok(mib) = std::env::var("BENCH_WARMUP_MIB") {
        let mut body = Body::new(1, mib.parse::<u64>()? * MIB);
        let meta = client.put_file(RECORD_TYPE, &Plain::new(), &mut body)?;
        client.delete(meta.id, 1)?;
        settle(backend, url)?;
    }
    let mut out = Vec::new();
    for round in 0..rounds {
        let seed = 0x5eed_0000 + size_mib * 1000 + round as u64;
        let (seal, open) = bare(size, seed)?;

        let mut body = Body::new(seed, size);
        let (c0, t) = (cpu_time(), Instant::now());
        let meta = client.put_file(RECORD_TYPE, &Plain::new(), &mut body)?;
        let (put, c1) = (t.elapsed(), cpu_time());
        anyhow::ensure!(meta.file_size == Some(size), "the stored size");
        let expected = body.sum.finish();

        let mut check = Check::default();
        let t = Instant::now();
        client.read_file(meta.id, &mut check)?;
        let (get, c2) = (t.elapsed(), cpu_time());
        anyhow::ensure!(
            check.0.finish() == expected,
            "the body read back differs from the one written"
        );

        client.delete(meta.id, 1)?;
        settle(backend, url)?;
        let cpu =
            |a: Option<Duration>, b: Option<Duration>| a.zip(b).map(|(a, b)| (b - a).as_secs_f64());
        out.push(json!({
            "bare_seal_s": seal.as_secs_f64(),
            "bare_open_s": open.as_secs_f64(),
            "put_s": put.as_secs_f64(),
            "get_s": get.as_secs_f64(),
            "put_cpu_s": cpu(c0, c1),
            "get_cpu_s": cpu(c1, c2),
        }));
        eprintln!(
            "  {} {size_mib} MiB round {}: bare seal {:.0} MB/s, open {:.0} MB/s; put {:.0} MB/s, get {:.0} MB/s",
            backend.name(),
            round + 1,
            mbps(size, seal),
            mbps(size, open),
            mbps(size, put),
            mbps(size, get)
        );
    }
    let line = json!({
        "rounds": out,
        "rss_after_open_kib": rss_open,
        "peak_rss_kib": peak_rss_kib()?,
    });
    println!("CHILD {line}");
    Ok(())
}

/// `--baseline BACKEND URL`: only opens the store and the client.
fn baseline(backend: Backend, url: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open_store(backend, url)?;
    let client = Client::open_or_create(dir.path().join("bench.profile"), &store)?;
    let peak = peak_rss_kib()?;
    drop((client, store));
    println!("CHILD {}", json!({ "peak_rss_kib": peak }));
    Ok(())
}

// ---------------------------------------------------------------------
// Phases: the parts of an upload and a download, apart.

diesel::table! {
    bench_file_chunks (record_id, version, seq) {
        record_id -> Binary,
        version -> BigInt,
        seq -> BigInt,
        chunk -> Binary,
    }
}

#[derive(Insertable)]
#[diesel(table_name = bench_file_chunks, treat_none_as_default_value = false)]
struct ChunkIns<'a> {
    record_id: &'a [u8],
    version: i64,
    seq: i64,
    chunk: &'a [u8],
}

/// The chunks table's shape (`migrations/*/…_file_bodies`), with the
/// record id as 16 raw bytes on both backends.
const PHASE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS bench_file_chunks (record_id {BIN} NOT NULL, \
    version BIGINT NOT NULL, seq BIGINT NOT NULL, chunk {BIN} NOT NULL, \
    PRIMARY KEY (record_id, version, seq))";

/// The parts of an upload's and a download's cryptography, each timed
/// apart over the same chunks, as the library splits them between its two
/// threads: on the caller's, generating the body and sealing it (the
/// library's sealer made `without_digest`: the AEAD, a fresh vector per
/// chunk) and, reading, opening (`without_digest`) and this benchmark's
/// checksum; on the other, the chunks' BLAKE2b digest (beside the
/// database work). Also the bare AEAD, and 16 sealed chunks kept for the
/// database phases.
struct CryptoPhases {
    generate: Duration,
    bare_seal: Duration,
    bare_open: Duration,
    lib_seal: Duration,
    digest: Duration,
    lib_open: Duration,
    checksum: Duration,
    sample: Vec<Vec<u8>>,
}

fn crypto_phases(size: u64, seed: u64) -> anyhow::Result<CryptoPhases> {
    let key = SecretKey::try_from(&[7u8; 32][..]).map_err(|_| anyhow::anyhow!("key"))?;
    let nonce = Nonce::try_from(&[9u8; 24][..]).map_err(|_| anyhow::anyhow!("nonce"))?;
    let mut bare_sealer = StreamXChaCha20Poly1305::new(&key, &nonce);
    let mut bare_opener = StreamXChaCha20Poly1305::new(&key, &nonce);
    let ad = [0x5au8; AD_LEN];
    let ak = AccessKey::generate();
    let ctx = FileContext {
        record_type: RECORD_TYPE,
        record_id: RecordId::random(),
        writer_id: ClientId::random(),
        key_version: 1,
        version: 1,
    };
    let mut sealer = FileSealer::without_digest(&ak, &ctx, CHUNK as u32)?;
    let mut digest = ChunksDigest::new()?;
    let mut lib_sealed: Vec<Vec<u8>> = Vec::new();
    let mut body = Body::new(seed, size);
    let mut plain = vec![0u8; CHUNK];
    let mut sealed = vec![0u8; CHUNK + ABYTES];
    let mut opened = vec![0u8; CHUNK];
    let mut p = CryptoPhases {
        generate: Duration::ZERO,
        bare_seal: Duration::ZERO,
        bare_open: Duration::ZERO,
        lib_seal: Duration::ZERO,
        digest: Duration::ZERO,
        lib_open: Duration::ZERO,
        checksum: Duration::ZERO,
        sample: Vec::new(),
    };
    // The library's opener needs the head, known only after the last
    // chunk, so the sealed chunks are kept and opened after; a body larger
    // than 64 MiB is not held: its opening is timed over a 64 MiB body and
    // scaled.
    let keep = size <= 64 * MIB;
    let mut seq = 0u64;
    loop {
        let t0 = Instant::now();
        let n = read_full(&mut body, &mut plain)?;
        let last = body.remaining == 0;
        let t1 = Instant::now();
        let tag = if last {
            StreamTag::Finish
        } else {
            StreamTag::Message
        };
        bare_sealer
            .seal_chunk(&plain[..n], Some(&ad), &mut sealed[..n + ABYTES], &tag)
            .map_err(|_| anyhow::anyhow!("seal"))?;
        let t2 = Instant::now();
        bare_opener
            .open_chunk(&sealed[..n + ABYTES], Some(&ad), &mut opened[..n])
            .map_err(|_| anyhow::anyhow!("open"))?;
        let t3 = Instant::now();
        // As `put_file`: a fresh vector for every sealed chunk.
        let mut chunk = Vec::with_capacity(n + ABYTES);
        let position = if last {
            ChunkPosition::Last
        } else {
            ChunkPosition::NotLast
        };
        sealer.seal_chunk_into(&plain[..n], position, &mut chunk)?;
        let t4 = Instant::now();
        digest.add(seq, &chunk)?;
        let t5 = Instant::now();
        p.generate += t1 - t0;
        p.bare_seal += t2 - t1;
        p.bare_open += t3 - t2;
        p.lib_seal += t4 - t3;
        p.digest += t5 - t4;
        if p.sample.len() < CHUNKS_PER_STATEMENT && n == CHUNK {
            p.sample.push(chunk.clone());
        }
        if keep {
            lib_sealed.push(chunk);
        }
        seq += 1;
        if last {
            break;
        }
    }
    let total = digest.finish()?;
    let head = sealer.finish_with(total)?;
    if keep {
        let mut opener = FileOpener::without_digest(&ak, &ctx, &head)?;
        let mut out = zeroize::Zeroizing::new(Vec::new());
        let mut check = Check::default();
        let count = lib_sealed.len();
        for (seq, chunk) in lib_sealed.iter().enumerate() {
            let given = (seq + 1 == count).then_some(total);
            let t0 = Instant::now();
            opener.open_chunk_digested(seq as u64, chunk, given, &mut out)?;
            let t1 = Instant::now();
            check.write_all(&out)?;
            let t2 = Instant::now();
            p.lib_open += t1 - t0;
            p.checksum += t2 - t1;
        }
        anyhow::ensure!(opener.is_done(), "the library's opener");
    } else {
        let part = crypto_phases(64 * MIB, seed)?;
        let scale = size as f64 / (64 * MIB) as f64;
        p.lib_open = part.lib_open.mul_f64(scale);
        p.checksum = part.checksum.mul_f64(scale);
    }
    Ok(p)
}

/// Plain diesel inserting `count` pre-sealed chunks (cycling through
/// `sample`) in one transaction as the library does, then fetching them
/// back 16 a query; the two times.
macro_rules! db_phases {
    ($conn:expr, $count:expr, $sample:expr, $insert:expr) => {{
        let conn = $conn;
        let id = RecordId::random().to_string().into_bytes()[..16].to_vec();
        let count: usize = $count;
        let sample: &[Vec<u8>] = $sample;
        let t = Instant::now();
        conn.transaction::<_, anyhow::Error, _>(|conn| {
            batches::in_batches(
                count,
                CHUNKS_PER_STATEMENT,
                |seq| ChunkIns {
                    record_id: &id,
                    version: 1,
                    seq: seq as i64,
                    chunk: &sample[seq % sample.len()],
                },
                |rows| $insert(&mut *conn, rows),
            )
        })?;
        let insert = t.elapsed();
        let t = Instant::now();
        let mut from = 0i64;
        let mut bytes = 0usize;
        loop {
            let got: Vec<(i64, Vec<u8>)> = bench_file_chunks::table
                .filter(bench_file_chunks::record_id.eq(&id))
                .filter(bench_file_chunks::version.eq(1))
                .filter(bench_file_chunks::seq.ge(from))
                .order(bench_file_chunks::seq.asc())
                .limit(CHUNKS_PER_STATEMENT as i64)
                .select((bench_file_chunks::seq, bench_file_chunks::chunk))
                .load(conn)?;
            bytes += got.iter().map(|(_, c)| c.len()).sum::<usize>();
            match got.last() {
                Some((seq, _)) if got.len() == CHUNKS_PER_STATEMENT => from = seq + 1,
                _ => break,
            }
        }
        let fetch = t.elapsed();
        anyhow::ensure!(bytes == count * sample[0].len(), "fetched every chunk");
        diesel::delete(bench_file_chunks::table).execute(conn)?;
        (insert, fetch)
    }};
}

fn sqlite_insert(conn: &mut diesel::SqliteConnection, rows: &[ChunkIns<'_>]) -> anyhow::Result<()> {
    for row in rows {
        diesel::insert_into(bench_file_chunks::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

fn postgres_insert(conn: &mut diesel::PgConnection, rows: &[ChunkIns<'_>]) -> anyhow::Result<()> {
    diesel::copy_from(bench_file_chunks::table)
        .from_insertable(rows)
        .execute(conn)?;
    Ok(())
}

/// `--phases-child BACKEND SIZE_MIB ROUNDS URL`: prints `CHILD {json}`.
fn phases_child(backend: Backend, size_mib: u64, rounds: usize, url: &str) -> anyhow::Result<()> {
    let size = size_mib * MIB;
    let chunks = size.div_ceil(CHUNK as u64).max(1) as usize;
    let mut out = Vec::new();
    for round in 0..rounds {
        let seed = 0x5eed_0000 + size_mib * 1000 + round as u64;
        let c = crypto_phases(size, seed)?;
        let (insert, fetch) = match backend {
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(sqlite_path(url)?)?;
                // The page size the store would make the file with, first.
                let page = match std::env::var("BENCH_SQLITE_PAGE_SIZE") {
                    Ok(size) => size.parse()?,
                    Err(_) => strongroom::DEFAULT_SQLITE_PAGE_SIZE,
                };
                conn.batch_execute(&format!(
                    "PRAGMA page_size = {page}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384",
                ))?;
                conn.batch_execute(&PHASE_TABLE.replace("{BIN}", "BLOB"))?;
                db_phases!(&mut conn, chunks, &c.sample, sqlite_insert)
            }
            Backend::Postgres => {
                let mut conn = diesel::PgConnection::establish(url)?;
                conn.batch_execute(&PHASE_TABLE.replace("{BIN}", "bytea"))?;
                db_phases!(&mut conn, chunks, &c.sample, postgres_insert)
            }
        };
        settle(backend, url)?;
        let row = json!({
            "generate_s": c.generate.as_secs_f64(),
            "bare_seal_s": c.bare_seal.as_secs_f64(),
            "bare_open_s": c.bare_open.as_secs_f64(),
            "lib_seal_s": c.lib_seal.as_secs_f64(),
            "lib_open_s": c.lib_open.as_secs_f64(),
            "digest_s": c.digest.as_secs_f64(),
            "checksum_s": c.checksum.as_secs_f64(),
            "db_insert_s": insert.as_secs_f64(),
            "db_fetch_s": fetch.as_secs_f64(),
        });
        eprintln!(
            "  phases {} {size_mib} MiB round {}: {row}",
            backend.name(),
            round + 1
        );
        out.push(row);
    }
    println!("CHILD {}", json!({ "rounds": out }));
    Ok(())
}

// ---------------------------------------------------------------------
// The parent: children, aggregation, the report.

/// Runs this program again with `args`; returns its `CHILD` line's JSON.
fn spawn(args: &[String]) -> anyhow::Result<Value> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("child {args:?} failed ({}): {stdout}", out.status);
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CHILD "))
        .with_context(|| format!("child {args:?} printed no result: {stdout}"))?;
    Ok(serde_json::from_str(line)?)
}

/// One (backend, size)'s figures.
struct Figures {
    size_mib: u64,
    bare_seal: f64,
    bare_open: f64,
    put: f64,
    get: f64,
    put_ratio: f64,
    put_range: (f64, f64),
    get_ratio: f64,
    get_range: (f64, f64),
    put_cpu_share: f64,
    get_cpu_share: f64,
    peak_rss_mib: f64,
    after_open_rss_mib: f64,
    baseline_rss_mib: f64,
    load: (Option<f64>, Option<f64>),
    phases: Option<Value>,
}

fn range(v: &[f64]) -> (f64, f64) {
    (
        v.iter().copied().fold(f64::INFINITY, f64::min),
        v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

impl Figures {
    fn of(
        size_mib: u64,
        child: &Value,
        baseline: &Value,
        load: (Option<f64>, Option<f64>),
        phases: Option<Value>,
    ) -> anyhow::Result<Figures> {
        let size = size_mib * MIB;
        let rounds = child["rounds"].as_array().context("rounds")?;
        let mut cols: [Vec<f64>; 8] = Default::default();
        for r in rounds {
            let rate = |k: &str| secs(r, k).map(|s| size as f64 / 1e6 / s.max(1e-9));
            let (seal, open, put, get) = (
                rate("bare_seal_s")?,
                rate("bare_open_s")?,
                rate("put_s")?,
                rate("get_s")?,
            );
            let share = |cpu: &str, wall: &str| -> anyhow::Result<f64> {
                Ok(r[cpu].as_f64().unwrap_or(f64::NAN) / secs(r, wall)?)
            };
            for (col, v) in cols.iter_mut().zip([
                seal,
                open,
                put,
                get,
                put / seal,
                get / open,
                share("put_cpu_s", "put_s")?,
                share("get_cpu_s", "get_s")?,
            ]) {
                col.push(v);
            }
        }
        let kib = |v: &Value, k: &str| -> anyhow::Result<f64> {
            Ok(v[k].as_f64().with_context(|| format!("no {k}"))? / 1024.0)
        };
        Ok(Figures {
            size_mib,
            bare_seal: median(cols[0].clone()),
            bare_open: median(cols[1].clone()),
            put: median(cols[2].clone()),
            get: median(cols[3].clone()),
            put_ratio: median(cols[4].clone()),
            put_range: range(&cols[4]),
            get_ratio: median(cols[5].clone()),
            get_range: range(&cols[5]),
            put_cpu_share: median(cols[6].clone()),
            get_cpu_share: median(cols[7].clone()),
            peak_rss_mib: kib(child, "peak_rss_kib")?,
            after_open_rss_mib: kib(child, "rss_after_open_kib")?,
            baseline_rss_mib: kib(baseline, "peak_rss_kib")?,
            load,
            phases,
        })
    }

    fn json(&self) -> Value {
        let r2 = |x: f64| (x * 100.0).round() / 100.0;
        let r1 = |x: f64| (x * 10.0).round() / 10.0;
        let mut v = json!({
            "put_mbps": r1(self.put),
            "get_mbps": r1(self.get),
            "bare_seal_mbps": r1(self.bare_seal),
            "bare_open_mbps": r1(self.bare_open),
            "put_ratio": r2(self.put_ratio),
            "get_ratio": r2(self.get_ratio),
            "put_ratio_range": [r2(self.put_range.0), r2(self.put_range.1)],
            "get_ratio_range": [r2(self.get_range.0), r2(self.get_range.1)],
            "put_cpu_share": r2(self.put_cpu_share),
            "get_cpu_share": r2(self.get_cpu_share),
            "peak_rss_mib": r1(self.peak_rss_mib),
            "after_open_rss_mib": r1(self.after_open_rss_mib),
            "baseline_rss_mib": r1(self.baseline_rss_mib),
            "load_start": self.load.0,
            "load_end": self.load.1,
        });
        if let Some(p) = &self.phases {
            v["phases"] = p.clone();
        }
        v
    }
}

/// Medians over the rounds of a phases child, as MB/s, and how the parts
/// add up against put and get.
fn phases_summary(size_mib: u64, child: &Value) -> anyhow::Result<Value> {
    let size = (size_mib * MIB) as f64;
    let rounds = child["rounds"].as_array().context("rounds")?;
    let keys = [
        "generate_s",
        "bare_seal_s",
        "bare_open_s",
        "lib_seal_s",
        "lib_open_s",
        "digest_s",
        "checksum_s",
        "db_insert_s",
        "db_fetch_s",
    ];
    let mut out = serde_json::Map::new();
    for k in keys {
        let s = median(
            rounds
                .iter()
                .map(|r| secs(r, k))
                .collect::<anyhow::Result<_>>()?,
        );
        let name = k.strip_suffix("_s").context("a time's key")?;
        out.insert(
            format!("{name}_mbps"),
            json!((size / 1e6 / s * 10.0).round() / 10.0),
        );
        out.insert(k.to_owned(), json!((s * 1000.0).round() / 1000.0));
    }
    let t = |k: &str| out[k].as_f64().unwrap_or(f64::NAN);
    let put_caller = t("generate_s") + t("lib_seal_s");
    // The upload's other two stages run on threads of their own (digest,
    // insert): the slower of them is what overlaps the caller's.
    let put_other = t("digest_s").max(t("db_insert_s"));
    let get_caller = t("lib_open_s") + t("checksum_s");
    let get_other = t("db_fetch_s") + t("digest_s");
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
    let derived = [
        ("put_caller_s", r3(put_caller)),
        ("put_other_s", r3(put_other)),
        ("get_caller_s", r3(get_caller)),
        ("get_other_s", r3(get_other)),
        (
            "put_ratio_overlapped",
            r2(t("bare_seal_s") / put_caller.max(put_other)),
        ),
        (
            "get_ratio_overlapped",
            r2(t("bare_open_s") / get_caller.max(get_other)),
        ),
        (
            "put_ratio_serial",
            r2(t("bare_seal_s") / (put_caller + t("digest_s") + t("db_insert_s"))),
        ),
        (
            "get_ratio_serial",
            r2(t("bare_open_s") / (get_caller + get_other)),
        ),
    ];
    for (k, v) in derived {
        out.insert(k.to_owned(), json!(v));
    }
    Ok(Value::Object(out))
}

fn print_table(backend: &str, target: f64, figures: &[Figures]) {
    println!("\n{backend} (MB/s of plaintext, medians over the rounds; ratios: median of each round's own, with their range)");
    println!(
        "{:>9} {:>10} {:>10} {:>8} {:>8} {:>22} {:>22} {:>9} {:>9} {:>9} {:>11}",
        "size MiB",
        "bare seal",
        "bare open",
        "put",
        "get",
        "put/seal",
        "get/open",
        "put cpu",
        "get cpu",
        "peak RSS",
        "baseline"
    );
    for f in figures {
        println!(
            "{:>9} {:>10.0} {:>10.0} {:>8.0} {:>8.0} {:>22} {:>22} {:>9.2} {:>9.2} {:>5.1} MiB {:>7.1} MiB",
            f.size_mib,
            f.bare_seal,
            f.bare_open,
            f.put,
            f.get,
            format!("{:.2} ({:.2}-{:.2})", f.put_ratio, f.put_range.0, f.put_range.1),
            format!("{:.2} ({:.2}-{:.2})", f.get_ratio, f.get_range.0, f.get_range.1),
            f.put_cpu_share,
            f.get_cpu_share,
            f.peak_rss_mib,
            f.baseline_rss_mib,
        );
    }
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    for f in figures {
        println!(
            "  {} MiB: put {:.2} [target >= {target}: {}], get {:.2} [target >= {target}: {}], \
             peak RSS {:.1} MiB [target < {TARGET_RSS_MIB}: {}] (after opening {:.1}, baseline child {:.1}); \
             load {:?} -> {:?}",
            f.size_mib,
            f.put_ratio,
            verdict(f.put_ratio >= target),
            f.get_ratio,
            verdict(f.get_ratio >= target),
            f.peak_rss_mib,
            verdict(f.peak_rss_mib < TARGET_RSS_MIB),
            f.after_open_rss_mib,
            f.baseline_rss_mib,
            f.load.0,
            f.load.1,
        );
        if let Some(p) = &f.phases {
            let g = |k: &str| p[k].as_f64().unwrap_or(f64::NAN);
            println!(
                "    phases (s): put's caller thread: generate {:.2} + library seal {:.2} = {:.2}; \
                 its other threads: digest {:.2}, insert {:.2}, the slower {:.2}; bare seal {:.2}",
                g("generate_s"),
                g("lib_seal_s"),
                g("put_caller_s"),
                g("digest_s"),
                g("db_insert_s"),
                g("put_other_s"),
                g("bare_seal_s"),
            );
            println!(
                "                 get's caller thread: library open {:.2} + checksum {:.2} = {:.2}; \
                 its other thread: fetch {:.2} + digest {:.2} = {:.2}; bare open {:.2}",
                g("lib_open_s"),
                g("checksum_s"),
                g("get_caller_s"),
                g("db_fetch_s"),
                g("digest_s"),
                g("get_other_s"),
                g("bare_open_s"),
            );
            println!(
                "                 best ratio two threads allow (bare / the slower thread): put {:.2}, get {:.2}; \
                 one thread (bare / both threads' sum): put {:.2}, get {:.2}",
                g("put_ratio_overlapped"),
                g("get_ratio_overlapped"),
                g("put_ratio_serial"),
                g("get_ratio_serial"),
            );
        }
    }
}

/// Every size on one backend: a baseline and a measuring child per size
/// (and a phases child with `--phases`); `fresh_url` gives each child's
/// database URL (a fresh SQLite file, or the run's PostgreSQL database)
/// and `done` cleans up after it.
fn run_backend(
    backend: Backend,
    sizes: &[u64],
    rounds: usize,
    phases: bool,
    mut fresh_url: impl FnMut(&str) -> anyhow::Result<String>,
    mut done: impl FnMut(&str),
    space: impl Fn(u64) -> Result<(), String>,
) -> anyhow::Result<serde_json::Map<String, Value>> {
    let name = backend.name().to_owned();
    let mut figures = Vec::new();
    for &size in sizes {
        if let Err(why) = space(size) {
            println!("\n!!! {name} {size} MiB SKIPPED: {why}");
            continue;
        }
        let url = fresh_url(&format!("baseline-{size}"))?;
        let base = spawn(&["--baseline".into(), name.clone(), url.clone()]);
        done(&url);
        let base = base?;
        let url = fresh_url(&format!("files-{size}"))?;
        let load_start = load_average();
        eprintln!("{name} {size} MiB: {rounds} rounds (load {load_start:?})");
        let child = spawn(&[
            "--child".into(),
            name.clone(),
            size.to_string(),
            rounds.to_string(),
            url.clone(),
        ]);
        done(&url);
        let child = child?;
        let load = (load_start, load_average());
        let phase = if phases {
            let url = fresh_url(&format!("phases-{size}"))?;
            let p = spawn(&[
                "--phases-child".into(),
                name.clone(),
                size.to_string(),
                rounds.to_string(),
                url.clone(),
            ]);
            done(&url);
            Some(phases_summary(size, &p?)?)
        } else {
            None
        };
        figures.push(Figures::of(size, &child, &base, load, phase)?);
    }
    let label = match backend {
        Backend::Sqlite => "SQLite file",
        Backend::Postgres => "PostgreSQL",
    };
    print_table(label, backend.target(), &figures);
    Ok(figures
        .iter()
        .map(|f| (f.size_mib.to_string(), f.json()))
        .collect())
}

/// Bytes a body of `size_mib` needs on disk, with room: the stored chunks
/// plus a WAL as large (SQLite keeps the whole transaction in it), and
/// 512 MiB to spare.
fn needed(size_mib: u64) -> u64 {
    size_mib * MIB * 23 / 10 + 512 * MIB
}

/// PostgreSQL's data directory, if the server says and it is on this
/// machine.
fn postgres_data_dir(url: &str) -> Option<PathBuf> {
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        setting: String,
    }
    let mut conn = diesel::PgConnection::establish(url).ok()?;
    let rows: Vec<Setting> =
        diesel::sql_query("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
            .load(&mut conn)
            .ok()?;
    let dir = PathBuf::from(&rows.first()?.setting);
    dir.exists().then_some(dir)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--child") => {
            let [_, b, size, rounds, url] = &args[..] else {
                bail!("--child BACKEND SIZE_MIB ROUNDS URL");
            };
            return child(Backend::parse(b)?, size.parse()?, rounds.parse()?, url);
        }
        Some("--phases-child") => {
            let [_, b, size, rounds, url] = &args[..] else {
                bail!("--phases-child BACKEND SIZE_MIB ROUNDS URL");
            };
            return phases_child(Backend::parse(b)?, size.parse()?, rounds.parse()?, url);
        }
        Some("--baseline") => {
            let [_, b, url] = &args[..] else {
                bail!("--baseline BACKEND URL");
            };
            return baseline(Backend::parse(b)?, url);
        }
        _ => {}
    }

    let mut sizes = Vec::new();
    let mut rounds = 3usize;
    let mut phases = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => rounds = it.next().context("--rounds N")?.parse()?,
            "--phases" => phases = true,
            s => sizes.push(s.parse::<u64>().with_context(|| {
                format!("usage: bench_files [SIZE_MIB ...] [--rounds N] [--phases]; not {s}")
            })?),
        }
    }
    if sizes.is_empty() {
        sizes = vec![100, 1024];
    }
    anyhow::ensure!(rounds >= 1, "at least one round");

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (commit, dirty) = source_commit();
    let load_start = load_average();
    println!(
        "strongroom files benchmark: sizes {sizes:?} MiB, {rounds} rounds, {cores} cores, \
         commit {} (library sources {}), load {load_start:?}; compare ratios, not absolute figures",
        commit.as_deref().unwrap_or("?"),
        match dirty {
            Some(true) => "CHANGED since it",
            Some(false) => "as committed",
            None => "?",
        }
    );
    let dir = tempfile::tempdir()?;
    let tmp_free = free_bytes(dir.path());
    println!(
        "free space where the SQLite files go ({}): {}",
        dir.path().display(),
        tmp_free.map_or("unknown".to_owned(), |b| format!(
            "{:.1} GiB",
            b as f64 / (1024.0 * MIB as f64)
        ))
    );
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();

    let mut sqlite_json = Value::Null;
    if only.is_empty() || only == "sqlite" {
        let tmp = dir.path().to_owned();
        let space = |size: u64| match free_bytes(&tmp) {
            Some(free) if free < needed(size) => Err(format!(
                "needs about {} MiB free in {}, has {} MiB",
                needed(size) / MIB,
                tmp.display(),
                free / MIB
            )),
            _ => Ok(()),
        };
        let base = dir.path().to_owned();
        let map = run_backend(
            Backend::Sqlite,
            &sizes,
            rounds,
            phases,
            |name| {
                Ok(format!(
                    "sqlite://{}",
                    base.join(format!("{name}.db")).display()
                ))
            },
            |url| {
                if let Some(path) = url.strip_prefix("sqlite://") {
                    for ext in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{path}{ext}"));
                    }
                }
            },
            space,
        )?;
        sqlite_json = Value::Object(map);
    }

    let mut postgres_json = Value::Null;
    if only.is_empty() || only == "postgres" {
        let result = scratch_pg::with_scratch_database("PostgreSQL", |url| {
            let data = postgres_data_dir(url);
            match &data {
                Some(d) => println!(
                    "\nPostgreSQL's data directory {}: {} free",
                    d.display(),
                    free_bytes(d).map_or("unknown".to_owned(), |b| format!(
                        "{:.1} GiB",
                        b as f64 / (1024.0 * MIB as f64)
                    ))
                ),
                None => println!(
                    "\nPostgreSQL's data directory: not visible here, its free space unchecked"
                ),
            }
            let space = |size: u64| match data.as_deref().and_then(free_bytes) {
                Some(free) if free < needed(size) => Err(format!(
                    "needs about {} MiB free for PostgreSQL's data, has {} MiB",
                    needed(size) / MIB,
                    free / MIB
                )),
                _ => Ok(()),
            };
            run_backend(
                Backend::Postgres,
                &sizes,
                rounds,
                phases,
                |_| Ok(url.to_owned()),
                |_| {},
                space,
            )
        })?;
        if let Some(map) = result {
            postgres_json = Value::Object(map);
        }
    }

    let machine = json!({
        "cores": cores,
        "load_start": load_start,
        "load_end": load_average(),
        "commit": commit,
        "library_sources_changed": dirty,
        "rounds": rounds,
    });
    println!("\ntargets: put and get >= {TARGET_SQLITE} of bare on SQLite, >= {TARGET_POSTGRES} on PostgreSQL; peak RSS < {TARGET_RSS_MIB} MiB");
    println!(
        "{}",
        json!({ "sqlite": sqlite_json, "postgres": postgres_json, "machine": machine })
    );
    Ok(())
}
