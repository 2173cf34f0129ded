//! SIGKILL in the middle of long operations (issue 19, "Faults"): the test
//! binary runs itself again as a child that does the operation, and the
//! parent kills it (SIGKILL) at a varied moment — once after the operation
//! finished, then at delays spread over the time that run took. After each
//! kill a fresh client on the same database and profiles finds the work
//! fully done, fully absent, or resumes it to done; then every record reads
//! back verified (and SQLite's `integrity_check` says ok).
//!
//! `cargo test --test fault_kill -- --nocapture` prints each kill: when it
//! came, the last step the child reported before it died, and the outcome.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{each_backend, TestDb};
use rand::Rng;
use strongroom::{
    Backend, Client, ClientId, Fields, ImportRow, NewRecord, Plain, Query, RecordId, Store,
};

/// Which test the child runs as (its name), and what it is given.
const ROLE: &str = "STRONGROOM_FAULT_KILL_ROLE";
const URL: &str = "STRONGROOM_FAULT_KILL_URL";
const DIR: &str = "STRONGROOM_FAULT_KILL_DIR";
const ROUND: &str = "STRONGROOM_FAULT_KILL_ROUND";
const PEER: &str = "STRONGROOM_FAULT_KILL_PEER";
/// The prefix of the child's report lines on stdout.
const MARK: &str = "@@fault_kill ";
/// Kills at a delay: their delays are spread over this many strata of
/// `0 ..= STRATA_END` times the duration of the round that ran to the end.
const TIMED_KILLS: usize = 5;
const STRATA_END: f64 = 1.2;

// ---------------------------------------------------------------- the child

/// One line to the parent, at once.
fn say(line: &str) {
    let mut out = io::stdout().lock();
    writeln!(out, "{MARK}{line}").unwrap();
    out.flush().unwrap();
}

/// What the parent hands the child.
struct ChildEnv {
    store: Store,
    dir: PathBuf,
    round: usize,
}

impl ChildEnv {
    fn client(&self, name: &str) -> Client {
        Client::open_or_create(self.dir.join(format!("{name}.profile")), &self.store).unwrap()
    }

    fn peer(&self) -> ClientId {
        std::env::var(PEER).unwrap().parse().unwrap()
    }
}

/// In the child run as `test`: does `body` (which says "started" when the
/// operation begins), says "done", then waits for its SIGKILL. In the
/// parent: returns.
fn as_child(test: &str, body: impl FnOnce(&ChildEnv)) {
    if std::env::var(ROLE).ok().as_deref() != Some(test) {
        return;
    }
    let url = std::env::var(URL).unwrap();
    let env = ChildEnv {
        store: Store::open_or_create(&url).unwrap(),
        dir: std::env::var(DIR).unwrap().into(),
        round: std::env::var(ROUND).unwrap().parse().unwrap(),
    };
    body(&env);
    say("done");
    // Every child dies by SIGKILL; this bound only keeps an orphan (its
    // parent gone) from living for ever.
    std::thread::sleep(Duration::from_secs(120));
    std::process::exit(3);
}

// --------------------------------------------------------------- the parent

/// When to kill the child.
#[derive(Clone, Copy)]
enum When {
    /// Once it said "done" (a kill after completion).
    AfterDone,
    /// This long after it said "started".
    After(Duration),
}

/// What the parent saw of one killed child.
struct Killed {
    /// The child's report lines, in order, up to its death.
    lines: Vec<String>,
    /// From "started" to "done", if it got there.
    took: Option<Duration>,
    /// The delay after "started" the kill was planned at.
    delay: Option<Duration>,
}

impl Killed {
    fn done(&self) -> bool {
        self.lines.iter().any(|l| l == "done")
    }

    /// The last step the child reported before it died.
    fn phase(&self) -> &str {
        self.lines.last().map(String::as_str).unwrap_or("-")
    }
}

/// Kills the child if the parent fails before it does.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `test` again as a child for `round`, kills it (SIGKILL) `when`, and
/// returns what it reported.
fn run_and_kill(
    test: &str,
    db: &TestDb,
    round: usize,
    peer: Option<ClientId>,
    when: When,
) -> Killed {
    let log = db.dir.path().join(format!("child-{round}.log"));
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, test)
        .env(URL, &db.url)
        .env(DIR, db.dir.path())
        .env(ROUND, round.to_string())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    if let Some(peer) = peer {
        command.env(PEER, peer.to_string());
    }
    let mut child = Reap(command.spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest's "test NAME ... " may come first on the line.
            if let Some(at) = line.find(MARK) {
                let report = &line[at + MARK.len()..];
                if tx.send((Instant::now(), report.to_owned())).is_err() {
                    break;
                }
            }
        }
    });
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut lines = Vec::new();
    let started = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok((at, line)) if line == "started" => {
                lines.push(line);
                break at;
            }
            Ok((_, line)) => lines.push(line),
            Err(_) => panic!("the child never started; its stderr:\n{}", stderr()),
        }
    };
    let deadline = match when {
        When::AfterDone => None,
        When::After(delay) => Some(started + delay),
    };
    let mut took = None;
    loop {
        let wait = deadline.map_or(Duration::from_secs(120), |d| {
            d.saturating_duration_since(Instant::now())
        });
        match rx.recv_timeout(wait) {
            Ok((at, line)) => {
                let done = line == "done";
                lines.push(line);
                if done {
                    took = Some(at - started);
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) if deadline.is_some() => break,
            Err(_) => panic!(
                "the child ended or hung before it was killed; its stderr:\n{}",
                stderr()
            ),
        }
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    reader.join().unwrap();
    // What it said before it died that the loop above had not taken yet.
    for (at, line) in rx.try_iter() {
        if line == "done" {
            took = Some(at - started);
        }
        lines.push(line);
    }
    Killed {
        lines,
        took,
        delay: match when {
            When::AfterDone => None,
            When::After(d) => Some(d),
        },
    }
}

/// The moments to kill at: after completion first (which times a whole
/// run), then one random delay in each stratum of that time.
fn kill_plan(full: Duration, rng: &mut impl Rng) -> Vec<When> {
    let width = STRATA_END / TIMED_KILLS as f64;
    (0..TIMED_KILLS)
        .map(|i| {
            let f = rng.gen_range(i as f64 * width..(i + 1) as f64 * width);
            When::After(full.mul_f64(f))
        })
        .collect()
}

/// Runs the rounds of one case: a kill after completion, then the timed
/// kills; `check` runs after each kill (the restart) and names the
/// outcome. Prints a line per kill and returns the outcomes.
fn rounds(
    test: &str,
    db: &TestDb,
    mut before: impl FnMut(usize) -> Option<ClientId>,
    mut check: impl FnMut(usize, &Killed) -> &'static str,
) -> Vec<&'static str> {
    let mut rng = rand::thread_rng();
    let backend = format!("{:?}", db.backend);
    let mut outcomes = Vec::new();
    let mut whens = vec![When::AfterDone];
    let mut full = None;
    let mut round = 0;
    while round < whens.len() {
        let peer = before(round);
        let killed = run_and_kill(test, db, round, peer, whens[round]);
        if round == 0 {
            let took = killed.took.expect("the first round runs to the end");
            full = Some(took);
            whens.extend(kill_plan(took, &mut rng));
        }
        settle(db);
        let outcome = check(round, &killed);
        if db.backend == Backend::Sqlite {
            integrity_ok(db);
        }
        let when = match killed.delay {
            None => "after done".to_owned(),
            Some(d) => format!(
                "{:>5} ms after start ({:.2} of a full run)",
                d.as_millis(),
                d.as_secs_f64() / full.unwrap().as_secs_f64()
            ),
        };
        println!(
            "[{test} {backend}] kill {round}: {when}; last step reported: {}; outcome: {outcome}",
            killed.phase()
        );
        outcomes.push(outcome);
        round += 1;
    }
    println!(
        "[{test} {backend}] {} kills, a full run took {} ms; outcomes: {outcomes:?}",
        outcomes.len(),
        full.unwrap().as_millis()
    );
    outcomes
}

/// On PostgreSQL, waits until the server has finished with the killed
/// child's sessions: a COMMIT it sent before it died may still be running,
/// and a transaction it left open holds its locks until the server sees the
/// closed socket. The parent's own pooled sessions are idle meanwhile.
fn settle(db: &TestDb) {
    if db.backend != Backend::Postgres {
        return;
    }
    let start = Instant::now();
    while db.count(
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'",
    ) > 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the killed child's sessions never ended"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn integrity_ok(db: &TestDb) {
    assert_eq!(
        db.texts("SELECT integrity_check AS t FROM pragma_integrity_check"),
        vec!["ok".to_owned()]
    );
}

/// A client on a store of its own, as a restarted process has.
fn fresh(db: &TestDb, name: &str) -> Client {
    Client::open_or_create(db.profile(name), &db.store()).unwrap()
}

/// Every record of `record_type` by `writer` that `reader` reads, verified
/// and decrypted, by id; fails on any skipped record.
fn read_all(reader: &Client, writer: ClientId, record_type: &str) -> BTreeMap<RecordId, Json> {
    let mut out = BTreeMap::new();
    let query = Query::new()
        .record_type(record_type)
        .writers([writer])
        .limit(1000);
    reader
        .query_pages(&query, |page| {
            assert!(page.skipped.is_empty(), "skipped: {:?}", page.skipped);
            for record in page.records {
                out.insert(record.id(), record.data_json()?);
            }
            Ok(())
        })
        .unwrap();
    out
}

/// How many of `writer`'s records of `record_type` `reader` can read, and
/// how many it skipped.
fn readable(reader: &Client, writer: ClientId, record_type: &str) -> (usize, usize) {
    let (mut read, mut skipped) = (0, 0);
    let query = Query::new()
        .record_type(record_type)
        .writers([writer])
        .limit(1000);
    reader
        .query_pages(&query, |page| {
            read += page.records.len();
            skipped += page.skipped.len();
            Ok(())
        })
        .unwrap();
    (read, skipped)
}

/// A record's decrypted fields.
type Json = serde_json::Map<String, serde_json::Value>;

fn note_of(fields: &Json) -> String {
    fields["note"].as_str().unwrap().to_owned()
}

fn count(db: &TestDb, where_: &str) -> i64 {
    db.count(&format!("SELECT COUNT(*) AS n FROM records WHERE {where_}"))
}

/// No stored batch signature that no record names.
fn no_unused_batches(db: &TestDb) {
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM record_batches b WHERE NOT EXISTS \
             (SELECT 1 FROM records r WHERE r.batch_id = b.batch_id)"
        ),
        0,
        "a batch signature no record uses"
    );
}

// ----------------------------------------------------------------- put_many

/// Records one `put_many` writes.
const BULK: usize = 3000;

#[test]
fn put_many_killed_stores_all_of_its_records_or_none() {
    const TEST: &str = "put_many_killed_stores_all_of_its_records_or_none";
    as_child(TEST, |env| {
        let alice = env.client("alice");
        let batch: Vec<NewRecord> = (0..BULK)
            .map(|i| {
                NewRecord::new(
                    "bulk",
                    Fields::new()
                        .with("note", &format!("r{}-{i}", env.round))
                        .unwrap(),
                    Plain::from([("round".to_owned(), env.round.to_string())]),
                )
            })
            .collect();
        say("started");
        alice.put_many(&batch).unwrap();
    });
    each_backend(TEST, |db| {
        let alice_id = fresh(db, "alice").id();
        let mut expected: BTreeMap<usize, bool> = BTreeMap::new();
        let outcomes = rounds(
            TEST,
            db,
            |_| None,
            |round, killed| {
                let alice = fresh(db, "alice");
                let all = read_all(&alice, alice_id, "bulk");
                let mut by_round: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
                for fields in all.values() {
                    let note = note_of(fields);
                    let (r, i) = note[1..].split_once('-').unwrap();
                    assert!(
                        by_round
                            .entry(r.parse().unwrap())
                            .or_default()
                            .insert(i.parse().unwrap()),
                        "{note} twice"
                    );
                }
                let stored = by_round.get(&round).map_or(0, BTreeSet::len);
                assert!(
                    stored == 0 || stored == BULK,
                    "round {round}: {stored} of {BULK} records stored"
                );
                if killed.done() {
                    assert_eq!(stored, BULK, "a put_many that returned is stored");
                }
                expected.insert(round, stored == BULK);
                // Every earlier round as it was: all or none.
                for (r, whole) in &expected {
                    let n = by_round.get(r).map_or(0, BTreeSet::len);
                    assert_eq!(n, if *whole { BULK } else { 0 }, "round {r}");
                }
                assert_eq!(count(db, "record_type = 'bulk'") as usize, all.len());
                no_unused_batches(db);
                if stored == BULK {
                    "all stored"
                } else {
                    "none stored"
                }
            },
        );
        assert_eq!(outcomes[0], "all stored");
    });
}

// ------------------------------------------------------------ revoke + rewrap

/// Records re-wrapped by a revocation (batches of `DEFAULT_REWRAP_BATCH`).
const REVOKED: usize = 2500;
/// Readers besides carol who keep their access.
const EXTRA_READERS: usize = 60;

#[test]
fn revoke_and_rewrap_killed_is_revoked_or_not_and_the_rewrap_resumes_to_done() {
    const TEST: &str = "revoke_and_rewrap_killed_is_revoked_or_not_and_the_rewrap_resumes_to_done";
    as_child(TEST, |env| {
        let alice = env.client("alice");
        let bob = env.peer();
        say("started");
        let outcome = alice.revoke_and_rewrap("rv", bob).unwrap();
        let report = outcome.rewrap.unwrap();
        assert!(report.interrupted.is_none(), "{:?}", report.interrupted);
        say(&format!("revoked, re-wrapped {}", report.done.rewrapped));
    });
    each_backend(TEST, |db| {
        let alice = fresh(db, "alice");
        let (bob, carol) = (fresh(db, "bob"), fresh(db, "carol"));
        let batch: Vec<NewRecord> = (0..REVOKED)
            .map(|i| NewRecord::new("rv", common::notes::note(&format!("v{i}")), Plain::new()))
            .collect();
        let ids: Vec<RecordId> = alice
            .put_many(&batch)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        alice.share("rv", carol.id()).unwrap();
        // More readers who remain: the revocation wraps the new key to each
        // and signs a grant for each, so it takes long enough for a kill to
        // land inside it.
        let store = db.store();
        for i in 0..EXTRA_READERS {
            let reader = Client::open_or_create(db.profile(&format!("reader{i}")), &store).unwrap();
            alice.share("rv", reader.id()).unwrap();
        }
        let alice_id = alice.id();
        drop(alice);
        let mut version = 1u32;
        rounds(
            TEST,
            db,
            |_| {
                // Bob is a reader again, his key cache warm with the
                // current version.
                fresh(db, "alice").share("rv", bob.id()).unwrap();
                assert!(common::notes::read(&bob, ids[0]).is_ok());
                Some(bob.id())
            },
            |_, killed| {
                let alice = fresh(db, "alice");
                let bob_shared = alice
                    .outgoing_shares()
                    .unwrap()
                    .iter()
                    .any(|s| s.reader_id == bob.id() && s.record_type == "rv");
                let moved = count(
                    db,
                    &format!("record_type = 'rv' AND key_version = {}", version + 1),
                ) as usize;
                let outcome = if bob_shared {
                    // The revocation did not commit: nothing moved; run
                    // again, it is done.
                    assert!(!killed.done());
                    assert_eq!(moved, 0, "re-wrapped without a revocation");
                    assert_eq!(
                        count(
                            db,
                            &format!("record_type = 'rv' AND key_version = {version}")
                        ) as usize,
                        REVOKED
                    );
                    let again = alice.revoke_and_rewrap("rv", bob.id()).unwrap();
                    assert_eq!(again.new_version, Some(version + 1));
                    let report = again.rewrap.unwrap();
                    assert!(report.interrupted.is_none());
                    assert_eq!(
                        (report.done.rewrapped, report.done.remaining),
                        (REVOKED, Some(0))
                    );
                    "not revoked; revoked when run again"
                } else {
                    // Revoked; re-wrapped in whole batches, all or some.
                    assert_eq!(moved % strongroom::DEFAULT_REWRAP_BATCH.min(REVOKED), 0);
                    if killed.done() {
                        assert_eq!(moved, REVOKED, "a re-wrap that returned is stored");
                    }
                    let rest = alice.rewrap_existing("rv", 100).unwrap();
                    assert_eq!((rest.rewrapped, rest.remaining), (REVOKED - moved, Some(0)));
                    if moved == REVOKED {
                        "revoked, all re-wrapped"
                    } else if moved == 0 {
                        "revoked, none re-wrapped; resumed to done"
                    } else {
                        "revoked, part re-wrapped; resumed to done"
                    }
                };
                version += 1;
                assert_eq!(
                    count(
                        db,
                        &format!("record_type = 'rv' AND key_version = {version}")
                    ) as usize,
                    REVOKED
                );
                // A new write (its key decision checks the profile's mark,
                // which the kill may have left behind the database) uses
                // the new version.
                let later = alice
                    .put("rv", &common::notes::note("later"), &Plain::new())
                    .unwrap();
                assert_eq!(later.key_version, version);
                alice.delete(later.id, later.version).unwrap();
                // Alice and carol read every record; bob, the old key in
                // his cache, none.
                let all = read_all(&alice, alice_id, "rv");
                let notes: BTreeSet<String> = all.values().map(note_of).collect();
                assert_eq!(notes.len(), REVOKED);
                assert_eq!(read_all(&carol, alice_id, "rv").len(), REVOKED);
                assert_eq!(readable(&bob, alice_id, "rv"), (0, REVOKED));
                assert!(!bob
                    .incoming_shares()
                    .unwrap()
                    .iter()
                    .any(|s| s.record_type == "rv"));
                no_unused_batches(db);
                outcome
            },
        );
    });
}

// ---------------------------------------------------------- rewrap_existing

/// Records re-wrapped, and per transaction.
const REWRAPPED: usize = 2000;
const REWRAP_BATCH: usize = 100;

#[test]
fn rewrap_existing_killed_resumes_to_done_and_every_reader_reads_right() {
    const TEST: &str = "rewrap_existing_killed_resumes_to_done_and_every_reader_reads_right";
    as_child(TEST, |env| {
        let alice = env.client("alice");
        say("started");
        alice
            .rewrap_existing_with_progress("rw", REWRAP_BATCH, |done| {
                say(&format!("committed {}", done.rewrapped));
            })
            .unwrap();
    });
    each_backend(TEST, |db| {
        let alice = fresh(db, "alice");
        let (dave, carol) = (fresh(db, "dave"), fresh(db, "carol"));
        let batch: Vec<NewRecord> = (0..REWRAPPED)
            .map(|i| NewRecord::new("rw", common::notes::note(&format!("w{i}")), Plain::new()))
            .collect();
        let ids: Vec<RecordId> = alice
            .put_many(&batch)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        alice.share("rw", carol.id()).unwrap();
        let alice_id = alice.id();
        drop(alice);
        let version = std::cell::Cell::new(1u32);
        rounds(
            TEST,
            db,
            |_| {
                // Dave reads (his cache holds the current key), then is
                // revoked without a re-wrap: the child re-wraps.
                let alice = fresh(db, "alice");
                alice.share("rw", dave.id()).unwrap();
                assert!(common::notes::read(&dave, ids[0]).is_ok());
                alice.revoke("rw", dave.id()).unwrap();
                version.set(version.get() + 1);
                None
            },
            |_, killed| {
                let moved = count(
                    db,
                    &format!("record_type = 'rw' AND key_version = {}", version.get()),
                ) as usize;
                // Each batch the child reported committed is there.
                let reported = killed
                    .lines
                    .iter()
                    .filter_map(|l| l.strip_prefix("committed "))
                    .map(|n| n.parse::<usize>().unwrap())
                    .max()
                    .unwrap_or(0);
                assert!(moved >= reported, "{moved} re-wrapped, {reported} reported");
                assert_eq!(moved % REWRAP_BATCH, 0, "whole batches");
                if killed.done() {
                    assert_eq!(moved, REWRAPPED);
                }
                let alice = fresh(db, "alice");
                let rest = alice.rewrap_existing("rw", REWRAP_BATCH).unwrap();
                assert_eq!(
                    (rest.rewrapped, rest.remaining),
                    (REWRAPPED - moved, Some(0))
                );
                assert_eq!(
                    count(
                        db,
                        &format!("record_type = 'rw' AND key_version = {}", version.get())
                    ) as usize,
                    REWRAPPED
                );
                let all = read_all(&alice, alice_id, "rw");
                let notes: BTreeSet<String> = all.values().map(note_of).collect();
                assert_eq!(notes.len(), REWRAPPED);
                assert_eq!(read_all(&carol, alice_id, "rw").len(), REWRAPPED);
                assert_eq!(readable(&dave, alice_id, "rw"), (0, REWRAPPED));
                no_unused_batches(db);
                if moved == REWRAPPED {
                    "all re-wrapped"
                } else if moved == 0 {
                    "none re-wrapped; resumed to done"
                } else {
                    "part re-wrapped; resumed to done"
                }
            },
        );
    });
}

// ------------------------------------------------------------------- import

/// Source rows, and rows per import batch.
const ROWS: usize = 2000;
const IMPORT_BATCH: usize = 100;

/// The source rows of `round`'s import: ids "00000"… with two sealed
/// fields and a plain one.
fn source_rows(round: usize) -> Vec<ImportRow> {
    (0..ROWS)
        .map(|i| {
            let fields = Fields::new()
                .with("name", &format!("row {i}"))
                .unwrap()
                .with("n", &i)
                .unwrap();
            let plain = Plain::from([("clinic".to_owned(), (i % 3).to_string())]);
            ImportRow::new(
                format!("{i:05}"),
                NewRecord::new(format!("imp{round}"), fields, plain),
            )
        })
        .collect()
}

/// Imports `rows` in batches, as the CLI's import does; calls `each` with
/// the running count of rows imported after each batch.
fn import(client: &Client, source: &str, rows: &[ImportRow], mut each: impl FnMut(usize, usize)) {
    let (mut imported, mut already) = (0, 0);
    for batch in rows.chunks(IMPORT_BATCH) {
        let outcome = client.import_batch(source, batch).unwrap();
        imported += outcome.imported;
        already += outcome.already_imported;
        each(imported, already);
    }
}

#[test]
fn import_killed_and_run_again_imports_each_row_exactly_once() {
    const TEST: &str = "import_killed_and_run_again_imports_each_row_exactly_once";
    as_child(TEST, |env| {
        let alice = env.client("alice");
        let rows = source_rows(env.round);
        say("started");
        import(
            &alice,
            &format!("src{}", env.round),
            &rows,
            |imported, _| {
                say(&format!("imported {imported}"));
            },
        );
    });
    each_backend(TEST, |db| {
        let alice_id = fresh(db, "alice").id();
        rounds(
            TEST,
            db,
            |_| None,
            |round, killed| {
                let alice = fresh(db, "alice");
                let source = format!("src{round}");
                let record_type = format!("imp{round}");
                let mapped = alice.imported_count(&source).unwrap() as usize;
                // The mapping and the records commit together.
                assert_eq!(
                    count(db, &format!("record_type = '{record_type}'")) as usize,
                    mapped
                );
                let reported = killed
                    .lines
                    .iter()
                    .filter_map(|l| l.strip_prefix("imported "))
                    .map(|n| n.parse::<usize>().unwrap())
                    .max()
                    .unwrap_or(0);
                assert!(mapped >= reported, "{mapped} mapped, {reported} reported");
                if killed.done() {
                    assert_eq!(mapped, ROWS);
                }
                // Run again: the rest, and nothing twice.
                let rows = source_rows(round);
                let (mut imported, mut already) = (0, 0);
                import(&alice, &source, &rows, |i, a| (imported, already) = (i, a));
                assert_eq!((imported, already), (ROWS - mapped, mapped));
                assert_eq!(alice.imported_count(&source).unwrap() as usize, ROWS);
                let ids: Vec<String> = rows.iter().map(|r| r.source_id.clone()).collect();
                let map = alice.imported(&source, &ids).unwrap();
                assert_eq!(map.len(), ROWS);
                let records: BTreeSet<RecordId> = map.values().copied().collect();
                assert_eq!(records.len(), ROWS, "two rows became one record");
                // Every record is its row's, verified and decrypted.
                let all = read_all(&alice, alice_id, &record_type);
                assert_eq!(all.len(), ROWS);
                for (i, row) in rows.iter().enumerate() {
                    let fields = &all[&map[&row.source_id]];
                    assert_eq!(fields["name"], format!("row {i}"));
                    assert_eq!(fields["n"], i);
                }
                no_unused_batches(db);
                if mapped == ROWS {
                    "all imported"
                } else if mapped == 0 {
                    "none imported; run again, all once"
                } else {
                    "part imported; run again, all once"
                }
            },
        );
    });
}

// -------------------------------------------------------------- file upload

/// The body uploaded: 128 chunks of 64 KiB.
const FILE_LEN: u64 = 8 * 1024 * 1024;
const CHUNK: u64 = 64 * 1024;

/// `len` bytes of a deterministic pseudo-random stream, generated as read;
/// says how many MiB it has given.
struct Generated {
    left: u64,
    state: u64,
    given: u64,
    report: bool,
}

impl Generated {
    fn new(len: u64, seed: u64, report: bool) -> Self {
        Generated {
            left: len,
            state: seed | 1,
            given: 0,
            report,
        }
    }

    fn next_byte(&mut self) -> u8 {
        (common::xorshift64(&mut self.state) >> 32) as u8
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for byte in &mut buf[..n] {
            *byte = self.next_byte();
        }
        self.left -= n as u64;
        let mib = |b: u64| b / (1024 * 1024);
        if self.report && mib(self.given + n as u64) > mib(self.given) {
            say(&format!("read {} MiB", mib(self.given + n as u64)));
        }
        self.given += n as u64;
        Ok(n)
    }
}

#[test]
fn file_upload_killed_leaves_the_whole_file_or_nothing_and_no_orphan_chunks() {
    const TEST: &str = "file_upload_killed_leaves_the_whole_file_or_nothing_and_no_orphan_chunks";
    as_child(TEST, |env| {
        let alice = env.client("alice");
        let plain = Plain::from([("round".to_owned(), env.round.to_string())]);
        say("started");
        alice
            .put_file(
                "scan",
                &plain,
                Generated::new(FILE_LEN, env.round as u64 + 1, true),
            )
            .unwrap();
    });
    each_backend(TEST, |db| {
        let mut stored_chunks = 0i64;
        rounds(
            TEST,
            db,
            |_| None,
            |round, killed| {
                let alice = fresh(db, "alice");
                let page = alice
                    .query(
                        &Query::new()
                            .record_type("scan")
                            .plain_eq("round", round.to_string()),
                    )
                    .unwrap();
                assert!(page.skipped.is_empty());
                assert!(page.records.len() <= 1);
                if killed.done() {
                    assert_eq!(page.records.len(), 1, "an upload that returned is stored");
                }
                // Nothing of an unfinished upload is left to clean.
                assert_eq!(db.store().remove_orphan_file_chunks().unwrap(), 0);
                let outcome = match page.records.first() {
                    Some(record) => {
                        assert_eq!(record.meta().file_size, Some(FILE_LEN));
                        let mut expect = Expect(Generated::new(FILE_LEN, round as u64 + 1, false));
                        alice.read_file(record.id(), &mut expect).unwrap();
                        assert_eq!(expect.0.left, 0, "the whole body");
                        stored_chunks += (FILE_LEN / CHUNK) as i64;
                        "the whole file"
                    }
                    None => "nothing",
                };
                assert_eq!(
                    db.count("SELECT COUNT(*) AS n FROM file_chunks"),
                    stored_chunks
                );
                no_unused_batches(db);
                outcome
            },
        );
        // Every file stored reads back whole.
        let alice = fresh(db, "alice");
        let all = alice
            .query(&Query::new().record_type("scan").meta_only())
            .unwrap();
        for record in all.records {
            let round: u64 = record.meta().plain["round"].parse().unwrap();
            let mut expect = Expect(Generated::new(FILE_LEN, round + 1, false));
            alice.read_file(record.id(), &mut expect).unwrap();
            assert_eq!(expect.0.left, 0);
        }
    });
}

/// Compares what is written with the same generated stream.
struct Expect(Generated);

impl Write for Expect {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &byte in buf {
            if self.0.left == 0 || self.0.next_byte() != byte {
                return Err(io::Error::other("the body differs"));
            }
            self.0.left -= 1;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Each of `dir`'s temporary copies of the profile `p.profile` (what a
/// save killed before its rename leaves: `.p.profile.tmp-…`).
fn profile_copies(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".p.profile.tmp-"))
        .collect()
}

/// A profile save killed before its rename leaves the profile whole and a
/// temporary copy of it (secret keys included) beside it; the next save
/// removes every such copy, so sealing the profile afterwards leaves none
/// in the clear.
#[test]
fn profile_saves_killed_midway_leave_no_copy_after_the_next_save() {
    const TEST: &str = "profile_saves_killed_midway_leave_no_copy_after_the_next_save";
    as_child(TEST, |env| {
        let mut profile = strongroom::Profile::load(env.dir.join("p.profile"), None).unwrap();
        say("started");
        for i in 0u64.. {
            let trust = if i % 2 == 0 {
                strongroom::PeerTrust::Verified
            } else {
                strongroom::PeerTrust::FirstUse
            };
            profile.set_peer_trust(trust).unwrap();
        }
    });
    let db = TestDb::sqlite();
    let path = db.dir.path().join("p.profile");
    let created =
        strongroom::Profile::create(&path, strongroom::ProfileOptions::default()).unwrap();
    let public = *created.identity().public();
    let mut rng = rand::thread_rng();
    // Killed until a kill lands inside a save (each does with a fair
    // chance): otherwise the test would prove nothing.
    let mut copies_seen = 0;
    for round in 0..40 {
        let delay = Duration::from_millis(rng.gen_range(20..300));
        run_and_kill(TEST, &db, round, None, When::After(delay));
        let loaded = strongroom::Profile::load(&path, None).unwrap();
        assert_eq!(loaded.identity().public(), &public, "the profile is whole");
        copies_seen = profile_copies(db.dir.path()).len();
        if copies_seen > 0 {
            break;
        }
    }
    assert!(copies_seen > 0, "no kill in 40 landed inside a save");
    let mut profile = strongroom::Profile::load(&path, None).unwrap();
    profile.set_passphrase(Some("sealed at last")).unwrap();
    assert_eq!(profile_copies(db.dir.path()), Vec::<String>::new());
}
