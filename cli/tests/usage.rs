//! The command line's rough edges, as a new user meets them: values from
//! files and stdin, the size limit, record types, JSON errors, `ls` paging,
//! help with examples (the `file` commands' too).

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::TestDb;
use support::{bin, fails, json_lines, last_line, ok};

fn with_stdin(db: &TestDb, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(bin())
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile("alice"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run strongroom");
    // A refused value may close stdin before all of it is written.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

fn alice() -> TestDb {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init", "--name", "alice"]);
    db
}

fn field(db: &TestDb, id: &str, name: &str) -> String {
    let record = &json_lines(&ok(db, "alice", &["read", id]))[0];
    record["data"][name].as_str().unwrap().to_owned()
}

#[test]
fn a_field_value_comes_from_a_file_or_stdin_and_never_from_argv() {
    let db = alice();
    let notes = db.dir.path().join("notes.txt");
    std::fs::write(&notes, "seen on 1843-09-01\nfine").unwrap();
    let from_file = format!("notes=@{}", notes.display());
    let id = last_line(&ok(
        &db,
        "alice",
        &["write", "patient", "-f", &from_file, "-f", "tag=@@home"],
    ));
    assert_eq!(field(&db, &id, "notes"), "seen on 1843-09-01\nfine");
    assert_eq!(field(&db, &id, "tag"), "@home");

    let out = with_stdin(&db, &["write", "patient", "-f", "name=-"], b"Ada Lovelace");
    assert!(out.status.success(), "{out:?}");
    let id = last_line(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(field(&db, &id, "name"), "Ada Lovelace");
}

#[test]
fn a_value_over_max_field_size_is_refused_and_nothing_is_written() {
    let db = alice();
    let big = db.dir.path().join("big.txt");
    std::fs::write(&big, vec![b'x'; 4096]).unwrap();
    let arg = format!("notes=@{}", big.display());
    let err = fails(
        &db,
        "alice",
        &["--max-field-size", "1024", "write", "patient", "-f", &arg],
        1,
    );
    assert!(err.contains("--max-field-size"), "{err}");

    let out = with_stdin(
        &db,
        &[
            "--max-field-size",
            "1024",
            "write",
            "patient",
            "-f",
            "notes=-",
        ],
        &vec![b'x'; 1 << 20],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-field-size"));

    let err = fails(
        &db,
        "alice",
        &[
            "--max-field-size",
            "8",
            "write",
            "patient",
            "-f",
            "name=longer than eight",
        ],
        1,
    );
    assert!(err.contains("--max-field-size"), "{err}");
    assert!(
        ok(&db, "alice", &["ls"]).trim().is_empty(),
        "nothing written"
    );
}

#[test]
fn a_blank_record_type_is_a_usage_error_everywhere() {
    let db = alice();
    for bad in ["", " ", " patient"] {
        fails(&db, "alice", &["write", bad, "-f", "name=x"], 2);
        fails(&db, "alice", &["ls", "--type", bad], 2);
        fails(&db, "alice", &["rotate", bad], 2);
    }
}

#[test]
fn a_bad_field_or_plain_name_is_a_usage_error_everywhere() {
    let db = alice();
    let long = "n".repeat(256);
    for bad in ["a\u{1}b", "tab\there", long.as_str()] {
        let field = format!("{bad}=v");
        let err = fails(&db, "alice", &["write", "patient", "-f", &field], 2);
        assert!(err.contains("a name is 1 to 255 bytes"), "{err}");
        fails(
            &db,
            "alice",
            &["write", "patient", "-f", "name=x", "-p", &field],
            2,
        );
        fails(&db, "alice", &["ls", "--type", "patient", "-p", &field], 2);
        fails(
            &db,
            "alice",
            &["file", "ls", "--type", "patient", "-p", &field],
            2,
        );
        let json = serde_json::json!({ bad: 1 }).to_string();
        let out = with_stdin(&db, &["write", "patient", "--json", "-"], json.as_bytes());
        assert_eq!(out.status.code(), Some(2), "{out:?}");
    }
    let out = with_stdin(&db, &["write", "patient", "--json", "-"], b"{\"\": 1}");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // Nothing was written by any of them.
    assert_eq!(ok(&db, "alice", &["ls", "--type", "patient"]), "");
}

#[test]
fn invalid_json_is_a_usage_error_with_its_line_and_column() {
    let db = alice();
    let out = with_stdin(
        &db,
        &["write", "patient", "--json", "-"],
        b"{\n  \"name\": \"Ada\",\n}",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3 column 1"), "{stderr}");
    assert!(!stderr.contains("Ada"), "the input is not echoed: {stderr}");
}

#[test]
fn ls_says_when_more_records_match_and_goes_on_after_its_cursor() {
    let db = alice();
    for name in ["a", "b", "c"] {
        ok(
            &db,
            "alice",
            &["write", "patient", "-f", &format!("name={name}")],
        );
    }
    let out = support::run(&db, "alice", &["ls", "--limit", "2"]);
    assert!(out.status.success());
    assert_eq!(json_lines(&String::from_utf8(out.stdout).unwrap()).len(), 2);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let cursor = stderr
        .lines()
        .find_map(|line| line.strip_prefix("more: --after "))
        .unwrap_or_else(|| panic!("no `more:` hint: {stderr}"));
    let out = support::run(&db, "alice", &["ls", "--limit", "2", "--after", cursor]);
    assert!(out.status.success());
    assert_eq!(json_lines(&String::from_utf8(out.stdout).unwrap()).len(), 1);
    assert!(
        !String::from_utf8(out.stderr).unwrap().contains("more:"),
        "the last page says no more"
    );
    fails(&db, "alice", &["ls", "--after", "not-a-cursor"], 2);
}

#[test]
fn every_command_shows_an_example_and_file_is_listed() {
    let help = Command::new(bin()).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.lines().any(|l| l.trim_start().starts_with("file ")),
        "{help}"
    );
    for command in [
        "init",
        "whoami",
        "migrate",
        "write",
        "read",
        "ls",
        "update",
        "delete",
        "share",
        "peers",
        "pin",
        "trust",
        "revoke",
        "authorize",
        "unauthorize",
        "shares",
        "rotate",
        "reindex",
        "leakage",
        "import",
        "profile passwd",
        "recovery create",
        "recovery restore",
        "recovery restart-lineage",
        "file",
        "file put",
        "file get",
        "file ls",
    ] {
        let out = Command::new(bin())
            .args(command.split(' '))
            .arg("--help")
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("Example:") || text.contains("Examples:"),
            "{command}: {text}"
        );
        // Every argument line that takes a TYPE says what it is (the usage
        // line at the top names it without a description).
        for line in text
            .lines()
            .filter(|l| l.contains("<TYPE>") && !l.starts_with("Usage:"))
        {
            let description = line.rsplit_once('>').map_or("", |(_, rest)| rest.trim());
            assert!(
                description.contains("record type"),
                "{command}: <TYPE> undescribed: {line}"
            );
        }
    }
    let db = alice();
    let err = fails(&db, "alice", &["file", "get", "x", "--out", "y"], 2);
    assert!(err.contains("not a record id"), "{err}");
}

/// `strongroom whoami | head -n1`: the reader of stdout went away (here:
/// the pipe's read end is closed before the tool starts, so its first
/// write fails with EPIPE). The tool ends quietly with status 0, like
/// ripgrep, instead of "internal error".
#[test]
fn a_closed_stdout_ends_the_tool_quietly() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init", "--name", "alice"]);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(bin())
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile("alice"))
        .arg("whoami")
        .env_remove("RUST_LOG")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}: {stderr}", out.status);
    assert_eq!(stderr, "", "nothing on stderr");
}

/// A stray argument (a value given apart from its `-f NAME=`) is a usage
/// error that does not echo it: values may be secrets. An unknown option
/// is still named.
#[test]
fn a_stray_value_is_a_usage_error_that_does_not_echo_it() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init"]);
    let err = fails(
        &db,
        "alice",
        &["write", "patient", "-f", "name", "SecretAda Lovelace"],
        2,
    );
    assert!(!err.contains("SecretAda"), "{err}");
    assert!(err.contains("NAME=VALUE"), "{err}");
    let err = fails(&db, "alice", &["write", "patient", "--bogus"], 2);
    assert!(err.contains("--bogus"), "{err}");
}
