//! `strongroom revoke` and `rotate` say what they did: the readers removed,
//! how the re-wrap after a revocation went, and one error line naming the
//! client when there was nothing to revoke. On SQLite and PostgreSQL.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use common::{each_backend, refuse_rewraps_to_version_2};
use strongroom::ClientId;
use support::{json_lines as lines, last_line, ok, run};

#[test]
fn the_cli_revoke_says_what_it_did() {
    each_backend("the_cli_revoke_says_what_it_did", |db| {
        ok(db, "alice", &["init"]);
        let bob = last_line(&ok(db, "bob", &["init"]));
        let id = last_line(&ok(db, "alice", &["write", "note", "-f", "note=n0"]));
        ok(db, "alice", &["share", "note", "--with", &bob]);

        // `unauthorize` of a reader that is no authoriser says so (not
        // that it holds no share): exit 1, nothing rotated.
        let out = run(db, "alice", &["unauthorize", "note", "--from", &bob]);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("is not an authoriser"), "{stderr}");

        // An id that holds no share: exit 1, one line naming it, nothing
        // rotated.
        let typo = ClientId::random().to_string();
        let out = run(db, "alice", &["revoke", "note", "--from", &typo]);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(&typo), "{stderr}");
        assert!(stderr.contains("holds no share"), "{stderr}");
        assert!(stderr.contains("--rotate-anyway"), "{stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(
            db.count("SELECT COUNT(*) AS n FROM access_keys WHERE key_version > 1"),
            0
        );
        // Asked to, it rotates anyway, and says so.
        let rotated = lines(&ok(
            db,
            "alice",
            &["revoke", "note", "--from", &typo, "--rotate-anyway"],
        ));
        assert_eq!(rotated[0]["rotated"], "note");
        assert_eq!(rotated[0]["new_key_version"], 2);
        assert_eq!(rotated[1]["removed_readers"], serde_json::json!([]));
        let as_bob: serde_json::Value =
            serde_json::from_str(&ok(db, "bob", &["read", &id])).unwrap();
        assert_eq!(as_bob["data"]["note"], "n0", "bob still reads");

        // A real revocation with re-wrap: the usual line, then who went and
        // how the re-wrap went.
        let revoked = lines(&ok(
            db,
            "alice",
            &["revoke", "note", "--from", &bob, "--rewrap"],
        ));
        assert_eq!(revoked.len(), 3, "{revoked:?}");
        assert_eq!(revoked[0]["revoked"], "note");
        assert_eq!(revoked[0]["from"], bob.as_str());
        assert_eq!(revoked[0]["new_key_version"], 3);
        assert_eq!(revoked[0]["rewrapped"], 1);
        assert_eq!(revoked[1]["removed_readers"], serde_json::json!([bob]));
        assert_eq!(
            revoked[2]["rewrap"],
            serde_json::json!({"rewrapped": 1, "invalid": 0, "batches": 1, "remaining": 0, "interrupted": null})
        );
        let out = run(db, "bob", &["read", &id]);
        assert_eq!(out.status.code(), Some(1));

        // Twice: the second is the error.
        let out = run(db, "alice", &["revoke", "note", "--from", &bob]);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&bob) && stderr.contains("holds no share"),
            "{stderr}"
        );

        // `rotate --rewrap` reports the re-wrap the same way.
        let rotated = lines(&ok(db, "alice", &["rotate", "note", "--rewrap"]));
        assert_eq!(rotated[0]["new_key_version"], 4);
        assert_eq!(rotated[0]["rewrapped"], 1);
        assert_eq!(rotated[1]["rewrap"]["remaining"], 0);
    });
}

#[test]
fn the_cli_says_when_a_rewrap_after_a_committed_revocation_was_interrupted() {
    each_backend(
        "the_cli_says_when_a_rewrap_after_a_committed_revocation_was_interrupted",
        |db| {
            ok(db, "alice", &["init"]);
            let bob = last_line(&ok(db, "bob", &["init"]));
            ok(db, "alice", &["write", "note", "-f", "note=n0"]);
            ok(db, "alice", &["share", "note", "--with", &bob]);
            refuse_rewraps_to_version_2(db);
            let out = run(db, "alice", &["revoke", "note", "--from", &bob, "--rewrap"]);
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            assert_eq!(
                stderr.trim_end(),
                "error: the revocation is committed, but re-wrapping the existing records was interrupted after 0 record(s); `strongroom rewrap note` goes on where it stopped: database error: interrupted by test",
                "one line"
            );
            // What was done is printed all the same.
            let printed = lines(&String::from_utf8(out.stdout).unwrap());
            assert_eq!(printed[0]["new_key_version"], 2);
            assert_eq!(printed[1]["removed_readers"], serde_json::json!([bob]));
            assert_eq!(printed[2]["rewrap"]["remaining"], 1);
            assert_eq!(
                printed[2]["rewrap"]["interrupted"],
                "database error: interrupted by test"
            );
            // The revocation stands: a second one finds nothing to revoke.
            let again = run(db, "alice", &["revoke", "note", "--from", &bob]);
            assert_eq!(again.status.code(), Some(1));
            assert!(String::from_utf8(again.stderr)
                .unwrap()
                .contains("holds no share"));
            // `rewrap` finishes the job without another rotation: again
            // interrupted while the database refuses, then done.
            let refused = run(db, "alice", &["rewrap", "note"]);
            assert_eq!(refused.status.code(), Some(1));
            assert!(String::from_utf8(refused.stderr)
                .unwrap()
                .contains("run it again to go on"));
            match db.backend {
                strongroom::Backend::Sqlite => db.sql("DROP TRIGGER stop_rewrap"),
                _ => db.sql("DROP TRIGGER stop_rewrap ON records"),
            }
            let done = lines(&ok(db, "alice", &["rewrap", "note"]));
            assert_eq!(
                done[0]["rewrap"],
                serde_json::json!({"rewrapped": 1, "invalid": 0, "batches": 1, "remaining": 0, "interrupted": null})
            );
        },
    );
}

/// A re-wrap the database's rolled-back keys refuse is a refusal, not an
/// interruption: the error says so (and the way on), never "run it again",
/// and tells its warning once.
#[test]
fn a_rewrap_refused_for_a_rolled_back_key_is_not_called_interrupted() {
    each_backend(
        "a_rewrap_refused_for_a_rolled_back_key_is_not_called_interrupted",
        |db| {
            ok(db, "alice", &["init"]);
            ok(db, "alice", &["write", "note", "-f", "note=n0"]);
            ok(db, "alice", &["rotate", "note"]);
            // The key rows as an older backup held them: version 1 only.
            db.sql("DELETE FROM access_keys WHERE key_version = 2");
            db.sql("UPDATE key_heads SET current_version = 1");
            for _ in 0..2 {
                let out = run(db, "alice", &["rewrap", "note"]);
                let stderr = String::from_utf8(out.stderr).unwrap();
                assert_eq!(out.status.code(), Some(1), "{stderr}");
                assert!(
                    stderr.starts_with("error: re-wrapping was refused: "),
                    "{stderr}"
                );
                assert!(stderr.contains("restart-lineage"), "{stderr}");
                assert!(!stderr.contains("run it again"), "{stderr}");
                assert_eq!(stderr.matches("rolled back").count(), 1, "{stderr}");
                let printed = lines(&String::from_utf8(out.stdout).unwrap());
                assert_eq!(printed[0]["rewrap"]["rewrapped"], 0);
            }
        },
    );
}

/// An authoriser shares the writer's type from the CLI (`share --writer`);
/// `shares` names it as the grantor, also after a rotation; `unauthorize`
/// names the readers whose shares it withdrew, and they lose the type.
#[test]
fn an_authoriser_shares_from_the_cli_and_unauthorize_names_the_readers_it_cuts_off() {
    each_backend(
        "an_authoriser_shares_from_the_cli_and_unauthorize_names_the_readers_it_cuts_off",
        |db| {
            let alice = last_line(&ok(db, "alice", &["init"]));
            let clinic = last_line(&ok(db, "clinic", &["init"]));
            let doc = last_line(&ok(db, "doc", &["init"]));
            let id = last_line(&ok(db, "alice", &["write", "note", "-f", "note=n0"]));
            ok(db, "alice", &["authorize", "note", "--to", &clinic]);
            let shared = lines(&ok(
                db,
                "clinic",
                &["share", "note", "--with", &doc, "--writer", &alice],
            ));
            assert_eq!(shared[0]["writer"], alice.as_str());
            let as_doc: serde_json::Value =
                serde_json::from_str(&ok(db, "doc", &["read", &id])).unwrap();
            assert_eq!(as_doc["data"]["note"], "n0");
            ok(db, "alice", &["rotate", "note"]);
            let docs_share = lines(&ok(db, "alice", &["shares"]))
                .into_iter()
                .find(|line| line["client_id"] == doc.as_str())
                .unwrap();
            assert_eq!(docs_share["granted_by"], clinic.as_str(), "{docs_share}");
            let withdrawn = lines(&ok(
                db,
                "alice",
                &["unauthorize", "note", "--from", &clinic],
            ));
            assert_eq!(withdrawn[0]["removed_readers"], serde_json::json!([doc]));
            let out = run(db, "doc", &["read", &id]);
            assert_eq!(out.status.code(), Some(1));
        },
    );
}
