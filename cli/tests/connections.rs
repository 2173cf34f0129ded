//! `--db` mistakes as a new user makes them: each ends at once with one
//! `error:` line naming the cause, creates nothing, and prints no colour
//! codes into a file.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::bin;

fn strongroom(dir: &Path, db: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .args(["--db", db, "--profile"])
        .arg(dir.join("alice.profile"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run strongroom")
}

/// Exit status 1, exactly one line on stderr, starting `error: `, free of
/// ANSI escape codes; returns that line.
fn one_error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes on a pipe: {stderr:?}"
    );
    lines[0].to_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_missing_sqlite_file_is_named_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let line = one_error_line(&strongroom(dir.path(), "sqlite://sensitiv.db", &["ls"]));
    assert!(line.contains("sqlite://sensitiv.db"), "{line}");
    assert!(
        line.contains("strongroom init"),
        "says how to create one: {line}"
    );
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[test]
fn a_missing_sqlite_folder_is_named_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let line = one_error_line(&strongroom(dir.path(), "sqlite://nosuchdir/x.db", &["ls"]));
    assert!(line.contains("nosuchdir/x.db"), "{line}");
    let line = one_error_line(&strongroom(
        dir.path(),
        "sqlite://nosuchdir/x.db",
        &["init"],
    ));
    assert!(line.contains("nosuchdir"), "{line}");
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[test]
fn init_and_migrate_create_the_sqlite_file_and_migrate_status_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let status = strongroom(dir.path(), "sqlite://status.db", &["migrate", "--status"]);
    one_error_line(&status);
    assert!(!dir.path().join("status.db").exists());
    let migrate = strongroom(dir.path(), "sqlite://migrated.db", &["migrate"]);
    assert!(migrate.status.success(), "{migrate:?}");
    assert!(dir.path().join("migrated.db").exists());
    let init = strongroom(dir.path(), "sqlite://inited.db", &["init"]);
    assert!(init.status.success(), "{init:?}");
    assert!(dir.path().join("inited.db").exists());
}

#[test]
fn a_missing_postgres_database_is_named_in_one_line() {
    let Some(_server) = common::postgres_db("a_missing_postgres_database_is_named_in_one_line")
    else {
        return;
    };
    let admin = common::postgres_admin_url();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = strongroom(dir.path(), &format!("{base}/nosuchdb"), &["ls"]);
    let line = one_error_line(&out);
    assert!(line.contains("\"nosuchdb\" does not exist"), "{line}");
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[test]
fn an_unknown_host_is_named_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = strongroom(
        dir.path(),
        "postgres://app@no-such-host.invalid/app",
        &["ls"],
    );
    let line = one_error_line(&out);
    assert!(line.contains("no-such-host.invalid"), "{line}");
    assert!(!line.contains("timed out"), "{line}");
}
