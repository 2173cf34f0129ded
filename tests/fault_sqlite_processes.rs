//! Fault: two processes write one SQLite file at once (issue 19, "Faults").
//!
//! The test runs its own binary again as two child processes on the same
//! database file and the same profile. Each does `put`, `put_many` of three
//! and `update` of its own records, and races the other on updates of four
//! shared records (read, then update at the version read: one of two racing
//! updates is `Error::Conflict`). Each reports every outcome on stdout. The
//! parent then checks that `PRAGMA integrity_check` is `ok`, that every
//! acknowledged write reads back exactly (each version of a shared record
//! made by exactly one acknowledged update, none lost), that nothing else
//! is stored, and that no write failed otherwise: SQLite's lock is waited
//! for (the store's busy timeout, 5 s by default, with write transactions
//! begun `IMMEDIATE`), never surfaced as "database is locked".
//!
//! Reproduce (figures printed):
//! `cargo test --test fault_sqlite_processes -- --nocapture`

mod fault_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use fault_support::{check, describe, fields, plain, read_all, row_checks, step, Outcome};
use strongroom::{Client, Error, RecordId, Store};

const TEST: &str = "two_processes_write_one_sqlite_file";
/// Set in a child: its writer name.
const CHILD: &str = "STRONGROOM_FAULT_SQLITE_CHILD";
const CHILD_URL: &str = "STRONGROOM_FAULT_SQLITE_URL";
const CHILD_PROFILE: &str = "STRONGROOM_FAULT_SQLITE_PROFILE";
/// The file whose appearance starts both children at once.
const CHILD_GO: &str = "STRONGROOM_FAULT_SQLITE_GO";
/// The shared records' ids, comma-separated.
const CHILD_SHARED: &str = "STRONGROOM_FAULT_SQLITE_SHARED";
/// Workload steps per child, each a write of its own and a racing update.
const STEPS: u64 = 150;
/// Records both children update.
const SHARED: usize = 4;
const BODY: usize = 100;

fn millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// The child's half: writes, and prints every outcome.
fn child(writer: &str) {
    let url = std::env::var(CHILD_URL).unwrap();
    let profile = std::env::var(CHILD_PROFILE).unwrap();
    let go = std::env::var(CHILD_GO).unwrap();
    let shared: Vec<RecordId> = std::env::var(CHILD_SHARED)
        .unwrap()
        .split(',')
        .map(|id| id.parse().unwrap())
        .collect();
    let store = Store::open(&url).expect("open the shared file");
    let client = Client::open_or_create(&profile, &store).expect("open the shared profile");
    let waited = Instant::now();
    while !Path::new(&go).exists() {
        assert!(waited.elapsed() < Duration::from_secs(60), "no go");
        std::thread::sleep(Duration::from_millis(5));
    }
    // On a line of its own: the harness's "test … " precedes it.
    println!("\nWINDOW-START {}", millis());
    let mut target = None;
    for n in 1..=STEPS {
        for outcome in step(&client, writer, n, BODY, &mut target) {
            println!("{outcome}");
        }
        // The race: read a shared record, update it at the version read.
        let id = shared[n as usize % SHARED];
        let tag = format!("{writer}-s{n}");
        let outcome = match client.get(id) {
            Err(err) => Outcome::FailedUpdate {
                id,
                from_version: 0,
                tag,
                error: format!("(the read) {}", describe(&err)),
            },
            Ok(record) => {
                let version = record.version();
                match client.update(id, version, &fields(&tag, BODY), &plain(&tag)) {
                    Ok(meta) => Outcome::Update {
                        id,
                        version: meta.version,
                        tag,
                    },
                    Err(Error::Conflict { .. }) => Outcome::Conflict {
                        id,
                        expected: version,
                    },
                    Err(err) => Outcome::FailedUpdate {
                        id,
                        from_version: version,
                        tag,
                        error: describe(&err),
                    },
                }
            }
        };
        println!("{outcome}");
    }
    println!("WINDOW-END {}", millis());
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    t: String,
}

#[test]
fn two_processes_write_one_sqlite_file() {
    if let Ok(writer) = std::env::var(CHILD) {
        child(&writer);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sensitive.db");
    let url = format!("sqlite://{}", path.display());
    let profile = dir.path().join("writer.profile");
    let go = dir.path().join("go");
    let mut outcomes = Vec::new();
    {
        let store = Store::open_or_create(&url).unwrap();
        let client = Client::open_or_create(&profile, &store).unwrap();
        for i in 0..SHARED {
            outcomes.extend(step(&client, "seed", 3 * i as u64, BODY, &mut None));
        }
    }
    let shared: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Put { id, .. } => id.to_string(),
            other => panic!("seeding failed: {other:?}"),
        })
        .collect();
    let started = Instant::now();
    let children: Vec<_> = ["p1", "p2"]
        .into_iter()
        .map(|writer| {
            let child = Command::new(std::env::current_exe().unwrap())
                .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD, writer)
                .env(CHILD_URL, &url)
                .env(CHILD_PROFILE, &profile)
                .env(CHILD_GO, &go)
                .env(CHILD_SHARED, shared.join(","))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (writer, child)
        })
        .collect();
    std::fs::write(&go, b"go").unwrap();
    let mut windows = Vec::new();
    let mut per_child = Vec::new();
    for (writer, child) in children {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child {writer} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let mut window = (0u128, 0u128);
        let mut mine = Vec::new();
        for line in BufReader::new(stdout.as_bytes()).lines() {
            let line = line.unwrap();
            if let Some(at) = line.strip_prefix("WINDOW-START ") {
                window.0 = at.parse().unwrap();
            } else if let Some(at) = line.strip_prefix("WINDOW-END ") {
                window.1 = at.parse().unwrap();
            } else if let Some(outcome) = Outcome::parse(&line) {
                mine.push(outcome);
            }
        }
        windows.push(window);
        per_child.push((writer, mine.clone()));
        outcomes.extend(mine);
    }
    let elapsed = started.elapsed();

    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let integrity: Vec<Text> =
        diesel::sql_query("SELECT integrity_check AS t FROM pragma_integrity_check")
            .load(&mut conn)
            .unwrap();
    let integrity: Vec<String> = integrity.into_iter().map(|r| r.t).collect();
    let rows = row_checks(&mut conn);
    let store = Store::open(&url).unwrap();
    let client = Client::open_or_create(&profile, &store).unwrap();
    let found = read_all(&client, BODY);
    let checked = check(&outcomes, &found);

    println!("\n{TEST}:");
    for (writer, mine) in &per_child {
        let count = |f: fn(&Outcome) -> bool| mine.iter().filter(|o| f(o)).count();
        println!(
            "  {writer}: {} new records, {} updates acknowledged, {} conflicts (lost update races), {} failed",
            count(|o| matches!(o, Outcome::Put { .. })),
            count(|o| matches!(o, Outcome::Update { .. })),
            count(|o| matches!(o, Outcome::Conflict { .. })),
            count(|o| matches!(o, Outcome::FailedPut { .. } | Outcome::FailedUpdate { .. })),
        );
    }
    let overlap = windows[0].1.min(windows[1].1) as i128 - windows[0].0.max(windows[1].0) as i128;
    println!(
        "  write windows {:?} ms long, overlapping {overlap} ms; both children done in {elapsed:?}",
        windows.iter().map(|(a, b)| b - a).collect::<Vec<_>>()
    );
    println!("  integrity_check: {integrity:?}; records table: {rows} rows");
    println!("  verified: {checked:?}");

    assert_eq!(integrity, vec!["ok".to_owned()]);
    assert_eq!(rows as usize, found.len());
    let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
    for outcome in &outcomes {
        if let Outcome::FailedPut { error, .. } | Outcome::FailedUpdate { error, .. } = outcome {
            *failures.entry(error.as_str()).or_default() += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "writes failed (a busy database must be waited for, not surfaced): {failures:#?}"
    );
    assert!(overlap > 0, "the children did not write at the same time");
    assert!(checked.acknowledged_updates > 0);
}
