//! Load (issue 19, point 1): a soak of 16 threads over 4 clients on one
//! PostgreSQL database, each client's store pooling fewer connections
//! than the threads using it, mixing `put_many`, gets, paged queries,
//! versioned updates that race on the same records, deletes, shares,
//! revokes with re-wrap, file puts and file gets for a bounded time.
//!
//! Every operation's outcome is checked against a model of what was
//! acknowledged: a lost race must be `Error::Conflict` (or `NotFound` for
//! a record whose delete was acknowledged or in flight), a denial
//! (`AccessDenied`, a query's `NoAccess` skip, `NotShared`) only where the
//! model says access is absent, a pool timeout is counted as a wait, and
//! anything else fails the test with its message. A reader never reads a
//! record of a type whose key version is at or above the version its
//! revocation moved the writer to (checked on every successful read that
//! began after the revocation was acknowledged and before any new share
//! of the type with it began). At the end every acknowledged, undeleted
//! record and file reads back exactly (version, fields, plain meta, body),
//! no unacknowledged record exists, a revoked reader cannot read a record
//! written now, every client works again, and no connection is left in a
//! transaction. Operations/s and p50/p99 per operation kind are printed.
//!
//! The short form runs in `cargo test` (4 s of load on PostgreSQL, 3 s
//! more on SQLite; about 10 s in all in a debug build). A missing
//! PostgreSQL server skips that half loudly (fails with `CI=true`), as in
//! `tests/common`. The long form (PostgreSQL):
//!
//! ```sh
//! STRONGROOM_SOAK_SECS=120 cargo test --release --test soak -- --ignored --nocapture
//! ```

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use strongroom::{
    Backend, Client, Error, Fields, NewRecord, Plain, Query, Record, RecordId, SkipReason, Store,
    StoreOptions,
};

const CLIENTS: usize = 4;
const NOTE: usize = 0;
const SCAN: usize = 1;
const TYPES: [&str; 2] = ["soak_note", "soak_scan"];
const BUCKETS: u64 = 4;
/// Updates and deletes pick among a writer's newest records of a type, so
/// its threads race on them.
const HOT: usize = 6;

struct Config {
    backend: Backend,
    duration: Duration,
    threads: usize,
    pool_size: u32,
}

// ---------------------------------------------------------------- content

/// The sealed body of a note at `version`: a function of its seed, so any
/// reader can tell whether what it read is consistent with its meta.
fn note_body(seed: u64, version: u64) -> String {
    let len = 16 + (seed % 300) as usize;
    let unit = format!("{seed:x}/v{version};");
    unit.repeat(len / unit.len() + 1)[..len].to_owned()
}

fn note_fields(seed: u64, version: u64) -> Fields {
    Fields::new()
        .with("seed", &seed)
        .unwrap()
        .with("body", &note_body(seed, version))
        .unwrap()
}

fn note_plain(seed: u64, version: u64) -> Plain {
    Plain::from([
        ("bucket".to_owned(), (seed % BUCKETS).to_string()),
        ("seed".to_owned(), seed.to_string()),
        ("version".to_owned(), version.to_string()),
    ])
}

/// A file body of 2 KiB to 200 KiB, a function of its seed.
fn file_body(seed: u64) -> Vec<u8> {
    let len = 2048 + (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize % (198 * 1024);
    let mut body = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut body);
    body
}

fn file_plain(seed: u64) -> Plain {
    Plain::from([
        ("bucket".to_owned(), (seed % BUCKETS).to_string()),
        ("seed".to_owned(), seed.to_string()),
    ])
}

/// Whether a note read back is consistent in itself: its fields and plain
/// meta are those written at the version its meta names.
fn check_note(record: &Record) -> Result<(), String> {
    let meta = record.meta();
    let seed: u64 = record.field("seed").map_err(|e| e.to_string())?;
    let body: String = record.field("body").map_err(|e| e.to_string())?;
    if body != note_body(seed, meta.version) || meta.plain != note_plain(seed, meta.version) {
        return Err(format!(
            "note {} at version {} holds the content of another version or record",
            meta.id, meta.version
        ));
    }
    if record.field_names().count() != 2 {
        return Err(format!("note {} has unexpected fields", meta.id));
    }
    Ok(())
}

fn plain_seed(plain: &Plain) -> Option<u64> {
    plain.get("seed")?.parse().ok()
}

// ------------------------------------------------------------------ model

/// One acknowledged record.
struct Rec {
    writer: usize,
    kind: usize,
    seed: u64,
    /// The last acknowledged version.
    version: u64,
    deleted: bool,
    deletes_in_flight: u32,
    /// Writes (updates, deletes) started on it, and those not yet ended.
    writes_started: u64,
    writes_in_flight: u32,
}

/// What a reader may read of (writer, type), as acknowledged.
#[derive(Clone, Copy, Debug)]
struct Access {
    shared: bool,
    share_in_flight: bool,
    revoke_in_flight: bool,
    share_starts: u64,
    /// Share and revoke calls started.
    ops: u64,
    /// Successful reads are forbidden of records at or above this key
    /// version (0: never shared, nothing readable).
    closed_from: Option<u32>,
}

struct Model {
    records: HashMap<RecordId, Rec>,
    /// Ids by (writer, type), acknowledged order (deleted ones dropped
    /// lazily).
    live: Vec<Vec<Vec<RecordId>>>,
    access: HashMap<(usize, usize, usize), Access>,
}

impl Model {
    fn new() -> Model {
        let mut access = HashMap::new();
        for w in 0..CLIENTS {
            for k in 0..TYPES.len() {
                for r in 0..CLIENTS {
                    access.insert(
                        (w, k, r),
                        Access {
                            shared: false,
                            share_in_flight: false,
                            revoke_in_flight: false,
                            share_starts: 0,
                            ops: 0,
                            closed_from: Some(0),
                        },
                    );
                }
            }
        }
        Model {
            records: HashMap::new(),
            live: vec![vec![Vec::new(); TYPES.len()]; CLIENTS],
            access,
        }
    }

    fn add(&mut self, writer: usize, kind: usize, id: RecordId, seed: u64) {
        self.records.insert(
            id,
            Rec {
                writer,
                kind,
                seed,
                version: 1,
                deleted: false,
                deletes_in_flight: 0,
                writes_started: 0,
                writes_in_flight: 0,
            },
        );
        self.live[writer][kind].push(id);
    }

    /// A live record of (writer, kind): among the newest `HOT` if `hot`.
    fn pick(
        &mut self,
        rng: &mut StdRng,
        writer: usize,
        kind: usize,
        hot: bool,
    ) -> Option<RecordId> {
        for _ in 0..8 {
            let live = &mut self.live[writer][kind];
            if live.is_empty() {
                return None;
            }
            let from = if hot {
                live.len().saturating_sub(HOT)
            } else {
                0
            };
            let at = rng.gen_range(from..live.len());
            let id = live[at];
            if self.records[&id].deleted {
                live.remove(at);
                continue;
            }
            return Some(id);
        }
        None
    }

    /// Whether a NotFound for `id` is legitimate now: its delete was
    /// acknowledged or is in flight.
    fn gone(&self, id: RecordId) -> bool {
        let rec = &self.records[&id];
        rec.deleted || rec.deletes_in_flight > 0
    }
}

// ------------------------------------------------------------ op outcomes

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Op {
    PutMany,
    Get,
    GetShared,
    Query,
    QueryShared,
    Update,
    Delete,
    Share,
    RevokeRewrap,
    PutFile,
    GetFile,
    GetFileShared,
}

const WEIGHTS: [(Op, u32); 12] = [
    (Op::PutMany, 8),
    (Op::Get, 14),
    (Op::GetShared, 10),
    (Op::Query, 5),
    (Op::QueryShared, 4),
    (Op::Update, 20),
    (Op::Delete, 8),
    (Op::Share, 3),
    (Op::RevokeRewrap, 3),
    (Op::PutFile, 6),
    (Op::GetFile, 7),
    (Op::GetFileShared, 6),
];

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    ok: u64,
    conflicts: u64,
    not_found: u64,
    denied: u64,
    pool_waits: u64,
}

/// What happened to one operation, for the tally.
enum Outcome {
    Ok,
    /// A lost race reported as Conflict.
    Conflict,
    /// A record deleted concurrently (or before).
    NotFound,
    /// Access legitimately absent.
    Denied,
    PoolWait,
    /// The op had nothing to work on (no record yet): not counted.
    Idle,
}

struct Shared<'a> {
    clients: &'a [Client],
    model: Mutex<Model>,
    /// One lock per (writer, type, reader): share and revoke of one reader
    /// are serialised, so the model knows what each acknowledged.
    access_locks: HashMap<(usize, usize, usize), Mutex<()>>,
    failures: Mutex<Vec<String>>,
    next_seed: AtomicU64,
    stop: AtomicBool,
    /// One bit per op kind that has succeeded at least once.
    succeeded: std::sync::atomic::AtomicU32,
    /// Records read by a reader that the model counts as revoked, below
    /// the revocation's version (allowed: revocation does not un-read).
    old_reads_after_revoke: AtomicU64,
    /// Reads (gets, file gets) begun by a reader while the model counted
    /// it revoked, and the share was not re-made during them: the reads the
    /// revocation check applies to (succeeded or denied).
    reads_while_revoked: AtomicU64,
}

impl Shared<'_> {
    fn model(&self) -> std::sync::MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(&self, message: String) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message);
    }

    fn seed(&self) -> u64 {
        self.next_seed.fetch_add(1, Ordering::Relaxed)
    }

    fn access(&self, writer: usize, kind: usize, reader: usize) -> Access {
        self.model().access[&(writer, kind, reader)]
    }

    /// An error the model does not explain: a pool wait, or a failure.
    fn unexplained(&self, op: Op, client: usize, err: &Error) -> Outcome {
        if matches!(err, Error::PoolTimeout { .. }) {
            return Outcome::PoolWait;
        }
        self.fail(format!("{op:?} by client {client}: {err}"));
        Outcome::Idle
    }

    /// Counts a read the revocation check applies to: begun while the
    /// model counted `reader` revoked from (writer, kind), with no share
    /// re-made during it.
    fn count_revoked_read(&self, reader: usize, writer: usize, kind: usize, start: Access) {
        let end = self.access(writer, kind, reader);
        if reader != writer
            && start.closed_from.is_some_and(|v| v > 0)
            && !start.share_in_flight
            && end.share_starts == start.share_starts
        {
            self.reads_while_revoked.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A successful read by `reader` of record `id` of (writer, kind) at
    /// key version `key_version`: the revocation check.
    fn check_revocation(
        &self,
        op: Op,
        reader: usize,
        (writer, kind): (usize, usize),
        start: Access,
        (id, key_version): (RecordId, u32),
    ) {
        if writer == reader {
            return;
        }
        let end = self.access(writer, kind, reader);
        if start.share_in_flight || end.share_starts != start.share_starts {
            return;
        }
        if let Some(closed) = start.closed_from {
            if key_version >= closed {
                self.fail(format!(
                    "{op:?}: client {reader} read record {id} of client {writer}'s {} at key version \
                     {key_version}, but {}",
                    TYPES[kind],
                    if closed == 0 {
                        "the type was never shared with it".to_owned()
                    } else {
                        format!("its revocation (acknowledged before the read) moved the writer to version {closed}")
                    }
                ));
            } else if closed > 0 {
                self.old_reads_after_revoke.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Whether a denial is legitimate: the share was not acknowledged and
/// undisturbed over the whole operation.
fn denial_legit(start: Access, end: Access) -> bool {
    !start.shared || start.share_in_flight || start.revoke_in_flight || end.ops != start.ops
}

// -------------------------------------------------------------------- ops

fn put_many(s: &Shared, rng: &mut StdRng, c: usize) -> Outcome {
    let n = rng.gen_range(1..=20);
    let seeds: Vec<u64> = (0..n).map(|_| s.seed()).collect();
    let batch: Vec<NewRecord> = seeds
        .iter()
        .map(|&seed| NewRecord::new(TYPES[NOTE], note_fields(seed, 1), note_plain(seed, 1)))
        .collect();
    match s.clients[c].put_many(&batch) {
        Ok(metas) => {
            if metas.len() != n || metas.iter().any(|m| m.version != 1 || m.key_version == 0) {
                s.fail(format!(
                    "PutMany by client {c}: {n} records asked, metas {metas:?}"
                ));
                return Outcome::Idle;
            }
            let mut model = s.model();
            for (meta, seed) in metas.iter().zip(seeds) {
                model.add(c, NOTE, meta.id, seed);
            }
            Outcome::Ok
        }
        Err(err) => s.unexplained(Op::PutMany, c, &err),
    }
}

/// A get of a note by its writer (`reader == writer`) or by another client.
fn get(s: &Shared, rng: &mut StdRng, reader: usize, writer: usize) -> Outcome {
    let op = if reader == writer {
        Op::Get
    } else {
        Op::GetShared
    };
    let (id, acked, start) = {
        let mut model = s.model();
        let Some(id) = model.pick(rng, writer, NOTE, false) else {
            return Outcome::Idle;
        };
        let acked = model.records[&id].version;
        (id, acked, model.access[&(writer, NOTE, reader)])
    };
    let result = s.clients[reader].get(id);
    s.count_revoked_read(reader, writer, NOTE, start);
    match result {
        Ok(record) => {
            if let Err(why) = check_note(&record) {
                s.fail(format!("{op:?} by client {reader}: {why}"));
            }
            if record.version() < acked {
                s.fail(format!(
                    "{op:?} by client {reader}: record {id} read at version {}, after version {acked} was acknowledged",
                    record.version()
                ));
            }
            let meta = record.meta();
            if meta.record_type != TYPES[NOTE] || meta.writer_id != s.clients[writer].id() {
                s.fail(format!(
                    "{op:?}: record {id} came back with another type or writer"
                ));
            }
            s.check_revocation(op, reader, (writer, NOTE), start, (id, meta.key_version));
            Outcome::Ok
        }
        Err(Error::NotFound { .. }) if s.model().gone(id) => Outcome::NotFound,
        Err(Error::AccessDenied { .. })
            if reader != writer && denial_legit(start, s.access(writer, NOTE, reader)) =>
        {
            Outcome::Denied
        }
        Err(err) => s.unexplained(op, reader, &err),
    }
}

/// Every page of the writer's notes of one bucket: each consistent, none
/// twice, and every note acknowledged before the query began and not
/// deleted since is there.
fn query(s: &Shared, rng: &mut StdRng, c: usize) -> Outcome {
    let bucket = rng.gen_range(0..BUCKETS);
    let limit = rng.gen_range(5..=50);
    let expected: HashMap<RecordId, u64> = {
        let model = s.model();
        model.live[c][NOTE]
            .iter()
            .filter_map(|id| {
                let rec = &model.records[id];
                (!rec.deleted && rec.seed % BUCKETS == bucket).then_some((*id, rec.version))
            })
            .collect()
    };
    let base = Query::new()
        .record_type(TYPES[NOTE])
        .plain_eq("bucket", bucket.to_string())
        .limit(limit);
    let mut seen: HashSet<RecordId> = HashSet::new();
    let mut query = base.clone();
    loop {
        let page = match s.clients[c].query(&query) {
            Ok(page) => page,
            Err(err) => return s.unexplained(Op::Query, c, &err),
        };
        if !page.skipped.is_empty() {
            s.fail(format!(
                "Query by client {c}: its own records skipped: {:?}",
                page.skipped
            ));
        }
        for record in &page.records {
            if let Err(why) = check_note(record) {
                s.fail(format!("Query by client {c}: {why}"));
            }
            if record.meta().plain.get("bucket") != Some(&bucket.to_string()) {
                s.fail(format!("Query by client {c}: a record of another bucket"));
            }
            if !seen.insert(record.id()) {
                s.fail(format!(
                    "Query by client {c}: record {} on two pages",
                    record.id()
                ));
            }
            if let Some(&acked) = expected.get(&record.id()) {
                if record.version() < acked {
                    s.fail(format!(
                        "Query by client {c}: record {} at version {}, after version {acked} was acknowledged",
                        record.id(),
                        record.version()
                    ));
                }
            }
        }
        match page.next {
            Some(cursor) => query = base.clone().after(cursor),
            None => break,
        }
    }
    let model = s.model();
    for id in expected.keys() {
        if !seen.contains(id) && !model.gone(*id) {
            s.fail(format!(
                "Query by client {c}: acknowledged record {id} (not deleted) missing from the pages"
            ));
        }
    }
    Outcome::Ok
}

/// Up to three pages of every note shared with the client: each
/// consistent, revocations respected, a `NoAccess` skip only where the
/// model allows it.
fn query_shared(s: &Shared, rng: &mut StdRng, c: usize) -> Outcome {
    let starts: Vec<Access> = (0..CLIENTS).map(|w| s.access(w, NOTE, c)).collect();
    let mut query = Query::new()
        .record_type(TYPES[NOTE])
        .shared()
        .limit(rng.gen_range(10..=40));
    let writer_of: HashMap<_, _> = (0..CLIENTS).map(|w| (s.clients[w].id(), w)).collect();
    let mut outcome = Outcome::Ok;
    for _ in 0..3 {
        let page = match s.clients[c].query(&query) {
            Ok(page) => page,
            Err(err) => return s.unexplained(Op::QueryShared, c, &err),
        };
        for record in &page.records {
            if let Err(why) = check_note(record) {
                s.fail(format!("QueryShared by client {c}: {why}"));
            }
            let meta = record.meta();
            let Some(&w) = writer_of.get(&meta.writer_id) else {
                s.fail(format!(
                    "QueryShared by client {c}: a record of an unknown writer"
                ));
                continue;
            };
            s.check_revocation(
                Op::QueryShared,
                c,
                (w, NOTE),
                starts[w],
                (meta.id, meta.key_version),
            );
        }
        for skipped in &page.skipped {
            let w = skipped.writer_id.and_then(|id| writer_of.get(&id).copied());
            let legit = match (skipped.reason, w) {
                (SkipReason::NoAccess, Some(w)) if w != c => {
                    denial_legit(starts[w], s.access(w, NOTE, c))
                }
                _ => false,
            };
            if legit {
                outcome = Outcome::Denied;
            } else {
                s.fail(format!("QueryShared by client {c}: skipped {skipped:?}"));
            }
        }
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => break,
        }
    }
    outcome
}

/// Whether a Conflict on a write to `id` is a lost race: another write
/// to it was in flight when this one began, or began after it.
struct WriteStart {
    id: RecordId,
    version: u64,
    started: u64,
    others_in_flight: u32,
}

fn begin_write(
    s: &Shared,
    rng: &mut StdRng,
    c: usize,
    kind: usize,
    delete: bool,
) -> Option<WriteStart> {
    let mut model = s.model();
    let id = model.pick(rng, c, kind, true)?;
    let rec = model.records.get_mut(&id).unwrap();
    let start = WriteStart {
        id,
        version: rec.version,
        started: rec.writes_started,
        others_in_flight: rec.writes_in_flight,
    };
    rec.writes_started += 1;
    rec.writes_in_flight += 1;
    if delete {
        rec.deletes_in_flight += 1;
    }
    Some(start)
}

/// What an acknowledged write did to its record.
enum Done {
    /// Nothing (it failed).
    Nothing,
    /// An update to this version.
    Updated(u64),
    /// A delete.
    Deleted,
}

/// Ends a write begun with [`begin_write`]: records what it did in the
/// same step as it stops being in flight (between the two, another write
/// could begin and see the record neither in flight nor changed), and
/// says whether a Conflict it met was a lost race. Returns a failure
/// when what it did contradicts what was acknowledged before.
fn end_write(s: &Shared, start: &WriteStart, delete: bool, done: Done) -> (bool, Option<String>) {
    let mut model = s.model();
    let rec = model.records.get_mut(&start.id).unwrap();
    let raced = start.others_in_flight > 0
        || rec.writes_started > start.started + 1
        || rec.version != start.version;
    let failure = match done {
        Done::Nothing => None,
        Done::Updated(version) => {
            rec.version = rec.version.max(version);
            rec.deleted.then(|| {
                format!(
                    "record {} updated after its delete was acknowledged",
                    start.id
                )
            })
        }
        Done::Deleted => {
            let twice = rec.deleted;
            rec.deleted = true;
            twice.then(|| format!("record {} deleted twice", start.id))
        }
    };
    rec.writes_in_flight -= 1;
    if delete {
        rec.deletes_in_flight -= 1;
    }
    (raced, failure)
}

fn update(s: &Shared, rng: &mut StdRng, c: usize) -> Outcome {
    let Some(start) = begin_write(s, rng, c, NOTE, false) else {
        return Outcome::Idle;
    };
    let seed = s.model().records[&start.id].seed;
    let next = start.version + 1;
    let result = s.clients[c].update(
        start.id,
        start.version,
        &note_fields(seed, next),
        &note_plain(seed, next),
    );
    let done = match &result {
        Ok(meta) => Done::Updated(meta.version),
        Err(_) => Done::Nothing,
    };
    let (raced, failure) = end_write(s, &start, false, done);
    if let Some(failure) = failure {
        s.fail(format!("Update by client {c}: {failure}"));
    }
    match result {
        Ok(meta) => {
            if meta.version != next {
                s.fail(format!(
                    "Update by client {c}: version {} after {}",
                    meta.version, start.version
                ));
            }
            Outcome::Ok
        }
        Err(Error::Conflict { .. }) if raced => Outcome::Conflict,
        Err(Error::NotFound { .. }) if s.model().gone(start.id) => Outcome::NotFound,
        Err(err) => s.unexplained(Op::Update, c, &err),
    }
}

fn delete(s: &Shared, rng: &mut StdRng, c: usize) -> Outcome {
    let kind = if rng.gen_ratio(1, 4) { SCAN } else { NOTE };
    let Some(start) = begin_write(s, rng, c, kind, true) else {
        return Outcome::Idle;
    };
    let result = s.clients[c].delete(start.id, start.version);
    let done = match &result {
        Ok(()) => Done::Deleted,
        Err(_) => Done::Nothing,
    };
    let (raced, failure) = end_write(s, &start, true, done);
    if let Some(failure) = failure {
        s.fail(format!("Delete by client {c}: {failure}"));
    }
    match result {
        Ok(()) => Outcome::Ok,
        Err(Error::Conflict { .. }) if raced => Outcome::Conflict,
        Err(Error::NotFound { .. }) if s.model().gone(start.id) => Outcome::NotFound,
        Err(err) => s.unexplained(Op::Delete, c, &err),
    }
}

fn share(s: &Shared, rng: &mut StdRng, c: usize) -> Outcome {
    let reader = (c + rng.gen_range(1..CLIENTS)) % CLIENTS;
    let kind = rng.gen_range(0..TYPES.len());
    let _serial = s.access_locks[&(c, kind, reader)]
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    {
        let mut model = s.model();
        let access = model.access.get_mut(&(c, kind, reader)).unwrap();
        access.share_in_flight = true;
        access.share_starts += 1;
        access.ops += 1;
    }
    let result = s.clients[c].share(TYPES[kind], s.clients[reader].id());
    let mut model = s.model();
    let access = model.access.get_mut(&(c, kind, reader)).unwrap();
    access.share_in_flight = false;
    match result {
        Ok(_) => {
            access.shared = true;
            access.closed_from = None;
            Outcome::Ok
        }
        Err(err) => {
            drop(model);
            s.unexplained(Op::Share, c, &err)
        }
    }
}

fn revoke(s: &Shared, rng: &mut StdRng, c: usize) -> Outcome {
    let kind = rng.gen_range(0..TYPES.len());
    // Mostly a reader the type is shared with; now and then any (a
    // reader holding no share is NotShared).
    let shared_with: Vec<usize> = {
        let model = s.model();
        (0..CLIENTS)
            .filter(|r| *r != c && model.access[&(c, kind, *r)].shared)
            .collect()
    };
    let reader = if shared_with.is_empty() || rng.gen_ratio(1, 5) {
        (c + rng.gen_range(1..CLIENTS)) % CLIENTS
    } else {
        shared_with[rng.gen_range(0..shared_with.len())]
    };
    let _serial = s.access_locks[&(c, kind, reader)]
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let was_shared = {
        let mut model = s.model();
        let access = model.access.get_mut(&(c, kind, reader)).unwrap();
        access.revoke_in_flight = true;
        access.ops += 1;
        access.shared
    };
    let result = s.clients[c].revoke_and_rewrap(TYPES[kind], s.clients[reader].id());
    let mut model = s.model();
    let access = model.access.get_mut(&(c, kind, reader)).unwrap();
    access.revoke_in_flight = false;
    match result {
        Ok(outcome) => {
            let Some(version) = outcome.new_version else {
                drop(model);
                s.fail(format!(
                    "RevokeRewrap by client {c}: no new key version: {outcome:?}"
                ));
                return Outcome::Idle;
            };
            access.shared = false;
            access.closed_from = Some(version);
            drop(model);
            if !was_shared {
                s.fail(format!(
                    "RevokeRewrap by client {c}: revoked {} of client {reader}, which the model says holds no share",
                    TYPES[kind]
                ));
            }
            if outcome.removed_readers != vec![s.clients[reader].id()] {
                s.fail(format!(
                    "RevokeRewrap by client {c}: removed {:?}",
                    outcome.removed_readers
                ));
            }
            match &outcome.rewrap {
                Some(report) => {
                    if let Some(err) = &report.interrupted {
                        return s.unexplained(Op::RevokeRewrap, c, err);
                    }
                    if report.done.invalid != 0 {
                        s.fail(format!(
                            "RevokeRewrap by client {c}: invalid records: {report:?}"
                        ));
                    }
                }
                None => s.fail(format!("RevokeRewrap by client {c}: no re-wrap report")),
            }
            Outcome::Ok
        }
        Err(Error::NotShared { .. }) if !was_shared => Outcome::Denied,
        Err(err) => {
            drop(model);
            s.unexplained(Op::RevokeRewrap, c, &err)
        }
    }
}

fn put_file(s: &Shared, c: usize) -> Outcome {
    let seed = s.seed();
    let body = file_body(seed);
    match s.clients[c].put_file(TYPES[SCAN], &file_plain(seed), &body[..]) {
        Ok(meta) => {
            if meta.file_size != Some(body.len() as u64) || meta.version != 1 {
                s.fail(format!(
                    "PutFile by client {c}: meta {meta:?} for {} bytes",
                    body.len()
                ));
            }
            s.model().add(c, SCAN, meta.id, seed);
            Outcome::Ok
        }
        Err(err) => s.unexplained(Op::PutFile, c, &err),
    }
}

fn get_file(s: &Shared, rng: &mut StdRng, reader: usize, writer: usize) -> Outcome {
    let op = if reader == writer {
        Op::GetFile
    } else {
        Op::GetFileShared
    };
    let (id, seed, start) = {
        let mut model = s.model();
        let Some(id) = model.pick(rng, writer, SCAN, false) else {
            return Outcome::Idle;
        };
        (
            id,
            model.records[&id].seed,
            model.access[&(writer, SCAN, reader)],
        )
    };
    let mut out = Vec::new();
    let result = s.clients[reader].read_file(id, &mut out);
    s.count_revoked_read(reader, writer, SCAN, start);
    match result {
        Ok(meta) => {
            if plain_seed(&meta.plain) != Some(seed) || out != file_body(seed) {
                s.fail(format!(
                    "{op:?} by client {reader}: file {id} body or meta differs"
                ));
            }
            s.check_revocation(op, reader, (writer, SCAN), start, (id, meta.key_version));
            Outcome::Ok
        }
        Err(Error::NotFound { .. }) | Err(Error::Conflict { .. }) if s.model().gone(id) => {
            Outcome::NotFound
        }
        Err(Error::AccessDenied { .. })
            if reader != writer && denial_legit(start, s.access(writer, SCAN, reader)) =>
        {
            Outcome::Denied
        }
        Err(err) => s.unexplained(op, reader, &err),
    }
}

fn worker(s: &Shared, thread: usize, tallies: &mut BTreeMap<Op, Tally>) {
    let c = thread % CLIENTS;
    let mut rng = StdRng::seed_from_u64(0x50a6 + thread as u64);
    let total: u32 = WEIGHTS.iter().map(|(_, w)| w).sum();
    while !s.stop.load(Ordering::Relaxed) {
        let mut roll = rng.gen_range(0..total);
        let op = WEIGHTS
            .iter()
            .find(|(_, w)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map(|(op, _)| *op)
            .unwrap();
        let other = (c + rng.gen_range(1..CLIENTS)) % CLIENTS;
        let began = Instant::now();
        let outcome = match op {
            Op::PutMany => put_many(s, &mut rng, c),
            Op::Get => get(s, &mut rng, c, c),
            Op::GetShared => get(s, &mut rng, c, other),
            Op::Query => query(s, &mut rng, c),
            Op::QueryShared => query_shared(s, &mut rng, c),
            Op::Update => update(s, &mut rng, c),
            Op::Delete => delete(s, &mut rng, c),
            Op::Share => share(s, &mut rng, c),
            Op::RevokeRewrap => revoke(s, &mut rng, c),
            Op::PutFile => put_file(s, c),
            Op::GetFile => get_file(s, &mut rng, c, c),
            Op::GetFileShared => get_file(s, &mut rng, c, other),
        };
        let took = began.elapsed();
        let tally = tallies.entry(op).or_default();
        match outcome {
            Outcome::Idle => continue,
            Outcome::Ok => {
                s.succeeded.fetch_or(1 << op as u32, Ordering::Relaxed);
                tally.ok += 1
            }
            Outcome::Conflict => tally.conflicts += 1,
            Outcome::NotFound => tally.not_found += 1,
            Outcome::Denied => tally.denied += 1,
            Outcome::PoolWait => tally.pool_waits += 1,
        }
        tally.latencies.push(took);
    }
}

// ------------------------------------------------------------------ soak

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

fn print_table(
    config: &Config,
    elapsed: Duration,
    tallies: &mut BTreeMap<Op, Tally>,
    revoked_reads: u64,
    old_reads: u64,
) {
    let secs = elapsed.as_secs_f64();
    let mut out = format!(
        "\nsoak: {} threads, {CLIENTS} clients, pool {} each, {:.1} s ({:?})\n\
         {:<14} {:>8} {:>8} {:>9} {:>9} {:>7} {:>6} {:>9} {:>9} {:>9}\n",
        config.threads,
        config.pool_size,
        secs,
        config.backend,
        "op",
        "count",
        "ok",
        "conflict",
        "notfound",
        "denied",
        "pool",
        "ops/s",
        "p50 ms",
        "p99 ms"
    );
    let (mut all, mut conflicts, mut waits) = (0usize, 0u64, 0u64);
    for (op, tally) in tallies.iter_mut() {
        tally.latencies.sort();
        let n = tally.latencies.len();
        all += n;
        conflicts += tally.conflicts;
        waits += tally.pool_waits;
        out += &format!(
            "{:<14} {:>8} {:>8} {:>9} {:>9} {:>7} {:>6} {:>9.1} {:>9.2} {:>9.2}\n",
            format!("{op:?}"),
            n,
            tally.ok,
            tally.conflicts,
            tally.not_found,
            tally.denied,
            tally.pool_waits,
            n as f64 / secs,
            percentile(&tally.latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&tally.latencies, 0.99).as_secs_f64() * 1e3,
        );
    }
    out += &format!(
        "total {all} ops, {:.1} ops/s; lost races (Conflict) {conflicts}; pool timeouts {waits}; \
         reads begun by revoked readers {revoked_reads} (of which succeeded, all below the \
         revocation's key version: {old_reads})\n",
        all as f64 / secs
    );
    println!("{out}");
}

fn soak(test: &str, config: Config) {
    let db = match config.backend {
        Backend::Sqlite => common::TestDb::sqlite(),
        _ => match common::postgres_db(test) {
            Some(db) => db,
            None => return,
        },
    };
    let stores: Vec<Store> = (0..CLIENTS)
        .map(|_| {
            Store::open_with(
                &db.url,
                StoreOptions::default()
                    .pool_size(config.pool_size)
                    .create_if_missing(),
            )
            .expect("open store")
        })
        .collect();
    let threads_per_client = config.threads.div_ceil(CLIENTS);
    assert!(
        (config.pool_size as usize) < threads_per_client,
        "each pool must be smaller than the threads using it"
    );
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|i| Client::open_or_create(db.profile(&format!("c{i}")), &stores[i]).unwrap())
        .collect();
    // Every client pins every other before the run (first contact).
    for a in &clients {
        for b in &clients {
            if a.id() != b.id() {
                a.lookup_client(b.id()).unwrap();
            }
        }
    }
    let mut access_locks = HashMap::new();
    for w in 0..CLIENTS {
        for k in 0..TYPES.len() {
            for r in 0..CLIENTS {
                access_locks.insert((w, k, r), Mutex::new(()));
            }
        }
    }
    let shared = Shared {
        clients: &clients,
        model: Mutex::new(Model::new()),
        access_locks,
        failures: Mutex::new(Vec::new()),
        next_seed: AtomicU64::new(1),
        stop: AtomicBool::new(false),
        succeeded: std::sync::atomic::AtomicU32::new(0),
        old_reads_after_revoke: AtomicU64::new(0),
        reads_while_revoked: AtomicU64::new(0),
    };

    let began = Instant::now();
    let mut tallies: BTreeMap<Op, Tally> = BTreeMap::new();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..config.threads)
            .map(|t| {
                let s = &shared;
                scope.spawn(move || {
                    let mut mine = BTreeMap::new();
                    worker(s, t, &mut mine);
                    mine
                })
            })
            .collect();
        std::thread::sleep(config.duration);
        // On a slow or busy machine, run on (up to four times as long)
        // until every kind of operation has succeeded at least once.
        let every = (1u32 << WEIGHTS.len()) - 1;
        while shared.succeeded.load(Ordering::Relaxed) & every != every
            && began.elapsed() < config.duration * 4
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        shared.stop.store(true, Ordering::Relaxed);
        for handle in workers {
            for (op, tally) in handle.join().expect("a soak thread panicked") {
                let all = tallies.entry(op).or_default();
                all.latencies.extend(tally.latencies);
                all.ok += tally.ok;
                all.conflicts += tally.conflicts;
                all.not_found += tally.not_found;
                all.denied += tally.denied;
                all.pool_waits += tally.pool_waits;
            }
        }
    });
    let elapsed = began.elapsed();
    print_table(
        &config,
        elapsed,
        &mut tallies,
        shared.reads_while_revoked.load(Ordering::Relaxed),
        shared.old_reads_after_revoke.load(Ordering::Relaxed),
    );
    let failures = shared.failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} unexplained outcomes during the soak; the first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (op, _) in WEIGHTS {
        assert!(
            tallies.get(&op).is_some_and(|t| t.ok > 0),
            "{op:?} never succeeded: the soak did not mix it"
        );
    }

    let model = shared.model.into_inner().unwrap();
    verify_acknowledged(&clients, &model);
    verify_revocations(&clients, &model);
    verify_pools(&db, &clients, config.pool_size);
}

/// Every acknowledged, undeleted record reads back exactly; every deleted
/// one is gone; no record exists that was never acknowledged.
fn verify_acknowledged(clients: &[Client], model: &Model) {
    let mut checked = 0;
    for (id, rec) in &model.records {
        let client = &clients[rec.writer];
        if rec.deleted {
            assert!(
                matches!(client.get(*id), Err(Error::NotFound { .. })),
                "deleted record {id} still readable"
            );
            continue;
        }
        if rec.kind == NOTE {
            let record = client
                .get(*id)
                .unwrap_or_else(|e| panic!("record {id}: {e}"));
            assert_eq!(record.version(), rec.version, "record {id}'s version");
            let expected = serde_json::json!({
                "seed": rec.seed,
                "body": note_body(rec.seed, rec.version),
            });
            assert_eq!(
                serde_json::Value::Object(record.data_json().unwrap()),
                expected,
                "record {id}'s fields"
            );
            assert_eq!(record.meta().plain, note_plain(rec.seed, rec.version));
        } else {
            let mut body = Vec::new();
            let meta = client
                .read_file(*id, &mut body)
                .unwrap_or_else(|e| panic!("file {id}: {e}"));
            assert_eq!(meta.version, rec.version, "file {id}'s version");
            assert_eq!(meta.plain, file_plain(rec.seed), "file {id}'s plain meta");
            assert!(body == file_body(rec.seed), "file {id}'s body differs");
        }
        checked += 1;
    }
    for (w, client) in clients.iter().enumerate() {
        for (kind, record_type) in TYPES.iter().enumerate() {
            let mut stored = HashSet::new();
            client
                .query_pages(
                    &Query::new()
                        .record_type(*record_type)
                        .meta_only()
                        .limit(500),
                    |page| {
                        assert!(page.skipped.is_empty(), "{:?}", page.skipped);
                        stored.extend(page.records.iter().map(Record::id));
                        Ok(())
                    },
                )
                .unwrap();
            let acknowledged: HashSet<RecordId> = model
                .records
                .iter()
                .filter(|(_, r)| r.writer == w && r.kind == kind && !r.deleted)
                .map(|(id, _)| *id)
                .collect();
            assert_eq!(
                stored, acknowledged,
                "client {w}'s stored {record_type} records are exactly the acknowledged ones"
            );
        }
    }
    println!("verified {checked} acknowledged records and files exactly");
}

/// A reader the model counts as revoked cannot read a record its writer
/// writes now; a reader it counts as sharing can.
fn verify_revocations(clients: &[Client], model: &Model) {
    let mut revoked = 0;
    for ((w, kind, r), access) in &model.access {
        if w == r {
            continue;
        }
        let (writer, reader) = (&clients[*w], &clients[*r]);
        let seed = u64::MAX - (*w * 100 + *kind * 10 + *r) as u64;
        let (id, read) = if *kind == NOTE {
            let id = writer
                .put(TYPES[NOTE], &note_fields(seed, 1), &note_plain(seed, 1))
                .unwrap()
                .id;
            (id, reader.get(id).map(|r| r.meta().key_version))
        } else {
            let id = writer
                .put_file(TYPES[SCAN], &file_plain(seed), &file_body(seed)[..])
                .unwrap()
                .id;
            (
                id,
                reader.read_file(id, std::io::sink()).map(|m| m.key_version),
            )
        };
        match (access.shared, read) {
            (true, Ok(_)) => {}
            (false, Err(Error::AccessDenied { .. })) => revoked += 1,
            (shared, other) => panic!(
                "client {r} reading client {w}'s new {} {id} (shared: {shared}): {other:?}",
                TYPES[*kind]
            ),
        }
    }
    println!("{revoked} (writer, type, reader) closed: none reads a record written after");
}

/// Each client works again, and no connection is left busy or in a
/// transaction, nor more open than the pools hold.
fn verify_pools(db: &common::TestDb, clients: &[Client], pool_size: u32) {
    for client in clients {
        let meta = client
            .put(TYPES[NOTE], &note_fields(7, 1), &note_plain(7, 1))
            .expect("a fresh write after the soak");
        client.get(meta.id).expect("a fresh read after the soak");
        client
            .delete(meta.id, 1)
            .expect("a fresh delete after the soak");
    }
    if db.backend == Backend::Sqlite {
        println!("pools recovered: every client wrote, read and deleted again");
        return;
    }
    let others =
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let mut busy = 0;
    for _ in 0..50 {
        busy = db.count(&format!(
            "SELECT COUNT(*) AS n {others} AND state <> 'idle'"
        ));
        if busy == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        busy, 0,
        "connections still busy or in a transaction after the soak"
    );
    let open = db.count(&format!("SELECT COUNT(*) AS n {others}"));
    assert!(
        open <= (clients.len() as u32 * pool_size) as i64,
        "{open} connections open, more than the pools hold"
    );
    println!("pools recovered: {open} idle connections, none busy");
}

/// The short form, in every `cargo test`: 16 threads for a few seconds.
#[test]
fn soak_short_mixed_load_keeps_every_acknowledged_write_and_every_revocation() {
    soak(
        "soak_short_mixed_load_keeps_every_acknowledged_write_and_every_revocation",
        Config {
            backend: Backend::Postgres,
            duration: Duration::from_secs(4),
            threads: 16,
            pool_size: 3,
        },
    );
}

/// The long form: `STRONGROOM_SOAK_SECS` seconds (default 120).
/// `cargo test --release --test soak -- --ignored --nocapture`
#[test]
#[ignore = "long: run with --ignored (STRONGROOM_SOAK_SECS, default 120)"]
fn soak_long_mixed_load_keeps_every_acknowledged_write_and_every_revocation() {
    let secs = std::env::var("STRONGROOM_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    soak(
        "soak_long_mixed_load_keeps_every_acknowledged_write_and_every_revocation",
        Config {
            backend: Backend::Postgres,
            duration: Duration::from_secs(secs),
            threads: 16,
            pool_size: 3,
        },
    );
}

/// The short form on SQLite (one file, WAL, writers serialised by its
/// lock; the issue asks for PostgreSQL, this is the cheap second run).
#[test]
fn soak_short_on_sqlite_keeps_every_acknowledged_write_and_every_revocation() {
    soak(
        "soak_short_on_sqlite_keeps_every_acknowledged_write_and_every_revocation",
        Config {
            backend: Backend::Sqlite,
            duration: Duration::from_secs(3),
            threads: 16,
            pool_size: 3,
        },
    );
}
