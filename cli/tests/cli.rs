//! The `strongroom` command line, run as a real process: two profiles on
//! one database, on SQLite and on PostgreSQL; tampering; and an import of a
//! PostgreSQL table killed midway and resumed.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::process::{Command, Stdio};

use common::{each_backend, TestDb};
use support::{bin, fails, json_lines, last_line, ok, run, sqlite_source};

#[test]
fn a_two_client_session() {
    each_backend("a_two_client_session", |db| {
        let alice = last_line(&ok(db, "alice", &["init", "--name", "alice"]));
        let bob = last_line(&ok(db, "bob", &["init"]));
        assert!(
            alice.parse::<strongroom::ClientId>().is_ok(),
            "init prints the client id last"
        );
        assert_eq!(last_line(&ok(db, "alice", &["whoami"])), alice);
        fails(db, "alice", &["init"], 1);

        let id = last_line(&ok(
            db,
            "alice",
            &[
                "write",
                "patient",
                "-f",
                "name=Ada",
                "-f",
                "nid=1815",
                "-p",
                "clinic=north",
            ],
        ));
        let read: serde_json::Value =
            serde_json::from_str(&ok(db, "alice", &["read", &id])).unwrap();
        assert_eq!(read["data"]["name"], "Ada");
        assert_eq!(read["meta"]["plain"]["clinic"], "north");
        assert_eq!(read["meta"]["version"], 1);

        let listed = json_lines(&ok(
            db,
            "alice",
            &["ls", "--type", "patient", "-p", "clinic=north"],
        ));
        assert_eq!(listed.len(), 1);
        assert!(listed[0].get("data").is_none(), "no data without --data");
        let listed = json_lines(&ok(db, "alice", &["ls", "--data"]));
        assert_eq!(listed[0]["data"]["nid"], "1815");

        ok(
            db,
            "alice",
            &["update", &id, "--version", "1", "-f", "name=Ada King"],
        );
        fails(
            db,
            "alice",
            &["update", &id, "--version", "1", "-f", "name=stale"],
            1,
        );
        let read: serde_json::Value =
            serde_json::from_str(&ok(db, "alice", &["read", &id])).unwrap();
        assert_eq!(
            (read["data"]["name"].as_str(), read["data"]["nid"].as_str()),
            (Some("Ada King"), Some("1815"))
        );

        fails(db, "bob", &["read", &id], 1);
        ok(db, "alice", &["share", "patient", "--with", &bob]);
        let as_bob: serde_json::Value =
            serde_json::from_str(&ok(db, "bob", &["read", &id])).unwrap();
        assert_eq!(as_bob["data"]["name"], "Ada King");
        assert_eq!(
            json_lines(&ok(db, "bob", &["ls", "--all-writers"])).len(),
            1
        );
        let shares = json_lines(&ok(db, "bob", &["shares"]));
        assert_eq!(shares[0]["direction"], "incoming");

        ok(db, "alice", &["revoke", "patient", "--from", &bob]);
        let later = last_line(&ok(db, "alice", &["write", "patient", "-f", "name=Grace"]));
        let err = fails(db, "bob", &["read", &later], 1);
        assert!(err.contains("access denied"), "{err}");
        assert!(!err.contains("Grace"));

        ok(db, "alice", &["delete", &id, "--version", "2"]);
        fails(db, "alice", &["read", &id], 1);
        fails(db, "alice", &["file", "get", &later, "--out", "x"], 1);
        // Usage errors: exit status 2.
        fails(db, "alice", &["frobnicate"], 2);
        let usage = fails(
            db,
            "alice",
            &["write", "patient", "-f", "secret-without-equals"],
            2,
        );
        assert!(
            !usage.contains("secret-without-equals"),
            "a value is never echoed"
        );
        fails(db, "alice", &["read", "not-a-uuid"], 2);
    });
}

#[test]
fn a_tampered_row_makes_read_fail_cleanly() {
    each_backend("a_tampered_row_makes_read_fail_cleanly", |db| {
        ok(db, "alice", &["init"]);
        let id = last_line(&ok(
            db,
            "alice",
            &["write", "patient", "-f", "name=Ada", "-p", "clinic=north"],
        ));
        let row = db.id(&id);
        let sealed = common::unhex(
            &db.texts(&format!(
                "SELECT {} AS t FROM records WHERE record_id = {row}",
                db.hex("sealed_fields")
            ))[0],
        );
        let plain = db.texts(&format!(
            "SELECT plain AS t FROM records WHERE record_id = {row}"
        ));
        db.sql(&format!(
            "UPDATE records SET plain = '{{\"clinic\":\"south\"}}' WHERE record_id = {row}"
        ));
        let err = fails(db, "alice", &["read", &id], 1);
        assert!(err.contains("decryption failed"), "{err}");
        db.sql(&format!(
            "UPDATE records SET plain = '{}' WHERE record_id = {row}",
            plain[0]
        ));
        ok(db, "alice", &["read", &id]);
        // The sealed-fields column alone: not an encoding at all (a wrong
        // version byte), the real encoding cut short by one byte, and one
        // byte of the last envelope flipped.
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 0x01;
        for bytes in [
            b"not sealed fields".to_vec(),
            sealed[..sealed.len() - 1].to_vec(),
            flipped,
        ] {
            db.sql(&format!(
                "UPDATE records SET sealed_fields = {} WHERE record_id = {row}",
                db.blob(&bytes)
            ));
            let err = fails(db, "alice", &["read", &id], 1);
            assert!(!err.contains("Ada"), "{err}");
        }
    });
}

#[test]
fn a_failure_after_library_warnings_is_still_one_line_holding_them() {
    each_backend(
        "a_failure_after_library_warnings_is_still_one_line_holding_them",
        |db| {
            ok(db, "alice", &["init"]);
            let id = last_line(&ok(db, "alice", &["write", "patient", "-f", "name=Ada"]));
            // A batch signature that does not verify: the library warns
            // (WARN "a record batch failed verification"), then the read
            // fails.
            db.sql(&format!(
                "UPDATE record_batches SET signature = {}",
                db.blob(&[0u8; 64])
            ));
            let err = fails(db, "alice", &["read", &id], 1);
            assert!(err.starts_with("error: decryption failed"), "{err}");
            assert!(
                err.contains("(after warnings: a record batch failed verification"),
                "the warning is part of the error line: {err}"
            );
            assert!(!err.contains("Ada"), "{err}");
            // With -v the same warning is logged as it happens, on a line of
            // its own before the error.
            let out = run(db, "alice", &["-v", "read", &id]);
            let stderr = String::from_utf8(out.stderr).unwrap();
            let lines: Vec<&str> = stderr.lines().collect();
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains("WARN") && l.contains("a record batch failed verification")),
                "{stderr}"
            );
            assert!(
                lines
                    .last()
                    .unwrap()
                    .starts_with("error: decryption failed"),
                "{stderr}"
            );
        },
    );
}

#[test]
fn importing_a_sqlite_table_is_idempotent_and_verified() {
    let db = TestDb::sqlite();
    let source = sqlite_source(&db, 120);
    ok(&db, "importer", &["init"]);
    let from = format!("sqlite://{}", source.display());
    let args = [
        "import",
        "--from",
        &from,
        "--table",
        "people",
        "--id-column",
        "id",
        "--sensitive",
        "name,ssn",
        "--plain",
        "city",
        "--type",
        "person",
        "--batch",
        "50",
        "--verify",
    ];
    let before = std::fs::read(&source).unwrap();
    let out = ok(&db, "importer", &args);
    assert!(out.contains("\"ok\":true"), "{out}");
    let again = run_json(&db, &args);
    assert_eq!(
        (
            again["imported"].as_u64(),
            again["already_imported"].as_u64()
        ),
        (Some(0), Some(120))
    );
    assert_eq!(
        std::fs::read(&source).unwrap(),
        before,
        "the source is never modified"
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 120);
    let listed = json_lines(&ok(
        &db,
        "importer",
        &[
            "ls",
            "--type",
            "person",
            "-p",
            "city=city 1",
            "--data",
            "--limit",
            "500",
        ],
    ));
    assert_eq!(listed.len(), 30);
}

fn run_json(db: &TestDb, args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.retain(|a| *a != "--verify");
    args.push("--json");
    serde_json::from_str(&last_line(&ok(db, "importer", &args))).unwrap()
}

#[test]
fn a_postgres_import_killed_midway_resumes_to_exactly_every_row() {
    let Some(db) =
        common::postgres_db("a_postgres_import_killed_midway_resumes_to_exactly_every_row")
    else {
        return;
    };
    const ROWS: i64 = 50_000;
    db.sql("CREATE TABLE legacy_patients (id BIGINT PRIMARY KEY, name TEXT NOT NULL, ssn TEXT, clinic TEXT)");
    db.sql(&format!(
        "INSERT INTO legacy_patients SELECT g, 'patient ' || g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'ssn-' || g END, \
         'clinic ' || (g % 5) FROM generate_series(1, {ROWS}) g"
    ));
    ok(&db, "importer", &["init"]);
    let args = [
        "import",
        "--from",
        &db.url,
        "--table",
        "legacy_patients",
        "--id-column",
        "id",
        "--sensitive",
        "name,ssn",
        "--plain",
        "clinic",
        "--type",
        "patient",
        "--batch",
        "500",
    ];
    // Start the import and kill it (SIGKILL) once some batches are in.
    let mut child = Command::new(bin())
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile("importer"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let done = db.count("SELECT COUNT(*) AS n FROM import_map");
        if done >= 2_000 {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 300,
            "the import made no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = db.count("SELECT COUNT(*) AS n FROM import_map");
    assert!(
        partial > 0 && partial < ROWS,
        "killed midway: {partial} rows in"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM records"),
        partial,
        "nothing half-written"
    );

    let out = ok(&db, "importer", &[&args[..], &["--json"]].concat());
    let summary: serde_json::Value = serde_json::from_str(&last_line(&out)).unwrap();
    assert_eq!(summary["imported"].as_i64(), Some(ROWS - partial));
    assert_eq!(summary["imported_total"].as_i64(), Some(ROWS));
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), ROWS);
    assert_eq!(
        db.count("SELECT COUNT(DISTINCT source_id) AS n FROM import_map"),
        ROWS
    );
    let verified = ok(
        &db,
        "importer",
        &[&args[..], &["--verify", "--json"]].concat(),
    );
    assert!(
        verified.contains("\"ok\":true") && verified.contains(&format!("\"verified\":{ROWS}")),
        "{verified}"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM legacy_patients"),
        ROWS,
        "the source is untouched"
    );
}
