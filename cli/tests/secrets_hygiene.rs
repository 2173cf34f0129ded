//! Secrets hygiene through the binary (issue 19, point 4): the whole
//! workflow — init sealed under a passphrase, write (inline, `@file` and
//! `--json`), share, read, `ls` filtered on a plain value, file put and get,
//! import from an SQLite source, revoke with re-wrap, rotate with re-wrap —
//! and commands failing on purpose (a wrong passphrase, a stale version, a
//! read never shared or revoked, a tampered row, malformed `-f`, `-p` and
//! `--json`, an oversized value), every one at `-vv` with `RUST_LOG=trace`;
//! no stderr, of a command that succeeded or failed, holds a plaintext
//! marker, a plain value, the passphrase, a secret key, an access key, or a
//! stored envelope, wrapped key or file chunk (see `tests/hygiene`). Stdout
//! does hold decrypted values (`read`, `file get --out -`): it is not
//! checked, except that it shows the workflow ran. On SQLite and
//! PostgreSQL.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/hygiene/mod.rs"]
mod hygiene;
mod support;

use std::process::{Command, Output};

use common::{each_backend, TestDb};
use hygiene::{harvest, profile_secrets, Secrets};
use support::{bin, last_line};

const PASSPHRASE: &str = "cli-hygiene-passphrase-battery-staple-91";

/// Every command's stderr, named by its arguments.
#[derive(Default)]
struct Stderrs(Vec<(String, String)>);

impl Stderrs {
    /// Runs `strongroom -vv` as `profile` (alice's is sealed under
    /// [`PASSPHRASE`], given through `--passphrase-env`; Argon2id takes a
    /// while, so the others are not) with
    /// `RUST_LOG=trace`; keeps stderr.
    fn run(&mut self, db: &TestDb, profile: &str, args: &[&str]) -> Output {
        self.run_with(db, profile, PASSPHRASE, args)
    }

    fn run_with(&mut self, db: &TestDb, profile: &str, passphrase: &str, args: &[&str]) -> Output {
        let mut command = Command::new(bin());
        command
            .current_dir(db.dir.path())
            .args(["--db", &db.url, "--profile"])
            .arg(db.profile(profile));
        if profile == "alice" {
            command.args(["--passphrase-env", "HYGIENE_PASSPHRASE"]);
        }
        let out = command
            .arg("-vv")
            .args(args)
            .env("HYGIENE_PASSPHRASE", passphrase)
            .env("RUST_LOG", "trace")
            .output()
            .expect("run strongroom");
        self.0.push((
            format!("{profile} {args:?}"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
        out
    }

    /// Runs and expects success; returns stdout.
    fn ok(&mut self, db: &TestDb, profile: &str, args: &[&str]) -> String {
        let out = self.run(db, profile, args);
        assert!(
            out.status.success(),
            "{profile} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure with an `error:` line.
    fn fails(&mut self, db: &TestDb, profile: &str, args: &[&str]) {
        let out = self.run(db, profile, args);
        self.failed(profile, args, out);
    }

    fn failed(&mut self, profile: &str, args: &[&str], out: Output) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{profile} {args:?} succeeded");
        assert!(stderr.contains("error"), "{profile} {args:?}: {stderr}");
    }
}

/// A SQLite source table of rows holding `marker`.
fn source(db: &TestDb, marker: &str) -> std::path::PathBuf {
    use diesel::{Connection, RunQueryDsl};
    let path = db.dir.path().join("legacy.db");
    let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, ssn TEXT, city TEXT)",
    )
    .execute(&mut conn)
    .unwrap();
    for i in 0..5 {
        diesel::sql_query(format!(
            "INSERT INTO people VALUES ({i}, '{marker}-name-{i}', '{marker}-ssn-{i}', '{marker}-city')"
        ))
        .execute(&mut conn)
        .unwrap();
    }
    path
}

#[test]
fn no_marker_passphrase_key_or_ciphertext_on_stderr() {
    each_backend("no_marker_passphrase_key_or_ciphertext_on_stderr", |db| {
        let tag = format!("{:?}-{}", db.backend, uuid::Uuid::new_v4().simple());
        let text = format!("clihyg-text-{tag}");
        let from_file = format!("clihyg-file-field-{tag}");
        let json = format!("clihyg-json-{tag}");
        let body_marker = format!("clihyg-body-{tag}");
        let import = format!("clihyg-import-{tag}");
        let plain = format!("clihyg-plain-{tag}");
        let mut run = Stderrs::default();

        let alice = last_line(&run.ok(db, "alice", &["init", "--name", "alice"]));
        let bob = last_line(&run.ok(db, "bob", &["init", "--name", "bob"]));
        let _carol = last_line(&run.ok(db, "carol", &["init", "--name", "carol"]));
        let whoami = run.ok(db, "alice", &["whoami"]);
        assert!(whoami.contains("sealed: yes"), "alice's profile is sealed");
        assert_eq!(last_line(&whoami), alice);

        // Write: inline, from a file, as JSON; a plain value.
        let dir = db.dir.path();
        std::fs::write(dir.join("field.txt"), &from_file).unwrap();
        std::fs::write(
            dir.join("fields.json"),
            serde_json::json!({ "doc": { "nested": [json.clone()] }, "n": 1 }).to_string(),
        )
        .unwrap();
        let inline = format!("note={text}");
        let plain_arg = format!("clinic={plain}");
        let first = last_line(&run.ok(
            db,
            "alice",
            &[
                "write",
                "note",
                "-f",
                &inline,
                "-f",
                "extra=@field.txt",
                "-p",
                &plain_arg,
            ],
        ));
        let second = last_line(&run.ok(
            db,
            "alice",
            &["write", "note", "--json", "fields.json", "-p", &plain_arg],
        ));

        // A file of two chunks and more.
        let body: Vec<u8> = body_marker.bytes().cycle().take(70_000).collect();
        std::fs::write(dir.join("scan.bin"), &body).unwrap();
        let scan = last_line(&run.ok(
            db,
            "alice",
            &[
                "file", "put", "scan.bin", "--type", "scan", "-p", &plain_arg,
            ],
        ));

        // Import from an SQLite source.
        let legacy = source(db, &import);
        let from = format!("sqlite://{}", legacy.display());
        run.ok(
            db,
            "alice",
            &[
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
            ],
        );
        run.ok(
            db,
            "alice",
            &[
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
                "--verify",
            ],
        );

        // Share; the reader reads, lists by the plain value and gets the
        // file.
        for record_type in ["note", "scan", "person"] {
            run.ok(db, "alice", &["share", record_type, "--with", &bob]);
        }
        assert!(run.ok(db, "bob", &["read", &first]).contains(&text));
        assert!(run.ok(db, "bob", &["read", &second]).contains(&json));
        let filter = format!("clinic={plain}");
        let listed = run.ok(
            db,
            "bob",
            &["ls", "--type", "note", "--all-writers", "-p", &filter],
        );
        assert_eq!(listed.lines().count(), 2, "{listed}");
        let got = run.run(db, "bob", &["file", "get", &scan, "--out", "-"]);
        assert!(got.status.success());
        assert_eq!(got.stdout, body);
        run.ok(db, "bob", &["file", "get", &scan, "--out", "scan-copy.bin"]);
        assert_eq!(std::fs::read(dir.join("scan-copy.bin")).unwrap(), body);
        run.ok(
            db,
            "alice",
            &["update", &first, "--version", "1", "-f", &inline],
        );

        // What the database holds before the re-wraps.
        let mut secrets = Secrets::default();
        for (label, marker) in [
            ("text marker", &text),
            ("file field marker", &from_file),
            ("JSON marker", &json),
            ("file body marker", &body_marker),
            ("import marker", &import),
            ("plain meta marker", &plain),
        ] {
            secrets.literal(label, marker);
        }
        secrets.literal("passphrase", PASSPHRASE);
        let profiles: Vec<strongroom::Profile> = [
            ("alice", Some(PASSPHRASE)),
            ("bob", Some(PASSPHRASE)),
            ("carol", Some(PASSPHRASE)),
        ]
        .iter()
        .map(|(name, pass)| strongroom::Profile::load(db.profile(name), *pass).unwrap())
        .collect();
        for (name, profile) in ["alice", "bob", "carol"].iter().zip(&profiles) {
            profile_secrets(name, profile, &mut secrets);
        }
        let clients: Vec<&strongroom::Profile> = profiles.iter().collect();
        harvest(db, &clients, &mut secrets);

        // Revoke with re-wrap, rotate with re-wrap; the revoked reader fails.
        run.ok(db, "alice", &["revoke", "note", "--from", &bob, "--rewrap"]);
        run.fails(db, "bob", &["read", &first]);
        run.ok(db, "alice", &["revoke", "scan", "--from", &bob]);
        run.ok(db, "alice", &["rotate", "scan", "--rewrap"]);
        run.fails(db, "bob", &["file", "get", &scan, "--out", "-"]);
        run.ok(db, "alice", &["rotate", "person", "--rewrap"]);

        // Failures on purpose.
        let out = run.run_with(
            db,
            "alice",
            "cli-hygiene-wrong-passphrase",
            &["read", &first],
        );
        run.failed("alice", &["read (wrong passphrase)"], out);
        run.fails(
            db,
            "alice",
            &["update", &first, "--version", "1", "-f", &inline],
        );
        run.fails(db, "carol", &["read", &first]);
        run.fails(db, "carol", &["file", "get", &scan, "--out", "-"]);
        run.fails(db, "alice", &["write", "note", "-f", &text]);
        run.fails(db, "alice", &["write", "note", "-f", &inline, "-p", &plain]);
        std::fs::write(dir.join("broken.json"), format!("{{\"note\": \"{json}\"")).unwrap();
        run.fails(db, "alice", &["write", "note", "--json", "broken.json"]);
        std::fs::write(dir.join("array.json"), format!("[\"{json}\"]")).unwrap();
        run.fails(db, "alice", &["write", "note", "--json", "array.json"]);
        let big = format!("note={}", text.repeat(100));
        run.fails(
            db,
            "alice",
            &["--max-field-size", "1000", "write", "note", "-f", &big],
        );
        run.fails(db, "alice", &["read", "not-a-record-id"]);
        // A tampered row, and a tampered chunk.
        db.sql(&format!(
            "UPDATE records SET sealed_fields = {} WHERE record_id = {}",
            db.blob(&[1, 0, 4, b'n', b'o', b't', b'e', 0xFF, 0xFF, 0xFF, 0xFF, 0]),
            db.id(&second)
        ));
        run.fails(db, "alice", &["read", &second]);
        let listed = run.ok(db, "alice", &["ls", "--type", "note"]);
        assert_eq!(listed.lines().count(), 1, "{listed}");
        db.sql(&format!(
            "UPDATE file_chunks SET chunk = {} WHERE record_id = {} AND seq = 1",
            db.blob(&[7u8; 64]),
            db.id(&scan)
        ));
        run.fails(db, "alice", &["file", "get", &scan, "--out", "-"]);
        run.fails(
            db,
            "alice",
            &["file", "get", &scan, "--out", "scan-again.bin"],
        );
        assert!(!dir.join("scan-again.bin").exists());

        // And what the database holds at the end.
        harvest(db, &clients, &mut secrets);

        // The logs were there to look at: every command said something at
        // trace level.
        let traced = run.0.iter().filter(|(_, e)| e.contains("close")).count();
        assert!(
            traced * 2 > run.0.len(),
            "{traced} of {} logged spans",
            run.0.len()
        );
        assert!(
            run.0
                .iter()
                .any(|(_, e)| e.contains("revoke_and_rewrap") || e.contains("revoke")),
            "no revoke span"
        );
        secrets.assert_absent(run.0.iter().map(|(what, e)| (what.as_str(), e.as_str())));
    });
}
