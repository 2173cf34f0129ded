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

/// `update` writes back the fields it is not given as they were stored: a
/// program's `u128` stays exact (not a float), and a padded field keeps
/// its padding (its sealed size does not give away that it is unset).
#[test]
fn update_writes_back_the_fields_it_is_not_given_byte_for_byte() {
    each_backend(
        "update_writes_back_the_fields_it_is_not_given_byte_for_byte",
        |db| {
            ok(db, "alice", &["init"]);
            let open = || strongroom::Client::open_or_create(db.profile("alice"), &db.store());
            let fields = strongroom::Fields::new()
                .with("name", "Ada")
                .unwrap()
                .with("big", &u128::MAX)
                .unwrap()
                .with_padded("referrer", &None::<String>, 64)
                .unwrap();
            let id = open()
                .unwrap()
                .put("patient", &fields, &strongroom::Plain::new())
                .unwrap()
                .id;
            let sealed_len = || db.sealed_fields_len(id);
            let before = sealed_len();

            // A name of the same length: the sealed size may not change.
            ok(
                db,
                "alice",
                &[
                    "update",
                    &id.to_string(),
                    "--version",
                    "1",
                    "-f",
                    "name=Bea",
                ],
            );
            let record = open().unwrap().get(id).unwrap();
            assert_eq!(record.version(), 2);
            assert_eq!(record.field::<String>("name").unwrap(), "Bea");
            assert_eq!(record.field::<u128>("big").unwrap(), u128::MAX);
            assert_eq!(record.field::<Option<String>>("referrer").unwrap(), None);
            assert_eq!(sealed_len(), before, "the padding was kept");

            // A padded field given is padded again: set, it keeps the size
            // it had unset.
            ok(
                db,
                "alice",
                &[
                    "update",
                    &id.to_string(),
                    "--version",
                    "2",
                    "-f",
                    "referrer=Dr Who",
                ],
            );
            assert_eq!(sealed_len(), before, "the given field was padded");
            let record = open().unwrap().get(id).unwrap();
            assert_eq!(
                record
                    .field::<Option<String>>("referrer")
                    .unwrap()
                    .as_deref(),
                Some("Dr Who")
            );

            // `read` and `ls --data` print the u128 exactly, one record a
            // line, the padding gone.
            let exact = u128::MAX.to_string();
            for out in [
                ok(db, "alice", &["read", &id.to_string()]),
                ok(db, "alice", &["ls", "--data"]),
            ] {
                assert_eq!(out.lines().count(), 1, "{out}");
                assert!(out.contains(&format!("\"big\":{exact},")), "{out}");
                assert!(out.contains("\"referrer\":\"Dr Who\"}"), "{out}");
                let line: serde_json::Value = serde_json::from_str(&out).unwrap();
                assert_eq!(line["data"]["name"], "Bea");
                assert_eq!(line["meta"]["version"], 3);
            }
        },
    );
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

/// From an adversarial review of the command line, each on both backends
/// where the backend matters.
mod review {
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    /// README: a mistyped database must not start an empty one. A
    /// database without the schema (here: a fresh PostgreSQL database, or
    /// an empty SQLite file) is refused by every command but `init` and
    /// `migrate`, and gets no table.
    #[test]
    fn a_database_without_the_schema_is_refused_and_left_alone() {
        each_backend(
            "a_database_without_the_schema_is_refused_and_left_alone",
            |db| {
                if let Some(path) = db.sqlite_path() {
                    std::fs::write(&path, b"").unwrap();
                }
                let err = fails(db, "alice", &["ls"], 1);
                assert!(err.contains("no strongroom database"), "{err}");
                let tables = match db.sqlite_path() {
                    Some(_) => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'",
                    None => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema()",
                };
                assert_eq!(db.count(tables), 0, "no table was created");
                ok(db, "alice", &["init"]);
                ok(db, "alice", &["ls"]);
            },
        );
    }

    /// README: "a mistyped URL starts nothing". An SQLite file that is not
    /// a strongroom database (an empty file, another application's
    /// database in rollback-journal mode) is refused, or only listed by
    /// `migrate --status`, and left byte for byte as it was: no page size,
    /// no WAL mode, no table.
    #[test]
    fn a_refused_command_leaves_an_sqlite_file_byte_for_byte_as_it_was() {
        let db = TestDb::sqlite();
        let path = db.sqlite_path().unwrap();
        let wal = path.with_extension("db-wal");
        std::fs::write(&path, b"").unwrap();
        fails(&db, "alice", &["ls"], 1);
        ok(&db, "alice", &["migrate", "--status"]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "still empty");
        db.sql("CREATE TABLE app (x INTEGER)");
        db.sql("INSERT INTO app VALUES (1)");
        // Another application's diesel migrations are not strongroom's.
        db.sql("CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)");
        db.sql("INSERT INTO __diesel_schema_migrations (version) VALUES ('20240101000000')");
        let before = std::fs::read(&path).unwrap();
        let err = fails(&db, "alice", &["ls"], 1);
        assert!(err.contains("no strongroom database"), "{err}");
        let status = ok(&db, "alice", &["migrate", "--status"]);
        assert!(status.contains("pending"), "{status}");
        assert!(!status.contains("applied"), "{status}");
        assert!(std::fs::read(&path).unwrap() == before, "the file changed");
        assert!(!wal.exists(), "the file was put in WAL mode");
        // `init` makes it a strongroom database, in WAL mode.
        ok(&db, "alice", &["init"]);
        ok(&db, "alice", &["ls"]);
        assert_eq!(
            db.texts("SELECT journal_mode AS t FROM pragma_journal_mode"),
            ["wal"]
        );
    }

    /// README: 2 on usage errors, whatever the state of the database and
    /// profile: a malformed id or fingerprint is named before either is
    /// opened (here there is neither).
    #[test]
    fn a_malformed_id_is_a_usage_error_before_anything_is_opened() {
        let db = TestDb::sqlite();
        for args in [
            &["read", "garbage"][..],
            &["delete", "garbage", "--version", "1"],
            &["share", "t", "--with", "garbage"],
            &["revoke", "t", "--from", "garbage"],
            &["authorize", "t", "--to", "garbage"],
            &["unauthorize", "t", "--from", "garbage"],
            &["pin", "garbage", "--fingerprint", "123"],
        ] {
            let err = fails(&db, "nobody", args, 2);
            assert!(err.contains("`garbage` is not a"), "{args:?}: {err}");
        }
    }

    /// A failed `init` (the profile exists) creates no database.
    #[test]
    fn a_failed_init_creates_no_database() {
        let db = TestDb::sqlite();
        ok(&db, "alice", &["init"]);
        let elsewhere = db.dir.path().join("typo.db");
        let out = Command::new(bin())
            .args([
                "--db",
                &format!("sqlite://{}", elsewhere.display()),
                "--profile",
            ])
            .arg(db.profile("alice"))
            .arg("init")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(
            !elsewhere.exists(),
            "a failed init made {}",
            elsewhere.display()
        );
    }

    /// Secrets never reach stderr: a passphrase variable that is not UTF-8
    /// is named, not printed; `--help` does not show `STRONGROOM_DB`'s
    /// value (it may hold a password).
    #[test]
    fn no_secret_reaches_stderr_or_help() {
        let db = TestDb::sqlite();
        let out = Command::new(bin())
            .args(["--db", &db.url, "--profile"])
            .arg(db.profile("alice"))
            .args(["--passphrase-env", "BAD_PASSPHRASE", "init"])
            .env(
                "BAD_PASSPHRASE",
                std::ffi::OsStr::from_bytes(b"MySecretPass\xff"),
            )
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("not valid UTF-8"), "{stderr}");
        assert!(!stderr.contains("MySecret"), "{stderr}");
        let help = Command::new(bin())
            .arg("--help")
            .env("STRONGROOM_DB", "postgres://app:S3cretPw@db/app")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(help.status.success());
        assert!(!text.contains("S3cretPw"), "{text}");
    }

    /// `RUST_LOG` set but empty is as if unset: warnings still show.
    #[test]
    fn an_empty_rust_log_still_shows_warnings() {
        let db = TestDb::sqlite();
        let out = Command::new(bin())
            .args(["--db", &db.url, "--profile"])
            .arg(db.profile("alice"))
            .arg("init")
            .env("RUST_LOG", "")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("not sealed under a passphrase"), "{stderr}");
    }

    /// Only one argument reads stdin: `--json -` with `-f NAME=-` is a
    /// usage error, not a field silently left empty.
    #[test]
    fn json_and_a_field_from_stdin_is_a_usage_error() {
        let db = TestDb::sqlite();
        ok(&db, "alice", &["init"]);
        let err = fails(&db, "alice", &["write", "t", "--json", "-", "-f", "x=-"], 2);
        assert!(err.contains("only one of --json - and -f NAME=-"), "{err}");
    }

    /// `rotate` of a type this client holds no key of is an error (a
    /// mistyped type after a restore must not pass for a rotation).
    #[test]
    fn rotating_a_type_without_a_key_is_an_error() {
        let db = TestDb::sqlite();
        ok(&db, "alice", &["init"]);
        let err = fails(&db, "alice", &["rotate", "nosuchtype"], 1);
        assert!(err.contains("nothing to rotate"), "{err}");
    }

    /// So is `rewrap` of such a type, with nothing on standard output (a
    /// script finishing an interrupted re-wrap with a typo must not see
    /// it succeed); a type it writes, with nothing left to re-wrap, is not.
    /// `leakage` of a type with no record and no index is an error too.
    #[test]
    fn rewrapping_a_type_without_a_key_is_an_error() {
        let db = TestDb::sqlite();
        ok(&db, "alice", &["init"]);
        ok(&db, "alice", &["write", "note", "-f", "text=hi"]);
        let out = run(&db, "alice", &["rewrap", "nosuchtype"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("nothing to re-wrap"), "{stderr}");
        assert!(out.stdout.is_empty());
        let done = ok(&db, "alice", &["rewrap", "note"]);
        assert!(done.contains(r#""rewrapped":0"#), "{done}");
        // `leakage` too: a type with no record and no index is an error.
        let err = fails(&db, "alice", &["leakage", "nosuchtype"], 1);
        assert!(err.contains("nothing to report"), "{err}");
        let report = ok(&db, "alice", &["leakage", "note"]);
        assert!(report.contains("text"), "{report}");
    }

    /// `file get --force` replaces a regular file only: a symbolic link
    /// (or a device, or a pipe) at `--out` is refused and left as it was.
    #[test]
    fn file_get_force_replaces_only_a_regular_file() {
        let db = TestDb::sqlite();
        ok(&db, "alice", &["init"]);
        let body = db.dir.path().join("body.bin");
        std::fs::write(&body, b"secret scan").unwrap();
        let id = last_line(&ok(
            &db,
            "alice",
            &["file", "put", body.to_str().unwrap(), "--type", "scan"],
        ));
        let target = db.dir.path().join("target.txt");
        std::fs::write(&target, b"keep me").unwrap();
        let link = db.dir.path().join("link.txt");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = fails(
            &db,
            "alice",
            &[
                "file",
                "get",
                &id,
                "--out",
                link.to_str().unwrap(),
                "--force",
            ],
            1,
        );
        assert!(err.contains("not a regular file"), "{err}");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
        // A regular file is replaced.
        ok(
            &db,
            "alice",
            &[
                "file",
                "get",
                &id,
                "--out",
                target.to_str().unwrap(),
                "--force",
            ],
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"secret scan");
    }
}
