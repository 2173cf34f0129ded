//! Batch signatures in the store, on SQLite and PostgreSQL: one signed
//! batch per chunk of a write, batches removed once no record names them,
//! tampered batches and batch references refused, and records stored before
//! batch signatures (their own signature and tag) still read and updated.

mod common;

use common::{each_backend, unhex, TestDb};
use strongroom::hazmat::record;
use strongroom::hazmat::signature::RecordHeader;
use strongroom::{
    BatchId, Client, Error, Fields, NewRecord, Order, Plain, Profile, Query, RecordId, SkipReason,
    Store,
};

fn client(db: &TestDb, store: &Store, name: &str) -> Client {
    Client::open_or_create(db.profile(name), store).unwrap()
}

fn notes(n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| {
            NewRecord::new(
                "note",
                Fields::new().with("text", &format!("note {i}")).unwrap(),
                Plain::new(),
            )
        })
        .collect()
}

fn batches(db: &TestDb) -> i64 {
    db.count("SELECT COUNT(*) AS n FROM record_batches")
}

/// The batch a record names, as hyphenated id text (a literal for SQL is
/// `db.id(..)` of it).
fn batch_of(db: &TestDb, id: RecordId) -> String {
    db.texts(&format!(
        "SELECT {} AS t FROM records WHERE record_id = {}",
        db.id_text("batch_id"),
        db.id(id)
    ))
    .remove(0)
}

#[test]
fn a_large_write_is_signed_in_batches_and_every_record_verifies() {
    each_backend(
        "a_large_write_is_signed_in_batches_and_every_record_verifies",
        |db| {
            let alice = client(db, &db.store(), "alice");
            let metas = alice.put_many(&notes(450)).unwrap();
            // 200 records per batch: 200 + 200 + 50.
            assert_eq!(batches(db), 3);
            assert_eq!(
                db.count(
                    "SELECT COUNT(*) AS n FROM records WHERE batch_index < 0 OR batch_index >= 200"
                ),
                0,
                "every record has a place in a batch of at most 200"
            );
            let page = alice
                .query(&Query::new().record_type("note").limit(1000))
                .unwrap();
            assert_eq!(page.records.len(), 450);
            assert!(page.skipped.is_empty());
            assert_eq!(
                alice
                    .get(metas[449].id)
                    .unwrap()
                    .field::<String>("text")
                    .unwrap(),
                "note 449"
            );
        },
    );
}

#[test]
fn each_batch_of_a_write_has_its_own_creation_time_and_the_batches_page_in_order() {
    each_backend(
        "each_batch_of_a_write_has_its_own_creation_time_and_the_batches_page_in_order",
        |db| {
            let alice = client(db, &db.store(), "alice");
            let mut records = notes(450);
            for (i, record) in records.iter_mut().enumerate() {
                record.plain.insert("clinic".into(), "north".into());
                record.plain.insert("n".into(), i.to_string());
            }
            let metas = alice.put_many(&records).unwrap();
            // The call's time for the first 200, one microsecond later for
            // each batch after.
            let start = metas[0].created_at;
            for (i, meta) in metas.iter().enumerate() {
                let batch = i64::try_from(i / 200).unwrap();
                assert_eq!(
                    meta.created_at,
                    start + chrono::Duration::microseconds(batch),
                    "record {i}"
                );
                assert_eq!(meta.updated_at, meta.created_at, "record {i}");
                assert_eq!(
                    alice.get(meta.id).unwrap().meta().created_at,
                    meta.created_at
                );
            }
            // Paged by creation, unfiltered and filtered by plain meta,
            // either way: the batches in the order given (the records of
            // one batch share a creation time and page by their random id).
            for query in [
                Query::new().record_type("note"),
                Query::new().record_type("note").plain_eq("clinic", "north"),
            ] {
                for descending in [false, true] {
                    let order = if descending {
                        Order::CreatedDesc
                    } else {
                        Order::CreatedAsc
                    };
                    let mut query = query.clone().order(order).limit(70);
                    let mut batches_seen = Vec::new();
                    loop {
                        let page = alice.query(&query).unwrap();
                        assert!(page.skipped.is_empty());
                        batches_seen.extend(
                            page.records
                                .iter()
                                .map(|r| r.meta().plain["n"].parse::<usize>().unwrap() / 200),
                        );
                        match page.next {
                            Some(cursor) => query = query.after(cursor),
                            None => break,
                        }
                    }
                    let mut expected: Vec<usize> = (0..450).map(|i| i / 200).collect();
                    if descending {
                        expected.reverse();
                    }
                    assert_eq!(batches_seen, expected, "descending: {descending}");
                }
            }
        },
    );
}

#[test]
fn a_batch_is_removed_once_no_record_names_it() {
    each_backend("a_batch_is_removed_once_no_record_names_it", |db| {
        let alice = client(db, &db.store(), "alice");
        let metas = alice.put_many(&notes(3)).unwrap();
        assert_eq!(batches(db), 1);
        let first = batch_of(db, metas[0].id);
        // An update signs the new version in a batch of its own; the old
        // batch stays while two records still name it.
        let fields = Fields::new().with("text", "changed").unwrap();
        alice
            .update(metas[0].id, 1, &fields, &Plain::new())
            .unwrap();
        assert_eq!(batches(db), 2);
        assert_ne!(batch_of(db, metas[0].id), first);
        // Updated again: its one-record batch is replaced, not kept.
        alice
            .update(metas[0].id, 2, &fields, &Plain::new())
            .unwrap();
        assert_eq!(batches(db), 2);
        alice.delete(metas[1].id, 1).unwrap();
        assert_eq!(batches(db), 2);
        // The last record of the first batch goes: so does the batch.
        alice.delete(metas[2].id, 1).unwrap();
        assert_eq!(batches(db), 1);
        assert_eq!(
            db.count(&format!(
                "SELECT COUNT(*) AS n FROM record_batches WHERE batch_id = {}",
                db.id(&first)
            )),
            0
        );
        alice.delete(metas[0].id, 3).unwrap();
        assert_eq!(batches(db), 0);
    });
}

#[test]
fn tampered_batches_and_batch_references_are_refused() {
    each_backend("tampered_batches_and_batch_references_are_refused", |db| {
        let alice = client(db, &db.store(), "alice");
        let first = alice.put_many(&notes(3)).unwrap();
        let second = alice.put_many(&notes(1)).unwrap();
        let (a, b, c) = (first[0].id, first[1].id, first[2].id);
        let other_batch = batch_of(db, second[0].id);
        // a: moved to another place of its own batch.
        db.sql(&format!(
            "UPDATE records SET batch_index = 2 WHERE record_id = {}",
            db.id(a)
        ));
        // b: pointed at another batch of the same writer.
        db.sql(&format!(
            "UPDATE records SET batch_id = {}, batch_index = 0 WHERE record_id = {}",
            db.id(&other_batch),
            db.id(b)
        ));
        for id in [a, b] {
            assert!(matches!(alice.get(id), Err(Error::Decryption)), "{id}");
        }
        // Out-of-range places, a batch id no batch has, and (on SQLite,
        // whose BLOB column holds anything) malformed batch references: the
        // opaque error, never a panic.
        let a_batch = batch_of(db, a);
        let mut bad = vec![
            "batch_index = -1".to_owned(),
            "batch_index = 2147483647".to_owned(),
            format!("batch_id = {}", db.id(BatchId::random())),
        ];
        if db.backend == strongroom::Backend::Sqlite {
            let real = a_batch.replace('-', "");
            bad.extend([
                // Text in the BLOB id column.
                "batch_id = 'not-a-uuid'".to_owned(),
                // The real id in its old text spelling (36 bytes of text).
                format!("batch_id = '{a_batch}'"),
                // The real id's bytes, one short and one too many.
                format!("batch_id = x'{}'", &real[..30]),
                format!("batch_id = x'{real}00'"),
            ]);
        }
        for bad in &bad {
            // Each case from the same starting row (its real batch).
            db.sql(&format!(
                "UPDATE records SET batch_id = {}, batch_index = 2 WHERE record_id = {}",
                db.id(&a_batch),
                db.id(a)
            ));
            db.sql(&format!(
                "UPDATE records SET {bad} WHERE record_id = {}",
                db.id(a)
            ));
            assert!(matches!(alice.get(a), Err(Error::Decryption)), "{bad}");
        }
        // c still verifies; then its batch's digests are edited (one bit of
        // the first digest flipped).
        assert!(alice.get(c).is_ok());
        let batch = batch_of(db, c);
        let mut digests = unhex(
            &db.texts(&format!(
                "SELECT {} AS t FROM record_batches WHERE batch_id = {}",
                db.hex("digests"),
                db.id(&batch)
            ))
            .remove(0),
        );
        assert_eq!(digests.len(), 3 * 32, "three 32-byte digests");
        digests[0] ^= 1;
        db.sql(&format!(
            "UPDATE record_batches SET digests = {} WHERE batch_id = {}",
            db.blob(&digests),
            db.id(&batch)
        ));
        // This client verified the genuine batch before and keeps that
        // copy: c, unchanged, is still what Alice signed. A client without
        // the copy (another process, say) refuses the edited batch.
        assert!(alice.get(c).is_ok());
        let fresh = client(db, &db.store(), "alice");
        assert!(matches!(fresh.get(c), Err(Error::Decryption)));
        // The second write's batch deleted: a client that verified it (when
        // b pointed there) still reads its record; any other cannot verify
        // it.
        db.sql(&format!(
            "DELETE FROM record_batches WHERE batch_id = {}",
            db.id(&other_batch)
        ));
        assert!(alice.get(second[0].id).is_ok());
        let alice = fresh;
        assert!(matches!(alice.get(second[0].id), Err(Error::Decryption)));
        // A query skips all four as invalid rather than failing.
        let page = alice.query(&Query::new().record_type("note")).unwrap();
        assert!(page.records.is_empty());
        assert_eq!(page.skipped.len(), 4);
        assert!(page.skipped.iter().all(|s| s.reason == SkipReason::Invalid));
        // And an update refuses to build on an unverifiable record.
        let fields = Fields::new().with("text", "x").unwrap();
        assert!(matches!(
            alice.update(c, 1, &fields, &Plain::new()),
            Err(Error::Decryption)
        ));
    });
}

/// A writer's access key for "note" v1, unwrapped from its own row.
fn own_access_key(
    db: &TestDb,
    writer: &Client,
    identity: &strongroom::Identity,
) -> strongroom::hazmat::AccessKey {
    let stored = db
        .texts(&format!(
            "SELECT {1} AS t FROM access_keys WHERE writer_id = {0} AND reader_id = {0} \
             AND record_type = 'note' AND key_version = 1",
            db.id(writer.id()),
            db.hex("wrapped_key")
        ))
        .remove(0);
    // The column holds the body of the "srk1." text form.
    let eak = format!(
        "{}{}",
        strongroom::hazmat::wrap::PREFIX,
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            unhex(&stored)
        )
    );
    let ctx = strongroom::hazmat::wrap::WrapContext {
        writer_id: writer.id(),
        record_type: "note",
        key_version: 1,
        reader_id: writer.id(),
        wrapper_id: writer.id(),
    };
    strongroom::hazmat::wrap::unwrap_access_key(
        &eak,
        &ctx,
        identity.encryption_secret(),
        &writer.public().encryption_key,
    )
    .unwrap()
}

#[test]
fn a_record_row_must_name_its_batch() {
    each_backend("a_record_row_must_name_its_batch", |db| {
        let alice = client(db, &db.store(), "alice");
        let meta = alice.put_many(&notes(1)).unwrap().remove(0);
        for column in ["batch_id", "batch_index"] {
            let err = db
                .try_sql(&format!(
                    "UPDATE records SET {column} = NULL WHERE record_id = {}",
                    db.id(meta.id)
                ))
                .unwrap_err();
            match err {
                diesel::result::Error::DatabaseError(kind, info) => assert!(
                    matches!(kind, diesel::result::DatabaseErrorKind::NotNullViolation)
                        || info.message().to_lowercase().contains("not null"),
                    "{column}: {kind:?} {}",
                    info.message()
                ),
                other => panic!("{column}: {other:?}"),
            }
        }
        assert!(alice.get(meta.id).is_ok());
    });
}

#[test]
fn concurrent_updates_of_sibling_records_leave_no_batch_behind() {
    each_backend(
        "concurrent_updates_of_sibling_records_leave_no_batch_behind",
        |db| {
            // Two processes of one client (own Store each), each updating one
            // of two records that share a batch, at the same moment.
            let a = client(db, &db.store(), "alice");
            let b = client(db, &db.store(), "alice");
            let fields = Fields::new().with("text", "changed").unwrap();
            for _ in 0..20 {
                let metas = a.put_many(&notes(2)).unwrap();
                let barrier = std::sync::Barrier::new(2);
                std::thread::scope(|scope| {
                    for (who, meta) in [(&a, &metas[0]), (&b, &metas[1])] {
                        let (barrier, fields) = (&barrier, &fields);
                        scope.spawn(move || {
                            barrier.wait();
                            who.update(meta.id, 1, fields, &Plain::new()).unwrap();
                        });
                    }
                });
            }
            let unused = db.count(
                "SELECT COUNT(*) AS n FROM record_batches b WHERE NOT EXISTS \
                 (SELECT 1 FROM records r WHERE r.batch_id = b.batch_id)",
            );
            assert_eq!(unused, 0, "batches no record names");
            assert_eq!(batches(db), 40, "one batch per updated record");
        },
    );
}

#[test]
fn a_rewrap_signs_at_most_200_records_per_batch() {
    each_backend("a_rewrap_signs_at_most_200_records_per_batch", |db| {
        let store = db.store();
        let alice = client(db, &store, "alice");
        alice.put_many(&notes(450)).unwrap();
        alice.rotate("note").unwrap();
        let outcome = alice.rewrap_existing("note", 4096).unwrap();
        assert_eq!(
            (outcome.rewrapped, outcome.invalid, outcome.batches),
            (450, 0, 1)
        );
        assert_eq!(outcome.key_version, Some(2));
        // A type alice holds no key of: nothing done, and no version.
        let none = alice.rewrap_existing("no_such_type", 4096).unwrap();
        assert_eq!((none.rewrapped, none.key_version), (0, None));
        assert_eq!(
            batches(db),
            3,
            "200 + 200 + 50, the write's batches removed"
        );
        assert_eq!(
            db.count(
                "SELECT COUNT(*) AS n FROM records WHERE key_version = 2 AND batch_index < 200"
            ),
            450
        );
        let page = alice
            .query(&Query::new().record_type("note").limit(1000))
            .unwrap();
        assert_eq!((page.records.len(), page.skipped.len()), (450, 0));
    });
}

/// SECURITY.md: "Only batches of up to 200 digests are kept (1,024 of
/// them)": the 1,024 most recently used, the least recently used one
/// dropped for a new one.
#[test]
fn a_client_keeps_exactly_1024_verified_batches() {
    let db = TestDb::sqlite();
    let store = db.store();
    let alice = client(&db, &store, "alice");
    // One put, one batch.
    let ids: Vec<RecordId> = (0..1025)
        .map(|i| {
            alice
                .put("note", &Fields::new().with("n", &i).unwrap(), &Plain::new())
                .unwrap()
                .id
        })
        .collect();
    let reader = client(&db, &store, "alice");
    let verifications = || reader.stats().batch_verifications;
    for id in &ids[..1024] {
        reader.get(*id).unwrap();
    }
    assert_eq!(verifications(), 1024);
    // All 1,024 are kept: reading the first again verifies nothing.
    reader.get(ids[0]).unwrap();
    assert_eq!(verifications(), 1024);
    // A 1,025th drops the least recently used (the second record's batch,
    // since the first's was just used): it is verified again, the first's
    // is not.
    reader.get(ids[1024]).unwrap();
    assert_eq!(verifications(), 1025);
    reader.get(ids[0]).unwrap();
    assert_eq!(verifications(), 1025);
    reader.get(ids[1]).unwrap();
    assert_eq!(verifications(), 1026);
}

#[test]
fn a_verified_batch_is_not_fetched_or_verified_again() {
    each_backend("a_verified_batch_is_not_fetched_or_verified_again", |db| {
        let store = db.store();
        let alice = client(db, &store, "alice");
        let bob = client(db, &store, "bob");
        let metas = alice.put_many(&notes(450)).unwrap();
        alice.share("note", bob.id()).unwrap();
        // A fresh reader: three batches, each verified once.
        let reader = client(db, &store, "bob");
        let page = reader
            .query(&Query::new().shared().record_type("note").limit(1000))
            .unwrap();
        assert_eq!(page.records.len(), 450);
        assert_eq!(reader.stats().batch_verifications, 3);
        // Reading again, and single gets, use the verified copies.
        reader
            .query(&Query::new().shared().record_type("note").limit(1000))
            .unwrap();
        for meta in metas.iter().step_by(50) {
            reader.get(meta.id).unwrap();
        }
        let stats = reader.stats();
        assert_eq!(stats.batch_verifications, 3);
        assert_eq!(stats.batch_cache_hits, 3 + 9, "{stats:?}");
        // A cached batch still checks every record against it: a record
        // edited in the database is refused although its batch is cached.
        db.sql(&format!(
            "UPDATE records SET version = 7 WHERE record_id = {}",
            db.id(metas[0].id)
        ));
        assert!(matches!(reader.get(metas[0].id), Err(Error::Decryption)));
        assert!(reader.get(metas[1].id).is_ok());
        // Not fetched either: with every batch row gone from the database,
        // this reader still reads, a fresh one refuses every record.
        db.sql("DELETE FROM record_batches");
        let page = reader
            .query(&Query::new().shared().record_type("note").limit(1000))
            .unwrap();
        assert_eq!((page.records.len(), page.skipped.len()), (449, 1));
        let fresh = client(db, &store, "bob");
        let page = fresh
            .query(&Query::new().shared().record_type("note").limit(1000))
            .unwrap();
        assert_eq!((page.records.len(), page.skipped.len()), (0, 450));
        // Cleared, the cache is filled again from the database only.
        reader.clear_batch_cache();
        assert!(matches!(reader.get(metas[1].id), Err(Error::Decryption)));
    });
}

#[test]
fn a_cached_batch_vouches_only_for_its_own_writer() {
    each_backend("a_cached_batch_vouches_only_for_its_own_writer", |db| {
        let store = db.store();
        let (alice, bob, carol) = (
            client(db, &store, "alice"),
            client(db, &store, "bob"),
            client(db, &store, "carol"),
        );
        let metas = alice.put_many(&notes(2)).unwrap();
        alice.share("note", carol.id()).unwrap();
        bob.put_many(&notes(1)).unwrap();
        bob.share("note", carol.id()).unwrap();
        let text = |reader: &Client, id: RecordId| {
            reader
                .get(id)
                .and_then(|record| record.field::<String>("text"))
        };
        // Carol verifies Alice's batch and keeps it, under (batch, Alice).
        assert_eq!(text(&carol, metas[0].id).unwrap(), "note 0");
        assert_eq!(carol.stats().batch_verifications, 1);
        let shared_id: BatchId = batch_of(db, metas[0].id).parse().unwrap();

        // Bob, with his own keys, signs a genuine record of his in a batch
        // that reuses the id of Alice's batch (batch ids are the writer's
        // choice), and the database serves his batch under that id.
        let profile = Profile::load(db.profile("bob"), None).unwrap();
        let key = own_access_key(db, &bob, profile.identity());
        let header = RecordHeader {
            record_id: RecordId::random(),
            version: 1,
            record_type: "note",
            writer_id: bob.id(),
            key_version: 1,
        };
        let values =
            std::collections::BTreeMap::from([("text".to_owned(), br#""bob's""#.to_vec())]);
        let sealed =
            record::seal_record(&key, header, Plain::new(), &values, shared_id, 0).unwrap();
        let bobs_batch = record::sign_batch(
            profile.identity().signer(),
            shared_id,
            std::slice::from_ref(&sealed),
        )
        .unwrap();
        let alices_row = db
            .texts(&format!(
                "SELECT {} || '|' || {} || '|' || {} AS t \
                 FROM record_batches WHERE batch_id = {}",
                db.id_text("writer_id"),
                db.hex("digests"),
                db.hex("signature"),
                db.id(shared_id)
            ))
            .remove(0);
        let serve = |writer: &str, digests: &[u8], signature: &[u8]| {
            db.sql(&format!(
                "UPDATE record_batches SET writer_id = {}, digests = {}, \
                 signature = {} WHERE batch_id = {}",
                db.id(writer),
                db.blob(digests),
                db.blob(signature),
                db.id(shared_id)
            ))
        };
        serve(
            &bob.id().to_string(),
            &bobs_batch.digests_bytes(),
            bobs_batch.signature_bytes(),
        );
        db.sql(&format!(
            "INSERT INTO records (record_id, writer_id, record_type, version, plain, sealed_fields, \
             key_version, batch_id, batch_index, created_at, updated_at) \
             VALUES ({}, {}, 'note', 1, '{{}}', {}, 1, {}, 0, 0, 0)",
            db.id(sealed.record_id),
            db.id(bob.id()),
            db.blob(&record::encode_fields(&sealed.fields).unwrap()),
            db.id(shared_id),
        ));
        let bobs = sealed.record_id;

        // Carol's copy of Alice's batch is not Bob's: she fetches and
        // verifies his batch for his record, and keeps reading Alice's
        // records from her copy. A cache keyed by the batch id alone would
        // check Bob's record against Alice's batch and refuse it.
        assert_eq!(text(&carol, bobs).unwrap(), "bob's");
        assert_eq!(carol.stats().batch_verifications, 2);
        assert_eq!(text(&carol, metas[1].id).unwrap(), "note 1");
        // A reader without a copy finds only Bob's batch under that id:
        // nothing vouches for Alice's records there.
        let fresh = client(db, &store, "carol");
        assert_eq!(text(&fresh, bobs).unwrap(), "bob's");
        let err = text(&fresh, metas[1].id).unwrap_err();
        assert!(matches!(err, Error::Decryption), "{err:?}");
        // The other way round: the fresh reader keeps Bob's batch, the
        // database serves Alice's again, and both writers' records verify.
        let parts: Vec<&str> = alices_row.split('|').collect();
        serve(parts[0], &unhex(parts[1]), &unhex(parts[2]));
        assert_eq!(text(&fresh, metas[1].id).unwrap(), "note 1");
        assert_eq!(text(&fresh, bobs).unwrap(), "bob's");

        // And a record the database hands to another writer is refused,
        // whatever the cache holds.
        db.sql(&format!(
            "UPDATE records SET writer_id = {} WHERE record_id = {}",
            db.id(bob.id()),
            db.id(metas[1].id)
        ));
        for reader in [&carol, &fresh] {
            let err = text(reader, metas[1].id).unwrap_err();
            assert!(matches!(err, Error::Decryption), "{err:?}");
        }
        assert_eq!(text(&carol, metas[0].id).unwrap(), "note 0");
    });
}
