//! What the CLI leaves on the terminal and on disk when its input is
//! hostile, its pipes close or it is interrupted.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestDb;
use support::{bin, last_line, ok, run, sqlite_source};

fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n')
}

/// `leakage` reads field names from every row of the type, unverified: a
/// name no write accepts (control characters) is the database's invention
/// and is left out, so a hostile database puts no escape sequence on the
/// operator's terminal and forges no report line or planner warning.
#[test]
fn leakage_does_not_print_hostile_field_names_raw() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init", "--name", "alice"]);
    ok(
        &db,
        "alice",
        &["write", "patient", "-f", "name=Ada", "-p", "clinic=north"],
    );
    // What a hostile database writes: a plain key with an escape sequence
    // (cursor up, erase line), a carriage return and a forged line.
    db.sql(
        r#"UPDATE records SET plain = '{"clinic":"north","zz\u001b[1A\u001b[2K\rfield ssn: sealed; the database learns its size only\nwarning: index ssn: all good":"v"}'"#,
    );
    let out = run(&db, "alice", &["leakage", "patient"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !has_control(&stdout) && !has_control(&stderr),
        "raw control characters from the database reach the terminal:\nstdout: {stdout:?}\nstderr: {stderr:?}"
    );
    assert!(
        !stderr.contains("warning: index ssn: all good"),
        "the database forged a planner warning on stderr: {stderr:?}"
    );
}

/// How many bytes process `pid` has written to a file it holds open in
/// `dir` (named or not: an unnamed file shows as `dir/#N (deleted)`).
fn partial_len(pid: u32, dir: &std::path::Path) -> Option<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(Result::ok)
        .find(|fd| std::fs::read_link(fd.path()).is_ok_and(|to| to.starts_with(dir)))
        .and_then(|fd| std::fs::metadata(fd.path()).ok())
        .map(|about| about.len())
}

/// Ctrl-C (SIGINT), SIGTERM or SIGHUP (and on Linux SIGKILL) during `file
/// get --out PATH`, with a MiB of the body already decrypted, leaves no
/// file holding decrypted plaintext in PATH's folder (README), and the tool
/// ends by the signal.
#[test]
fn a_signal_during_file_get_leaves_no_decrypted_part_file() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init", "--name", "alice"]);
    let dir = db.dir.path();
    let source = dir.join("big.bin");
    // 64 MiB of non-repeating bytes.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let body: Vec<u8> = (0..64 * 1024 * 1024 / 8)
        .flat_map(|_| common::xorshift64(&mut state).to_le_bytes())
        .collect();
    std::fs::write(&source, &body).unwrap();
    let id = last_line(&ok(
        &db,
        "alice",
        &["file", "put", source.to_str().unwrap(), "--type", "scan"],
    ));
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    for (signal, number) in [("-INT", 2), ("-TERM", 15), ("-HUP", 1)] {
        interrupt_a_file_get(&db, &id, &out_dir, &body, signal, number);
    }
    // README: on Linux the body has no name until it is whole, so even
    // SIGKILL leaves nothing.
    #[cfg(target_os = "linux")]
    interrupt_a_file_get(&db, &id, &out_dir, &body, "-KILL", 9);
}

/// Runs `file get` into `out_dir` and sends `signal` once a MiB is
/// written; asserts the tool ended by it and left nothing in `out_dir`.
fn interrupt_a_file_get(
    db: &TestDb,
    id: &str,
    out_dir: &std::path::Path,
    body: &[u8],
    signal: &str,
    number: i32,
) {
    let target = out_dir.join("copy.bin");
    // Anything left in the folder: a part file, or the target itself.
    let parts = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    let mut caught = false;
    for _attempt in 0..5 {
        let mut child = Command::new(bin())
            .args(["--db", &db.url, "--profile"])
            .arg(db.profile("alice"))
            .args(["file", "get", id, "--out", target.to_str().unwrap()])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if partial_len(child.id(), out_dir).is_some_and(|len| len > 1 << 20) {
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
        }
        let _ = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        if status.success() {
            // Finished before the signal: try again.
            let _ = std::fs::remove_file(&target);
            continue;
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(number), "{signal}: {status:?}");
        }
        caught = true;
        break;
    }
    assert!(caught, "{signal}: never interrupted a get midway");
    let left = parts();
    let leaked = left.iter().any(|p| {
        let bytes = std::fs::read(p).unwrap();
        !bytes.is_empty() && body.starts_with(&bytes[..bytes.len().min(1 << 20)])
    });
    assert!(
        left.is_empty(),
        "{signal}: an interrupted `file get` left {left:?} (decrypted plaintext: {leaked})"
    );
}

/// Ctrl-C at the passphrase prompt (which reads it as a byte, with echo,
/// line editing and signals off, and raises SIGINT itself) ends the tool
/// only once the terminal is back as it was. Needs a pseudo-terminal:
/// driven through python3's `pty` module (skipped, loudly, without it).
#[test]
fn ctrl_c_at_the_passphrase_prompt_restores_the_terminal() {
    if Command::new("python3")
        .arg("-c")
        .arg("import pty")
        .status()
        .map_or(true, |s| !s.success())
    {
        eprintln!("\n!!!!!!!! SKIPPED ctrl_c_at_the_passphrase_prompt_restores_the_terminal: no python3 with its pty module !!!!!!!!\n");
        return;
    }
    let db = TestDb::sqlite();
    std::env::set_var("TERMINAL_TEST_PASSPHRASE", "correct horse");
    ok(
        &db,
        "alice",
        &[
            "--passphrase-env",
            "TERMINAL_TEST_PASSPHRASE",
            "init",
            "--name",
            "alice",
        ],
    );
    let script = r#"
import os, pty, termios, time, sys, select
argv = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
buf = b""
deadline = time.time() + 20
while b"Passphrase" not in buf and time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 1)
    if r:
        buf += os.read(fd, 1024)
time.sleep(0.3)
os.write(fd, b"\x03")
_, status = os.waitpid(pid, 0)
lflag = termios.tcgetattr(fd)[3]
print("prompted=%s echo=%s icanon=%s isig=%s" % (b"Passphrase" in buf, bool(lflag & termios.ECHO), bool(lflag & termios.ICANON), bool(lflag & termios.ISIG)))
"#;
    let profile = db.profile("alice");
    let out = Command::new("python3")
        .args(["-c", script, &bin(), "--db", &db.url, "--profile"])
        .arg(&profile)
        .args(["ls"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("prompted=True"),
        "{report} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("echo=True icanon=True isig=True"),
        "the terminal is left in the prompt's raw mode after Ctrl-C: {report}"
    );
}

/// A reader of stdout that went away takes no more lines, but the command
/// keeps its verdict: `import --map` prints a `"record_id": null` line and
/// then fails (README), so `set -o pipefail; strongroom import --map … |
/// head -n1` must not report success.
#[test]
fn a_closed_stdout_does_not_turn_a_failed_verdict_into_success() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init", "--name", "alice"]);
    let source = sqlite_source(&db, 3);
    let from = format!("sqlite://{}", source.display());
    let args = [
        "import",
        "--from",
        &from,
        "--table",
        "people",
        "--id-column",
        "id",
        "--type",
        "person",
        "--map",
        "--source-id",
        "1",
    ];
    // Nothing was imported: with stdout open the verdict is exit 1.
    assert_eq!(run(&db, "alice", &args).status.code(), Some(1));
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(bin())
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile("alice"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the same failed --map exits {:?} once its reader went away",
        out.status.code()
    );
}

/// An error while stderr is a closed pipe (`2>&1 | head -c0`, a log
/// collector gone) still exits 1 (README: exit status 0, 1 or 2), not
/// 101 from a panicking `eprintln!`.
#[test]
fn an_error_with_a_closed_stderr_still_exits_1() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init", "--name", "alice"]);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = Command::new(bin())
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile("alice"))
        .args(["read", "01a2538a-a7e8-7414-bca2-1798588f3c65"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "status {status:?}");
}

/// A malformed record or client id is quoted in the usage error with its
/// control characters escaped: an id a script took from elsewhere puts no
/// escape sequence on the terminal and does not split the `error:` line.
#[test]
fn a_malformed_id_is_not_echoed_with_its_control_characters() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init", "--name", "alice"]);
    for args in [
        vec!["read", "abc\u{1b}[31mred\nsecond line"],
        vec!["pin", "abc\u{1b}[31mred\nsecond line", "--fingerprint", "1"],
    ] {
        let out = run(&db, "alice", &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            !has_control(&stderr),
            "{args:?}: raw ESC on stderr: {stderr:?}"
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
    }
}

/// Ctrl-C ends `file get --out PATH` while it waits on the database (a
/// table another session locked, PostgreSQL, no statement timeout), not
/// only between chunks, and leaves no decrypted part file behind.
#[test]
fn ctrl_c_ends_a_file_get_that_waits_on_the_database() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Some(db) = common::postgres_db("ctrl_c_ends_a_file_get_that_waits_on_the_database") else {
        return;
    };
    ok(&db, "alice", &["init", "--name", "alice"]);
    let source = db.dir.path().join("small.bin");
    std::fs::write(&source, vec![7u8; 100_000]).unwrap();
    let id = last_line(&ok(
        &db,
        "alice",
        &["file", "put", source.to_str().unwrap(), "--type", "scan"],
    ));
    let out_dir = db.dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let target = out_dir.join("copy.bin");
    let mut locker = diesel::PgConnection::establish(&db.url).unwrap();
    locker
        .batch_execute("BEGIN; LOCK TABLE file_chunks IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let mut child = Command::new(bin())
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile("alice"))
        .args(["file", "get", &id, "--out", target.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let start = Instant::now();
    let ended = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > Duration::from_secs(5) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Ended already, or ended now (SIGKILL), and reaped either way.
    let _ = child.kill();
    let _ = child.wait();
    locker.batch_execute("ROLLBACK").unwrap();
    assert!(
        ended.is_some(),
        "Ctrl-C did not end `file get --out` while it waited on the database"
    );
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
