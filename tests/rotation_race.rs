//! A write racing a rotation, on SQLite and PostgreSQL: two clients of one
//! identity (one profile, a `Store` each, as two processes would be), one
//! writing while the other rotates the type's access key.
//!
//! The promise (src/client/write.rs, SECURITY.md "Writes are atomic"): a
//! write reads the current key version inside its own transaction, so it
//! never commits under a version a rotation has already replaced. Concretely:
//! - every write that starts after `rotate()` returned version N commits
//!   under a version >= N;
//! - in the order the database serialises the two (the key head row is
//!   the lock both take), every record is committed under the version the
//!   last rotation before it set — never an older one;
//! - a write that loses a race fails with the retryable [`Error::Conflict`]
//!   and stores nothing.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::{each_backend, TestDb};
use strongroom::{Backend, Client, Error, Fields, Plain, Query, RecordMeta};

const RECORD_TYPE: &str = "reading";
/// Rounds of one rotation against a stream of writes.
const ROUNDS: u32 = 40;
/// Writes one round may start before its rotation returns.
const WRITES_PER_ROUND: usize = 20;
/// Rounds stop early past this, so a slow machine stays bounded.
const BUDGET: Duration = Duration::from_secs(15);

/// Logs, in the order the database runs them, every record insert (with
/// its key version) and every move of a key head: a sequence both engines
/// hand out at the statement, which — as writes and rotations lock the key
/// head first — is the order they are serialised in.
fn log_commits(db: &TestDb) {
    match db.backend {
        Backend::Sqlite => {
            db.sql(
                "CREATE TABLE commit_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
                 kind TEXT NOT NULL, version BIGINT NOT NULL)",
            );
            db.sql(
                "CREATE TRIGGER log_record AFTER INSERT ON records BEGIN \
                 INSERT INTO commit_log (kind, version) VALUES ('record', NEW.key_version); END",
            );
            db.sql(
                "CREATE TRIGGER log_head AFTER UPDATE OF current_version ON key_heads BEGIN \
                 INSERT INTO commit_log (kind, version) VALUES ('head', NEW.current_version); END",
            );
        }
        _ => {
            db.sql(
                "CREATE TABLE commit_log (seq BIGSERIAL PRIMARY KEY, \
                 kind TEXT NOT NULL, version BIGINT NOT NULL)",
            );
            for (name, event, table, kind, column) in [
                ("log_record", "INSERT", "records", "record", "key_version"),
                (
                    "log_head",
                    "UPDATE OF current_version",
                    "key_heads",
                    "head",
                    "current_version",
                ),
            ] {
                db.sql(&format!(
                    "CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN \
                     INSERT INTO commit_log (kind, version) VALUES ('{kind}', NEW.{column}); \
                     RETURN NULL; END $$ LANGUAGE plpgsql"
                ));
                db.sql(&format!(
                    "CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW \
                     EXECUTE FUNCTION {name}()"
                ));
            }
        }
    }
}

/// One write: the newest version a `rotate()` had returned when it
/// started, and what it did.
struct Write {
    floor: u32,
    result: strongroom::Result<RecordMeta>,
}

#[test]
fn a_write_racing_a_rotation_never_commits_under_a_replaced_version() {
    each_backend(
        "a_write_racing_a_rotation_never_commits_under_a_replaced_version",
        |db| {
            let writer = Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
            let rotator = Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
            assert_eq!(writer.id(), rotator.id());
            let fields = Fields::new().with("value", "42").unwrap();
            let first = writer.put(RECORD_TYPE, &fields, &Plain::new()).unwrap();
            assert_eq!(first.key_version, 1);
            log_commits(db);

            // The newest version a rotate() has returned (and so committed).
            let committed = AtomicU32::new(1);
            let mut writes = Vec::new();
            let mut rounds = 0;
            let start = Instant::now();
            while rounds < ROUNDS && start.elapsed() < BUDGET {
                rounds += 1;
                let barrier = Barrier::new(2);
                let done = AtomicBool::new(false);
                let round = std::thread::scope(|scope| {
                    let writing = scope.spawn(|| {
                        let mut round = Vec::new();
                        barrier.wait();
                        loop {
                            // Read before the write starts: a write that
                            // saw `done` started after the rotation returned.
                            let finished = done.load(Ordering::SeqCst);
                            let floor = committed.load(Ordering::SeqCst);
                            let result = writer.put(RECORD_TYPE, &fields, &Plain::new());
                            round.push(Write { floor, result });
                            if finished {
                                return round;
                            }
                            if round.len() >= WRITES_PER_ROUND {
                                while !done.load(Ordering::SeqCst) {
                                    std::thread::sleep(Duration::from_millis(1));
                                }
                            }
                        }
                    });
                    barrier.wait();
                    let outcome = rotator.rotate(RECORD_TYPE).unwrap();
                    let version = outcome.new_version.expect("the type has a key");
                    assert_eq!(version, committed.load(Ordering::SeqCst) + 1);
                    committed.store(version, Ordering::SeqCst);
                    done.store(true, Ordering::SeqCst);
                    writing.join().unwrap()
                });
                writes.extend(round);
            }
            let newest = committed.load(Ordering::SeqCst);
            assert_eq!(newest, rounds + 1);

            let mut stored = 1;
            let mut conflicts = 0;
            for write in &writes {
                match &write.result {
                    Ok(meta) => {
                        assert!(
                            meta.key_version >= write.floor,
                            "a write started after version {} was committed wrote under {}",
                            write.floor,
                            meta.key_version
                        );
                        assert!(meta.key_version <= newest);
                        stored += 1;
                    }
                    Err(Error::Conflict { .. }) => conflicts += 1,
                    Err(other) => panic!("a write failed with a non-retryable error: {other:?}"),
                }
            }
            // The last write of every round started after its rotation
            // returned: the invariant was exercised every round.
            assert!(writes.iter().filter(|w| w.floor > 1).count() >= rounds as usize);

            // In the database's own order: each head moves up by one, and
            // each record carries the version the head last moved to.
            let log = db.texts("SELECT kind || ':' || version AS t FROM commit_log ORDER BY seq");
            let mut current = 1;
            let mut records = 0;
            for (at, entry) in log.iter().enumerate() {
                let (kind, version) = entry.split_once(':').unwrap();
                let version: u32 = version.parse().unwrap();
                match kind {
                    "head" => {
                        assert_eq!(version, current + 1, "entry {at}: {log:?}");
                        current = version;
                    }
                    _ => {
                        assert_eq!(
                            version, current,
                            "entry {at}: a record committed under a replaced version: {log:?}"
                        );
                        records += 1;
                    }
                }
            }
            assert_eq!(current, newest);
            assert_eq!(records + 1, stored, "failed writes stored nothing");

            // Every stored record verifies and opens, under its version.
            let page = rotator
                .query(&Query::new().record_type(RECORD_TYPE).limit(1000))
                .unwrap();
            assert_eq!((page.records.len(), page.skipped.len()), (stored, 0));
            assert!(page
                .records
                .iter()
                .all(|r| r.field::<String>("value").unwrap() == "42"));
            eprintln!(
                "{:?}: {rounds} rounds, {} writes, {conflicts} conflicts, {:?}",
                db.backend,
                writes.len(),
                start.elapsed()
            );
        },
    );
}
