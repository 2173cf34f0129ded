//! Rollback protection and peer keys against a colluding operator (issue
//! 12, "Found" 1–3 and 6): the operator copies the key tables, the writer
//! revokes, the operator restores them, and the writer comes back by
//! another URL, another path or another process; the operator substitutes
//! a peer's public key before and after it is pinned. Every scenario must
//! end in an error, never in a write under an old key version, never in a
//! silently used substituted key. On SQLite and PostgreSQL.

mod common;

use common::{each_backend, Immutable, TestDb};
use strongroom::PeerTrust;
use strongroom::{Backend, Client, Error, Fields, Fingerprint, Identity, Plain, Query, Store};

const KEY_TABLES: [&str; 3] = ["access_keys", "key_heads", "policies"];

fn client(profile: &std::path::Path, store: &Store) -> Client {
    Client::open_or_create(profile, store).unwrap()
}

fn note(text: &str) -> Fields {
    Fields::new().with("note", text).unwrap()
}

fn put(client: &Client, text: &str) -> strongroom::Result<strongroom::RecordMeta> {
    client.put("patient", &note(text), &Plain::new())
}

/// The operator's copy of the key tables, taken now.
fn snapshot_key_tables(db: &TestDb) {
    for table in KEY_TABLES {
        db.sql(&format!(
            "CREATE TABLE saved_{table} AS SELECT * FROM {table}"
        ));
    }
}

/// The operator puts the copied key tables back.
fn restore_key_tables(db: &TestDb) {
    for table in KEY_TABLES {
        db.sql(&format!("DELETE FROM {table}"));
        db.sql(&format!("INSERT INTO {table} SELECT * FROM saved_{table}"));
    }
}

fn records(db: &TestDb) -> i64 {
    db.count("SELECT COUNT(*) AS n FROM records")
}

/// Alice shares `patient` with Bob, Bob reads, the operator copies the key
/// tables, Alice revokes Bob, the operator restores the tables. Returns
/// Alice and Bob.
fn revoked_then_restored(db: &TestDb, store: &Store) -> (Client, Client) {
    let alice = client(&db.profile("alice"), store);
    let bob = client(&db.profile("bob"), store);
    let first = put(&alice, "before the revocation").unwrap();
    alice.share("patient", bob.id()).unwrap();
    assert_eq!(
        bob.get(first.id).unwrap().field::<String>("note").unwrap(),
        "before the revocation"
    );
    snapshot_key_tables(db);
    let revoked = alice.revoke("patient", bob.id()).unwrap();
    assert_eq!(revoked.new_version, Some(2));
    restore_key_tables(db);
    (alice, bob)
}

fn assert_rollback(result: strongroom::Result<strongroom::RecordMeta>, what: &str) {
    match result {
        Err(Error::KeyRollback { record_type }) => assert_eq!(record_type, "patient", "{what}"),
        Err(other) => panic!("{what}: expected KeyRollback, got {other:?}"),
        Ok(meta) => panic!(
            "{what}: wrote under key version {} after a rollback",
            meta.key_version
        ),
    }
}

#[test]
fn a_restored_key_table_is_refused_by_every_spelling_of_the_same_database() {
    each_backend(
        "a_restored_key_table_is_refused_by_every_spelling_of_the_same_database",
        |db| {
            let store = db.store();
            let (_alice, _bob) = revoked_then_restored(db, &store);
            let before = records(db);
            let mut urls = vec![db.url.clone()];
            match db.backend {
                Backend::Postgres => {
                    let rest = db.url.strip_prefix("postgres://").unwrap();
                    urls.push(format!("postgresql://{rest}"));
                    urls.push(format!("{}?application_name=app", db.url));
                    urls.push(format!("postgresql://{rest}?application_name=app"));
                }
                _ => {
                    // The same file, restored at another path.
                    let copy = db.dir.path().join("restored-elsewhere.db");
                    db.sql(&format!("VACUUM INTO '{}'", copy.display()));
                    urls.push(format!("sqlite://{}", copy.display()));
                }
            }
            for url in &urls {
                // A fresh process of Alice, as the operator would wait for.
                let store = Store::open(url).unwrap();
                let alice = client(&db.profile("alice"), &store);
                assert_rollback(put(&alice, "after the revocation"), url);
                assert!(matches!(
                    alice.share("patient", strongroom::ClientId::random()),
                    Err(Error::KeyRollback { .. })
                ));
            }
            assert_eq!(records(db), before, "nothing was written");
        },
    );
}

#[test]
fn a_second_process_on_the_profile_sees_the_first_ones_rotation() {
    each_backend(
        "a_second_process_on_the_profile_sees_the_first_ones_rotation",
        |db| {
            let store = db.store();
            // Two clients (as two processes) on Alice's profile, both open
            // before anything happens, both having written.
            let alice1 = client(&db.profile("alice"), &store);
            let alice2 = client(&db.profile("alice"), &db.store());
            let bob = client(&db.profile("bob"), &store);
            put(&alice1, "one").unwrap();
            put(&alice2, "two").unwrap();
            alice1.share("patient", bob.id()).unwrap();
            snapshot_key_tables(db);
            assert_eq!(
                alice1.revoke("patient", bob.id()).unwrap().new_version,
                Some(2)
            );
            restore_key_tables(db);
            let before = records(db);
            assert_rollback(put(&alice2, "after the revocation"), "client 2");
            assert_eq!(records(db), before);
        },
    );
}

#[test]
fn a_second_process_writes_under_the_version_the_first_rotated_to() {
    each_backend(
        "a_second_process_writes_under_the_version_the_first_rotated_to",
        |db| {
            let alice1 = client(&db.profile("alice"), &db.store());
            let alice2 = client(&db.profile("alice"), &db.store());
            put(&alice2, "one").unwrap();
            alice1.rotate("patient").unwrap();
            assert_eq!(put(&alice2, "two").unwrap().key_version, 2);
        },
    );
}

#[test]
fn a_database_whose_identity_changed_is_refused_until_adopted() {
    each_backend(
        "a_database_whose_identity_changed_is_refused_until_adopted",
        |db| {
            let store = db.store();
            let alice = client(&db.profile("alice"), &store);
            put(&alice, "one").unwrap();
            let original = store.database_id().unwrap();
            let new_id = strongroom::DatabaseId::random();
            db.sql(&format!(
                "UPDATE database_identity SET database_id = {}",
                db.id(new_id)
            ));
            let alice = client(&db.profile("alice"), &store);
            match put(&alice, "two") {
                Err(Error::DatabaseIdentityChanged { database }) => {
                    assert_eq!(database, Some(new_id))
                }
                other => panic!("expected DatabaseIdentityChanged, got {other:?}"),
            }
            // Deleted or malformed: the same, with no id to name. A
            // malformed id is whatever is not 16 bytes: on SQLite a text
            // value in the BLOB column, the UUID's hyphenated 36-character
            // text (the old stored spelling), 15 or 17 bytes; PostgreSQL's
            // `uuid` column holds nothing but UUIDs, so there the operator
            // relaxes NOT NULL and stores NULL.
            let replace = |value: &str| {
                vec![
                    "DELETE FROM database_identity".to_owned(),
                    format!(
                        "INSERT INTO database_identity (singleton, database_id, created_at) \
                         VALUES (1, {value}, 0)"
                    ),
                ]
            };
            let mut tampers = vec![vec!["DELETE FROM database_identity".to_owned()]];
            match db.backend {
                Backend::Sqlite => tampers.extend([
                    replace("'not a uuid'"),
                    replace(&format!("'{new_id}'")),
                    replace(&db.blob(&[0x42; 15])),
                    replace(&db.blob(&[0x42; 17])),
                ]),
                _ => {
                    let mut null = vec![
                        "ALTER TABLE database_identity ALTER COLUMN database_id DROP NOT NULL"
                            .to_owned(),
                    ];
                    null.extend(replace("NULL"));
                    tampers.push(null);
                }
            }
            for tamper in tampers {
                for statement in &tamper {
                    db.sql(statement);
                }
                let alice = client(&db.profile("alice"), &store);
                assert!(
                    matches!(
                        put(&alice, "three"),
                        Err(Error::DatabaseIdentityChanged { database: None })
                    ),
                    "{tamper:?}"
                );
            }
            // Adopting is explicit, and then writes go on; the profile now
            // knows both identities.
            let alice = client(&db.profile("alice"), &store);
            let adopted = alice.adopt_database().unwrap();
            assert_ne!(adopted, original);
            assert_eq!(put(&alice, "four").unwrap().key_version, 1);
            let profile = strongroom::Profile::load(db.profile("alice"), None).unwrap();
            assert!(profile.knows_database(original) && profile.knows_database(adopted));
            assert_eq!(profile.key_version_mark(adopted, "patient"), Some(1));
        },
    );
}

#[test]
fn a_new_database_is_remembered_on_the_first_write_and_marks_follow_rotations() {
    each_backend(
        "a_new_database_is_remembered_on_the_first_write_and_marks_follow_rotations",
        |db| {
            let store = db.store();
            let alice = client(&db.profile("alice"), &store);
            let id = store.database_id().unwrap();
            let profile = || strongroom::Profile::load(db.profile("alice"), None).unwrap();
            assert!(!profile().knows_database(id), "registering is no write");
            put(&alice, "one").unwrap();
            assert_eq!(profile().key_version_mark(id, "patient"), Some(1));
            alice.rotate("patient").unwrap();
            assert_eq!(profile().key_version_mark(id, "patient"), Some(2));
            // Another client's database: a profile of its own marks.
            let other = TestDb::sqlite();
            assert_ne!(other.store().database_id().unwrap(), id);
        },
    );
}

#[test]
fn an_in_memory_database_keeps_no_marks() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("sqlite::memory:").unwrap();
    let alice = client(&dir.path().join("alice.profile"), &store);
    put(&alice, "one").unwrap();
    let profile = strongroom::Profile::load(dir.path().join("alice.profile"), None).unwrap();
    assert_eq!(profile.databases().count(), 0);
}

/// Replaces Bob's X25519 key in `clients` with Mallory's.
fn substitute_key(db: &TestDb, victim: &Client) -> Identity {
    let mallory = Identity::generate().unwrap();
    db.sql(&format!(
        "UPDATE clients SET public_key = {} WHERE client_id = {}",
        db.blob(mallory.public().encryption_key.as_bytes()),
        db.id(victim.id())
    ));
    mallory
}

#[test]
fn a_substituted_key_before_pinning_is_caught_by_the_fingerprint() {
    each_backend(
        "a_substituted_key_before_pinning_is_caught_by_the_fingerprint",
        |db| {
            let store = db.store();
            let alice = client(&db.profile("alice"), &store);
            let bob = client(&db.profile("bob"), &store);
            put(&alice, "one").unwrap();
            let bobs_fingerprint = bob.fingerprint().unwrap();
            substitute_key(db, &bob);
            let err = alice
                .share_verified("patient", bob.id(), &bobs_fingerprint)
                .unwrap_err();
            assert!(
                matches!(err, Error::FingerprintMismatch { client_id } if client_id == bob.id()),
                "{err:?}"
            );
            assert!(alice.pinned_peers().is_empty(), "nothing pinned");
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM policies"), 0);
            assert_eq!(
                db.count("SELECT COUNT(*) AS n FROM access_keys"),
                1,
                "only Alice's own key"
            );
            // With verified trust, the first-use door is closed too.
            alice.set_peer_trust(PeerTrust::Verified).unwrap();
            assert!(matches!(
                alice.share("patient", bob.id()),
                Err(Error::PeerNotVerified { client_id }) if client_id == bob.id()
            ));
            assert!(alice.pinned_peers().is_empty());
            // The setting is in the profile, for every later process.
            let again = client(&db.profile("alice"), &store);
            assert_eq!(again.peer_trust(), PeerTrust::Verified);
        },
    );
}

#[test]
fn a_substituted_key_after_pinning_is_reported_and_never_used() {
    each_backend(
        "a_substituted_key_after_pinning_is_reported_and_never_used",
        |db| {
            let store = db.store();
            let alice = client(&db.profile("alice"), &store);
            let bob = client(&db.profile("bob"), &store);
            let bobs_note = bob.put("diary", &note("bob's"), &Plain::new()).unwrap();
            bob.share("diary", alice.id()).unwrap();
            let pinned = alice
                .pin_peer(bob.id(), &bob.fingerprint().unwrap())
                .unwrap();
            assert_eq!(pinned, *bob.public());
            assert_eq!(
                alice
                    .get(bobs_note.id)
                    .unwrap()
                    .field::<String>("note")
                    .unwrap(),
                "bob's"
            );
            substitute_key(db, &bob);
            let changed = |result: strongroom::Result<()>, what: &str| match result {
                Err(Error::KeyChanged { client_id }) => assert_eq!(client_id, bob.id(), "{what}"),
                other => panic!("{what}: expected KeyChanged, got {other:?}"),
            };
            // A fresh process of Alice (nothing cached): every operation
            // that meets Bob's key reports the substitution.
            let alice = client(&db.profile("alice"), &store);
            put(&alice, "mine").unwrap();
            changed(alice.share("patient", bob.id()).map(drop), "share");
            changed(alice.get(bobs_note.id).map(drop), "get");
            changed(
                alice
                    .query(&Query::new().record_type("diary").shared())
                    .map(drop),
                "query",
            );
            changed(alice.lookup_client(bob.id()).map(drop), "lookup");
            changed(
                alice
                    .pin_peer(bob.id(), &bob.fingerprint().unwrap())
                    .map(drop),
                "pin again",
            );
            // The pin is unchanged, and nothing was wrapped to Mallory.
            assert_eq!(alice.pinned_peers(), vec![*bob.public()]);
            assert_eq!(
                db.count(&format!(
                    "SELECT COUNT(*) AS n FROM access_keys WHERE reader_id = {} AND record_type = 'patient'",
                    db.id(bob.id())
                )),
                0
            );
        },
    );
}

#[test]
fn a_wrong_fingerprint_never_pins() {
    each_backend("a_wrong_fingerprint_never_pins", |db| {
        let store = db.store();
        let alice = client(&db.profile("alice"), &store);
        let bob = client(&db.profile("bob"), &store);
        let carol = client(&db.profile("carol"), &store);
        let wrong: Fingerprint = carol.fingerprint().unwrap();
        assert!(matches!(
            alice.pin_peer(bob.id(), &wrong),
            Err(Error::FingerprintMismatch { client_id }) if client_id == bob.id()
        ));
        assert!(alice.pinned_peers().is_empty());
        assert!(matches!(
            alice.pin_peer(strongroom::ClientId::random(), &wrong),
            Err(Error::UnknownClient { .. })
        ));
        alice
            .pin_peer(bob.id(), &bob.fingerprint().unwrap())
            .unwrap();
        assert_eq!(alice.pinned_peers(), vec![*bob.public()]);
    });
}

#[test]
fn with_verified_trust_an_unpinned_writers_records_are_skipped_in_a_query() {
    each_backend(
        "with_verified_trust_an_unpinned_writers_records_are_skipped_in_a_query",
        |db| {
            let store = db.store();
            let alice = client(&db.profile("alice"), &store);
            let bob = client(&db.profile("bob"), &store);
            let own = put(&alice, "mine").unwrap();
            let bobs = bob.put("patient", &note("bob's"), &Plain::new()).unwrap();
            bob.share("patient", alice.id()).unwrap();
            alice.set_peer_trust(PeerTrust::Verified).unwrap();
            let page = alice
                .query(&Query::new().record_type("patient").shared())
                .unwrap();
            assert_eq!(
                page.records.iter().map(|r| r.id()).collect::<Vec<_>>(),
                [own.id]
            );
            assert_eq!(page.skipped.len(), 1);
            assert_eq!(page.skipped[0].record_id, Some(bobs.id));
            assert_eq!(
                page.skipped[0].reason,
                strongroom::SkipReason::UnknownWriter
            );
            assert!(matches!(
                alice.get(bobs.id),
                Err(Error::PeerNotVerified { client_id }) if client_id == bob.id()
            ));
            // Pinned from its fingerprint, Bob's records read.
            alice
                .pin_peer(bob.id(), &bob.fingerprint().unwrap())
                .unwrap();
            assert_eq!(
                alice.get(bobs.id).unwrap().field::<String>("note").unwrap(),
                "bob's"
            );
        },
    );
}

/// SECURITY.md: if the profile cannot record a rotation's new version (a
/// read-only folder, a full disk), the rotation stands but the call
/// returns that error — until the version is recorded, a restored key table
/// would not be refused. A later write that can save the profile records it.
#[test]
fn a_revocation_whose_mark_cannot_be_saved_is_an_error_and_stands() {
    each_backend(
        "a_revocation_whose_mark_cannot_be_saved_is_an_error_and_stands",
        |db| {
            let store = db.store();
            let folder = db.dir.path().join("profiles");
            std::fs::create_dir(&folder).unwrap();
            let alice = client(&folder.join("alice.profile"), &store);
            let bob = client(&db.profile("bob"), &store);
            put(&alice, "before").unwrap();
            alice.share("patient", bob.id()).unwrap();
            let Some(frozen) = Immutable::set(
                &folder,
                "a_revocation_whose_mark_cannot_be_saved_is_an_error_and_stands",
            ) else {
                return;
            };
            let revoked = alice.revoke("patient", bob.id());
            drop(frozen);
            assert!(
                matches!(
                    revoked,
                    Err(Error::Profile(strongroom::ProfileError::Io { .. }))
                ),
                "{revoked:?}"
            );
            // The revocation stands: bob holds nothing, and the next
            // write is under the new version (and records it).
            assert!(matches!(
                alice.revoke("patient", bob.id()),
                Err(Error::NotShared { .. })
            ));
            let after = put(&alice, "after").unwrap();
            assert_eq!(after.key_version, 2);
            assert!(matches!(bob.get(after.id), Err(Error::AccessDenied { .. })));
        },
    );
}

/// The operator copies the key tables, the writer revokes, then the
/// operator gives the database a fresh identity and hides the writer's own
/// key rows for one decision, hoping the profile learns the new identity
/// with no marks, and brings the copied tables back. The writer's other
/// rows (its records and batch signatures) still name it: the decision
/// refuses, the profile learns nothing, and the restored keys stay refused.
#[test]
fn a_fresh_identity_with_the_writers_keys_hidden_is_refused() {
    each_backend(
        "a_fresh_identity_with_the_writers_keys_hidden_is_refused",
        |db| {
            let store = db.store();
            let alice = client(&db.profile("alice"), &store);
            let bob = client(&db.profile("bob"), &store);
            put(&alice, "before the revocation").unwrap();
            alice.share("patient", bob.id()).unwrap();
            snapshot_key_tables(db);
            assert_eq!(
                alice.revoke("patient", bob.id()).unwrap().new_version,
                Some(2)
            );
            let me = db.id(alice.id());
            drop(alice);
            let new_id = strongroom::DatabaseId::random();
            db.sql(&format!(
                "UPDATE database_identity SET database_id = {}",
                db.id(new_id)
            ));
            for table in KEY_TABLES {
                db.sql(&format!("DELETE FROM {table} WHERE writer_id = {me}"));
            }
            let before = records(db);
            let alice = client(&db.profile("alice"), &store);
            match put(&alice, "while the keys are hidden") {
                Err(Error::DatabaseIdentityChanged { database }) => {
                    assert_eq!(database, Some(new_id))
                }
                other => panic!("expected DatabaseIdentityChanged, got {other:?}"),
            }
            let profile = strongroom::Profile::load(db.profile("alice"), None).unwrap();
            assert!(
                !profile.knows_database(new_id),
                "a refused decision must not teach the profile the new identity"
            );
            restore_key_tables(db);
            let alice = client(&db.profile("alice"), &store);
            match put(&alice, "after the keys came back") {
                Err(Error::DatabaseIdentityChanged { .. }) => {}
                Err(other) => panic!("expected DatabaseIdentityChanged, got {other:?}"),
                Ok(meta) => panic!(
                    "wrote under key version {} after the keys came back",
                    meta.key_version
                ),
            }
            assert_eq!(records(db), before, "nothing was written");
        },
    );
}
