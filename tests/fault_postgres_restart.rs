//! Fault: the PostgreSQL server restarts under load (issue 19, "Faults").
//!
//! A private server (its own data directory in a temporary folder, a free
//! port on 127.0.0.1; the shared server is not touched) takes writes from
//! three threads of one process through one `Store` and one `Client`. It
//! is stopped twice — `pg_ctl stop -m immediate` (no shutdown: a crash, and
//! crash recovery on start) and `-m fast` (sessions terminated) — and
//! started again while the writers keep going. The writes in between fail
//! with a connection error (which one, and its text, is printed), the same
//! client then writes again without being reopened, and at the end every
//! record is read back and verified: every acknowledged write is there as
//! written, a failed write is wholly there or wholly absent, and no table
//! holds a row another lacks.
//!
//! Reproduce (figures printed):
//! `cargo test --test fault_postgres_restart -- --nocapture`
//!
//! Needs `initdb` and `pg_ctl` (on PATH or in `/usr/lib/postgresql/*/bin`)
//! and, run as root, `runuser` and a `postgres` account. Without them the
//! test is skipped with a loud message outside CI, and fails with `CI=true`.

mod fault_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection};
use fault_support::{check, describe, read_all, row_checks, skip, step, Outcome};
use strongroom::{Client, Store, StoreOptions};

const TEST: &str = "a_client_rides_out_postgres_restarts";
/// Concurrent writer threads.
const WRITERS: usize = 3;
/// Bytes of each record's body.
const BODY: usize = 200;
/// How long the writers run before the first stop, between the stops and
/// at the end.
const STEADY: Duration = Duration::from_millis(500);
/// How long the server stays down once every writer has failed.
const DOWN: Duration = Duration::from_millis(300);
/// The most any one phase may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(60);
/// How long the pool waits for a connection; libpq's `connect_timeout`.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// A PostgreSQL server of this test's own, stopped and removed on drop.
struct Server {
    pg_ctl: PathBuf,
    data: PathBuf,
    log: PathBuf,
    as_postgres: bool,
    port: u16,
    // Removed after `drop` has stopped the server.
    _dir: tempfile::TempDir,
}

impl Server {
    /// Initialises and starts a server, or says why it cannot.
    fn start() -> Result<Server, String> {
        let initdb = find_program("initdb")?;
        let pg_ctl = find_program("pg_ctl")?;
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("id -u: {e}"))?;
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        if as_postgres {
            find_program("runuser")?;
            let account = Command::new("id").arg("-u").arg("postgres").output();
            if !account.is_ok_and(|out| out.status.success()) {
                return Err(
                    "running as root and there is no `postgres` account to run the server as"
                        .into(),
                );
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("strongroom-restart-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let root = dir.path().to_owned();
        let data = root.join("data");
        let port = free_port();
        let server = Server {
            pg_ctl,
            data,
            log: root.join("server.log"),
            as_postgres,
            port,
            _dir: dir,
        };
        if as_postgres {
            run(Command::new("chown").arg("-R").arg("postgres:").arg(&root))?;
        }
        run(server
            .command(&initdb)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&server.data))?;
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(server.data.join("postgresql.conf"))
            .map_err(|e| e.to_string())?;
        // fsync off: the machine does not crash, only the server's
        // processes stop, so what they wrote is in the page cache either way.
        writeln!(
            conf,
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nmax_connections = 30",
            root.display()
        )
        .map_err(|e| e.to_string())?;
        server.pg_ctl_start()?;
        Ok(server)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let started = self
            .command(&self.pg_ctl)
            .args(["-w", "-t", "60", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .arg("start")
            .output()
            .map_err(|e| e.to_string())?;
        if !started.status.success() {
            return Err(format!(
                "pg_ctl start failed: {}\n{}",
                String::from_utf8_lossy(&started.stderr),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            ));
        }
        Ok(())
    }

    /// `pg_ctl stop -m <mode>`, waiting until the server is down.
    fn stop(&self, mode: &str) -> Result<(), String> {
        run(self
            .command(&self.pg_ctl)
            .args(["-m", mode, "-w", "-t", "60", "-D"])
            .arg(&self.data)
            .arg("stop"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self
            .command(&self.pg_ctl)
            .args(["-m", "immediate", "-w", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }
}

/// `name` on PATH, else in the newest `/usr/lib/postgresql/*/bin`.
fn find_program(name: &str) -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    if let Some(found) = on_path {
        return Ok(found);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin").join(name))
        .filter(|candidate| candidate.is_file())
        .collect();
    versions.sort();
    versions.pop().ok_or_else(|| {
        format!("`{name}` is not installed (not on PATH nor in /usr/lib/postgresql/*/bin)")
    })
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().unwrap().port()
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("running {command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// What the writers have done, shared with the test's main thread.
#[derive(Default)]
struct Tally {
    /// Every outcome, in the order the writers saw them.
    outcomes: Mutex<Vec<(Instant, usize, Outcome)>>,
    /// Writes acknowledged, and writes that failed.
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Tally {
    fn record(&self, writer: usize, outcomes: Vec<Outcome>) {
        let now = Instant::now();
        let mut all = self.outcomes.lock().unwrap();
        for outcome in outcomes {
            let counter = if outcome.acknowledged() {
                &self.ok
            } else {
                &self.failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
            all.push((now, writer, outcome));
        }
    }

    /// Whether every writer has a failed write after `since`.
    fn all_failed_since(&self, since: Instant) -> bool {
        self.every_writer_since(since, |o| {
            matches!(o, Outcome::FailedPut { .. } | Outcome::FailedUpdate { .. })
        })
    }

    /// Whether every writer has an acknowledged write after `since`.
    fn all_succeeded_since(&self, since: Instant) -> bool {
        self.every_writer_since(since, Outcome::acknowledged)
    }

    fn every_writer_since(&self, since: Instant, pred: impl Fn(&Outcome) -> bool) -> bool {
        let all = self.outcomes.lock().unwrap();
        (0..WRITERS).all(|w| {
            all.iter()
                .any(|(at, writer, o)| *at >= since && *writer == w && pred(o))
        })
    }

    /// The first acknowledged write after `since`, and the last one.
    fn first_success_after(&self, since: Instant) -> Option<Instant> {
        let all = self.outcomes.lock().unwrap();
        all.iter()
            .filter(|(at, _, o)| *at >= since && o.acknowledged())
            .map(|(at, _, _)| *at)
            .min()
    }
}

/// Waits until `done`, at most [`PATIENCE`]; panics with `what` otherwise.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_client_rides_out_postgres_restarts() {
    let server = match Server::start() {
        Ok(server) => server,
        Err(why) => {
            skip(
                TEST,
                &format!("cannot start a private PostgreSQL server: {why}"),
            );
            return;
        }
    };
    let folder = tempfile::tempdir().unwrap();
    let options = StoreOptions::default()
        .pool_size(8)
        .connection_timeout(CONNECTION_TIMEOUT);
    let store = Store::open_with(&server.url(), options).expect("open the private server");
    let client = Client::open_or_create(folder.path().join("writer.profile"), &store).unwrap();
    // The type's first key, made before the faults.
    let first = step(&client, "seed", 0, BODY, &mut None);
    assert!(first[0].acknowledged(), "{first:?}");
    let probe = match &first[0] {
        Outcome::Put { id, .. } => *id,
        other => unreachable!("{other:?}"),
    };

    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let mut figures = Vec::new();
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (client, tally, stop) = (&client, &tally, &stop);
            scope.spawn(move || {
                let name = format!("w{writer}");
                let mut target = None;
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    tally.record(writer, step(client, &name, n, BODY, &mut target));
                }
            });
        }
        let phase = |name: &str, since: &mut (u64, u64)| {
            let (ok, failed) = (
                tally.ok.load(Ordering::Relaxed),
                tally.failed.load(Ordering::Relaxed),
            );
            let line = format!(
                "{name}: {} writes acknowledged, {} failed",
                ok - since.0,
                failed - since.1
            );
            *since = (ok, failed);
            line
        };
        let mut since = (0, 0);
        std::thread::sleep(STEADY);
        figures.push(phase("server up", &mut since));
        for mode in ["immediate", "fast"] {
            let stopped = Instant::now();
            server.stop(mode).expect("stop the server");
            let stop_took = stopped.elapsed();
            wait_until("every writer to fail while the server is down", || {
                tally.all_failed_since(stopped)
            });
            std::thread::sleep(DOWN);
            // A read on the same client fails the same way.
            let read = client.get(probe).map(|_| ()).map_err(|e| describe(&e));
            let read_error = read.expect_err("a read with the server down succeeded");
            assert!(
                is_clear_connection_error(&read_error),
                "a read with the server down: {read_error}"
            );
            figures.push(format!(
                "{}; a get: {}",
                phase(
                    &format!("server down (pg_ctl stop -m {mode}, took {stop_took:?})"),
                    &mut since
                ),
                read_error
            ));
            let started = Instant::now();
            server.pg_ctl_start().expect("start the server again");
            let start_took = started.elapsed();
            wait_until("every writer to write again after the restart", || {
                tally.all_succeeded_since(started)
            });
            let first = tally.first_success_after(started).unwrap();
            let all = started.elapsed();
            std::thread::sleep(STEADY);
            figures.push(format!(
                "{}; pg_ctl start took {start_took:?}; first acknowledged write {:?} after it started, every writer within {all:?}",
                phase(&format!("server restarted after -m {mode}"), &mut since),
                first.saturating_duration_since(started),
            ));
        }
        stop.store(true, Ordering::Relaxed);
    });
    client.get(probe).expect("a read after the restarts");

    let outcomes: Vec<Outcome> = std::iter::once(first[0].clone())
        .chain(
            tally
                .outcomes
                .into_inner()
                .unwrap()
                .into_iter()
                .map(|(_, _, o)| o),
        )
        .collect();
    // The errors seen, each text once (ids and tags aside), with a count.
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for outcome in &outcomes {
        if let Outcome::FailedPut { error, .. } | Outcome::FailedUpdate { error, .. } = outcome {
            *errors.entry(error.clone()).or_default() += 1;
        }
    }
    let found = read_all(&client, BODY);
    let checked = check(&outcomes, &found);
    let mut conn = PgConnection::establish(&server.url()).expect("connect for the row checks");
    let rows = row_checks(&mut conn);
    assert_eq!(
        rows as usize,
        found.len(),
        "the records table holds rows the client does not read"
    );

    println!("\n{TEST} (private PostgreSQL on port {}):", server.port);
    for line in &figures {
        println!("  {line}");
    }
    println!("  errors seen (count: variant: text):");
    for (error, count) in &errors {
        println!("    {count:>4}: {error}");
    }
    println!("  verified: {checked:?}");

    assert!(
        !errors.is_empty(),
        "no write failed: the server was never seen down"
    );
    for error in errors.keys() {
        assert!(
            is_clear_connection_error(error),
            "a failure that does not say the connection is the problem: {error}"
        );
    }
    assert!(checked.acknowledged_puts > 0 && checked.acknowledged_updates > 0);
}

/// Whether a failure (as [`describe`] gives it) says the database could
/// not be reached (with the driver's reason), or that the connection was
/// lost mid-operation. Not `PoolTimeout`: the pool has room for every
/// thread, so waiting on it means the server is down, and saying "timed
/// out waiting for a connection" would point at the pool's size.
fn is_clear_connection_error(error: &str) -> bool {
    let (variant, text) = error.split_once(": ").unwrap_or((error, ""));
    match variant {
        "Connect" => text.contains("Connection refused") || text.contains("connection"),
        "Database" => ["server closed the connection", "terminating connection"]
            .iter()
            .any(|needle| text.contains(needle)),
        _ => false,
    }
}
