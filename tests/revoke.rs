//! Revocation says what it did: the readers it removed, how the re-wrap
//! after it went (never an error hiding a committed revocation), and an
//! error naming the client when there was nothing to revoke, on SQLite and
//! PostgreSQL. The command line's side is in `cli/tests/revoke.rs`.

mod common;

use common::notes::{client, note, notes, read};
use common::{each_backend, refuse_rewraps_to_version_2};
use strongroom::{Backend, Client, ClientId, Error, Plain};

/// The key version alice's next write uses.
fn next_version(alice: &Client) -> u32 {
    alice
        .put("note", &note("probe"), &Plain::new())
        .unwrap()
        .key_version
}

fn assert_not_shared(result: strongroom::Result<strongroom::RevokeOutcome>, reader: ClientId) {
    match result {
        Err(Error::NotShared {
            record_type,
            reader: named,
        }) => {
            assert_eq!(record_type, "note");
            assert_eq!(named, reader);
        }
        other => panic!("expected NotShared for {reader}, got {other:?}"),
    }
}

#[test]
fn revoking_a_client_that_holds_no_share_is_an_error_naming_it() {
    each_backend(
        "revoking_a_client_that_holds_no_share_is_an_error_naming_it",
        |db| {
            let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
            let old = notes(&alice, 1)[0];
            alice.share("note", bob.id()).unwrap();
            let keys = db.count("SELECT COUNT(*) AS n FROM access_keys");

            // An id nobody has (a typo), and a registered client never
            // shared with: an error naming it, and nothing changes — no new
            // key version, and bob still reads.
            let typo = ClientId::random();
            assert_not_shared(alice.revoke_and_rewrap("note", typo), typo);
            assert_not_shared(alice.revoke("note", carol.id()), carol.id());
            let err = alice.revoke("note", typo).unwrap_err();
            assert!(err.to_string().contains(&typo.to_string()), "{err}");
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM access_keys"), keys);
            assert_eq!(next_version(&alice), 1);
            assert_eq!(read(&bob, old).unwrap(), "n0");

            // Revoking the same reader twice: the second is that error.
            let first = alice.revoke("note", bob.id()).unwrap();
            assert_eq!(first.new_version, Some(2));
            assert_eq!(first.removed_readers, vec![bob.id()]);
            assert!(first.rewrap.is_none(), "no re-wrap was asked for");
            assert_not_shared(alice.revoke("note", bob.id()), bob.id());
            assert_not_shared(alice.revoke_and_rewrap("note", bob.id()), bob.id());
            assert_eq!(next_version(&alice), 2, "rotated once, not twice");

            // To rotate anyway, the caller rotates.
            let rotated = alice.rotate("note").unwrap();
            assert_eq!(rotated.new_version, Some(3));
            assert!(rotated.removed_readers.is_empty());
            assert_eq!(next_version(&alice), 3);
        },
    );
}

#[test]
fn revoking_an_authoriser_lists_the_readers_it_shared_with() {
    each_backend(
        "revoking_an_authoriser_lists_the_readers_it_shared_with",
        |db| {
            let (alice, dave, erin, frank) = (
                client(db, "alice"),
                client(db, "dave"),
                client(db, "erin"),
                client(db, "frank"),
            );
            let old = notes(&alice, 1)[0];
            alice.add_authorizer("note", dave.id()).unwrap();
            dave.share_on_behalf(alice.id(), "note", erin.id()).unwrap();
            alice.share("note", frank.id()).unwrap();
            assert_eq!(read(&erin, old).unwrap(), "n0");

            let outcome = alice.revoke("note", dave.id()).unwrap();
            assert_eq!(outcome.removed_readers, vec![dave.id(), erin.id()]);
            let later = alice.put("note", &note("later"), &Plain::new()).unwrap().id;
            assert!(matches!(
                read(&dave, later),
                Err(Error::AccessDenied { .. })
            ));
            assert!(matches!(
                read(&erin, later),
                Err(Error::AccessDenied { .. })
            ));
            assert_eq!(read(&frank, later).unwrap(), "later", "frank remains");
            assert_not_shared(alice.revoke("note", erin.id()), erin.id());
        },
    );
}

#[test]
fn revoke_with_rewrap_returns_the_committed_outcome() {
    each_backend("revoke_with_rewrap_returns_the_committed_outcome", |db| {
        let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
        let ids = notes(&alice, 6);
        alice.share("note", bob.id()).unwrap();
        alice.share("note", carol.id()).unwrap();
        for id in &ids {
            assert!(read(&bob, *id).is_ok(), "bob's cache is warm");
        }
        // One record is junk: counted, left, and still under version 1.
        // Its sealed-fields column is well framed (version 1, one field
        // "note"), but the field's envelope is the four bytes "junk".
        let mut junk = vec![1u8];
        junk.extend_from_slice(&4u16.to_be_bytes());
        junk.extend_from_slice(b"note");
        junk.extend_from_slice(&4u32.to_be_bytes());
        junk.extend_from_slice(b"junk");
        db.sql(&format!(
            "UPDATE records SET sealed_fields = {} WHERE record_id = {}",
            db.blob(&junk),
            db.id(ids[5])
        ));

        let outcome = alice.revoke_and_rewrap("note", bob.id()).unwrap();
        assert_eq!(outcome.new_version, Some(2));
        assert_eq!(outcome.removed_readers, vec![bob.id()]);
        let report = outcome.rewrap.expect("a re-wrap was asked for");
        assert!(report.interrupted.is_none(), "{:?}", report.interrupted);
        assert_eq!(
            (
                report.done.rewrapped,
                report.done.invalid,
                report.done.remaining
            ),
            (5, 1, Some(1))
        );
        assert_eq!(
            db.count(&format!(
                "SELECT COUNT(*) AS n FROM records WHERE record_id = {} AND key_version = 1",
                db.id(ids[5])
            )),
            1,
            "the junk record is left under version 1"
        );
        // Bob, warm version-1 key in hand, reads none of the re-wrapped
        // records; carol, who remains, reads them all.
        for id in &ids[..5] {
            assert!(matches!(read(&bob, *id), Err(Error::AccessDenied { .. })));
            assert_eq!(alice.get(*id).unwrap().meta().key_version, 2);
            assert!(read(&carol, *id).unwrap().starts_with('n'));
        }
    });
}

#[test]
fn an_interrupted_rewrap_after_a_revocation_is_reported_not_raised() {
    each_backend(
        "an_interrupted_rewrap_after_a_revocation_is_reported_not_raised",
        |db| {
            let (alice, bob) = (client(db, "alice"), client(db, "bob"));
            let ids = notes(&alice, 3);
            alice.share("note", bob.id()).unwrap();
            refuse_rewraps_to_version_2(db);
            let outcome = alice.revoke_and_rewrap("note", bob.id()).unwrap();
            // The revocation is committed...
            assert_eq!(outcome.new_version, Some(2));
            assert_eq!(outcome.removed_readers, vec![bob.id()]);
            assert!(bob.incoming_shares().unwrap().is_empty());
            let later = alice.put("note", &note("later"), &Plain::new()).unwrap();
            assert_eq!(later.key_version, 2);
            assert!(matches!(
                read(&client(db, "bob"), later.id),
                Err(Error::AccessDenied { .. })
            ));
            // ...and the re-wrap says it was interrupted, and by what.
            let report = outcome.rewrap.expect("a re-wrap was asked for");
            assert!(
                matches!(&report.interrupted, Some(Error::Database(source)) if source.to_string().contains("interrupted by test")),
                "{:?}",
                report.interrupted
            );
            assert_eq!((report.done.rewrapped, report.done.remaining), (0, Some(3)));
            // Run again once the database lets it, it finishes.
            db.sql(match db.backend {
                Backend::Sqlite => "DROP TRIGGER stop_rewrap",
                _ => "DROP TRIGGER stop_rewrap ON records",
            });
            let done = alice.rewrap_existing("note", 10).unwrap();
            assert_eq!((done.rewrapped, done.remaining), (3, Some(0)));
            for id in &ids {
                assert_eq!(alice.get(*id).unwrap().meta().key_version, 2);
            }
        },
    );
}
