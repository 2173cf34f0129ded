//! `-v` and `RUST_LOG` show each library operation as a span line when it
//! closes (its name, record type, counts and duration), never a value
//! written or read; without them stderr stays as it was. On SQLite and
//! PostgreSQL.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::process::{Command, Output};

use common::{each_backend, TestDb};
use support::{bin, last_line, ok, run};

/// A value written to a sensitive field; must never reach stderr.
const SECRET: &str = "cli-obs-plaintext-5eed";

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Runs with `RUST_LOG` set (the support helpers clear it).
fn run_with_rust_log(db: &TestDb, level: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile("alice"))
        .args(args)
        .env("RUST_LOG", level)
        .output()
        .expect("run strongroom")
}

/// The span-close lines of operation `name` in `stderr`.
fn closes<'a>(stderr: &'a str, name: &str) -> Vec<&'a str> {
    let opening = format!("{name}{{");
    stderr
        .lines()
        .filter(|l| l.contains(&opening) && l.contains(": close"))
        .collect()
}

#[test]
fn verbose_shows_a_span_per_operation_and_no_value() {
    each_backend("verbose_shows_a_span_per_operation_and_no_value", |db| {
        ok(db, "alice", &["init"]);
        let value = format!("note={SECRET}");

        // Without -v or RUST_LOG: stderr stays empty.
        let quiet = run(db, "alice", &["write", "note", "-f", &value]);
        assert!(quiet.status.success());
        assert_eq!(text(&quiet.stderr), "", "default output unchanged");

        // -v: the write's span, when it closes, with type, count and time.
        let verbose = run(db, "alice", &["-v", "write", "note", "-f", &value]);
        assert!(verbose.status.success());
        let id = last_line(&text(&verbose.stdout));
        let stderr = text(&verbose.stderr);
        let put = closes(&stderr, "put");
        assert_eq!(put.len(), 1, "{stderr}");
        for expected in [
            "record_type=\"note\"",
            "fields=1",
            &format!("record_id={id}"),
            "duration_ms=",
        ] {
            assert!(put[0].contains(expected), "{expected} in {}", put[0]);
        }
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("counters") && l.contains("records_written=1")),
            "-v shows the counters: {stderr}"
        );
        assert!(!stderr.contains(SECRET), "{stderr}");

        // RUST_LOG=debug: the read's span, and the counters at the end;
        // the value is on stdout only.
        let read = run_with_rust_log(db, "debug", &["read", &id]);
        assert!(read.status.success());
        assert!(text(&read.stdout).contains(SECRET));
        let stderr = text(&read.stderr);
        let get = closes(&stderr, "get");
        assert_eq!(get.len(), 1, "{stderr}");
        assert!(get[0].contains("fields=1"), "{}", get[0]);
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("counters") && l.contains("records_read=1")),
            "{stderr}"
        );
        assert!(!stderr.contains(SECRET), "{stderr}");
    });
}
