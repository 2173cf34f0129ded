//! Rough edges a new user of the command line meets: each test states
//! the behaviour the docs or the CLI's own rules lead a user to expect.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use common::TestDb;
use support::{fails, json_lines, last_line, ok, run};

fn alice() -> TestDb {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init", "--name", "alice"]);
    db
}

/// `-f a=1 -f a=2` is a usage error because "the later value would silently
/// win"; `--json` with a member named twice is the same mistake, refused
/// the same way.
#[test]
fn a_json_member_named_twice_is_a_usage_error_as_a_twice_named_f_is() {
    let db = alice();
    let json = db.dir.path().join("twice.json");
    std::fs::write(&json, r#"{"ssn": "078-05-1120", "ssn": "999-99-9999"}"#).unwrap();
    fails(
        &db,
        "alice",
        &["write", "patient", "-f", "ssn=1", "-f", "ssn=2"],
        2,
    );
    let out = run(
        &db,
        "alice",
        &["write", "patient", "--json", json.to_str().unwrap()],
    );
    let stored = if out.status.success() {
        let id = last_line(&String::from_utf8(out.stdout.clone()).unwrap());
        json_lines(&ok(&db, "alice", &["read", &id]))[0]["data"]["ssn"].to_string()
    } else {
        String::new()
    };
    assert_eq!(
        out.status.code(),
        Some(2),
        "--json naming `ssn` twice was accepted; stored ssn = {stored}"
    );
}

/// The same field from `--json` and from `-f` (one would silently win) is
/// a usage error.
#[test]
fn a_field_named_by_both_json_and_f_is_a_usage_error() {
    let db = alice();
    let json = db.dir.path().join("one.json");
    std::fs::write(&json, r#"{"ssn": "from-json"}"#).unwrap();
    let out = run(
        &db,
        "alice",
        &[
            "write",
            "patient",
            "--json",
            json.to_str().unwrap(),
            "-f",
            "ssn=from-f",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "accepted: -f silently replaced the --json member"
    );
}

/// `import` refuses a column named both `--sensitive` and `--plain` ("a
/// column named twice could land in the clear as plain meta"); `write`
/// refuses the same name as a sealed field and a plain entry too.
#[test]
fn a_name_given_as_both_a_sealed_field_and_plain_meta_is_refused() {
    let db = alice();
    let out = run(
        &db,
        "alice",
        &[
            "write",
            "patient",
            "-f",
            "ssn=078-05-1120",
            "-p",
            "ssn=078-05-1120",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "accepted: `ssn` is stored sealed and in the clear: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// "one line `error: …` on stderr": the line a user reads after restoring a
/// backup holds no Rust Debug syntax (`Some(1)`) from the library warning
/// folded into it.
#[test]
fn the_rollback_error_line_holds_no_rust_debug_syntax() {
    let db = alice();
    ok(&db, "alice", &["write", "lab", "-f", "result=ok"]);
    let file = db.sqlite_path().unwrap();
    let backup = db.dir.path().join("backup.db");
    std::fs::copy(&file, &backup).unwrap();
    ok(&db, "alice", &["rotate", "lab"]);
    std::fs::copy(&backup, &file).unwrap();
    let stderr = fails(&db, "alice", &["write", "lab", "-f", "result=after"], 1);
    assert!(!stderr.contains("Some("), "{stderr}");
}

/// The same for a profile copy that never wrote to this database
/// (OPERATIONS.md: "refuses to write there (`DatabaseIdentityChanged`)"):
/// no `Some(DatabaseId(…))` in its line.
#[test]
fn the_unknown_database_error_line_holds_no_rust_debug_syntax() {
    let db = alice();
    let profile = db.profile("alice");
    let copy = db.dir.path().join("alice.profile.copy");
    std::fs::copy(&profile, &copy).unwrap();
    // A second database the live profile writes to; then the older copy.
    let second = TestDb::sqlite();
    let second_url = second.url.clone();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![
            "--db".into(),
            second_url.clone(),
            "--profile".into(),
            profile.display().to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let status = std::process::Command::new(support::bin())
        .args(args(&["migrate"]))
        .output()
        .unwrap();
    assert!(status.status.success());
    let status = std::process::Command::new(support::bin())
        .args(args(&["write", "t", "-f", "a=1"]))
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    std::fs::copy(&copy, &profile).unwrap();
    let out = std::process::Command::new(support::bin())
        .args(args(&["write", "t", "-f", "a=2"]))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.contains("Some(") && !stderr.contains("DatabaseId("),
        "{stderr}"
    );
}

/// `share --with`, `revoke --from`, `authorize --to`: `authorize TYPE
/// --with ID` (as for `share`) works too, instead of clap's wrong tip.
#[test]
fn authorize_with_points_to_the_flag_it_takes() {
    let db = alice();
    let bob = last_line(&ok(&db, "bob", &["init", "--name", "bob"]));
    let out = run(&db, "alice", &["authorize", "patient", "--with", &bob]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
}

/// `read` of a file record prints its meta and an empty `data`, and says
/// on stderr how its body is read (`file get`), not as if it were empty.
#[test]
fn reading_a_file_record_says_how_its_body_is_read() {
    let db = alice();
    let body = db.dir.path().join("scan.bin");
    std::fs::write(&body, b"body").unwrap();
    let id = last_line(&ok(
        &db,
        "alice",
        &["file", "put", body.to_str().unwrap(), "--type", "scan"],
    ));
    let out = run(&db, "alice", &["read", &id]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("strongroom file get {id} --out PATH")),
        "{stderr}"
    );
}

/// With the profile in place, a missing database is made with `migrate`
/// (`init` would refuse the existing profile): the error says so.
#[test]
fn a_missing_database_with_an_existing_profile_points_to_migrate() {
    let db = alice();
    let missing = format!("sqlite://{}", db.dir.path().join("other.db").display());
    let out = std::process::Command::new(support::bin())
        .args(["--db", &missing, "--profile"])
        .arg(db.profile("alice"))
        .args(["ls", "--type", "patient"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("strongroom migrate"), "{stderr}");
    assert!(!stderr.contains("strongroom init"), "{stderr}");
}

/// `file get --out` into a folder that does not exist names the folder,
/// before anything is decrypted (not a temporary file's path).
#[test]
fn file_get_into_a_missing_folder_names_the_folder() {
    let db = alice();
    let body = db.dir.path().join("scan.bin");
    std::fs::write(&body, b"body").unwrap();
    let id = last_line(&ok(
        &db,
        "alice",
        &["file", "put", body.to_str().unwrap(), "--type", "scan"],
    ));
    let target = db.dir.path().join("no-such-dir").join("x.bin");
    let stderr = fails(
        &db,
        "alice",
        &["file", "get", &id, "--out", target.to_str().unwrap()],
        1,
    );
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!stderr.contains(".part"), "{stderr}");
}
