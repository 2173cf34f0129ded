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

fn put_note(client: &Client, text: &str) -> strongroom::RecordId {
    client.put("note", &note(text), &Plain::new()).unwrap().id
}

/// SECURITY.md: made-up rows never block a revocation. A row naming the
/// writer as its own reader "granted by" bob made `revoke(bob)` delete the
/// writer's own keys (and fail).
#[test]
fn a_made_up_row_naming_the_writer_does_not_block_a_revocation() {
    each_backend(
        "a_made_up_row_naming_the_writer_does_not_block_a_revocation",
        |db| {
            let (alice, bob) = (client(db, "alice"), client(db, "bob"));
            let old = put_note(&alice, "v1");
            alice.share("note", bob.id()).unwrap();
            db.sql(&format!(
                "INSERT INTO policies (writer_id, record_type, reader_id, kind, granted_by, via, reader_key, key_version, signature, created_at) \
                 VALUES ({0}, 'note', {0}, 'read', {1}, NULL, {2}, 1, {3}, 0)",
                db.id(alice.id()),
                db.id(bob.id()),
                db.blob(alice.public().encryption_key.as_bytes()),
                db.blob(b"junk")
            ));
            let outcome = alice.revoke("note", bob.id()).unwrap();
            assert_eq!(outcome.new_version, Some(2));
            let new = put_note(&alice, "v2");
            assert_eq!(read(&alice, old).unwrap(), "v1");
            assert!(matches!(read(&bob, new), Err(Error::AccessDenied { .. })));
        },
    );
}

/// README: removing an authoriser withdraws the shares it made. An
/// authoriser cannot share the writer's type "with the writer" (which made
/// it impossible to remove), and a share the writer made itself is not
/// taken over by an authoriser's: the writer's reader keeps reading,
/// old records and new, after the authoriser is removed, whichever shared
/// first.
#[test]
fn an_authoriser_neither_shares_with_the_writer_nor_takes_over_its_shares() {
    each_backend(
        "an_authoriser_neither_shares_with_the_writer_nor_takes_over_its_shares",
        |db| {
            for writer_first in [true, false] {
                let (alice, clinic, doc) = (
                    client(db, &format!("alice-{writer_first}")),
                    client(db, &format!("clinic-{writer_first}")),
                    client(db, &format!("doc-{writer_first}")),
                );
                let old = put_note(&alice, "old");
                alice.add_authorizer("note", clinic.id()).unwrap();
                assert!(matches!(
                    clinic.share_on_behalf(alice.id(), "note", alice.id()),
                    Err(Error::InvalidInput(_))
                ));
                if writer_first {
                    alice.share("note", doc.id()).unwrap();
                    let outcome = clinic
                        .share_on_behalf(alice.id(), "note", doc.id())
                        .unwrap();
                    assert_eq!((outcome.wrapped_keys, outcome.policies), (0, 0));
                } else {
                    clinic
                        .share_on_behalf(alice.id(), "note", doc.id())
                        .unwrap();
                    alice.share("note", doc.id()).unwrap();
                }
                alice.remove_authorizer("note", clinic.id()).unwrap();
                let new = put_note(&alice, "new");
                let doc = client(db, &format!("doc-{writer_first}"));
                assert_eq!(
                    read(&doc, old).unwrap(),
                    "old",
                    "writer first: {writer_first}"
                );
                assert_eq!(
                    read(&doc, new).unwrap(),
                    "new",
                    "writer first: {writer_first}"
                );
            }
        },
    );
}

/// README: a key the database serves that differs from the pin fails the
/// operation that met it. A rotation that meets an authoriser's
/// substituted keys is `KeyChanged`, not a silent drop of the readers it
/// shared with.
#[test]
fn a_rotation_meeting_an_authorisers_substituted_keys_is_key_changed() {
    each_backend(
        "a_rotation_meeting_an_authorisers_substituted_keys_is_key_changed",
        |db| {
            let (alice, clinic, doc, mallory) = (
                client(db, "alice"),
                client(db, "clinic"),
                client(db, "doc"),
                client(db, "mallory"),
            );
            put_note(&alice, "v1");
            alice.add_authorizer("note", clinic.id()).unwrap();
            clinic
                .share_on_behalf(alice.id(), "note", doc.id())
                .unwrap();
            db.sql(&format!(
                "UPDATE clients SET public_key = {}, signing_key = {} WHERE client_id = {}",
                db.blob(mallory.public().encryption_key.as_bytes()),
                db.blob(mallory.public().signing_key.as_bytes()),
                db.id(clinic.id())
            ));
            let alice = client(db, "alice");
            match alice.rotate("note") {
                Err(Error::KeyChanged { client_id }) => assert_eq!(client_id, clinic.id()),
                other => panic!("expected KeyChanged, got {other:?}"),
            }
        },
    );
}

/// SECURITY.md: the recovery client is recorded in the profile, not taken
/// from the database, and rotations keep it: with its policy rows deleted,
/// a revocation still wraps the new version to it.
#[test]
fn a_rotation_keeps_the_profiles_recovery_client_whatever_the_rows_say() {
    each_backend(
        "a_rotation_keeps_the_profiles_recovery_client_whatever_the_rows_say",
        |db| {
            let (alice, recovery, bob) = (
                client(db, "alice"),
                client(db, "recovery"),
                client(db, "bob"),
            );
            put_note(&alice, "v1");
            alice.share("note", bob.id()).unwrap();
            alice.set_recovery_client(recovery.public()).unwrap();
            db.sql(&format!(
                "DELETE FROM policies WHERE reader_id = {}",
                db.id(recovery.id())
            ));
            alice.revoke("note", bob.id()).unwrap();
            let later = put_note(&alice, "after");
            let recovery = client(db, "recovery");
            assert_eq!(read(&recovery, later).unwrap(), "after");
        },
    );
}

/// Removing a client that is not an authoriser of the type is `NotShared`
/// and changes nothing (no rotation), as revoking a non-reader is.
#[test]
fn removing_a_client_that_is_no_authoriser_is_not_shared_and_rotates_nothing() {
    each_backend(
        "removing_a_client_that_is_no_authoriser_is_not_shared_and_rotates_nothing",
        |db| {
            let (alice, bob) = (client(db, "alice"), client(db, "bob"));
            put_note(&alice, "v1");
            alice.share("note", bob.id()).unwrap();
            assert_not_shared(
                alice
                    .remove_authorizer("note", bob.id())
                    .map(|_| unreachable!("bob is a reader, not an authoriser")),
                bob.id(),
            );
            assert_eq!(next_version(&alice), 1);
        },
    );
}

/// SECURITY.md: whether a client holds a share is read from the rows as
/// stored, so a row the database made up for a client that holds none
/// makes `revoke` rotate (one needless rotation) instead of `NotShared`;
/// nothing is granted to that client.
#[test]
fn a_made_up_row_for_an_unshared_client_costs_one_rotation_and_grants_nothing() {
    each_backend(
        "a_made_up_row_for_an_unshared_client_costs_one_rotation_and_grants_nothing",
        |db| {
            let (alice, carol) = (client(db, "alice"), client(db, "carol"));
            put_note(&alice, "v1");
            db.sql(&format!(
                "INSERT INTO policies (writer_id, record_type, reader_id, kind, granted_by, via, reader_key, key_version, signature, created_at) \
                 VALUES ({0}, 'note', {1}, 'read', {0}, NULL, {2}, 1, {3}, 0)",
                db.id(alice.id()),
                db.id(carol.id()),
                db.blob(carol.public().encryption_key.as_bytes()),
                db.blob(b"junk")
            ));
            let outcome = alice.revoke("note", carol.id()).unwrap();
            assert_eq!(outcome.new_version, Some(2));
            let later = put_note(&alice, "v2");
            assert!(matches!(
                read(&carol, later),
                Err(Error::AccessDenied { .. })
            ));
        },
    );
}
