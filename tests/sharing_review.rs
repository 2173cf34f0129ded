//! Sharing against a database that plants rows, and a writer's direct
//! share next to an authoriser's (review H of 2026-12-07), on SQLite and
//! PostgreSQL.

mod common;

use common::notes::{client, note, read};
use common::{each_backend, unhex, TestDb};
use strongroom::{Client, ClientId, Error, Plain, RecordId};

fn put_note(client: &Client, text: &str) -> RecordId {
    client.put("note", &note(text), &Plain::new()).unwrap().id
}

/// The clinic (an authoriser) shares with the doctor; alice rotates (the
/// doctor's grant is re-signed by alice, through the clinic); then alice
/// shares with the doctor herself. The share is hers: removing or revoking
/// the clinic leaves the doctor reading.
fn direct_share_after_rotation(db: &TestDb, revoke_the_clinic: bool) {
    let (alice, clinic, doc) = (client(db, "alice"), client(db, "clinic"), client(db, "doc"));
    put_note(&alice, "old");
    alice.add_authorizer("note", clinic.id()).unwrap();
    clinic
        .share_on_behalf(alice.id(), "note", doc.id())
        .unwrap();
    alice.rotate("note").unwrap();
    alice.share("note", doc.id()).unwrap();
    let shares = alice.outgoing_shares().unwrap();
    let doc_share = shares.iter().find(|s| s.reader_id == doc.id()).unwrap();
    assert_eq!(doc_share.granted_by, alice.id());
    if revoke_the_clinic {
        let out = alice.revoke("note", clinic.id()).unwrap();
        assert_eq!(out.removed_readers, vec![clinic.id()]);
    } else {
        alice.remove_authorizer("note", clinic.id()).unwrap();
    }
    let new = put_note(&alice, "new");
    assert_eq!(read(&client(db, "doc"), new).unwrap(), "new");
}

#[test]
fn a_direct_share_after_a_rotation_survives_removing_the_authoriser() {
    each_backend(
        "a_direct_share_after_a_rotation_survives_removing_the_authoriser",
        |db| direct_share_after_rotation(db, false),
    );
}

#[test]
fn a_direct_share_after_a_rotation_survives_revoking_the_authoriser() {
    each_backend(
        "a_direct_share_after_a_rotation_survives_revoking_the_authoriser",
        |db| direct_share_after_rotation(db, true),
    );
}

/// The database plants a copy of alice's own key row at version
/// 2147483646 (it does not open there). Writes pass it over; so does a
/// restarted lineage, which moves to version 2, after which revoking and
/// rotating work.
#[test]
fn a_planted_own_key_at_the_end_of_the_range_never_takes_a_restarted_lineage() {
    each_backend(
        "a_planted_own_key_at_the_end_of_the_range_never_takes_a_restarted_lineage",
        |db| {
            let (alice, bob) = (client(db, "alice"), client(db, "bob"));
            put_note(&alice, "v1");
            alice.share("note", bob.id()).unwrap();
            db.sql(&format!(
                "INSERT INTO access_keys SELECT writer_id, record_type, 2147483646, reader_id, \
                 wrapper_id, wrapped_key, created_at FROM access_keys \
                 WHERE key_version = 1 AND reader_id = {}",
                db.id(alice.id())
            ));
            assert_eq!(
                alice
                    .put("note", &note("x"), &Plain::new())
                    .unwrap()
                    .key_version,
                1
            );
            let restarted = alice.restart_key_lineage("note", &[bob.id()]).unwrap();
            assert_eq!(restarted.new_version, Some(2));
            let revoked = alice.revoke("note", bob.id()).unwrap();
            assert_eq!(revoked.new_version, Some(3));
            assert_eq!(
                client(db, "alice").rotate("note").unwrap().new_version,
                Some(4)
            );
            let after = put_note(&alice, "after");
            assert!(matches!(
                read(&bob, after),
                Err(strongroom::Error::AccessDenied { .. })
            ));
        },
    );
}

/// Two authorisers share with the same reader (a recovery client replaced
/// by a second, each restoring to the replacement): the second share
/// makes the reader's access its own, keys included, so revoking the first
/// authoriser leaves the reader every record, old and new (review J).
#[test]
fn a_second_authorisers_share_survives_revoking_the_first() {
    each_backend(
        "a_second_authorisers_share_survives_revoking_the_first",
        |db| {
            let (alice, first, second, doc) = (
                client(db, "alice"),
                client(db, "first"),
                client(db, "second"),
                client(db, "doc"),
            );
            let old = put_note(&alice, "old");
            alice.add_authorizer("note", first.id()).unwrap();
            alice.add_authorizer("note", second.id()).unwrap();
            assert_eq!(
                first
                    .share_on_behalf(alice.id(), "note", doc.id())
                    .unwrap()
                    .wrapped_keys,
                1
            );
            assert_eq!(
                second
                    .share_on_behalf(alice.id(), "note", doc.id())
                    .unwrap()
                    .wrapped_keys,
                1,
                "the second share wraps the key itself"
            );
            let out = alice.revoke("note", first.id()).unwrap();
            assert_eq!(out.removed_readers, vec![first.id()]);
            let new = put_note(&alice, "new");
            let doc = client(db, "doc");
            assert_eq!(read(&doc, old).unwrap(), "old");
            assert_eq!(read(&doc, new).unwrap(), "new");
            assert!(matches!(
                read(&first, new),
                Err(strongroom::Error::AccessDenied { .. })
            ));
        },
    );
}

/// SECURITY.md: revoking a reader does not bind the authorisers still in
/// place; one may share with that reader again, who then reads what is
/// written from then on, and the listing names the authoriser.
#[test]
fn an_authoriser_in_place_may_share_again_with_a_revoked_reader() {
    each_backend(
        "an_authoriser_in_place_may_share_again_with_a_revoked_reader",
        |db| {
            let (alice, clinic, bob) =
                (client(db, "alice"), client(db, "clinic"), client(db, "bob"));
            put_note(&alice, "old");
            alice.add_authorizer("note", clinic.id()).unwrap();
            alice.share("note", bob.id()).unwrap();
            alice.revoke("note", bob.id()).unwrap();
            let between = put_note(&alice, "between");
            assert!(matches!(
                read(&bob, between),
                Err(strongroom::Error::AccessDenied { .. })
            ));
            clinic
                .share_on_behalf(alice.id(), "note", bob.id())
                .unwrap();
            let after = put_note(&alice, "after");
            assert_eq!(read(&bob, after).unwrap(), "after");
            let shares = alice.outgoing_shares().unwrap();
            let bobs = shares.iter().find(|s| s.reader_id == bob.id()).unwrap();
            assert_eq!(bobs.granted_by, clinic.id());
        },
    );
}

/// Copies `writer`'s signed read grant for `reader` of `record_type` from
/// database `from` into `to`, as an operator who can read the one and
/// write the other could.
fn copy_read_grant(
    from: &TestDb,
    to: &TestDb,
    writer: ClientId,
    record_type: &str,
    reader: ClientId,
) {
    let rows = from.texts(&format!(
        "SELECT {} || ':' || {} || ':' || CAST(key_version AS TEXT) AS t FROM policies \
         WHERE writer_id = {} AND record_type = '{record_type}' AND reader_id = {} AND kind = 'read'",
        from.hex("reader_key"),
        from.hex("signature"),
        from.id(writer),
        from.id(reader)
    ));
    let [row] = rows.as_slice() else {
        panic!("expected one read grant, found {rows:?}");
    };
    let parts: Vec<&str> = row.split(':').collect();
    to.sql(&format!(
        "INSERT INTO policies (writer_id, record_type, reader_id, kind, granted_by, via, reader_key, \
         key_version, signature, created_at) \
         VALUES ({0}, '{record_type}', {1}, 'read', {0}, NULL, {2}, {3}, {4}, 0)",
        to.id(writer),
        to.id(reader),
        to.blob(&unhex(parts[0])),
        parts[2],
        to.blob(&unhex(parts[1]))
    ));
}

/// One profile on two databases (review S2 of 2026-12-07): alice shares
/// her type with bob in database A and rotates it to version 3 there; in
/// database B (each backend) she never shares it with bob. The operator
/// copies bob's grant, signed by alice for version 3, into B. Alice's
/// rotation in B (revoking carol, at version 1) passes over it: a genuine
/// grant is never above the current version. Bob reads nothing in B.
#[test]
fn a_grant_copied_from_another_database_at_a_higher_version_is_ignored_by_a_rotation() {
    each_backend(
        "a_grant_copied_from_another_database_at_a_higher_version_is_ignored_by_a_rotation",
        |b| {
            let a = TestDb::sqlite();
            let (alice_a, bob_a) = (client(&a, "alice"), client(&a, "bob"));
            put_note(&alice_a, "in A");
            alice_a.share("note", bob_a.id()).unwrap();
            alice_a.rotate("note").unwrap();
            alice_a.rotate("note").unwrap();
            // The same profiles on database B.
            let on_b = |name: &str| Client::open_or_create(a.profile(name), &b.store()).unwrap();
            let (alice, bob, carol) = (on_b("alice"), on_b("bob"), on_b("carol"));
            put_note(&alice, "in B");
            alice.share("note", carol.id()).unwrap();
            copy_read_grant(&a, b, alice.id(), "note", bob.id());
            let outcome = alice.revoke("note", carol.id()).unwrap();
            assert_eq!(outcome.new_version, Some(2));
            assert_eq!(
                outcome.wrapped_keys, 1,
                "the new version is wrapped to alice alone"
            );
            let after = put_note(&alice, "after the revocation");
            assert!(matches!(read(&bob, after), Err(Error::AccessDenied { .. })));
            assert_eq!(read(&alice, after).unwrap(), "after the revocation");
        },
    );
}
