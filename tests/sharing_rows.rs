//! Sharing, revocation, rotation and the recovery client against grant,
//! key and client rows a database operator (or a former or malicious
//! client, which can write rows too) edited: each test states the promise
//! it checks.

mod common;

use common::notes::{client, note, read};
use common::{each_backend, unhex, TestDb};
use strongroom::{Client, ClientId, Error, Identity, PeerTrust, Plain, RecordId};

fn put_note(client: &Client, text: &str) -> RecordId {
    client.put("note", &note(text), &Plain::new()).unwrap().id
}

/// The "srk1." text of a stored wrapped access key.
fn wrapped_key_text(stored: &[u8]) -> String {
    use base64::Engine;
    format!(
        "{}{}",
        strongroom::hazmat::wrap::PREFIX,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(stored)
    )
}

fn wrapped_key_row(
    db: &TestDb,
    writer: ClientId,
    reader: ClientId,
    version: u32,
) -> Option<String> {
    db.texts(&format!(
        "SELECT {} AS t FROM access_keys WHERE writer_id = {} AND record_type = 'note' \
         AND key_version = {version} AND reader_id = {}",
        db.hex("wrapped_key"),
        db.id(writer),
        db.id(reader)
    ))
    .pop()
    .map(|key| wrapped_key_text(&unhex(&key)))
}

/// Alice (writer) with a recovery client and an authoriser, Dave. The
/// operator substitutes the recovery client's X25519 key with Mallory's
/// before Dave first meets it (Dave runs under the default trust, first
/// use), and hides Alice's own read grant for the recovery client; Dave,
/// honestly, shares the type with the recovery client (he pins Mallory's
/// key). The operator then puts the recovery client's key row back, and
/// Alice rotates. Returns (alice, recovery, mallory, a record written
/// after the rotation).
fn recovery_grant_relabelled_through_an_authoriser(
    db: &TestDb,
) -> (Client, Client, Identity, RecordId) {
    let (alice, recovery, dave) = (
        client(db, "alice"),
        client(db, "recovery"),
        client(db, "dave"),
    );
    let mallory = Identity::generate().unwrap();
    put_note(&alice, "v1");
    alice.set_recovery_client(recovery.public()).unwrap();
    alice.add_authorizer("note", dave.id()).unwrap();

    // Operator: substitute the recovery client's key, hide Alice's read
    // grant for it.
    db.sql(&format!(
        "UPDATE clients SET public_key = {} WHERE client_id = {}",
        db.blob(mallory.public().encryption_key.as_bytes()),
        db.id(recovery.id())
    ));
    db.sql(&format!(
        "DELETE FROM policies WHERE reader_id = {} AND kind = 'read'",
        db.id(recovery.id())
    ));
    // Dave, an honest authoriser, shares with the recovery client.
    dave.share_on_behalf(alice.id(), "note", recovery.id())
        .unwrap();
    // Operator: the real key row back (Alice's pin would notice it).
    db.sql(&format!(
        "UPDATE clients SET public_key = {} WHERE client_id = {}",
        db.blob(recovery.public().encryption_key.as_bytes()),
        db.id(recovery.id())
    ));
    let outcome = alice.rotate("note").unwrap();
    assert_eq!(outcome.new_version, Some(2));
    let later = put_note(&alice, "after the rotation");
    (alice, recovery, mallory, later)
}

/// SECURITY.md, "Recovery and restores": "Which client is the recovery
/// client is recorded in the client's profile ..., not taken from the
/// database. Every rotation wraps the new version to it again, reader and
/// authoriser, even if the database dropped either grant." A read grant
/// for the recovery client signed by an authoriser, naming another key,
/// does not make the rotation wrap the new version to that key: the
/// recovery client's keys come from the profile's pin.
#[test]
fn a_rotation_wraps_the_recovery_client_under_its_pinned_key_whatever_an_authorisers_grant_says() {
    each_backend("recovery_pinned_key_reads", |db| {
        let (_alice, recovery, _mallory, later) =
            recovery_grant_relabelled_through_an_authoriser(db);
        drop(recovery);
        let recovery = client(db, "recovery");
        assert_eq!(
            read(&recovery, later)
                .as_deref()
                .map_err(|e| format!("{e:?}")),
            Ok("after the rotation"),
            "the profile's recovery client reads what is written after a rotation"
        );
    });
}

/// The same scenario, from the operator's side: the new version, meant
/// for the recovery client, is not wrapped to the key the operator planted.
#[test]
fn a_rotation_never_wraps_the_recovery_clients_slot_to_a_key_the_operator_planted() {
    each_backend("recovery_pinned_key_not_planted", |db| {
        let (alice, recovery, mallory, _later) =
            recovery_grant_relabelled_through_an_authoriser(db);
        let row = wrapped_key_row(db, alice.id(), recovery.id(), 2)
            .expect("a version-2 key for the recovery client's slot");
        let ctx = strongroom::hazmat::wrap::WrapContext {
            writer_id: alice.id(),
            record_type: "note",
            key_version: 2,
            reader_id: recovery.id(),
            wrapper_id: alice.id(),
        };
        let stolen = strongroom::hazmat::wrap::unwrap_access_key(
            &row,
            &ctx,
            mallory.encryption_secret(),
            &alice.public().encryption_key,
        );
        assert!(
            stolen.is_err(),
            "Mallory (the operator) opened the version-2 key wrapped for the recovery client"
        );
    });
}

/// SECURITY.md, "Sharing and revocation": "made-up, replayed or malformed
/// rows ... never block a revocation". An operator who drops the
/// `policies` primary key and duplicates one remaining reader's (valid)
/// grant row must not make revocations of the type fail (a rotation
/// wrapping the new version to that reader twice would meet
/// `access_keys`' primary key). (PostgreSQL; SQLite would need the table
/// rebuilt.)
#[test]
fn a_duplicated_grant_row_does_not_block_a_revocation() {
    let Some(db) = common::postgres_db("a_duplicated_grant_row_does_not_block_a_revocation") else {
        return;
    };
    let (alice, bob, carol) = (
        client(&db, "alice"),
        client(&db, "bob"),
        client(&db, "carol"),
    );
    put_note(&alice, "v1");
    alice.share("note", bob.id()).unwrap();
    alice.share("note", carol.id()).unwrap();
    db.sql("ALTER TABLE policies DROP CONSTRAINT policies_pkey");
    db.sql(&format!(
        "INSERT INTO policies SELECT * FROM policies WHERE reader_id = {}",
        db.id(carol.id())
    ));
    let revoked = alice.revoke("note", bob.id());
    assert!(
        revoked.is_ok(),
        "a replayed (duplicated) grant row blocked the revocation: {:?}",
        revoked.err()
    );
    let later = put_note(&alice, "after");
    assert!(matches!(read(&bob, later), Err(Error::AccessDenied { .. })));
    assert_eq!(read(&carol, later).unwrap(), "after");
}

/// SECURITY.md: rotation wraps "to the public key recorded in that grant
/// ...; made-up, replayed or malformed rows ... never block a
/// revocation". A valid grant whose reader key is unusable (the all-zero
/// X25519 point), signed by a malicious authoriser for a reader the writer
/// never pinned, leaves that reader out of the new version (with a
/// warning naming it) instead of failing every rotation of the type with
/// `Crypto("HPKE seal")`, an error that names no one.
#[test]
fn an_unusable_reader_key_in_a_valid_grant_does_not_block_a_revocation() {
    each_backend(
        "an_unusable_reader_key_in_a_valid_grant_does_not_block_a_revocation",
        |db| {
            use base64::Engine;
            use strongroom::hazmat::signature::{GrantKind, ShareGrant, PREFIX};
            let (alice, bob, dave, frank) = (
                client(db, "alice"),
                client(db, "bob"),
                client(db, "dave"),
                client(db, "frank"),
            );
            put_note(&alice, "v1");
            alice.share("note", bob.id()).unwrap();
            alice.add_authorizer("note", dave.id()).unwrap();
            // Dave, a malicious authoriser, signs a read grant for Frank
            // carrying the zero point, and stores it himself.
            let dave_keys = strongroom::Profile::load(db.profile("dave"), None).unwrap();
            let zero = strongroom::EncryptionPublicKey::from_bytes([0u8; 32]);
            let grant = ShareGrant {
                writer_id: alice.id(),
                record_type: "note",
                reader_id: frank.id(),
                reader_key: zero,
                kind: GrantKind::Read,
                key_version: 1,
                granted_by: dave.id(),
                via: None,
            };
            let text = dave_keys.identity().signer().sign_grant(&grant).unwrap();
            let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.strip_prefix(PREFIX).unwrap())
                .unwrap();
            db.sql(&format!(
                "INSERT INTO policies VALUES ({}, 'note', {}, 'read', {}, NULL, {}, 1, {}, 0)",
                db.id(alice.id()),
                db.id(frank.id()),
                db.id(dave.id()),
                db.blob(&[0u8; 32]),
                db.blob(&signature)
            ));
            let revoked = alice.revoke("note", bob.id());
            assert!(
                revoked.is_ok(),
                "the revocation of Bob was blocked: {:?}",
                revoked.err()
            );
            let later = put_note(&alice, "after");
            assert!(matches!(read(&bob, later), Err(Error::AccessDenied { .. })));
            assert_eq!(read(&dave, later).unwrap(), "after");
        },
    );
}

/// SECURITY.md: "Removing an authoriser withdraws the shares it made
/// (their wrapped keys and grants are deleted) and rotates the key"; an
/// operator hiding the rows makes it `NotShared`, and the stated remedy is
/// to "rotate anyway".
///
/// Here the operator hides ONE row — the authoriser's own `authorize`
/// grant — and leaves in place the grants of the readers it shared with
/// (re-signed by the writer at a rotation, `via` the authoriser), which are
/// what keep those readers reading. `remove_authorizer` looks only at the
/// `authorize` row, says `NotShared` ("nothing was withdrawn"), and the
/// documented remedy (a rotation) wraps the new version to the
/// authoriser's reader again: Doc reads records written after the writer
/// tried to remove the clinic. `revoke` reads "whether a client holds a
/// share ... from the rows as stored"; `remove_authorizer` ignores the
/// rows `withdraw` itself would delete (granted_by/via the authoriser):
/// they count as authority still held, and are withdrawn.
#[test]
fn removing_an_authoriser_whose_grant_is_hidden_still_withdraws_its_visible_shares() {
    each_backend(
        "removing_an_authoriser_whose_grant_is_hidden_still_withdraws_its_visible_shares",
        |db| {
            let (alice, clinic, doc) =
                (client(db, "alice"), client(db, "clinic"), client(db, "doc"));
            put_note(&alice, "v1");
            alice.add_authorizer("note", clinic.id()).unwrap();
            clinic
                .share_on_behalf(alice.id(), "note", doc.id())
                .unwrap();
            // A routine rotation re-signs the clinic's share as Alice's (via the clinic).
            alice.rotate("note").unwrap();
            // Operator: hide the clinic's authorize row, nothing else.
            db.sql(&format!(
                "DELETE FROM policies WHERE reader_id = {} AND kind = 'authorize'",
                db.id(clinic.id())
            ));
            let removed = alice.remove_authorizer("note", clinic.id());
            let doc_still_listed = db.count(&format!(
                "SELECT COUNT(*) AS n FROM policies WHERE reader_id = {} AND via = {}",
                db.id(doc.id()),
                db.id(clinic.id())
            ));
            eprintln!("remove_authorizer: {removed:?}; doc's grant via the clinic still stored: {doc_still_listed}");
            if removed.is_err() {
                // The remedy SECURITY.md gives for NotShared.
                alice.rotate("note").unwrap();
            }
            let later = put_note(&alice, "after removing the clinic");
            let doc = client(db, "doc");
            assert!(
                matches!(read(&doc, later), Err(Error::AccessDenied { .. })),
                "Doc, shared with by the removed clinic, reads a record written after its removal \
                 (remove_authorizer said {:?})",
                removed.as_ref().map(|o| o.removed_readers.clone())
            );
        },
    );
}

/// Sharing with a reader whose registered key row is malformed (5 bytes)
/// or the all-zero X25519 point is `Error::BadPeerKeys` naming the reader
/// (not the record-tampering error, nor an HPKE failure naming no one),
/// and the unusable key is not pinned: once the real keys are served
/// again, the share goes through.
#[test]
fn sharing_with_a_reader_whose_key_row_is_bad_names_the_reader() {
    each_backend(
        "sharing_with_a_reader_whose_key_row_is_bad_names_the_reader",
        |db| {
            let (alice, dora, erin) = (client(db, "alice"), client(db, "dora"), client(db, "erin"));
            put_note(&alice, "v1");
            db.sql(&format!(
                "UPDATE clients SET public_key = {} WHERE client_id = {}",
                db.blob(&[1u8; 5]),
                db.id(dora.id())
            ));
            db.sql(&format!(
                "UPDATE clients SET public_key = {} WHERE client_id = {}",
                db.blob(&[0u8; 32]),
                db.id(erin.id())
            ));
            let malformed = alice.share("note", dora.id()).unwrap_err();
            let low_order = alice.share("note", erin.id()).unwrap_err();
            for (err, who) in [(&malformed, dora.id()), (&low_order, erin.id())] {
                assert!(
                    matches!(err, Error::BadPeerKeys { client_id } if *client_id == who),
                    "sharing with {who}: {err:?} ({err})"
                );
            }
            db.sql(&format!(
                "UPDATE clients SET public_key = {} WHERE client_id = {}",
                db.blob(erin.public().encryption_key.as_bytes()),
                db.id(erin.id())
            ));
            alice.share("note", erin.id()).unwrap();
            assert_eq!(read(&erin, put_note(&alice, "v2")).unwrap(), "v2");
        },
    );
}

/// SECURITY.md: "made-up, replayed or malformed rows ... never block a
/// revocation", and the recovery client "cannot be revoked for one type".
/// The operator deletes the recovery client's grants of the type and
/// garbles its `clients` row: every rotation now re-authorises the
/// recovery client (from the profile), reads its keys through the pin,
/// and must not fail on the garbled row (`KeyChanged`) — neither `revoke`
/// nor `remove_authorizer` of the recovery client is allowed as a way out.
/// The pinned key is what is used (the rows are not needed to wrap to it),
/// and the recovery client reads what is written after.
#[test]
fn a_garbled_recovery_client_row_does_not_block_a_revocation() {
    each_backend(
        "a_garbled_recovery_client_row_does_not_block_a_revocation",
        |db| {
            let (alice, bob, recovery) = (
                client(db, "alice"),
                client(db, "bob"),
                client(db, "recovery"),
            );
            put_note(&alice, "v1");
            alice.share("note", bob.id()).unwrap();
            alice.set_recovery_client(recovery.public()).unwrap();
            db.sql(&format!(
                "DELETE FROM policies WHERE reader_id = {}",
                db.id(recovery.id())
            ));
            db.sql(&format!(
                "UPDATE clients SET public_key = {} WHERE client_id = {}",
                db.blob(&[7u8; 32]),
                db.id(recovery.id())
            ));
            let revoked = alice.revoke("note", bob.id());
            assert!(
                revoked.is_ok(),
                "the revocation of Bob was blocked by the recovery client's garbled row: {:?}",
                revoked.err()
            );
            let later = put_note(&alice, "after");
            assert_eq!(read(&recovery, later).unwrap(), "after");
        },
    );
}

/// `share_on_behalf` passes over a reader the writer shared with
/// directly, but only on a direct grant for the current version: a stale
/// one replayed from before a revocation does not make the authoriser's
/// share return Ok with nothing written while the reader reads nothing.
#[test]
fn an_authorisers_share_is_not_silently_skipped_for_a_replayed_stale_direct_grant() {
    each_backend(
        "an_authorisers_share_is_not_silently_skipped_for_a_replayed_stale_direct_grant",
        |db| {
            let (alice, bob, clinic) =
                (client(db, "alice"), client(db, "bob"), client(db, "clinic"));
            put_note(&alice, "v1");
            alice.share("note", bob.id()).unwrap();
            let saved = db.texts(&format!(
                "SELECT {} AS t FROM policies WHERE reader_id = {} AND kind = 'read'",
                db.hex("signature"),
                db.id(bob.id())
            ));
            alice.revoke("note", bob.id()).unwrap();
            alice.add_authorizer("note", clinic.id()).unwrap();
            // Operator (or Bob, who can write rows) replays Bob's version-1 grant.
            db.sql(&format!(
                "INSERT INTO policies VALUES ({0}, 'note', {1}, 'read', {0}, NULL, {2}, 1, {3}, 0)",
                db.id(alice.id()),
                db.id(bob.id()),
                db.blob(bob.public().encryption_key.as_bytes()),
                db.blob(&unhex(&saved[0]))
            ));
            let later = put_note(&alice, "later");
            let outcome = clinic
                .share_on_behalf(alice.id(), "note", bob.id())
                .unwrap();
            let read_later = read(&client(db, "bob"), later);
            assert!(
                read_later.is_ok() || outcome.wrapped_keys + outcome.policies > 0,
                "share_on_behalf returned {outcome:?} (success, nothing done) and Bob reads {read_later:?}"
            );
        },
    );
}

/// README/SECURITY: under `PeerTrust::Verified` "only such pins [checked
/// against a fingerprint] are used" — a pin taken on first use is not. "A
/// writer's own pin beats an authoriser's grant key" takes only pins the
/// writer would use itself: a rotation never wraps the new version to a
/// key the operator planted at first use (which `share` itself refuses,
/// PeerNotVerified) instead of the key the verified authoriser's grant
/// names.
#[test]
fn a_rotation_under_verified_trust_never_wraps_to_an_unverified_first_use_pin() {
    each_backend(
        "a_rotation_under_verified_trust_never_wraps_to_an_unverified_first_use_pin",
        |db| {
            let (alice, bob, dave) = (client(db, "alice"), client(db, "bob"), client(db, "dave"));
            let mallory = Identity::generate().unwrap();
            alice.put("note", &note("v1"), &Plain::new()).unwrap();
            // Operator: Bob's key row names Mallory's X25519 key while Alice
            // first meets Bob (a look-up pins it on first use).
            db.sql(&format!(
                "UPDATE clients SET public_key = {} WHERE client_id = {}",
                db.blob(mallory.public().encryption_key.as_bytes()),
                db.id(bob.id())
            ));
            alice.lookup_client(bob.id()).unwrap();
            db.sql(&format!(
                "UPDATE clients SET public_key = {} WHERE client_id = {}",
                db.blob(bob.public().encryption_key.as_bytes()),
                db.id(bob.id())
            ));
            // Alice closes first use: Dave verified, then Verified trust.
            alice
                .pin_peer(dave.id(), &dave.fingerprint().unwrap())
                .unwrap();
            alice.add_authorizer("note", dave.id()).unwrap();
            alice.set_peer_trust(PeerTrust::Verified).unwrap();
            // Alice herself cannot share with Bob: his pin is not verified.
            assert!(alice.share("note", bob.id()).is_err());
            // Dave verified Bob and shares on Alice's behalf (Bob's real key).
            dave.pin_peer(bob.id(), &bob.fingerprint().unwrap())
                .unwrap();
            dave.share_on_behalf(alice.id(), "note", bob.id()).unwrap();
            let v = alice.rotate("note").unwrap().new_version.unwrap();
            let row = wrapped_key_row(db, alice.id(), bob.id(), v);
            if let Some(row) = row {
                let ctx = strongroom::hazmat::wrap::WrapContext {
                    writer_id: alice.id(),
                    record_type: "note",
                    key_version: v,
                    reader_id: bob.id(),
                    wrapper_id: alice.id(),
                };
                let stolen = strongroom::hazmat::wrap::unwrap_access_key(
                    &row,
                    &ctx,
                    mallory.encryption_secret(),
                    &alice.public().encryption_key,
                );
                assert!(
                stolen.is_err(),
                "Mallory opened the version-{v} key a rotation under Verified trust wrapped to Alice's unverified first-use pin for Bob"
            );
            }
        },
    );
}
