//! Sharing, revoking and delegating access between clients, each with its
//! own profile and its own `Store` handle (as separate processes would), on
//! SQLite and PostgreSQL; plus two real OS processes on PostgreSQL.

mod common;

use common::{each_backend, unhex, TestDb};
use strongroom::hazmat::{record, AccessKey};
use strongroom::{
    Client, ClientId, Error, Fields, NewRecord, Plain, Profile, Query, ShareKind, SkipReason,
};

fn client(db: &TestDb, name: &str) -> Client {
    Client::open_or_create(db.profile(name), &db.store()).unwrap()
}

fn note(text: &str) -> Fields {
    Fields::new().with("note", text).unwrap()
}

fn write(client: &Client, record_type: &str, text: &str) -> strongroom::RecordId {
    client
        .put(record_type, &note(text), &Plain::new())
        .unwrap()
        .id
}

fn read(client: &Client, id: strongroom::RecordId) -> strongroom::Result<String> {
    client.get(id).and_then(|r| r.field::<String>("note"))
}

/// The `note` of each record of `page`, in order.
fn page_notes(page: &strongroom::Page) -> Vec<String> {
    page.records
        .iter()
        .map(|r| r.field::<String>("note").unwrap())
        .collect()
}

fn count(db: &TestDb, table: &str) -> i64 {
    db.count(&format!("SELECT COUNT(*) AS n FROM {table}"))
}

#[test]
fn a_shared_type_is_readable_by_its_reader_only() {
    each_backend("a_shared_type_is_readable_by_its_reader_only", |db| {
        let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
        let ids: Vec<_> = (0..3)
            .map(|i| write(&alice, "note", &format!("alice {i}")))
            .collect();
        let bobs_own = write(&bob, "note", "bob's own");

        let first = alice.share("note", bob.id()).unwrap();
        assert_eq!((first.wrapped_keys, first.policies), (1, 1));
        let again = alice.share("note", bob.id()).unwrap();
        assert_eq!(
            (again.wrapped_keys, again.policies),
            (0, 0),
            "sharing twice is a no-op"
        );

        assert_eq!(read(&bob, ids[0]).unwrap(), "alice 0");
        let page = bob
            .query(&Query::new().record_type("note").shared().limit(100))
            .unwrap();
        assert_eq!(page.records.len(), 4, "alice's three and bob's own");
        assert!(page.skipped.is_empty());
        assert!(page.records.iter().any(|r| r.id() == bobs_own));
        let only_alice = bob
            .query(&Query::new().record_type("note").writers([alice.id()]))
            .unwrap();
        assert_eq!(only_alice.records.len(), 3);

        // Carol has no share: access denied on get, skipped in a query.
        assert!(matches!(
            read(&carol, ids[0]),
            Err(Error::AccessDenied { .. })
        ));
        let page = carol.query(&Query::new().writers([alice.id()])).unwrap();
        assert!(page.records.is_empty());
        assert_eq!(page.skipped.len(), 3);
        assert!(page
            .skipped
            .iter()
            .all(|s| s.reason == SkipReason::NoAccess));
        assert!(carol
            .query(&Query::new().shared())
            .unwrap()
            .records
            .is_empty());

        // Errors: unknown client, oneself.
        assert!(matches!(
            alice.share("note", ClientId::random()),
            Err(Error::UnknownClient { .. })
        ));
        assert!(matches!(
            alice.share("note", alice.id()),
            Err(Error::InvalidInput(_))
        ));
    });
}

#[test]
fn one_missing_share_does_not_fail_a_multi_writer_query() {
    each_backend(
        "one_missing_share_does_not_fail_a_multi_writer_query",
        |db| {
            let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
            write(&alice, "note", "from alice");
            write(&carol, "note", "from carol");
            alice.share("note", bob.id()).unwrap();
            let page = bob
                .query(
                    &Query::new()
                        .record_type("note")
                        .writers([alice.id(), carol.id()]),
                )
                .unwrap();
            assert_eq!(page.records.len(), 1);
            assert_eq!(
                page.records[0].field::<String>("note").unwrap(),
                "from alice"
            );
            assert_eq!(page.skipped.len(), 1);
            assert_eq!(page.skipped[0].writer_id, Some(carol.id()));
            assert_eq!(page.skipped[0].reason, SkipReason::NoAccess);
        },
    );
}

#[test]
fn sharing_writes_the_same_rows_whatever_the_number_of_records() {
    each_backend(
        "sharing_writes_the_same_rows_whatever_the_number_of_records",
        |db| {
            let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
            let batch: Vec<NewRecord> = (0..10_000)
                .map(|i| NewRecord::new("bulk", note(&format!("r{i}")), Plain::new()))
                .collect();
            alice.put_many(&batch).unwrap();
            write(&alice, "small", "one");
            let rows = |db: &TestDb| count(db, "access_keys") + count(db, "policies");
            let before = rows(db);
            let outcome = alice.share("bulk", bob.id()).unwrap();
            assert_eq!(
                rows(db) - before,
                2,
                "one wrapped key and one policy for 10,000 records"
            );
            assert_eq!((outcome.wrapped_keys, outcome.policies), (1, 1));
            let before = rows(db);
            alice.share("small", bob.id()).unwrap();
            assert_eq!(rows(db) - before, 2, "the same for one record");
            // After a rotation a new reader gets one wrapped key per live version.
            alice.rotate("bulk").unwrap();
            let before = rows(db);
            let outcome = alice.share("bulk", carol.id()).unwrap();
            assert_eq!(outcome.wrapped_keys, 2);
            assert_eq!(rows(db) - before, 3);
        },
    );
}

#[test]
fn a_revoked_reader_with_a_warm_cache_cannot_read_later_records() {
    each_backend(
        "a_revoked_reader_with_a_warm_cache_cannot_read_later_records",
        |db| {
            let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
            let old = write(&alice, "note", "before");
            alice.share("note", bob.id()).unwrap();
            alice.share("note", carol.id()).unwrap();
            assert_eq!(read(&bob, old).unwrap(), "before");
            assert_eq!(bob.stats().cached_keys, 1, "bob's cache is warm");

            let outcome = alice.revoke("note", bob.id()).unwrap();
            assert_eq!(outcome.new_version, Some(2));
            assert_eq!(outcome.wrapped_keys, 2, "alice and carol get version 2");
            let new = write(&alice, "note", "after");
            assert_eq!(
                alice.get(new).unwrap().meta().key_version,
                2,
                "new writes use the new version"
            );

            // Bob, same process, warm cache: the new record is out of reach.
            assert!(matches!(read(&bob, new), Err(Error::AccessDenied { .. })));
            // What he had already decrypted stays his: the old record, from
            // his cached version-1 key (documented).
            assert_eq!(read(&bob, old).unwrap(), "before");
            // Bob in a new process has nothing at all.
            let bob2 = client(db, "bob");
            assert!(matches!(read(&bob2, old), Err(Error::AccessDenied { .. })));
            // Carol, who remains, reads both.
            assert_eq!(read(&carol, new).unwrap(), "after");
            assert_eq!(read(&carol, old).unwrap(), "before");
            assert!(bob.incoming_shares().unwrap().is_empty());
        },
    );
}

#[test]
fn rewrapping_existing_records_puts_them_out_of_a_revoked_readers_reach() {
    each_backend(
        "rewrapping_existing_records_puts_them_out_of_a_revoked_readers_reach",
        |db| {
            let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
            let batch: Vec<NewRecord> = (0..25)
                .map(|i| NewRecord::new("note", note(&format!("n{i}")), Plain::new()))
                .collect();
            let metas = alice.put_many(&batch).unwrap();
            alice.share("note", bob.id()).unwrap();
            alice.share("note", carol.id()).unwrap();
            assert_eq!(read(&bob, metas[0].id).unwrap(), "n0");
            let before = stored_values(db);
            assert_eq!(before.len(), 25, "one value per record");

            alice.revoke("note", bob.id()).unwrap();
            // Resumable batches of 10: three transactions for 25 records.
            let done = alice.rewrap_existing("note", 10).unwrap();
            assert_eq!((done.rewrapped, done.invalid, done.batches), (25, 0, 3));
            assert_eq!(
                alice.rewrap_existing("note", 10).unwrap().rewrapped,
                0,
                "nothing left"
            );
            let after = stored_values(db);
            assert_eq!(before, after, "the value ciphertexts are untouched");

            for meta in &metas {
                let record = alice.get(meta.id).unwrap();
                assert_eq!(record.meta().key_version, 2);
                assert_eq!(record.version(), meta.version, "re-wrapping is not an edit");
                // Bob's warm version-1 key no longer opens anything.
                assert!(matches!(
                    read(&bob, meta.id),
                    Err(Error::AccessDenied { .. })
                ));
            }
            assert_eq!(read(&carol, metas[7].id).unwrap(), "n7");
        },
    );
}

/// Every value ciphertext (the part of each envelope after the sealed data
/// key), by record and field.
fn stored_values(db: &TestDb) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for column in all_sealed_fields(db) {
        for envelope in record::decode_fields(&column).unwrap().values() {
            out.push(envelope.as_bytes()[72..].to_vec());
        }
    }
    out.sort();
    out
}

fn all_sealed_fields(db: &TestDb) -> Vec<Vec<u8>> {
    db.texts(&format!(
        "SELECT {} AS t FROM records",
        db.hex("sealed_fields")
    ))
    .iter()
    .map(|hex| unhex(hex))
    .collect()
}

/// Runs a tampering `statement` and checks it changed exactly one row (an
/// id spelt unlike the stored one would silently change nothing).
fn tamper_one(db: &TestDb, statement: &str) {
    assert_eq!(db.try_sql(statement).expect(statement), 1, "{statement}");
}

/// The stored bytes of a wrapped access key (the body of its "srk1." text).
fn wrapped_key_bytes(wrapped: &str) -> Vec<u8> {
    use base64::Engine;
    let body = wrapped
        .strip_prefix(strongroom::hazmat::wrap::PREFIX)
        .expect("srk1. text");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .unwrap()
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

#[test]
fn authorizers_share_on_the_writers_behalf_until_removed() {
    each_backend(
        "authorizers_share_on_the_writers_behalf_until_removed",
        |db| {
            let (alice, dave, erin) = (client(db, "alice"), client(db, "dave"), client(db, "erin"));
            let frank = client(db, "frank");
            let id = write(&alice, "note", "delegated");
            // Without a grant Dave cannot share Alice's type.
            alice.share("note", dave.id()).unwrap();
            assert!(matches!(
                dave.share_on_behalf(alice.id(), "note", erin.id()),
                Err(Error::NotPermitted(_))
            ));

            alice.add_authorizer("note", dave.id()).unwrap();
            let outcome = dave.share_on_behalf(alice.id(), "note", erin.id()).unwrap();
            assert_eq!((outcome.wrapped_keys, outcome.policies), (1, 1));
            assert_eq!(
                read(&erin, id).unwrap(),
                "delegated",
                "a key wrapped by an authoriser is accepted"
            );
            let incoming = erin.incoming_shares().unwrap();
            assert_eq!(incoming.len(), 1);
            assert_eq!(
                (incoming[0].writer_id, incoming[0].granted_by),
                (alice.id(), dave.id())
            );
            let outgoing = alice.outgoing_shares().unwrap();
            assert!(outgoing
                .iter()
                .any(|s| s.reader_id == dave.id() && s.kind == ShareKind::Authorize));
            assert!(outgoing
                .iter()
                .any(|s| s.reader_id == erin.id() && s.kind == ShareKind::Read));

            // A rotation signs every grant again as Alice's: the listings
            // still name Dave as the one who shared with Erin, and keep when
            // each share was made.
            let since = |shares: Vec<strongroom::Share>, reader: strongroom::ClientId| {
                let share = shares.into_iter().find(|s| s.reader_id == reader).unwrap();
                (share.granted_by, share.since)
            };
            let before = since(alice.outgoing_shares().unwrap(), erin.id());
            assert_eq!(before.0, dave.id());
            alice.rotate("note").unwrap();
            assert_eq!(since(alice.outgoing_shares().unwrap(), erin.id()), before);
            assert_eq!(since(erin.incoming_shares().unwrap(), erin.id()), before);

            // Removing Dave stops further sharing and withdraws the shares he
            // made, naming their readers: Erin, in a new process, can no
            // longer read.
            let removed = alice.remove_authorizer("note", dave.id()).unwrap();
            assert_eq!(removed.removed_readers, [erin.id()]);
            assert!(matches!(
                dave.share_on_behalf(alice.id(), "note", frank.id()),
                Err(Error::NotPermitted(_))
            ));
            let erin2 = client(db, "erin");
            assert!(matches!(read(&erin2, id), Err(Error::AccessDenied { .. })));
            assert!(erin2.incoming_shares().unwrap().is_empty());
            // Dave keeps his own read access.
            assert_eq!(read(&dave, id).unwrap(), "delegated");
        },
    );
}

#[test]
fn a_key_wrapped_by_someone_not_authorised_is_rejected() {
    each_backend(
        "a_key_wrapped_by_someone_not_authorised_is_rejected",
        |db| {
            let (alice, mallory, carol) = (
                client(db, "alice"),
                client(db, "mallory"),
                client(db, "carol"),
            );
            let id = write(&alice, "note", "secret");
            alice.share("note", mallory.id()).unwrap();
            // Mallory, a legitimate reader, wraps the real key to Carol herself
            // and plants the row — and a policy naming herself an authoriser,
            // without Alice's signature.
            let key = unwrap_as(db, "mallory", &mallory, &alice, "note", 1);
            plant_wrapped_key(db, "mallory", &mallory, &alice, &carol, "note", 1, &key);
            db.sql(&format!(
                "INSERT INTO policies VALUES ({}, 'note', {}, 'authorize', {}, NULL, {}, 1, {}, 0)",
                db.id(alice.id()),
                db.id(mallory.id()),
                db.id(mallory.id()),
                db.blob(mallory.public().encryption_key.as_bytes()),
                db.blob(b"junk")
            ));
            // Carol holds a wrapped key, but from a wrapper Alice never
            // authorised: the opaque error, not "no access".
            let err = read(&carol, id).unwrap_err();
            assert!(matches!(err, Error::Decryption), "{err:?}");
            // A forged grant signature does not help either.
            tamper_one(db, &format!(
                "UPDATE policies SET granted_by = {}, signature = {} WHERE reader_id = {} AND kind = 'authorize'",
                db.id(alice.id()),
                db.blob(&[0u8; 64]),
                db.id(mallory.id())
            ));
            let carol2 = client(db, "carol");
            let err = read(&carol2, id).unwrap_err();
            assert!(matches!(err, Error::Decryption), "{err:?}");
        },
    );
}

#[test]
fn swapping_the_reader_on_a_wrapped_key_is_rejected() {
    each_backend("swapping_the_reader_on_a_wrapped_key_is_rejected", |db| {
        let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
        let id = write(&alice, "note", "secret");
        alice.share("note", bob.id()).unwrap();
        db.sql(&format!(
            "INSERT INTO access_keys SELECT writer_id, record_type, key_version, {}, wrapper_id, wrapped_key, created_at \
             FROM access_keys WHERE reader_id = {}",
            db.id(carol.id()),
            db.id(bob.id())
        ));
        let err = read(&carol, id).unwrap_err();
        assert!(matches!(err, Error::Decryption), "{err:?}");
    });
}

#[test]
fn a_reader_never_learns_another_readers_wrapped_key() {
    each_backend("a_reader_never_learns_another_readers_wrapped_key", |db| {
        let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
        write(&alice, "note", "secret");
        alice.share("note", bob.id()).unwrap();
        alice.share("note", carol.id()).unwrap();
        // Even reading Carol's row straight from the database, Bob cannot
        // open it: it is wrapped to Carol's key.
        let carols_row = wrapped_key_of(db, &alice, &carol, "note", 1);
        let bob_secret = Profile::load(db.profile("bob"), None).unwrap();
        let ctx = strongroom::hazmat::wrap::WrapContext {
            writer_id: alice.id(),
            record_type: "note",
            key_version: 1,
            reader_id: carol.id(),
            wrapper_id: alice.id(),
        };
        let result = strongroom::hazmat::wrap::unwrap_access_key(
            &carols_row,
            &ctx,
            bob_secret.identity().encryption_secret(),
            &alice.public().encryption_key,
        );
        assert!(matches!(result, Err(Error::Decryption)));
        let as_bob = strongroom::hazmat::wrap::WrapContext {
            reader_id: bob.id(),
            ..ctx
        };
        let result = strongroom::hazmat::wrap::unwrap_access_key(
            &carols_row,
            &as_bob,
            bob_secret.identity().encryption_secret(),
            &alice.public().encryption_key,
        );
        assert!(matches!(result, Err(Error::Decryption)));
    });
}

#[test]
fn a_reader_holding_the_key_cannot_forge_the_writers_records() {
    each_backend(
        "a_reader_holding_the_key_cannot_forge_the_writers_records",
        |db| {
            let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
            let real = write(&alice, "note", "genuine");
            alice.share("note", bob.id()).unwrap();
            alice.share("note", carol.id()).unwrap();
            // Bob unwraps the real access key and seals a record claiming Alice
            // wrote it, signed with his own key; he plants it in the database.
            let key = unwrap_as(db, "bob", &bob, &alice, "note", 1);
            let bob_profile = Profile::load(db.profile("bob"), None).unwrap();
            let header = strongroom::hazmat::signature::RecordHeader {
                record_id: strongroom::RecordId::random(),
                version: 1,
                record_type: "note",
                writer_id: alice.id(),
                key_version: 1,
            };
            let values =
                std::collections::BTreeMap::from([("note".to_owned(), br#""forged""#.to_vec())]);
            let batch_id = strongroom::BatchId::random();
            let forged =
                record::seal_record(&key, header, Plain::new(), &values, batch_id, 0).unwrap();
            let bob_signer = bob_profile.identity().signer();
            let batch =
                record::sign_batch(bob_signer, batch_id, std::slice::from_ref(&forged)).unwrap();
            db.sql(&format!(
                "INSERT INTO record_batches (batch_id, writer_id, digests, signature, created_at) \
                 VALUES ({}, {}, {}, {}, 0)",
                db.id(batch_id),
                db.id(alice.id()),
                db.blob(&batch.digests_bytes()),
                db.blob(batch.signature_bytes())
            ));
            let fields = db.blob(&record::encode_fields(&forged.fields).unwrap());
            db.sql(&format!(
                "INSERT INTO records (record_id, writer_id, record_type, version, plain, sealed_fields, \
                 key_version, batch_id, batch_index, created_at, updated_at) \
                 VALUES ({}, {}, 'note', 1, '{{}}', {fields}, 1, {}, 0, 0, 0)",
                db.id(forged.record_id),
                db.id(alice.id()),
                db.id(batch_id),
            ));
            for reader in [&alice, &bob, &carol] {
                assert!(matches!(
                    reader.get(forged.record_id),
                    Err(Error::Decryption)
                ));
            }
            let page = carol
                .query(&Query::new().shared().record_type("note"))
                .unwrap();
            assert_eq!(page.records.len(), 1);
            assert_eq!(page.records[0].id(), real);
            assert_eq!(page.skipped.len(), 1);
            assert!(page.skipped.iter().all(|s| s.reason == SkipReason::Invalid));
        },
    );
}

/// Unwraps (writer, type, version) with `reader`'s profile, from the row in
/// the database — what a reader can do outside the library.
fn unwrap_as(
    db: &TestDb,
    profile: &str,
    reader: &Client,
    writer: &Client,
    record_type: &str,
    version: u32,
) -> AccessKey {
    let row = wrapped_key_of(db, writer, reader, record_type, version);
    let profile = Profile::load(db.profile(profile), None).unwrap();
    let ctx = strongroom::hazmat::wrap::WrapContext {
        writer_id: writer.id(),
        record_type,
        key_version: version,
        reader_id: reader.id(),
        wrapper_id: writer.id(),
    };
    strongroom::hazmat::wrap::unwrap_access_key(
        &row,
        &ctx,
        profile.identity().encryption_secret(),
        &writer.public().encryption_key,
    )
    .unwrap()
}

/// Wraps `key` (version `version` of `writer`'s `record_type`) to
/// `reader` with the profile named `wrapper_profile`, as client `wrapper`
/// outside the library would, and plants the row in the database.
#[allow(clippy::too_many_arguments)]
fn plant_wrapped_key(
    db: &TestDb,
    wrapper_profile: &str,
    wrapper: &Client,
    writer: &Client,
    reader: &Client,
    record_type: &str,
    version: u32,
    key: &AccessKey,
) {
    let wrapper_profile = Profile::load(db.profile(wrapper_profile), None).unwrap();
    let ctx = strongroom::hazmat::wrap::WrapContext {
        writer_id: writer.id(),
        record_type,
        key_version: version,
        reader_id: reader.id(),
        wrapper_id: wrapper.id(),
    };
    let wrapped = strongroom::hazmat::wrap::wrap_access_key(
        key,
        &ctx,
        &reader.public().encryption_key,
        wrapper_profile.identity().encryption_secret(),
    )
    .unwrap();
    db.sql(&format!(
        "INSERT INTO access_keys VALUES ({}, '{record_type}', {version}, {}, {}, {}, 0)",
        db.id(writer.id()),
        db.id(reader.id()),
        db.id(wrapper.id()),
        db.blob(&wrapped_key_bytes(wrapped.as_str()))
    ));
}

fn wrapped_key_of(
    db: &TestDb,
    writer: &Client,
    reader: &Client,
    record_type: &str,
    version: u32,
) -> String {
    let stored = db
        .texts(&format!(
            "SELECT {} AS t FROM access_keys WHERE writer_id = {} AND record_type = '{record_type}' \
             AND key_version = {version} AND reader_id = {}",
            db.hex("wrapped_key"),
            db.id(writer.id()),
            db.id(reader.id())
        ))
        .pop()
        .expect("wrapped key row");
    wrapped_key_text(&unhex(&stored))
}

const CHILD_ENV: &str = "STRONGROOM_TEST_CHILD";

/// Runs one step of the reader side in a separate OS process: this test
/// binary again, running only `child_process_reader`.
fn run_child(step: &str, url: &str, profile: &std::path::Path, arg: &str) -> String {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_reader",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            CHILD_ENV,
            format!("{step}|{url}|{}|{arg}", profile.display()),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "child step {step} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.split_once("CHILD-RESULT ").map(|(_, result)| result))
        .unwrap_or_else(|| panic!("no result from child step {step}:\n{stdout}"))
        .to_owned()
}

#[test]
fn two_os_processes_share_through_postgres() {
    let Some(db) = common::postgres_db("two_os_processes_share_through_postgres") else {
        return;
    };
    let bob_profile = db.profile("bob");
    let bob_id: ClientId = run_child("register", &db.url, &bob_profile, "")
        .parse()
        .unwrap();
    let alice = client(&db, "alice");
    let old = write(&alice, "note", "for bob");
    alice.share("note", bob_id).unwrap();
    assert_eq!(
        run_child("read", &db.url, &bob_profile, &old.to_string()),
        "ok:for bob"
    );
    alice.revoke("note", bob_id).unwrap();
    let new = write(&alice, "note", "not for bob");
    assert_eq!(
        run_child("read", &db.url, &bob_profile, &new.to_string()),
        "access-denied"
    );
}

#[test]
#[ignore = "the reader half of two_os_processes_share_through_postgres: run by it in a child process"]
fn child_process_reader() {
    let spec = std::env::var(CHILD_ENV).expect("run by two_os_processes_share_through_postgres");
    let parts: Vec<&str> = spec.splitn(4, '|').collect();
    let (step, url, profile, arg) = (parts[0], parts[1], parts[2], parts[3]);
    let store = strongroom::Store::open(url).unwrap();
    let bob = Client::open_or_create(profile, &store).unwrap();
    let result = match step {
        "register" => bob.id().to_string(),
        "read" => match bob.get(arg.parse().unwrap()) {
            Ok(record) => format!("ok:{}", record.field::<String>("note").unwrap()),
            Err(Error::AccessDenied { .. }) => "access-denied".to_owned(),
            Err(other) => format!("error:{other}"),
        },
        other => panic!("unknown step {other}"),
    };
    println!("CHILD-RESULT {result}");
}

#[test]
fn an_interrupted_rewrap_resumes_where_it_stopped() {
    each_backend("an_interrupted_rewrap_resumes_where_it_stopped", |db| {
        let alice = client(db, "alice");
        let batch: Vec<NewRecord> = (0..25)
            .map(|i| NewRecord::new("note", note(&format!("n{i}")), Plain::new()))
            .collect();
        let metas = alice.put_many(&batch).unwrap();
        alice.rotate("note").unwrap();
        // The database fails the re-wrap once ten records are done: the
        // second batch's transaction rolls back.
        let guard = "(SELECT COUNT(*) FROM records WHERE key_version = 2) >= 10";
        match db.backend {
            strongroom::Backend::Sqlite => db.sql(&format!(
                "CREATE TRIGGER stop_rewrap BEFORE UPDATE ON records WHEN NEW.key_version = 2 AND {guard} \
                 BEGIN SELECT RAISE(ABORT, 'interrupted by test'); END"
            )),
            _ => {
                db.sql(&format!(
                    "CREATE FUNCTION stop_rewrap() RETURNS trigger AS $$ BEGIN \
                     IF NEW.key_version = 2 AND {guard} THEN RAISE EXCEPTION 'interrupted by test'; END IF; \
                     RETURN NEW; END $$ LANGUAGE plpgsql"
                ));
                db.sql("CREATE TRIGGER stop_rewrap BEFORE UPDATE ON records FOR EACH ROW EXECUTE FUNCTION stop_rewrap()");
            }
        }
        let err = alice.rewrap_existing("note", 10).unwrap_err();
        assert!(
            matches!(&err, Error::Database(source) if source.to_string().contains("interrupted by test")),
            "{err:?}"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) AS n FROM records WHERE key_version = 2"),
            10,
            "one batch committed"
        );
        db.sql(match db.backend {
            strongroom::Backend::Sqlite => "DROP TRIGGER stop_rewrap",
            _ => "DROP TRIGGER stop_rewrap ON records",
        });
        let resumed = alice.rewrap_existing("note", 10).unwrap();
        assert_eq!(resumed.rewrapped, 15, "only the rest");
        assert_eq!(
            db.count("SELECT COUNT(*) AS n FROM records WHERE key_version = 2"),
            25
        );
        for meta in &metas {
            assert!(read(&alice, meta.id).unwrap().starts_with('n'));
        }
    });
}

#[test]
fn a_rolled_back_key_head_does_not_readmit_a_revoked_reader() {
    each_backend(
        "a_rolled_back_key_head_does_not_readmit_a_revoked_reader",
        |db| {
            let (alice, bob) = (client(db, "alice"), client(db, "bob"));
            write(&alice, "note", "v1 era");
            alice.share("note", bob.id()).unwrap();
            alice.revoke("note", bob.id()).unwrap();
            // Bob, still holding version 1, moves the head back.
            tamper_one(
                db,
                &format!(
                    "UPDATE key_heads SET current_version = 1 WHERE writer_id = {}",
                    db.id(alice.id())
                ),
            );
            let after = write(&alice, "note", "after");
            assert_eq!(
                alice.get(after).unwrap().meta().key_version,
                2,
                "the writer's own keys decide, not the head"
            );
            assert!(matches!(read(&bob, after), Err(Error::AccessDenied { .. })));
            // And if the newest key itself disappears, a fresh process of Alice
            // refuses to write rather than fall back to version 1.
            db.sql(&format!(
                "DELETE FROM access_keys WHERE writer_id = {0} AND reader_id = {0} AND key_version = 2",
                db.id(alice.id())
            ));
            let alice2 = client(db, "alice");
            let err = alice2.put("note", &note("x"), &Plain::new()).unwrap_err();
            assert!(matches!(err, Error::KeyRollback { .. }), "{err:?}");
        },
    );
}

#[test]
fn rotation_wraps_only_to_readers_with_valid_grants_and_survives_junk_rows() {
    each_backend(
        "rotation_wraps_only_to_readers_with_valid_grants_and_survives_junk_rows",
        |db| {
            let (alice, bob, carol, mallory) = (
                client(db, "alice"),
                client(db, "bob"),
                client(db, "carol"),
                client(db, "mallory"),
            );
            write(&alice, "note", "v1");
            alice.share("note", bob.id()).unwrap();
            alice.share("note", carol.id()).unwrap();
            // Mallory plants a wrapped-key row and a read grant for herself, and
            // a row naming a client that does not exist.
            db.sql(&format!(
                "INSERT INTO access_keys VALUES ({0}, 'note', 1, {1}, {0}, {2}, 0)",
                db.id(alice.id()),
                db.id(mallory.id()),
                db.blob(b"junk")
            ));
            db.sql(&format!(
                "INSERT INTO policies VALUES ({0}, 'note', {1}, 'read', {0}, NULL, {2}, 1, {3}, 0)",
                db.id(alice.id()),
                db.id(mallory.id()),
                db.blob(mallory.public().encryption_key.as_bytes()),
                db.blob(b"junk")
            ));
            db.sql(&format!(
                "INSERT INTO access_keys VALUES ({0}, 'note', 1, {1}, {0}, {2}, 0)",
                db.id(alice.id()),
                db.id(ClientId::random()),
                db.blob(b"junk")
            ));
            let outcome = alice.revoke("note", bob.id()).unwrap();
            assert_eq!(outcome.wrapped_keys, 2, "alice and carol only");
            let later = write(&alice, "note", "v2");
            let err = read(&mallory, later).unwrap_err();
            assert!(matches!(err, Error::AccessDenied { .. }), "{err:?}");
            assert_eq!(read(&carol, later).unwrap(), "v2");
            // A revoked reader replaying its old grant is not carried forward.
            alice.rotate("note").unwrap();
            let again = write(&alice, "note", "v3");
            let err = read(&client(db, "bob"), again).unwrap_err();
            assert!(matches!(err, Error::AccessDenied { .. }), "{err:?}");
            assert_eq!(read(&carol, again).unwrap(), "v3");
        },
    );
}

#[test]
fn a_removed_authorizer_cannot_replay_its_grant() {
    each_backend("a_removed_authorizer_cannot_replay_its_grant", |db| {
        let (alice, dave, erin) = (client(db, "alice"), client(db, "dave"), client(db, "erin"));
        write(&alice, "note", "before");
        alice.add_authorizer("note", dave.id()).unwrap();
        let saved = db.texts(&format!(
            "SELECT {} AS t FROM policies WHERE reader_id = {} AND kind = 'authorize'",
            db.hex("signature"),
            db.id(dave.id())
        ));
        alice.remove_authorizer("note", dave.id()).unwrap();
        let after = write(&alice, "note", "after");
        assert_eq!(
            read(&dave, after).unwrap(),
            "after",
            "dave keeps his own read access"
        );
        // Dave puts his old (version 1) grant back and shares again.
        db.sql(&format!(
            "INSERT INTO policies VALUES ({0}, 'note', {1}, 'authorize', {0}, NULL, {3}, 1, {2}, 0)",
            db.id(alice.id()),
            db.id(dave.id()),
            db.blob(&unhex(&saved[0])),
            db.blob(dave.public().encryption_key.as_bytes())
        ));
        dave.share_on_behalf(alice.id(), "note", erin.id()).unwrap();
        assert!(
            matches!(read(&erin, after), Err(Error::AccessDenied { .. })),
            "the new version is out of reach"
        );
        // Even a new-version key Dave wraps to Erin himself is refused.
        let key = unwrap_as(db, "dave", &dave, &alice, "note", 2);
        plant_wrapped_key(db, "dave", &dave, &alice, &erin, "note", 2, &key);
        let err = read(&client(db, "erin"), after).unwrap_err();
        assert!(matches!(err, Error::Decryption), "{err:?}");
    });
}

#[test]
fn the_writers_own_key_is_only_taken_from_itself() {
    each_backend("the_writers_own_key_is_only_taken_from_itself", |db| {
        let (alice, bob) = (client(db, "alice"), client(db, "bob"));
        write(&alice, "note", "v1");
        alice.add_authorizer("note", bob.id()).unwrap();
        // Bob plants a version 2 "for Alice" that he wrapped, with a key he
        // chose, and moves the head to it.
        let chosen = AccessKey::generate();
        plant_wrapped_key(db, "bob", &bob, &alice, &alice, "note", 2, &chosen);
        tamper_one(
            db,
            &format!(
                "UPDATE key_heads SET current_version = 2 WHERE writer_id = {}",
                db.id(alice.id())
            ),
        );
        let id = write(&alice, "note", "secret");
        assert_eq!(
            alice.get(id).unwrap().meta().key_version,
            1,
            "Bob's key is never used"
        );
        assert!(matches!(
            alice.revoke("note", alice.id()),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            alice.remove_authorizer("note", alice.id()),
            Err(Error::InvalidInput(_))
        ));
    });
}

#[test]
fn a_rotation_wraps_to_the_key_in_the_grant_not_the_one_the_database_serves() {
    each_backend(
        "a_rotation_wraps_to_the_key_in_the_grant_not_the_one_the_database_serves",
        |db| {
            let (alice, bob, carol, mallory) = (
                client(db, "alice"),
                client(db, "bob"),
                client(db, "carol"),
                client(db, "mallory"),
            );
            write(&alice, "note", "v1");
            alice.add_authorizer("note", bob.id()).unwrap();
            bob.share_on_behalf(alice.id(), "note", carol.id()).unwrap();
            // Alice never pinned Carol. The database now serves Mallory's keys
            // under Carol's id.
            tamper_one(
                db,
                &format!(
                    "UPDATE clients SET public_key = {}, signing_key = {} WHERE client_id = {}",
                    db.blob(mallory.public().encryption_key.as_bytes()),
                    db.blob(mallory.public().signing_key.as_bytes()),
                    db.id(carol.id())
                ),
            );
            alice.rotate("note").unwrap();
            let later = write(&alice, "note", "v2");
            assert_eq!(
                read(&carol, later).unwrap(),
                "v2",
                "wrapped to Carol's real key"
            );
            let row = wrapped_key_of(db, &alice, &carol, "note", 2);
            let mallory_profile = Profile::load(db.profile("mallory"), None).unwrap();
            let ctx = strongroom::hazmat::wrap::WrapContext {
                writer_id: alice.id(),
                record_type: "note",
                key_version: 2,
                reader_id: carol.id(),
                wrapper_id: alice.id(),
            };
            let result = strongroom::hazmat::wrap::unwrap_access_key(
                &row,
                &ctx,
                mallory_profile.identity().encryption_secret(),
                &alice.public().encryption_key,
            );
            assert!(matches!(result, Err(Error::Decryption)));
        },
    );
}

#[test]
fn a_planted_high_key_version_neither_stops_writes_nor_poisons_the_profile() {
    each_backend(
        "a_planted_high_key_version_neither_stops_writes_nor_poisons_the_profile",
        |db| {
            let alice = client(db, "alice");
            write(&alice, "note", "v1");
            db.sql(&format!(
                "INSERT INTO access_keys VALUES ({0}, 'note', 1000000, {0}, {0}, {1}, 0)",
                db.id(alice.id()),
                db.blob(b"junk")
            ));
            let id = write(&alice, "note", "still v1");
            assert_eq!(alice.get(id).unwrap().meta().key_version, 1);
            db.sql("DELETE FROM access_keys WHERE key_version = 1000000");
            write(&client(db, "alice"), "note", "fine");
        },
    );
}

#[test]
fn removing_an_authorizer_after_a_rotation_still_withdraws_its_shares() {
    each_backend(
        "removing_an_authorizer_after_a_rotation_still_withdraws_its_shares",
        |db| {
            let (alice, bob, carol, dan) = (
                client(db, "alice"),
                client(db, "bob"),
                client(db, "carol"),
                client(db, "dan"),
            );
            write(&alice, "note", "v1");
            alice.share("note", dan.id()).unwrap();
            alice.add_authorizer("note", bob.id()).unwrap();
            bob.share_on_behalf(alice.id(), "note", carol.id()).unwrap();
            alice.rotate("note").unwrap();
            let between = write(&alice, "note", "v2");
            assert_eq!(
                read(&client(db, "carol"), between).unwrap(),
                "v2",
                "the share survives an unrelated rotation"
            );
            alice.remove_authorizer("note", bob.id()).unwrap();
            let after = write(&alice, "note", "v3");
            let err = read(&client(db, "carol"), after).unwrap_err();
            assert!(
                matches!(err, Error::AccessDenied { .. }),
                "shares that came through Bob are withdrawn: {err:?}"
            );
            assert_eq!(
                read(&client(db, "dan"), after).unwrap(),
                "v3",
                "Alice's own share stays"
            );
            assert_eq!(
                read(&client(db, "bob"), after).unwrap(),
                "v3",
                "Bob keeps his own read access"
            );
        },
    );
}

/// A key shared on the writer's behalf by an authoriser this reader cannot
/// trust (its registration deleted from the database before the reader
/// pinned it; or not verified while the profile trusts only verified
/// peers) leaves the writer's records out of a query, reported as
/// `UnknownWriter`, and every other writer's records in it; `get` of such
/// a record names the untrusted client.
#[test]
fn an_untrusted_authorisers_share_skips_its_records_not_the_query() {
    each_backend("untrusted_authoriser_share_skips", |db| {
        let (writer, clinic, other) = (
            client(db, "writer"),
            client(db, "clinic"),
            client(db, "other"),
        );
        let reader = client(db, "reader");
        let through_clinic = write(&writer, "hr", "from the writer");
        writer.add_authorizer("hr", clinic.id()).unwrap();
        clinic
            .share_on_behalf(writer.id(), "hr", reader.id())
            .unwrap();
        let direct = write(&other, "hr", "from other");
        other.share("hr", reader.id()).unwrap();

        // Unverified: the reader trusts only the peers it pinned by
        // fingerprint, and the clinic is not one of them.
        let wary = Client::open_or_create(db.profile("wary"), &db.store()).unwrap();
        for peer in [&writer, &other] {
            wary.pin_peer(peer.id(), &peer.fingerprint().unwrap())
                .unwrap();
        }
        wary.set_peer_trust(strongroom::PeerTrust::Verified)
            .unwrap();
        other.share("hr", wary.id()).unwrap();
        clinic
            .share_on_behalf(writer.id(), "hr", wary.id())
            .unwrap();
        let page = wary
            .query(&Query::new().record_type("hr").shared())
            .unwrap();
        assert_eq!(page_notes(&page), ["from other"]);
        assert!(
            !page.skipped.is_empty()
                && page
                    .skipped
                    .iter()
                    .all(|s| s.writer_id == Some(writer.id())
                        && s.reason == SkipReason::UnknownWriter),
            "{:?}",
            page.skipped
        );
        assert!(matches!(
            wary.get(through_clinic),
            Err(Error::PeerNotVerified { client_id }) if client_id == clinic.id()
        ));

        // Unregistered: the clinic's row deleted before a fresh reader
        // process ever pinned it.
        db.sql(&format!(
            "DELETE FROM clients WHERE client_id = {}",
            db.id(clinic.id())
        ));
        let fresh = client(db, "reader");
        let page = fresh
            .query(&Query::new().record_type("hr").shared())
            .unwrap();
        assert_eq!(page_notes(&page), ["from other"]);
        assert!(page
            .skipped
            .iter()
            .any(|s| s.record_id == Some(through_clinic) && s.reason == SkipReason::UnknownWriter));
        assert!(matches!(
            fresh.get(through_clinic),
            Err(Error::UnknownClient { client_id }) if client_id == clinic.id()
        ));
        assert_eq!(read(&fresh, direct).unwrap(), "from other");
    });
}
