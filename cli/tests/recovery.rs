//! Recovery through the command line: `recovery create` (a sealed recovery
//! profile covering every type, now and later), `recovery restore` (a lost
//! client's data shared on to its replacement) and `recovery
//! restart-lineage` (the way on after restoring an older database).

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::process::{Command, Output};

use common::{each_backend, TestDb};
use support::{bin, fails, json_lines, last_line, ok};

const RECOVERY_PASSPHRASE: &str = "kept-apart-from-the-file";

/// Runs with the recovery profile at `profile` and its passphrase variable.
fn run_with(db: &TestDb, profile: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(["--db", &db.url, "--profile"])
        .arg(profile)
        .args(args)
        .env("RECOVERY_PP", RECOVERY_PASSPHRASE)
        .env_remove("RUST_LOG")
        .output()
        .expect("run strongroom")
}

/// `recovery create --out OUT` run by the client of `profile`, the
/// recovery profile sealed under [`RECOVERY_PASSPHRASE`].
fn recovery_create(db: &TestDb, profile: &std::path::Path, out: &std::path::Path) -> Output {
    run_with(
        db,
        profile,
        &[
            "recovery",
            "create",
            "--out",
            out.to_str().unwrap(),
            "--recovery-passphrase-env",
            "RECOVERY_PP",
        ],
    )
}

/// `recovery restore --lost LOST --to TO` run with the recovery profile,
/// `extra` arguments after.
fn recovery_restore(
    db: &TestDb,
    recovery_profile: &std::path::Path,
    lost: &str,
    to: &str,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "--passphrase-env",
        "RECOVERY_PP",
        "recovery",
        "restore",
        "--lost",
        lost,
        "--to",
        to,
    ];
    args.extend_from_slice(extra);
    run_with(db, recovery_profile, &args)
}

fn succeeds(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn field(db: &TestDb, profile: &str, id: &str) -> String {
    let record = &json_lines(&ok(db, profile, &["read", id]))[0];
    record["data"]["note"].as_str().unwrap().to_owned()
}

#[test]
fn a_recovery_profile_brings_a_lost_clients_data_to_its_replacement() {
    each_backend(
        "a_recovery_profile_brings_a_lost_clients_data_to_its_replacement",
        |db| {
            let alice = last_line(&ok(db, "alice", &["init"]));
            let before = last_line(&ok(db, "alice", &["write", "note", "-f", "note=before"]));
            let recovery_profile = db.dir.path().join("alice-recovery.profile");
            let out = succeeds(recovery_create(db, &db.profile("alice"), &recovery_profile));
            let recovery_id = last_line(&out);
            let summary = &json_lines(out.lines().next().unwrap())[0];
            assert_eq!(summary["record_types"], serde_json::json!(["note"]));
            assert_eq!(summary["recovery_client"], recovery_id.as_str());
            // Sealed: nothing opens it without the passphrase.
            assert!(matches!(
                strongroom::Profile::load(&recovery_profile, None),
                Err(strongroom::Error::Profile(
                    strongroom::ProfileError::PassphraseRequired { .. }
                ))
            ));
            // A type created afterwards is covered as well.
            let later = last_line(&ok(db, "alice", &["write", "lab", "-f", "note=later"]));

            // The recovery profile trusts only verified peers (SECURITY.md's
            // advice); it pinned alice when it was made.
            succeeds(run_with(
                db,
                &recovery_profile,
                &["--passphrase-env", "RECOVERY_PP", "trust", "verified"],
            ));
            // Alice's profile is lost; her replacement starts afresh.
            std::fs::remove_file(db.profile("alice")).unwrap();
            let replacement = last_line(&ok(db, "alice-2", &["init"]));
            fails(db, "alice-2", &["read", &before], 1);
            let fingerprint = ok(db, "alice-2", &["whoami"])
                .lines()
                .next()
                .unwrap()
                .strip_prefix("fingerprint: ")
                .unwrap()
                .to_owned();
            let out = succeeds(recovery_restore(
                db,
                &recovery_profile,
                &alice,
                &replacement,
                &["--fingerprint", &fingerprint],
            ));
            let mut restored: Vec<String> = json_lines(&out)
                .iter()
                .map(|l| l["restored"].as_str().unwrap().to_owned())
                .collect();
            restored.sort();
            assert_eq!(restored, ["lab", "note"]);
            assert_eq!(field(db, "alice-2", &before), "before");
            assert_eq!(field(db, "alice-2", &later), "later");
        },
    );
}

#[test]
fn recovery_create_without_a_passphrase_is_a_usage_error_and_creates_nothing() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init"]);
    let out = db.dir.path().join("r.profile");
    let err = fails(
        &db,
        "alice",
        &["recovery", "create", "--out", out.to_str().unwrap()],
        2,
    );
    assert!(err.contains("--recovery-passphrase-env"), "{err}");
    assert!(!out.exists());
}

#[test]
fn recovery_restore_by_a_client_that_is_not_the_recovery_client_fails() {
    let db = TestDb::sqlite();
    let alice = last_line(&ok(&db, "alice", &["init"]));
    ok(&db, "alice", &["write", "note", "-f", "note=x"]);
    let bob = last_line(&ok(&db, "bob", &["init"]));
    let err = fails(
        &db,
        "bob",
        &["recovery", "restore", "--lost", &alice, "--to", &bob],
        1,
    );
    assert!(err.contains("not the recovery client"), "{err}");
}

#[test]
fn restart_lineage_is_the_way_on_after_restoring_an_older_database() {
    let db = TestDb::sqlite();
    let path = db.sqlite_path().unwrap();
    let backup = db.dir.path().join("backup.db");
    ok(&db, "alice", &["init"]);
    let bob = last_line(&ok(&db, "bob", &["init"]));
    let carol = last_line(&ok(&db, "carol", &["init"]));
    ok(&db, "alice", &["write", "note", "-f", "note=in the backup"]);
    ok(&db, "alice", &["share", "note", "--with", &bob]);
    ok(&db, "alice", &["share", "note", "--with", &carol]);
    db.sql(&format!("VACUUM INTO '{}'", backup.display()));
    ok(&db, "alice", &["rotate", "note"]);
    // The restore: the backup back in place.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::copy(&backup, &path).unwrap();

    let err = fails(&db, "alice", &["write", "note", "-f", "note=x"], 1);
    assert!(err.contains("older access key"), "{err}");
    assert!(err.contains("restart-lineage"), "{err}");
    let out = ok(
        &db,
        "alice",
        &["recovery", "restart-lineage", "note", "--reader", &bob],
    );
    let line = &json_lines(&out)[0];
    assert_eq!(line["new_key_version"], 3);
    assert_eq!(line["dropped"], serde_json::json!([carol]));
    let id = last_line(&ok(&db, "alice", &["write", "note", "-f", "note=after"]));
    assert_eq!(field(&db, "bob", &id), "after");
    fails(&db, "carol", &["read", &id], 1);
}

/// The operator plants a grant row naming the recovery client for a type
/// the lost client never had (sorted first). `recovery restore` restores
/// every real type, names the planted one in its error, and exits 1.
#[test]
fn a_planted_grant_row_does_not_stop_the_restore_of_the_real_types() {
    each_backend(
        "a_planted_grant_row_does_not_stop_the_restore_of_the_real_types",
        |db| {
            let alice = last_line(&ok(db, "alice", &["init"]));
            let note = last_line(&ok(db, "alice", &["write", "note", "-f", "note=kept"]));
            ok(db, "alice", &["write", "lab", "-f", "note=also"]);
            let recovery_profile = db.dir.path().join("alice-recovery.profile");
            succeeds(recovery_create(db, &db.profile("alice"), &recovery_profile));
            db.sql(
                "INSERT INTO policies (writer_id, record_type, reader_id, kind, granted_by, via, \
                 reader_key, key_version, signature, created_at) \
                 SELECT writer_id, 'aaa_planted', reader_id, kind, granted_by, via, reader_key, \
                 key_version, signature, created_at FROM policies \
                 WHERE record_type = 'note' AND kind = 'authorize'",
            );
            std::fs::remove_file(db.profile("alice")).unwrap();
            let replacement = last_line(&ok(db, "alice-2", &["init"]));
            let out = recovery_restore(db, &recovery_profile, &alice, &replacement, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            let mut restored: Vec<String> = json_lines(&String::from_utf8(out.stdout).unwrap())
                .iter()
                .map(|l| l["restored"].as_str().unwrap().to_owned())
                .collect();
            restored.sort();
            assert_eq!(restored, ["lab", "note"], "{stderr}");
            let error: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with("error: "))
                .collect();
            assert_eq!(error.len(), 1, "{stderr}");
            assert!(
                error[0].contains("restored 2 of 3") && error[0].contains("aaa_planted"),
                "{stderr}"
            );
            assert_eq!(field(db, "alice-2", &note), "kept");
        },
    );
}

/// A second `recovery create` says which recovery client it replaced; the
/// replaced one keeps its grants until it is revoked, which then works.
#[test]
fn a_second_recovery_create_names_the_client_it_replaced() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init"]);
    ok(&db, "alice", &["write", "note", "-f", "note=kept"]);
    let create = |name: &str| {
        let path = db.dir.path().join(name);
        let out = recovery_create(&db, &db.profile("alice"), &path);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (last_line(&succeeds(out)), stderr)
    };
    let (first, stderr) = create("one.profile");
    assert!(!stderr.contains("replaced"), "{stderr}");
    let (second, stderr) = create("two.profile");
    assert_ne!(first, second);
    assert!(
        stderr.contains(&format!("replaced the recovery client {first}")),
        "{stderr}"
    );
    let out = ok(&db, "alice", &["revoke", "note", "--from", &first]);
    assert!(!out.is_empty());
}
