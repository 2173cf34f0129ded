//! The README's command-line promises no other test asserted, the
//! README's shell session run as shown among them.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::path::Path;
use std::process::Command;

use support::bin;

/// The ```sh block of README.md that follows the line holding `marker`.
fn readme_sh_block(marker: &str) -> String {
    let readme = include_str!("../../README.md");
    let at = readme.find(marker).expect("marker in README");
    let rest = &readme[at..];
    let start = rest.find("```sh\n").expect("a sh block after the marker") + 6;
    let end = rest[start..].find("```").unwrap();
    rest[start..start + end].to_owned()
}

/// README, "Command line": "A session to paste, in an empty folder", and
/// the files session "In the same session", run by bash exactly as shown
/// (strict mode: every command the session does not guard must succeed),
/// with the `strongroom` under test first on PATH.
#[test]
fn the_readme_session_runs_as_shown() {
    let dir = tempfile::tempdir().unwrap();
    let session = readme_sh_block("A session to paste");
    let files = readme_sh_block("the same session:");
    let script = format!(
        "set -euo pipefail\n{session}\necho '--- files'\n{files}\n\
         sha256sum < scan.bin\n"
    );
    std::fs::write(dir.path().join("session.sh"), &script).unwrap();
    let bin_dir = Path::new(&bin()).parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("session.sh")
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("STRONGROOM_DB")
        .env_remove("STRONGROOM_PROFILE")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // `alice update "$id" --version 1 -f name=stale || echo "stale version: exit $?"`
    assert!(stdout.contains("stale version: exit 1"), "{stdout}");
    // `bob read "$id" || echo "revoked: exit $?"`
    assert!(stdout.contains("revoked: exit 1"), "{stdout}");
    // `alice read "$id"   # {"data":{...},"meta":{...}}`
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["data"]["name"], "Ada Lovelace", "{stdout}");
    // `alice ls --type patient --where nid=1815-12-10  # Ada, found by a blind index`
    let found: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["meta"]["record_type"] == "patient")
        .collect();
    assert!(!found.is_empty(), "{stdout}");
    // `file get --out - | sha256sum` equals the source's digest.
    let sums: Vec<&str> = stdout.lines().filter(|l| l.ends_with("  -")).collect();
    assert_eq!(sums.len(), 2, "{stdout}");
    assert_eq!(sums[0], sums[1], "the body through stdout is the source");
    // `file ls --type scan  # {"meta": {..., "file_size": 5000000}}`
    assert!(stdout.contains("\"file_size\":5000000"), "{stdout}");
}

/// README: `--adopt-database` "on any command that opens it as the client:
/// not `init`, `whoami`, `profile` or `migrate`"; OPERATIONS: "`init`,
/// `whoami`, `profile` and `migrate` refuse the flag, exit status 2".
/// The existing test covers whoami, migrate and profile, not init.
#[test]
fn adopt_database_with_init_is_a_usage_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let profile = dir.path().join("a.profile");
    let out = Command::new(bin())
        .arg("--db")
        .arg(format!("sqlite://{}", db.display()))
        .arg("--profile")
        .arg(&profile)
        .args(["--adopt-database", "init", "--name", "a"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!profile.exists(), "no profile");
    assert!(!db.exists(), "no database");
}

/// README: "`whoami` and `profile passwd` read only the profile": with a
/// `--db` that names no database, they work and create nothing.
#[test]
fn whoami_and_passwd_never_touch_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.db");
    let profile = dir.path().join("a.profile");
    let run = |db: &Path, args: &[&str]| {
        Command::new(bin())
            .arg("--db")
            .arg(format!("sqlite://{}", db.display()))
            .arg("--profile")
            .arg(&profile)
            .args(args)
            .env_remove("RUST_LOG")
            .env("NEWPASS", "a new passphrase")
            .output()
            .unwrap()
    };
    let out = run(&real, &["init", "--name", "a"]);
    assert!(out.status.success(), "{out:?}");
    let missing = dir.path().join("typo.db");
    let out = run(&missing, &["whoami"]);
    assert!(out.status.success(), "{out:?}");
    let out = run(
        &missing,
        &["profile", "passwd", "--new-passphrase-env", "NEWPASS"],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!missing.exists(), "whoami/passwd created the database");
}
