//! The command line's peer verification (fingerprints, pins, trust), the
//! database identity escape hatch, and real processes contending for one
//! profile's lock; on SQLite and PostgreSQL.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use common::{each_backend, TestDb};
use support::{bin, fails, json_lines, last_line, ok, run};

/// `whoami`'s fingerprint line.
fn fingerprint(db: &TestDb, profile: &str) -> String {
    let out = ok(db, profile, &["whoami"]);
    let line = out.lines().next().unwrap();
    line.strip_prefix("fingerprint: ")
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned()
}

#[test]
fn whoami_prints_the_fingerprint_the_sealing_and_then_the_id() {
    each_backend(
        "whoami_prints_the_fingerprint_the_sealing_and_then_the_id",
        |db| {
            let alice = last_line(&ok(db, "alice", &["init"]));
            let out = ok(db, "alice", &["whoami"]);
            assert_eq!(last_line(&out), alice);
            let profile = strongroom::Profile::load(db.profile("alice"), None).unwrap();
            let expected = profile.identity().public().fingerprint().unwrap();
            assert_eq!(fingerprint(db, "alice"), expected.to_string());
            // fingerprint first, the id last, and between them whether the
            // profile is sealed (unsealed here: no passphrase was given).
            assert_eq!(out.lines().nth(1), Some("sealed: no"), "{out}");
            assert_eq!(out.lines().count(), 3);
        },
    );
}

#[test]
fn share_with_a_wrong_fingerprint_exits_1_and_pins_nothing() {
    each_backend(
        "share_with_a_wrong_fingerprint_exits_1_and_pins_nothing",
        |db| {
            ok(db, "alice", &["init"]);
            let bob = last_line(&ok(db, "bob", &["init"]));
            ok(db, "carol", &["init"]);
            ok(db, "alice", &["write", "patient", "-f", "name=Ada"]);
            let carols = fingerprint(db, "carol");
            let err = fails(
                db,
                "alice",
                &["share", "patient", "--with", &bob, "--fingerprint", &carols],
                1,
            );
            assert!(err.contains(&bob) && err.contains("fingerprint"), "{err}");
            assert_eq!(ok(db, "alice", &["peers"]), "", "nothing pinned");
            assert!(json_lines(&ok(db, "alice", &["shares"])).is_empty());
            // Not a fingerprint at all: a usage error.
            fails(
                db,
                "alice",
                &["share", "patient", "--with", &bob, "--fingerprint", "12"],
                2,
            );
            // The right one shares and pins.
            let bobs = fingerprint(db, "bob");
            ok(
                db,
                "alice",
                &["share", "patient", "--with", &bob, "--fingerprint", &bobs],
            );
            let peers = json_lines(&ok(db, "alice", &["peers"]));
            assert_eq!(peers.len(), 1);
            assert_eq!(peers[0]["client_id"], bob.as_str());
            assert_eq!(peers[0]["fingerprint"], bobs.as_str());
        },
    );
}

#[test]
fn verified_trust_needs_a_pin_from_a_fingerprint_first() {
    each_backend(
        "verified_trust_needs_a_pin_from_a_fingerprint_first",
        |db| {
            ok(db, "alice", &["init"]);
            let bob = last_line(&ok(db, "bob", &["init"]));
            ok(db, "alice", &["write", "patient", "-f", "name=Ada"]);
            assert_eq!(
                json_lines(&ok(db, "alice", &["trust"]))[0]["trust"],
                "first-use"
            );
            ok(db, "alice", &["trust", "verified"]);
            let err = fails(db, "alice", &["share", "patient", "--with", &bob], 1);
            assert!(err.contains("only verified peers"), "{err}");
            let wrong = fingerprint(db, "alice");
            fails(db, "alice", &["pin", &bob, "--fingerprint", &wrong], 1);
            let bobs = fingerprint(db, "bob");
            let pinned = json_lines(&ok(db, "alice", &["pin", &bob, "--fingerprint", &bobs]));
            assert_eq!(pinned[0]["pinned"], bob.as_str());
            ok(db, "alice", &["share", "patient", "--with", &bob]);
        },
    );
}

/// `trust verified` uses only pins checked against a fingerprint: a peer
/// pinned on first use before the switch is refused until pinned with its
/// fingerprint, and `peers` says which pins were checked.
#[test]
fn trust_verified_refuses_a_peer_pinned_on_first_use_until_it_is_pinned_with_its_fingerprint() {
    each_backend(
        "trust_verified_refuses_a_peer_pinned_on_first_use_until_it_is_pinned_with_its_fingerprint",
        |db| {
            ok(db, "alice", &["init"]);
            let bob = last_line(&ok(db, "bob", &["init"]));
            ok(db, "alice", &["share", "note", "--with", &bob]);
            assert_eq!(
                json_lines(&ok(db, "alice", &["peers"]))[0]["verified"],
                false
            );
            ok(db, "alice", &["trust", "verified"]);
            let err = fails(db, "alice", &["share", "other", "--with", &bob], 1);
            assert!(err.contains("only verified peers"), "{err}");
            let bobs = fingerprint(db, "bob");
            ok(db, "alice", &["pin", &bob, "--fingerprint", &bobs]);
            assert_eq!(
                json_lines(&ok(db, "alice", &["peers"]))[0]["verified"],
                true
            );
            ok(db, "alice", &["share", "other", "--with", &bob]);
            // A reader under `trust verified` that has not pinned the
            // writer lists none of its records, and says why.
            let alice = last_line(&ok(db, "alice", &["whoami"]));
            ok(db, "alice", &["write", "note", "-f", "note=n"]);
            ok(db, "bob", &["trust", "verified"]);
            let out = run(db, "bob", &["ls", "--writer", &alice]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{stderr}");
            assert!(out.stdout.is_empty());
            assert!(
                stderr.contains("1: writer (or the client that shared its key) not registered, or not pinned under `trust verified`"),
                "{stderr}"
            );
        },
    );
}

#[test]
fn a_changed_database_identity_needs_adopt_database() {
    each_backend("a_changed_database_identity_needs_adopt_database", |db| {
        ok(db, "alice", &["init"]);
        ok(db, "alice", &["write", "patient", "-f", "name=Ada"]);
        db.sql(&format!(
            "UPDATE database_identity SET database_id = '{}'",
            strongroom::DatabaseId::random()
        ));
        let err = fails(db, "alice", &["write", "patient", "-f", "name=Bo"], 1);
        assert!(err.contains("--adopt-database"), "{err}");
        // A command that does not open the database as the client cannot
        // adopt it: a usage error, never a silent success.
        for command in [
            &["whoami"][..],
            &["migrate"],
            &["migrate", "--status"],
            &["profile", "passwd", "--remove"],
        ] {
            let args = [&["--adopt-database"][..], command].concat();
            let err = fails(db, "alice", &args, 2);
            assert!(err.contains("--adopt-database takes effect"), "{err}");
        }
        fails(db, "alice", &["write", "patient", "-f", "name=Bo"], 1);
        let out = run(
            db,
            "alice",
            &["--adopt-database", "write", "patient", "-f", "name=Bo"],
        );
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("adopted database"));
        ok(db, "alice", &["write", "patient", "-f", "name=Cy"]);
        // Adopting a database the profile knows changes nothing, and says
        // so instead of claiming that rollback protection restarts.
        let out = run(
            db,
            "alice",
            &["--adopt-database", "write", "patient", "-f", "name=Di"],
        );
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("is this profile's already"), "{stderr}");
        assert!(!stderr.contains("restarts"), "{stderr}");
    });
}

#[test]
fn processes_contending_for_one_profile_lose_no_mark() {
    each_backend("processes_contending_for_one_profile_lose_no_mark", |db| {
        ok(db, "alice", &["init"]);
        // Eight processes at once, each making the first key of its own
        // type: each raises a mark under the profile's lock.
        let children: Vec<_> = (0..8)
            .map(|i| {
                std::process::Command::new(bin())
                    .args(["--db", &db.url, "--profile"])
                    .arg(db.profile("alice"))
                    .args(["write", &format!("type{i}"), "-f", "x=y"])
                    .env_remove("RUST_LOG")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let profile = strongroom::Profile::load(db.profile("alice"), None).unwrap();
        let database = db.store().database_id().unwrap();
        for i in 0..8 {
            assert_eq!(
                profile.key_version_mark(database, &format!("type{i}")),
                Some(1),
                "type{i}'s mark"
            );
        }
    });
}
