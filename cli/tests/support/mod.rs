//! Running the `strongroom` binary as a real process against a test
//! database, with one profile per named client.
#![allow(dead_code)]

use std::process::{Command, Output};

use crate::common::TestDb;

/// The binary under test: the one cargo built for these tests, or the one
/// named by `STRONGROOM_BIN` (CI points it at a `cargo install --path cli`).
pub fn bin() -> String {
    std::env::var("STRONGROOM_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_strongroom").to_owned())
}

pub fn run(db: &TestDb, profile: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile(profile))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run strongroom")
}

/// Runs and expects exit status 0; returns stdout.
pub fn ok(db: &TestDb, profile: &str, args: &[&str]) -> String {
    let out = run(db, profile, args);
    assert!(
        out.status.success(),
        "strongroom {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs and expects exit status `code` with exactly one `error: …` line on
/// stderr and no panic; returns stderr. With status 1 that line is all of
/// stderr (README: "one line `error: …` on stderr"; the library's warnings
/// are folded into it); a usage error (2) may add clap's help after it.
pub fn fails(db: &TestDb, profile: &str, args: &[&str], code: i32) -> String {
    let out = run(db, profile, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "strongroom {args:?}: {stderr}"
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    if code == 1 {
        assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    stderr
}

pub fn last_line(text: &str) -> String {
    text.lines().last().unwrap_or_default().trim().to_owned()
}

pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A SQLite source file `legacy.db` in the test's folder with a table
/// `people` of `rows` rows: id, name, ssn (NULL every 10th), city.
pub fn sqlite_source(db: &TestDb, rows: usize) -> std::path::PathBuf {
    use diesel::{Connection, RunQueryDsl};
    let path = db.dir.path().join("legacy.db");
    let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, ssn TEXT, city TEXT)",
    )
    .execute(&mut conn)
    .unwrap();
    for i in 0..rows {
        let ssn = if i % 10 == 0 {
            "NULL".to_owned()
        } else {
            format!("'ssn-{i}'")
        };
        diesel::sql_query(format!(
            "INSERT INTO people VALUES ({i}, 'name {i}', {ssn}, 'city {}')",
            i % 4
        ))
        .execute(&mut conn)
        .unwrap();
    }
    path
}
