//! Fault: the disk fills under an SQLite store (issue 19, "Faults").
//!
//! The test runs its own binary again as a child under a file size limit
//! (`ulimit -f`, with SIGXFSZ ignored, so a write past the limit fails with
//! `EFBIG` instead of killing the process): the portable way to make
//! SQLite's writes fail as on a full disk, without mounting anything. The
//! child writes batches until one fails, prints every outcome and the
//! error, checks that it can still read, and ends normally. The parent,
//! without a limit, then opens the database: `PRAGMA integrity_check` is
//! `ok`, every acknowledged record reads back and verifies, the failed
//! write is absent, and the store takes writes again.
//!
//! Reproduce (figures printed):
//! `cargo test --test fault_disk_full -- --nocapture`

mod fault_support;

use std::process::Command;
use std::time::Instant;

use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use fault_support::{check, describe, read_all, record, row_checks, skip, variant, Outcome};
use strongroom::{Client, Store};

const TEST: &str = "a_full_disk_fails_a_write_clearly_and_loses_nothing";
/// Set in the child: the database URL.
const CHILD_URL: &str = "STRONGROOM_FAULT_DISK_URL";
const CHILD_PROFILE: &str = "STRONGROOM_FAULT_DISK_PROFILE";
/// The file size limit, in 512-byte blocks (`ulimit -f` in `sh`): 1 MiB.
const LIMIT_BLOCKS: u64 = 2048;
const BODY: usize = 2_000;
/// Records per batch.
const BATCH: usize = 8;
/// More batches than fit under the limit (each is over 16 KiB).
const MOST_BATCHES: usize = 1_000;

/// The child's half, under the limit.
fn child(url: &str, profile: &str) {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("Max file size"))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    println!("\nLIMIT {limit}");
    let store = Store::open(url).expect("open under the limit");
    let client = Client::open_or_create(profile, &store).expect("open the profile");
    let mut acked = Vec::new();
    for n in 0..MOST_BATCHES {
        let tags: Vec<String> = (0..BATCH).map(|i| format!("full-{n}-{i}")).collect();
        let batch: Vec<_> = tags.iter().map(|t| record(t, BODY)).collect();
        match client.put_many(&batch) {
            Ok(metas) => {
                for (meta, tag) in metas.into_iter().zip(tags) {
                    acked.push(meta.id);
                    println!("{}", Outcome::Put { id: meta.id, tag });
                }
            }
            Err(err) => {
                println!(
                    "{}",
                    Outcome::FailedPut {
                        tags,
                        error: describe(&err)
                    }
                );
                println!("FULL-VARIANT {}", variant(&err));
                println!("FULL-DEBUG {err:?}");
                // Still full: the next write fails the same way, and reads work.
                let again = client.put_many(&batch[..1]).map(|_| ());
                match &again {
                    Ok(()) => println!("AGAIN succeeded\nAGAIN-LANDED"),
                    Err(err) => println!("AGAIN {}", describe(err)),
                }
                let first = acked.first().copied();
                let last = acked.last().copied();
                for id in [first, last].into_iter().flatten() {
                    client.get(id).expect("a read once the disk is full");
                }
                println!("READS-OK {}", acked.len());
                return;
            }
        }
    }
    panic!("{MOST_BATCHES} batches fit under the limit: it did not apply");
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    t: String,
}

#[test]
fn a_full_disk_fails_a_write_clearly_and_loses_nothing() {
    if let (Ok(url), Ok(profile)) = (std::env::var(CHILD_URL), std::env::var(CHILD_PROFILE)) {
        child(&url, &profile);
        return;
    }
    let ulimit = Command::new("sh").arg("-c").arg("ulimit -f 1").status();
    if !ulimit.is_ok_and(|s| s.success()) {
        skip(TEST, "`sh -c 'ulimit -f'` does not work here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sensitive.db");
    let url = format!("sqlite://{}", path.display());
    let profile = dir.path().join("writer.profile");
    let mut outcomes = Vec::new();
    {
        // The schema and the type's key, written without a limit.
        let store = Store::open_or_create(&url).unwrap();
        let client = Client::open_or_create(&profile, &store).unwrap();
        let meta = client
            .put_many(&[record("before", BODY)])
            .unwrap()
            .remove(0);
        outcomes.push(Outcome::Put {
            id: meta.id,
            tag: "before".into(),
        });
    }
    let started = Instant::now();
    // SIGXFSZ ignored before exec stays ignored in the child.
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {LIMIT_BLOCKS} && exec \"$0\" \"$@\""
        ))
        .arg(std::env::current_exe().unwrap())
        .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_URL, &url)
        .env(CHILD_PROFILE, &profile)
        .output()
        .unwrap();
    let child_took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("the child printed no {prefix:?}:\n{stdout}"))
            .to_owned()
    };
    outcomes.extend(stdout.lines().filter_map(Outcome::parse));
    let error = outcomes
        .iter()
        .find_map(|o| match o {
            Outcome::FailedPut { error, .. } => Some(error.clone()),
            _ => None,
        })
        .expect("the child's write failed");
    let again = line("AGAIN ");
    assert!(
        !stdout.contains("AGAIN-LANDED"),
        "a write succeeded with the file at its limit"
    );

    let sizes: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| {
            format!(
                "{} {} B",
                e.file_name().to_string_lossy(),
                e.metadata().unwrap().len()
            )
        })
        .collect();
    let reopened = Instant::now();
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let integrity: Vec<String> =
        diesel::sql_query("SELECT integrity_check AS t FROM pragma_integrity_check")
            .load::<Text>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|r| r.t)
            .collect();
    let rows = row_checks(&mut conn);
    let store = Store::open(&url).expect("the database opens after the disk filled");
    let client = Client::open_or_create(&profile, &store).unwrap();
    let found = read_all(&client, BODY);
    let checked = check(&outcomes, &found);
    let verify_took = reopened.elapsed();
    // And it takes writes again.
    client
        .put_many(&[record("after", BODY)])
        .expect("a write after the disk has room");

    println!("\n{TEST}:");
    println!("  child's limit: {}", line("LIMIT "));
    println!(
        "  {} records acknowledged before the failing write ({} batches of {BATCH}), child done in {child_took:?}",
        checked.acknowledged_puts - 1,
        (checked.acknowledged_puts - 1) / BATCH,
    );
    println!("  the failing write: {error}");
    println!("  its Debug: {}", line("FULL-DEBUG "));
    println!("  the next write, still full: {again}");
    println!(
        "  reads in the full child: ok ({} records)",
        line("READS-OK ")
    );
    println!("  files after: {sizes:?}");
    println!("  integrity_check: {integrity:?}; records table: {rows} rows; reopened and verified in {verify_took:?}");
    println!("  verified: {checked:?}");

    assert_eq!(integrity, vec!["ok".to_owned()]);
    assert_eq!(rows as usize, found.len());
    assert_eq!(
        checked.failed_puts_present, 0,
        "a failed write on SQLite landed"
    );
    assert!(
        checked.acknowledged_puts > 1,
        "nothing fitted under the limit"
    );
    assert!(
        is_clear_full_error(&error) && is_clear_full_error(&again),
        "not a clear disk error: {error} / {again}"
    );
    assert_no_values(&error);
}

/// A failure's text names no value written: no tag, no body.
fn assert_no_values(error: &str) {
    assert!(
        !error.contains("full-") && !error.contains("0123456789abcdef"),
        "the error carries a written value: {error}"
    );
}

/// Whether a failure (as [`describe`] gives it) is a database error that
/// names the disk.
fn is_clear_full_error(error: &str) -> bool {
    error.starts_with("Database: ")
        && ["disk is full", "disk I/O error", "File too large"]
            .iter()
            .any(|needle| error.contains(needle))
}

/// A tmpfs mounted for one test, unmounted on drop.
struct SmallDisk {
    at: std::path::PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) at `at`, or
    /// says why it cannot (mounting needs root, or a sandbox may refuse).
    fn mount(at: &std::path::Path, size: &str) -> Result<SmallDisk, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk { at: at.to_owned() })
    }

    /// Gives the full disk room again (`mount -o remount,size=…`).
    fn grow(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.at)
            .output()
            .unwrap();
        assert!(out.status.success(), "remount: {out:?}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).output();
    }
}

/// The same fault on a real full filesystem (`ENOSPC`: SQLite's "database
/// or disk is full"), where the machine lets the test mount a 4 MiB tmpfs
/// (as root); elsewhere it says so and does nothing, the file size limit
/// above being the portable form. Opening and verifying also happen while
/// the disk is still full, and writes resume once it has room.
#[test]
fn a_full_tmpfs_fails_a_write_clearly_and_the_database_still_opens() {
    const NAME: &str = "a_full_tmpfs_fails_a_write_clearly_and_the_database_still_opens";
    let dir = tempfile::tempdir().unwrap();
    let disk = match SmallDisk::mount(&dir.path().join("small"), "4m") {
        Ok(disk) => disk,
        Err(why) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "\n!!!!!!!! `{NAME}` not run: {why} (the file size limit test covers the fault) !!!!!!!!\n"
            );
            return;
        }
    };
    let path = disk.at.join("sensitive.db");
    let url = format!("sqlite://{}", path.display());
    // The profile lives elsewhere: only the database's disk fills.
    let profile = dir.path().join("writer.profile");
    let store = Store::open_or_create(&url).unwrap();
    let client = Client::open_or_create(&profile, &store).unwrap();
    let mut outcomes = Vec::new();
    let mut error = None;
    for n in 0..MOST_BATCHES {
        let tags: Vec<String> = (0..BATCH).map(|i| format!("full-{n}-{i}")).collect();
        let batch: Vec<_> = tags.iter().map(|t| record(t, BODY)).collect();
        match client.put_many(&batch) {
            Ok(metas) => outcomes.extend(
                metas
                    .into_iter()
                    .zip(tags)
                    .map(|(meta, tag)| Outcome::Put { id: meta.id, tag }),
            ),
            Err(err) => {
                error = Some(describe(&err));
                outcomes.push(Outcome::FailedPut {
                    tags,
                    error: describe(&err),
                });
                break;
            }
        }
    }
    let error = error.expect("4 MiB never filled");
    // The write that failed, retried (a batch as large: a smaller one may
    // fit in the pages the failed one left free), fails again.
    let again_batch: Vec<_> = (0..BATCH)
        .map(|i| record(&format!("again-{i}"), BODY))
        .collect();
    let again = client
        .put_many(&again_batch)
        .map(|_| ())
        .map_err(|e| describe(&e))
        .expect_err("a batch as large as the failed one succeeded on the full disk");
    // Still full: the same client reads everything, and a new store opens.
    let read_full = read_all(&client, BODY).len();
    drop(client);
    drop(store);
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let integrity: Vec<String> =
        diesel::sql_query("SELECT integrity_check AS t FROM pragma_integrity_check")
            .load::<Text>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|r| r.t)
            .collect();
    let rows = row_checks(&mut conn);
    drop(conn);
    let store = Store::open(&url).expect("the database opens on the full disk");
    let client = Client::open_or_create(&profile, &store).unwrap();
    let found = read_all(&client, BODY);
    let checked = check(&outcomes, &found);
    disk.grow("8m");
    client
        .put_many(&[record("after", BODY)])
        .expect("a write once the disk has room");

    println!("\n{NAME}:");
    println!(
        "  {} records acknowledged on a 4 MiB tmpfs before the failing write",
        checked.acknowledged_puts
    );
    println!("  the failing write: {error}");
    println!("  the same write again, still full: {again}");
    println!("  still full: {read_full} records read by the same client; reopened: integrity_check {integrity:?}, {rows} rows");
    println!("  verified: {checked:?}; a write after growing the disk to 8 MiB: ok");

    assert!(
        error.starts_with("Database: ") && error.contains("disk is full"),
        "{error}"
    );
    assert!(again.contains("disk is full"), "{again}");
    assert_no_values(&error);
    assert_eq!(integrity, vec!["ok".to_owned()]);
    assert_eq!(rows as usize, found.len());
    assert_eq!(read_full, found.len());
    assert_eq!(checked.failed_puts_present, 0);
    // A disk that the empty store alone fills would prove nothing about
    // acknowledged writes (a new store with 16 KiB pages and its WAL take
    // about 1 MiB, hence 4 MiB).
    assert!(checked.acknowledged_puts > 0, "nothing fitted on the tmpfs");
}
