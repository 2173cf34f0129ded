//! Profiles through the command line: the passphrase asked for on a
//! terminal (a real pseudo-terminal, through util-linux's `script`), given
//! through `--passphrase-env`, the missing-passphrase hint, `profile
//! passwd`, and `whoami`'s sealed line.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestDb;
use support::{bin, fails, last_line, ok};

const SECRET: &str = "tr0ub4dor-and-3";
const OTHER: &str = "correct-horse-battery";

/// Runs with `VAR` set to `value` (for `--passphrase-env VAR`).
fn run_env(db: &TestDb, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(bin());
    command
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile("alice"))
        .args(args)
        .env_remove("RUST_LOG");
    for (var, value) in vars {
        command.env(var, value);
    }
    command.output().expect("run strongroom")
}

fn ok_env(db: &TestDb, vars: &[(&str, &str)], args: &[&str]) -> (String, String) {
    let out = run_env(db, vars, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "strongroom {args:?}: {stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

fn sealed_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("sealed: "))
        .unwrap_or_else(|| panic!("no sealed line: {stdout}"))
}

fn script_available() -> bool {
    let found = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        let message = "util-linux `script` is not installed: the terminal prompt tests cannot run";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("SKIPPED (loudly): {message}");
    }
    found
}

/// Runs strongroom on a pseudo-terminal (standard input is a terminal, as
/// for a person typing), answering each prompt in turn once it appears.
/// Returns the exit code and everything the terminal showed.
fn on_terminal(db: &TestDb, args: &[&str], answers: &[&str]) -> (i32, String) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut line = format!(
        "{} --db {} --profile {}",
        quote(&bin()),
        quote(&db.url),
        quote(db.profile("alice").to_str().unwrap())
    );
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script");
    let shown = Arc::new(Mutex::new(String::new()));
    let reader = {
        let shown = Arc::clone(&shown);
        let mut stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shown
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    for (asked, answer) in answers.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(30);
        while shown.lock().unwrap().matches("assphrase").count() < asked + 1 {
            assert!(
                Instant::now() < deadline,
                "no prompt {}: {}",
                asked + 1,
                shown.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The prompt is printed just before echo is turned off.
        std::thread::sleep(Duration::from_millis(200));
        stdin.write_all(format!("{answer}\r").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let shown = shown.lock().unwrap().clone();
    (status.code().unwrap_or(-1), shown)
}

#[test]
fn init_on_a_terminal_asks_twice_and_seals_and_commands_ask_again() {
    if !script_available() {
        return;
    }
    let db = TestDb::sqlite();
    let (code, shown) = on_terminal(&db, &["init", "--name", "alice"], &[SECRET, SECRET]);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("Passphrase for the new profile"), "{shown}");
    assert!(
        !shown.contains(SECRET),
        "the passphrase was echoed: {shown}"
    );
    assert!(strongroom::Profile::load(db.profile("alice"), Some(SECRET))
        .unwrap()
        .is_sealed());

    // Any command asks for it on a terminal...
    let (code, shown) = on_terminal(&db, &["whoami"], &[SECRET]);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("sealed: yes"), "{shown}");
    // ...and a wrong answer is the one clear error.
    let (code, shown) = on_terminal(&db, &["whoami"], &[OTHER]);
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("wrong passphrase"), "{shown}");

    // Without a terminal and without --passphrase-env: the hint says how.
    let err = fails(&db, "alice", &["whoami"], 1);
    assert!(err.contains("--passphrase-env"), "{err}");
    assert!(err.contains("terminal"), "{err}");
    // With --passphrase-env it works anywhere.
    let (out, _) = ok_env(
        &db,
        &[("PP", SECRET)],
        &["--passphrase-env", "PP", "whoami"],
    );
    assert_eq!(sealed_line(&out), "sealed: yes");
}

#[test]
fn init_on_a_terminal_with_an_empty_answer_is_unsealed_with_a_warning() {
    if !script_available() {
        return;
    }
    let db = TestDb::sqlite();
    let (code, shown) = on_terminal(&db, &["init"], &[""]);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("not sealed under a passphrase"), "{shown}");
    assert!(!strongroom::Profile::load(db.profile("alice"), None)
        .unwrap()
        .is_sealed());
}

#[test]
fn init_on_a_terminal_with_two_different_answers_creates_nothing() {
    if !script_available() {
        return;
    }
    let db = TestDb::sqlite();
    let (code, shown) = on_terminal(&db, &["init"], &[SECRET, OTHER]);
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("differ"), "{shown}");
    assert!(!db.profile("alice").exists());
}

#[test]
fn init_without_a_terminal_or_passphrase_warns_and_whoami_says_unsealed() {
    let db = TestDb::sqlite();
    let out = run_env(&db, &[], &["init"]);
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("not sealed under a passphrase"), "{stderr}");
    assert!(stderr.contains("strongroom profile passwd"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.contains("not sealed")).count(),
        1,
        "one warning line: {stderr}"
    );
    let out = ok(&db, "alice", &["whoami"]);
    assert_eq!(sealed_line(&out), "sealed: no");
}

#[test]
fn passwd_adds_changes_and_removes_the_passphrase() {
    let db = TestDb::sqlite();
    let id = last_line(&ok(&db, "alice", &["init"]));
    let written = last_line(&ok(&db, "alice", &["write", "note", "-f", "body=hello"]));

    // Add.
    let (_, stderr) = ok_env(
        &db,
        &[("NEW", SECRET)],
        &["profile", "passwd", "--new-passphrase-env", "NEW"],
    );
    assert!(
        stderr.contains("sealed under the new passphrase"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET));
    fails(&db, "alice", &["read", &written], 1);
    let with = |pp: &'static str| [("PP", pp)];
    let (out, _) = ok_env(&db, &with(SECRET), &["--passphrase-env", "PP", "whoami"]);
    assert_eq!(sealed_line(&out), "sealed: yes");
    assert_eq!(last_line(&out), id);

    // Change: the old passphrase stops working, the data still reads.
    ok_env(
        &db,
        &[("PP", SECRET), ("NEW", OTHER)],
        &[
            "--passphrase-env",
            "PP",
            "profile",
            "passwd",
            "--new-passphrase-env",
            "NEW",
        ],
    );
    let out = run_env(&db, &with(SECRET), &["--passphrase-env", "PP", "whoami"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));
    let (out, _) = ok_env(
        &db,
        &with(OTHER),
        &["--passphrase-env", "PP", "read", &written],
    );
    assert!(out.contains("hello"), "{out}");

    // Remove.
    let (_, stderr) = ok_env(
        &db,
        &with(OTHER),
        &["--passphrase-env", "PP", "profile", "passwd", "--remove"],
    );
    assert!(stderr.contains("not sealed under a passphrase"), "{stderr}");
    assert_eq!(sealed_line(&ok(&db, "alice", &["whoami"])), "sealed: no");
    assert!(ok(&db, "alice", &["read", &written]).contains("hello"));
}

#[test]
fn passwd_without_a_new_passphrase_or_terminal_is_a_usage_error_and_changes_nothing() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init"]);
    let before = std::fs::read(db.profile("alice")).unwrap();
    let err = fails(&db, "alice", &["profile", "passwd"], 2);
    assert!(err.contains("--new-passphrase-env"), "{err}");
    // An unset or empty variable is an error too, naming the variable.
    let err = fails(
        &db,
        "alice",
        &["profile", "passwd", "--new-passphrase-env", "NO_SUCH_VAR_X"],
        1,
    );
    assert!(err.contains("NO_SUCH_VAR_X"), "{err}");
    let out = run_env(
        &db,
        &[("EMPTY", "")],
        &["profile", "passwd", "--new-passphrase-env", "EMPTY"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("EMPTY is empty"));
    assert_eq!(std::fs::read(db.profile("alice")).unwrap(), before);
}

/// A script that passes the passphrase itself where a variable's name
/// belongs (`--passphrase-env "$PP"`) never sees it printed: what is no
/// variable name is a usage error, and a name is repeated only when it is
/// spelled as variables conventionally are.
#[test]
fn a_passphrase_given_in_place_of_a_variable_name_is_never_printed() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init"]);
    let before = std::fs::read(db.profile("alice")).unwrap();
    let passphrase = "correct horse battery staple";
    let out = run_env(
        &db,
        &[("PP", passphrase)],
        &["--passphrase-env", passphrase, "ls"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("NAME of an environment variable"),
        "{stderr}"
    );
    assert!(!stderr.contains("horse"), "{stderr}");
    let err = fails(
        &db,
        "alice",
        &["profile", "passwd", "--new-passphrase-env", "n3w-s3cret"],
        2,
    );
    assert!(!err.contains("s3cret"), "{err}");
    // A passphrase that happens to be a valid name, but not a conventional
    // one: the variable is not set, and the error does not repeat it.
    let out_dir = tempfile::tempdir().unwrap();
    let recovery = out_dir.path().join("recovery.profile");
    let err = fails(
        &db,
        "alice",
        &[
            "recovery",
            "create",
            "--out",
            recovery.to_str().unwrap(),
            "--recovery-passphrase-env",
            "Tr0ub4dor_3",
        ],
        1,
    );
    assert!(err.contains("is not set"), "{err}");
    assert!(!err.contains("Tr0ub4dor"), "{err}");
    assert!(!recovery.exists());
    assert_eq!(std::fs::read(db.profile("alice")).unwrap(), before);
}

#[test]
fn passwd_on_a_terminal_asks_twice() {
    if !script_available() {
        return;
    }
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init"]);
    let (code, shown) = on_terminal(&db, &["profile", "passwd"], &[SECRET, SECRET]);
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(strongroom::Profile::load(db.profile("alice"), Some(SECRET))
        .unwrap()
        .is_sealed());
}
