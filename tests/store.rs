//! The store suite, run on SQLite and on the real PostgreSQL server: the
//! key-value API, optimistic concurrency, transactions, access keys,
//! queries, and what the database actually holds.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Barrier, Mutex};

use common::{each_backend, TestDb};
use serde::{Deserialize, Serialize};
use strongroom::{Backend, Client, Error, Fields, NewRecord, Plain, Query, Store, StoreOptions};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Visit {
    date: String,
    notes: String,
}

fn plain(pairs: &[(&str, &str)]) -> Plain {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn patient(name: &str, clinic: &str) -> NewRecord {
    let fields = Fields::new()
        .with("name", name)
        .unwrap()
        .with("national_id", "1815-12-10")
        .unwrap()
        .with(
            "history",
            &vec![Visit {
                date: "1843".into(),
                notes: "fine".into(),
            }],
        )
        .unwrap();
    NewRecord::new(
        "patient",
        fields,
        plain(&[("clinic", clinic), ("ward", "7")]),
    )
}

fn client(db: &TestDb, store: &Store, name: &str) -> Client {
    Client::open_or_create(db.profile(name), store).unwrap()
}

#[test]
fn put_get_round_trip_with_meta() {
    each_backend("put_get_round_trip_with_meta", |db| {
        let store = db.store();
        let alice = client(db, &store, "alice");
        let p = patient("Ada Lovelace", "north");
        let meta = alice.put(&p.record_type, &p.fields, &p.plain).unwrap();
        assert_eq!(meta.version, 1);
        assert_eq!(meta.writer_id, alice.id());
        assert_eq!(meta.key_version, 1);
        let record = alice.get(meta.id).unwrap();
        assert_eq!(record.meta(), &meta);
        assert_eq!(record.field::<String>("name").unwrap(), "Ada Lovelace");
        assert_eq!(
            record.field::<Vec<Visit>>("history").unwrap(),
            vec![Visit {
                date: "1843".into(),
                notes: "fine".into()
            }]
        );
        assert!(matches!(
            record.field::<String>("absent"),
            Err(Error::MissingField { .. })
        ));
        assert!(matches!(
            record.field::<u64>("name"),
            Err(Error::ValueType { .. })
        ));
        let debug = format!("{record:?}");
        assert!(!debug.contains("Ada"), "{debug}");
        // The same profile opened again (another process) reads it too.
        let again = Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
        assert_eq!(
            again.get(meta.id).unwrap().field::<String>("name").unwrap(),
            "Ada Lovelace"
        );
        let missing = strongroom::RecordId::random();
        assert!(matches!(alice.get(missing), Err(Error::NotFound { .. })));
    });
}

#[test]
fn update_checks_the_version_and_reencrypts() {
    each_backend("update_checks_the_version_and_reencrypts", |db| {
        let store = db.store();
        let alice = client(db, &store, "alice");
        let p = patient("Ada", "north");
        let v1 = alice.put(&p.record_type, &p.fields, &p.plain).unwrap();
        let data_v1 = stored_data(db, v1.id);
        let fields = Fields::new().with("name", "Ada King").unwrap();
        let v2 = alice
            .update(v1.id, 1, &fields, &plain(&[("clinic", "south")]))
            .unwrap();
        assert_eq!(v2.version, 2);
        assert_eq!(v2.created_at, v1.created_at);
        assert_ne!(stored_data(db, v1.id), data_v1);
        // A stale version writes nothing.
        let err = alice
            .update(
                v1.id,
                1,
                &Fields::new().with("name", "stale").unwrap(),
                &Plain::new(),
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Conflict {
                    expected: Some(1),
                    found: Some(2),
                    ..
                }
            ),
            "{err:?}"
        );
        let record = alice.get(v1.id).unwrap();
        assert_eq!(record.version(), 2);
        assert_eq!(record.field::<String>("name").unwrap(), "Ada King");
        assert_eq!(record.meta().plain, plain(&[("clinic", "south")]));
        // Filters follow the new plain meta.
        let page = alice
            .query(&Query::new().plain_eq("clinic", "north"))
            .unwrap();
        assert!(page.records.is_empty());
        let page = alice
            .query(&Query::new().plain_eq("clinic", "south"))
            .unwrap();
        assert_eq!(page.records.len(), 1);
    });
}

/// A record's stored sealed-fields column, as raw bytes.
fn stored_data(db: &TestDb, id: strongroom::RecordId) -> Vec<u8> {
    let hex = db
        .texts(&format!(
            "SELECT {} AS t FROM records WHERE record_id = {}",
            db.hex("sealed_fields"),
            db.id(id)
        ))
        .remove(0);
    common::unhex(&hex)
}

#[test]
fn delete_checks_the_version() {
    each_backend("delete_checks_the_version", |db| {
        let store = db.store();
        let alice = client(db, &store, "alice");
        let p = patient("Ada", "north");
        let meta = alice.put(&p.record_type, &p.fields, &p.plain).unwrap();
        alice.update(meta.id, 1, &p.fields, &p.plain).unwrap();
        assert!(matches!(
            alice.delete(meta.id, 1),
            Err(Error::Conflict { .. })
        ));
        assert!(alice.get(meta.id).is_ok());
        alice.delete(meta.id, 2).unwrap();
        assert!(matches!(alice.get(meta.id), Err(Error::NotFound { .. })));
        assert_eq!(db.count("SELECT COUNT(*) AS n FROM meta_index"), 0);
    });
}

#[test]
fn only_the_writer_may_change_a_record() {
    each_backend("only_the_writer_may_change_a_record", |db| {
        let store = db.store();
        let alice = client(db, &store, "alice");
        let mallory = client(db, &store, "mallory");
        let p = patient("Ada", "north");
        let meta = alice.put(&p.record_type, &p.fields, &p.plain).unwrap();
        assert!(matches!(
            mallory.update(meta.id, 1, &p.fields, &p.plain),
            Err(Error::AccessDenied { .. })
        ));
        assert!(matches!(
            mallory.delete(meta.id, 1),
            Err(Error::AccessDenied { .. })
        ));
        // Not shared: the reader gets access denied, not data.
        assert!(matches!(
            mallory.get(meta.id),
            Err(Error::AccessDenied { .. })
        ));
    });
}

#[test]
fn a_transaction_that_fails_midway_leaves_no_record_and_no_key() {
    each_backend(
        "a_transaction_that_fails_midway_leaves_no_record_and_no_key",
        |db| {
            let store = db.store();
            let alice = client(db, &store, "alice");
            // The database refuses the last record's plain meta: by then version
            // 1 of the key and hundreds of records were written in the same
            // transaction.
            match db.backend {
            Backend::Sqlite => db.sql(
                "CREATE TRIGGER refuse_boom BEFORE INSERT ON records WHEN NEW.plain LIKE '%boom%' \
                 BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END",
            ),
            _ => {
                db.sql(
                    "CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN \
                     IF NEW.plain LIKE '%boom%' THEN RAISE EXCEPTION 'refused by test trigger'; END IF; \
                     RETURN NEW; END $$ LANGUAGE plpgsql",
                );
                db.sql("CREATE TRIGGER refuse_boom BEFORE INSERT ON records FOR EACH ROW EXECUTE FUNCTION refuse_boom()");
            }
        }
            let mut batch: Vec<NewRecord> = (0..650)
                .map(|i| patient(&format!("p{i}"), "north"))
                .collect();
            batch
                .last_mut()
                .unwrap()
                .plain
                .insert("ward".into(), "boom".into());
            let err = alice.put_many(&batch).unwrap_err();
            assert!(matches!(err, Error::Database(_)), "{err:?}");
            for table in ["records", "meta_index", "access_keys", "key_heads"] {
                assert_eq!(
                    db.count(&format!("SELECT COUNT(*) AS n FROM {table}")),
                    0,
                    "{table} is empty"
                );
            }
            // The next write works and creates version 1 afresh.
            batch.pop();
            let metas = alice.put_many(&batch).unwrap();
            assert_eq!(metas.len(), 649);
            assert!(metas.iter().all(|m| m.key_version == 1));
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM access_keys"), 1);
        },
    );
}

#[test]
fn put_many_returns_metas_in_order_and_all_read_back() {
    each_backend("put_many_returns_metas_in_order_and_all_read_back", |db| {
        let store = db.store();
        let alice = client(db, &store, "alice");
        let batch: Vec<NewRecord> = (0..1000)
            .map(|i| patient(&format!("patient {i}"), "north"))
            .collect();
        let metas = alice.put_many(&batch).unwrap();
        assert_eq!(metas.len(), 1000);
        for (i, meta) in metas.iter().enumerate().step_by(97) {
            assert_eq!(
                alice.get(meta.id).unwrap().field::<String>("name").unwrap(),
                format!("patient {i}")
            );
        }
        // A query over the 1,000 records of one writer unwraps exactly one key.
        let fresh = Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
        assert_eq!(fresh.stats().key_unwraps, 0);
        let page = fresh
            .query(&Query::new().record_type("patient").limit(1000))
            .unwrap();
        assert_eq!(page.records.len(), 1000);
        assert!(page.skipped.is_empty());
        assert!(page.records.iter().all(|r| r.has_data()));
        assert_eq!(fresh.stats().key_unwraps, 1, "one unwrap for 1,000 records");
        let names: HashSet<String> = page
            .records
            .iter()
            .map(|r| r.field("name").unwrap())
            .collect();
        assert_eq!(names.len(), 1000);
    });
}

#[test]
fn queries_filter_order_and_paginate() {
    each_backend("queries_filter_order_and_paginate", |db| {
        let store = db.store();
        let alice = client(db, &store, "alice");
        let bob = client(db, &store, "bob");
        let mut batch = Vec::new();
        for i in 0..25 {
            let clinic = if i % 2 == 0 { "north" } else { "south" };
            let mut p = patient(&format!("n{i}"), clinic);
            p.plain.insert("ward".into(), (i % 3).to_string());
            batch.push(p);
        }
        batch.push(NewRecord::new(
            "invoice",
            Fields::new().with("amount", &12).unwrap(),
            Plain::new(),
        ));
        let metas = alice.put_many(&batch).unwrap();
        bob.put(
            "patient",
            &Fields::new().with("name", "bob's").unwrap(),
            &plain(&[("clinic", "north")]),
        )
        .unwrap();

        // Keyset pagination: pages of 10, no overlap, nothing missed.
        let mut seen = Vec::new();
        let mut query = Query::new().record_type("patient").limit(10);
        let mut pages = 0;
        loop {
            let page = alice.query(&query).unwrap();
            pages += 1;
            seen.extend(page.records.iter().map(|r| r.id()));
            match page.next {
                Some(cursor) => query = query.after(cursor),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen.len(), 25);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 25);

        // Descending order is the reverse.
        let desc = alice
            .query(
                &Query::new()
                    .record_type("patient")
                    .order(strongroom::Order::CreatedDesc)
                    .limit(1000),
            )
            .unwrap();
        let mut reversed: Vec<_> = desc.records.iter().map(|r| r.id()).collect();
        reversed.reverse();
        assert_eq!(reversed, seen);

        // Equality on two plain keys.
        let page = alice
            .query(
                &Query::new()
                    .plain_eq("clinic", "north")
                    .plain_eq("ward", "0"),
            )
            .unwrap();
        let expected = (0..25).filter(|i| i % 2 == 0 && i % 3 == 0).count();
        assert_eq!(page.records.len(), expected);
        assert!(page
            .records
            .iter()
            .all(|r| r.meta().plain["clinic"] == "north" && r.meta().plain["ward"] == "0"));

        // The index is a hint from an untrusted database: an index row moved
        // to a record whose signed meta does not match is filtered out.
        let north = page.records[0].id();
        let south = metas
            .iter()
            .find(|m| m.plain["clinic"] == "south")
            .unwrap()
            .id;
        db.sql(&format!(
            "UPDATE meta_index SET record_id = {} WHERE record_id = {}",
            db.id(south),
            db.id(north)
        ));
        let page = alice
            .query(
                &Query::new()
                    .plain_eq("clinic", "north")
                    .plain_eq("ward", "0"),
            )
            .unwrap();
        assert_eq!(page.records.len(), expected - 1);
        assert!(page
            .records
            .iter()
            .all(|r| r.meta().plain["clinic"] == "north"));

        // Meta only: nothing decrypted, signatures still checked.
        let page = alice
            .query(&Query::new().record_type("invoice").meta_only())
            .unwrap();
        assert_eq!(page.records.len(), 1);
        assert!(!page.records[0].has_data());

        // Created range: everything was created at or after the first meta.
        let from = metas[0].created_at;
        let page = alice
            .query(&Query::new().created_between(Some(from), None).limit(1000))
            .unwrap();
        assert_eq!(page.records.len(), 26);
        let page = alice
            .query(&Query::new().created_between(None, Some(from)))
            .unwrap();
        assert!(page.records.is_empty());

        // A cursor is opaque and bound to its order; junk is a clear error.
        assert!(matches!(
            alice.query(&Query::new().limit(0)),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            alice.query(&Query::new().limit(1001)),
            Err(Error::InvalidInput(_))
        ));
        // A plain filter no write could match is refused, as the write is.
        for query in [
            Query::new().plain_eq("", "v"),
            Query::new().plain_eq("a\0", "v"),
            Query::new().plain_eq("k".repeat(256), "v"),
            Query::new().plain_eq("k", "x".repeat(64 * 1024 + 1)),
        ] {
            assert!(matches!(alice.query(&query), Err(Error::InvalidInput(_))));
        }
        assert!(alice
            .query(&Query::new().plain_eq("k", "x".repeat(64 * 1024)))
            .is_ok());
        assert!(strongroom::Cursor::parse("c1.junk").is_err());
        assert!(strongroom::Cursor::parse("c2.junk").is_err());

        // Bob's record is not in Alice's default query (her own records).
        let all = alice.query(&Query::new().limit(1000)).unwrap();
        assert!(all.records.iter().all(|r| r.meta().writer_id == alice.id()));
    });
}

#[test]
fn the_database_holds_no_sensitive_marker() {
    each_backend("the_database_holds_no_sensitive_marker", |db| {
        let store = db.store();
        let alice = client(db, &store, "alice");
        let markers = [
            "MARKER-NAME-7f3a9c",
            "MARKER-ID-19c4e2",
            "MARKER-NOTE-ab81d0",
        ];
        let mut batch = Vec::new();
        for i in 0..50 {
            let fields = Fields::new()
                .with("name", &format!("{} {i}", markers[0]))
                .unwrap()
                .with("national_id", markers[1])
                .unwrap()
                .with(
                    "history",
                    &vec![Visit {
                        date: "x".into(),
                        notes: markers[2].into(),
                    }],
                )
                .unwrap();
            batch.push(NewRecord::new(
                "patient",
                fields,
                plain(&[("clinic", "PLAIN-CONTROL-55e1")]),
            ));
        }
        let metas = alice.put_many(&batch).unwrap();
        alice
            .update(metas[0].id, 1, &batch[1].fields, &batch[1].plain)
            .unwrap();
        let dump = dump_everything(db, &store);
        assert!(
            dump.contains("PLAIN-CONTROL-55e1"),
            "the scan sees what is stored in the clear"
        );
        for marker in markers {
            assert!(
                !dump.contains(marker),
                "{marker} found in the {:?} database",
                db.backend
            );
        }
        assert!(alice
            .get(metas[0].id)
            .unwrap()
            .field::<String>("name")
            .unwrap()
            .starts_with(markers[0]));
    });
}

/// Everything the database holds, as text: SQLite's file bytes (database,
/// WAL and shared memory), or every PostgreSQL table in JSON.
fn dump_everything(db: &TestDb, store: &Store) -> String {
    match db.backend {
        Backend::Sqlite => {
            drop(store.clone());
            let base = db.sqlite_path().unwrap();
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                let path = format!("{}{suffix}", base.display());
                if let Ok(content) = std::fs::read(&path) {
                    bytes.extend(content);
                }
            }
            assert!(bytes.len() > 10_000, "the scan read the database files");
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => {
            use diesel::{Connection, RunQueryDsl};
            #[derive(diesel::QueryableByName)]
            struct Line {
                #[diesel(sql_type = diesel::sql_types::Text)]
                line: String,
            }
            #[derive(diesel::QueryableByName)]
            struct Table {
                #[diesel(sql_type = diesel::sql_types::Text)]
                table_name: String,
            }
            let mut conn = diesel::PgConnection::establish(&db.url).unwrap();
            let tables: Vec<Table> = diesel::sql_query(
                "SELECT table_name::text AS table_name FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .load(&mut conn)
            .unwrap();
            assert!(tables.len() >= 6, "all tables listed");
            let mut dump = String::new();
            for table in tables {
                let lines: Vec<Line> = diesel::sql_query(format!(
                    "SELECT row_to_json(t)::text AS line FROM \"{}\" t",
                    table.table_name
                ))
                .load(&mut conn)
                .unwrap();
                for line in lines {
                    dump.push_str(&line.line);
                    dump.push('\n');
                }
            }
            dump
        }
    }
}

#[test]
fn eight_threads_updating_one_record_have_one_winner_per_version() {
    each_backend(
        "eight_threads_updating_one_record_have_one_winner_per_version",
        |db| {
            let store = db.store();
            let alice = Arc::new(client(db, &store, "alice"));
            let fields = Fields::new().with("counter", &0u64).unwrap();
            let meta = alice.put("counter", &fields, &Plain::new()).unwrap();
            let wins: Arc<Mutex<BTreeMap<u64, usize>>> = Arc::default();
            let conflicts = Arc::new(Mutex::new(0usize));
            let barrier = Arc::new(Barrier::new(8));
            std::thread::scope(|scope| {
                for t in 0..8 {
                    let (alice, wins, conflicts, barrier) = (
                        alice.clone(),
                        wins.clone(),
                        conflicts.clone(),
                        barrier.clone(),
                    );
                    // Half the threads use their own Client and Store, as another
                    // process of the same client would.
                    let own = (t % 2 == 1)
                        .then(|| Client::open_or_create(db.profile("alice"), &db.store()).unwrap());
                    scope.spawn(move || {
                        let client = own.as_ref().unwrap_or(&alice);
                        barrier.wait();
                        for _ in 0..6 {
                            let current = client.get(meta.id).unwrap();
                            let counter: u64 = current.field("counter").unwrap();
                            let next = Fields::new().with("counter", &(counter + 1)).unwrap();
                            match client.update(meta.id, current.version(), &next, &Plain::new()) {
                                Ok(updated) => {
                                    *wins.lock().unwrap().entry(updated.version).or_default() += 1
                                }
                                Err(Error::Conflict { .. }) => *conflicts.lock().unwrap() += 1,
                                Err(other) => panic!("unexpected error: {other:?}"),
                            }
                        }
                    });
                }
            });
            let wins = wins.lock().unwrap();
            let total: usize = wins.values().sum();
            assert!(
                wins.values().all(|&n| n == 1),
                "one winner per version: {wins:?}"
            );
            assert_eq!(total + *conflicts.lock().unwrap(), 48);
            let last = alice.get(meta.id).unwrap();
            assert_eq!(last.version(), 1 + total as u64);
            assert_eq!(
                last.field::<u64>("counter").unwrap(),
                total as u64,
                "no lost update"
            );
            assert!(total >= 1);
        },
    );
}

#[test]
fn racing_first_writes_converge_on_one_key() {
    each_backend("racing_first_writes_converge_on_one_key", |db| {
        // Create the profile once; then four "processes" of the same client.
        drop(client(db, &db.store(), "alice"));
        let barrier = Arc::new(Barrier::new(4));
        let ids = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let barrier = barrier.clone();
                    scope.spawn(move || {
                        let me = Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
                        barrier.wait();
                        let p = patient("race", "north");
                        me.put(&p.record_type, &p.fields, &p.plain).unwrap().id
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(db.count("SELECT COUNT(*) AS n FROM key_heads"), 1);
        assert_eq!(db.count("SELECT COUNT(*) AS n FROM access_keys"), 1);
        let reader = Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
        for id in ids {
            assert_eq!(
                reader.get(id).unwrap().field::<String>("name").unwrap(),
                "race"
            );
        }
    });
}

#[test]
fn tampered_rows_are_the_opaque_error_and_skipped_in_queries() {
    each_backend(
        "tampered_rows_are_the_opaque_error_and_skipped_in_queries",
        |db| {
            let store = db.store();
            let alice = client(db, &store, "alice");
            let batch: Vec<NewRecord> =
                (0..3).map(|i| patient(&format!("p{i}"), "north")).collect();
            let metas = alice.put_many(&batch).unwrap();
            let (a, b, c) = (metas[0].id, metas[1].id, metas[2].id);
            // a: its envelopes swapped between two fields (a well-formed
            // sealed-fields column); b: a malformed sealed-fields column (its
            // last envelope cut short); c: a plain meta value changed in the
            // clear.
            let mut map = strongroom::hazmat::record::decode_fields(&stored_data(db, a)).unwrap();
            let name = map.remove("name").unwrap();
            let national_id = map.remove("national_id").unwrap();
            map.insert("name".into(), national_id);
            map.insert("national_id".into(), name);
            let swapped = strongroom::hazmat::record::encode_fields(&map).unwrap();
            assert!(strongroom::hazmat::record::decode_fields(&swapped).is_ok());
            db.sql(&format!(
                "UPDATE records SET sealed_fields = {} WHERE record_id = {}",
                db.blob(&swapped),
                db.id(a)
            ));
            let mut truncated = stored_data(db, b);
            truncated.pop();
            assert!(strongroom::hazmat::record::decode_fields(&truncated).is_err());
            db.sql(&format!(
                "UPDATE records SET sealed_fields = {} WHERE record_id = {}",
                db.blob(&truncated),
                db.id(b)
            ));
            db.sql(&format!(
                "UPDATE records SET plain = '{{\"clinic\":\"south\",\"ward\":\"7\"}}' WHERE record_id = {}",
                db.id(c)
            ));
            for id in [a, b, c] {
                let err = alice.get(id).unwrap_err();
                assert!(matches!(err, Error::Decryption), "{id}: {err:?}");
            }
            let page = alice.query(&Query::new()).unwrap();
            assert!(page.records.is_empty());
            assert_eq!(page.skipped.len(), 3);
            assert!(page
                .skipped
                .iter()
                .all(|s| s.reason == strongroom::SkipReason::Invalid));
        },
    );
}

#[test]
fn a_changed_registered_key_is_refused() {
    each_backend("a_changed_registered_key_is_refused", |db| {
        let store = db.store();
        let alice = client(db, &store, "alice");
        let bob = client(db, &store, "bob");
        // Alice pins Bob on first use.
        assert_eq!(alice.lookup_client(bob.id()).unwrap(), *bob.public());
        let other = strongroom::Identity::generate().unwrap();
        db.sql(&format!(
            "UPDATE clients SET signing_key = {} WHERE client_id = {}",
            db.blob(other.public().signing_key.as_bytes()),
            db.id(bob.id())
        ));
        // A fresh process of Alice still has the pin in her profile, and
        // the substitution is reported, never used silently.
        let alice2 = Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
        let err = alice2.lookup_client(bob.id()).unwrap_err();
        assert!(
            matches!(err, Error::KeyChanged { client_id } if client_id == bob.id()),
            "{err:?}"
        );
        assert_eq!(alice2.pinned_peers(), vec![*bob.public()], "the pin stays");
        // Bob's own registration no longer matches his profile.
        let err = Client::open_or_create(db.profile("bob"), &db.store()).unwrap_err();
        assert!(matches!(err, Error::KeyChanged { .. }), "{err:?}");
        assert!(matches!(
            alice.lookup_client(strongroom::ClientId::random()),
            Err(Error::UnknownClient { .. })
        ));
    });
}

#[test]
fn invalid_input_is_refused_before_anything_is_written() {
    each_backend(
        "invalid_input_is_refused_before_anything_is_written",
        |db| {
            let store = db.store();
            let alice = client(db, &store, "alice");
            let fields = Fields::new().with("name", "x").unwrap();
            for bad_type in ["", "a\u{0}b", &"t".repeat(256)] {
                assert!(matches!(
                    alice.put(bad_type, &fields, &Plain::new()),
                    Err(Error::InvalidInput(_))
                ));
            }
            let bad_fields = Fields::new().with("", "x").unwrap();
            assert!(matches!(
                alice.put("t", &bad_fields, &Plain::new()),
                Err(Error::InvalidInput(_))
            ));
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 0);
        },
    );
}

#[test]
fn unreachable_database_names_the_target_but_never_the_password() {
    let options = StoreOptions::default().connection_timeout(std::time::Duration::from_secs(2));
    let err =
        Store::open_with("postgres://alice:s3cr3t-pw@127.0.0.1:1/ledger", options).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(
        text.contains("127.0.0.1") && text.contains(":1/") && text.contains("ledger"),
        "{text}"
    );
    assert!(
        !text.contains("s3cr3t-pw") && !format!("{err:?}").contains("s3cr3t-pw"),
        "{text}"
    );
    // The TLS key's passphrase is a secret too, in a URL or keywords.
    for url in [
        "postgres://alice@127.0.0.1:1/ledger?sslpassword=tls-s3cr3t&password=pw-s3cr3t",
        "host=127.0.0.1 port=1 dbname=ledger sslpassword=tls-s3cr3t password=pw-s3cr3t",
    ] {
        let err = Store::open_with(
            url,
            StoreOptions::default().connection_timeout(std::time::Duration::from_secs(2)),
        )
        .unwrap_err();
        let shown = format!("{err} {err:?} {}", strongroom::redacted_url(url));
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        assert!(shown.contains("ledger"), "{shown}");
        assert!(
            !shown.contains("tls-s3cr3t") && !shown.contains("pw-s3cr3t"),
            "{shown}"
        );
    }
    assert!(matches!(
        Store::open("mysql://x@y/z"),
        Err(Error::InvalidUrl { .. })
    ));
}

/// Migrations in each backend's folder.
const MIGRATIONS: usize = 5;

#[test]
fn migrations_report_their_status_and_can_be_skipped() {
    each_backend("migrations_report_their_status_and_can_be_skipped", |db| {
        let bare = Store::open_with(
            &db.url,
            StoreOptions::default()
                .without_migrations()
                .create_if_missing(),
        )
        .unwrap();
        let status = bare.migration_status().unwrap();
        assert!(status.applied.is_empty());
        assert_eq!(status.pending.len(), MIGRATIONS);
        // Listing changed nothing: the database still has no schema (not
        // even diesel's migrations table, which would make it look like
        // a strongroom database to every later command).
        assert!(!bare.has_schema().unwrap());
        assert_eq!(bare.migration_status().unwrap(), status);
        assert_eq!(bare.run_migrations().unwrap().len(), MIGRATIONS);
        let status = db.store().migration_status().unwrap();
        assert_eq!(
            (status.applied.len(), status.pending.len()),
            (MIGRATIONS, 0)
        );
    });
}

#[test]
fn a_client_on_a_schema_behind_this_build_is_refused_naming_the_pending_migrations() {
    each_backend(
        "a_client_on_a_schema_behind_this_build_is_refused_naming_the_pending_migrations",
        |db| {
            let options = StoreOptions::default()
                .without_migrations()
                .create_if_missing();
            // No schema at all: every migration is pending, and the client
            // writes nothing (the database still has no schema).
            let bare = Store::open_with(&db.url, options.clone()).unwrap();
            let refused = Client::open_or_create(db.profile("alice"), &bare).unwrap_err();
            assert!(
                matches!(refused, Error::MigrationsPending { pending } if pending == MIGRATIONS),
                "{refused:?}"
            );
            assert!(refused.to_string().contains("Store::run_migrations"));
            assert!(!bare.has_schema().unwrap());
            // An older schema: the newest migration not applied yet.
            bare.run_migrations().unwrap();
            let newest = bare.migration_status().unwrap().applied.pop().unwrap();
            db.sql(&format!(
                "DELETE FROM __diesel_schema_migrations WHERE version = '{newest}'"
            ));
            let behind = Store::open_with(&db.url, options).unwrap();
            let refused = Client::open_or_create(db.profile("alice"), &behind).unwrap_err();
            assert!(
                matches!(refused, Error::MigrationsPending { pending: 1 }),
                "{refused:?}"
            );
        },
    );
}

#[test]
fn an_update_never_follows_a_record_type_changed_in_the_database() {
    each_backend(
        "an_update_never_follows_a_record_type_changed_in_the_database",
        |db| {
            let store = db.store();
            let alice = client(db, &store, "alice");
            let p = patient("Ada", "north");
            let meta = alice.put(&p.record_type, &p.fields, &p.plain).unwrap();
            alice
                .put(
                    "public",
                    &Fields::new().with("x", "y").unwrap(),
                    &Plain::new(),
                )
                .unwrap();
            db.sql(&format!(
                "UPDATE records SET record_type = 'public' WHERE record_id = {}",
                db.id(meta.id)
            ));
            let err = alice
                .update(
                    meta.id,
                    1,
                    &Fields::new().with("name", "secret v2").unwrap(),
                    &Plain::new(),
                )
                .unwrap_err();
            assert!(matches!(err, Error::Decryption), "{err:?}");
            assert_eq!(
                db.count(&format!(
                    "SELECT COUNT(*) AS n FROM records WHERE record_id = {} AND version = 1",
                    db.id(meta.id)
                )),
                1
            );
            drop(store);
        },
    );
}

/// Copies `id`'s records row under `new_id` (an SQL expression), every
/// other column as it is.
fn copy_record_as(db: &TestDb, id: strongroom::RecordId, new_id: &str) {
    db.sql(&format!(
        "INSERT INTO records (record_id, writer_id, record_type, version, plain, sealed_fields, \
         key_version, batch_id, batch_index, created_at, updated_at) SELECT {new_id}, writer_id, \
         record_type, version, plain, sealed_fields, key_version, batch_id, batch_index, \
         created_at, updated_at FROM records WHERE record_id = {}",
        db.id(id)
    ));
}

/// The record's signature binds its id: the same row copied under another
/// 16-byte id is refused (skipped as invalid in a query, the opaque error
/// from get). On SQLite, whose BLOB column also takes text, the row copied
/// under its id's 36-character text spelling is refused too.
#[test]
fn a_record_copied_under_another_id_is_refused() {
    each_backend("a_record_copied_under_another_id_is_refused", |db| {
        let alice = client(db, &db.store(), "alice");
        let meta = alice
            .put(
                "note",
                &Fields::new().with("n", "1").unwrap(),
                &Plain::new(),
            )
            .unwrap();
        let other = strongroom::RecordId::random();
        copy_record_as(db, meta.id, &db.id(other));
        assert_eq!(
            db.count(&format!(
                "SELECT COUNT(*) AS n FROM records WHERE record_id = {}",
                db.id(other)
            )),
            1,
            "the copy is stored"
        );
        let page = alice.query(&Query::new().record_type("note")).unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].id(), meta.id);
        assert_eq!(page.skipped.len(), 1);
        assert_eq!(page.skipped[0].reason, strongroom::SkipReason::Invalid);
        let err = alice.get(other).unwrap_err();
        assert!(matches!(err, Error::Decryption), "{err:?}");
        assert_eq!(
            alice.get(meta.id).unwrap().field::<String>("n").unwrap(),
            "1"
        );
        if db.backend == Backend::Sqlite {
            copy_record_as(db, meta.id, &format!("'{}'", meta.id));
            assert_eq!(
                db.count(&format!(
                    "SELECT COUNT(*) AS n FROM records WHERE record_id = '{}' AND typeof(record_id) = 'text'",
                    meta.id
                )),
                1,
                "the text copy is stored"
            );
            let page = alice.query(&Query::new().record_type("note")).unwrap();
            assert_eq!(page.records.len(), 1);
            assert_eq!(page.records[0].id(), meta.id);
            assert_eq!(page.skipped.len(), 2);
            assert!(page
                .skipped
                .iter()
                .all(|s| s.reason == strongroom::SkipReason::Invalid));
            // And under the id's very 16 bytes stored as text (another
            // SQLite value than the BLOB, so the primary key takes it): it
            // would verify, so it is refused for being text, not listed
            // as the same record twice.
            copy_record_as(db, meta.id, &format!("CAST({} AS TEXT)", db.id(meta.id)));
            assert_eq!(
                db.count(&format!(
                    "SELECT COUNT(*) AS n FROM records WHERE CAST(record_id AS BLOB) = {} \
                     AND typeof(record_id) = 'text'",
                    db.id(meta.id)
                )),
                1,
                "the 16-byte text copy is stored"
            );
            let page = alice.query(&Query::new().record_type("note")).unwrap();
            assert_eq!(page.records.len(), 1);
            assert_eq!(page.records[0].id(), meta.id);
            assert_eq!(page.skipped.len(), 3);
            assert!(page
                .skipped
                .iter()
                .all(|s| s.reason == strongroom::SkipReason::Invalid));
            assert_eq!(
                alice.get(meta.id).unwrap().field::<String>("n").unwrap(),
                "1"
            );
        }
    });
}

/// FORMAT.md: plain meta is JSON text on both engines, readable with
/// ordinary SQL (`json_extract` on SQLite, `plain::jsonb ->> 'name'` on
/// PostgreSQL), and ids are 16-byte BLOBs / `uuid`.
#[test]
fn plain_meta_and_ids_are_readable_with_ordinary_sql() {
    each_backend("plain_meta_and_ids_are_readable_with_ordinary_sql", |db| {
        let alice = client(db, &db.store(), "alice");
        let meta = alice
            .put(
                "note",
                &Fields::new().with("n", "1").unwrap(),
                &plain(&[("clinic", "north")]),
            )
            .unwrap();
        let (clinic, id) = match db.backend {
            Backend::Sqlite => (
                "json_extract(plain, '$.clinic')",
                "length(record_id) || ':' || typeof(record_id)",
            ),
            _ => ("plain::jsonb ->> 'clinic'", "pg_typeof(record_id)::text"),
        };
        assert_eq!(
            db.texts(&format!("SELECT {clinic} AS t FROM records")),
            vec!["north".to_owned()]
        );
        let expected = match db.backend {
            Backend::Sqlite => "16:blob",
            _ => "uuid",
        };
        assert_eq!(
            db.texts(&format!("SELECT {id} AS t FROM records")),
            vec![expected.to_owned()]
        );
        assert_eq!(
            db.texts(&format!(
                "SELECT {} AS t FROM records",
                db.id_text("record_id")
            )),
            vec![meta.id.to_string()]
        );
    });
}

/// The page size SQLite holds for the file at `path`.
fn sqlite_page_size(path: &std::path::Path) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Size {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        page_size: i64,
    }
    let mut conn = diesel::SqliteConnection::establish(path.to_str().expect("a UTF-8 path"))
        .expect("open the file");
    diesel::sql_query("PRAGMA page_size")
        .get_result::<Size>(&mut conn)
        .expect("read the page size")
        .page_size
}

#[test]
fn a_new_sqlite_database_gets_the_chosen_page_size_and_an_existing_one_keeps_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The default: 16 KiB pages (SQLite's own default is 4 KiB).
    let default_path = dir.path().join("default.db");
    let store =
        Store::open_or_create(&format!("sqlite://{}", default_path.display())).expect("create");
    drop(store);
    assert_eq!(
        sqlite_page_size(&default_path),
        i64::from(strongroom::DEFAULT_SQLITE_PAGE_SIZE)
    );
    assert_eq!(strongroom::DEFAULT_SQLITE_PAGE_SIZE, 16_384);

    // Another size for a new database, and the file still works.
    let small_path = dir.path().join("small.db");
    let url = format!("sqlite://{}", small_path.display());
    let store = Store::open_with(
        &url,
        StoreOptions::default()
            .create_if_missing()
            .sqlite_page_size(4096),
    )
    .expect("create with 4 KiB pages");
    let alice = Client::open_or_create(dir.path().join("alice.profile"), &store).expect("client");
    let note = patient("Kept Note", "north");
    let id = alice
        .put(&note.record_type, &note.fields, &note.plain)
        .expect("put")
        .id;
    drop((alice, store));
    assert_eq!(sqlite_page_size(&small_path), 4096);

    // Opened again with another page size: the existing file keeps its own.
    let store =
        Store::open_with(&url, StoreOptions::default().sqlite_page_size(65_536)).expect("reopen");
    let alice = Client::open_or_create(dir.path().join("alice.profile"), &store).expect("client");
    let record = alice.get(id).expect("read back");
    assert_eq!(
        record.field::<String>("name").expect("the name"),
        "Kept Note"
    );
    drop((alice, store));
    assert_eq!(sqlite_page_size(&small_path), 4096);

    // A size SQLite cannot use is refused before anything is created.
    for bad in [0, 256, 1000, 131_072] {
        let path = dir.path().join(format!("bad-{bad}.db"));
        let err = Store::open_with(
            &format!("sqlite://{}", path.display()),
            StoreOptions::default()
                .create_if_missing()
                .sqlite_page_size(bad),
        )
        .expect_err("an invalid page size");
        assert!(matches!(err, Error::InvalidInput(_)), "{bad}: {err:?}");
        assert!(!path.exists(), "{bad}: nothing created");
    }
}

/// Every page of `query`, in order: the ids.
fn all_pages(client: &Client, mut query: Query) -> Vec<strongroom::RecordId> {
    let mut ids = Vec::new();
    loop {
        let page = client.query(&query).unwrap();
        ids.extend(page.records.iter().map(|r| r.id()));
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => return ids,
        }
    }
}

#[test]
fn filtered_pages_walk_the_meta_index_in_order_across_pages() {
    each_backend(
        "filtered_pages_walk_the_meta_index_in_order_across_pages",
        |db| {
            let store = db.store();
            let alice = client(db, &store, "alice");
            let bob = client(db, &store, "bob");
            // Three batches (three creation times, ids ordering within
            // each): clinic north for every third record, ward by parity.
            for batch in 0..3 {
                let records: Vec<NewRecord> = (0..20)
                    .map(|i| {
                        let n = batch * 20 + i;
                        let clinic = if n % 3 == 0 { "north" } else { "south" };
                        let mut p = patient(&format!("n{n}"), clinic);
                        p.plain.insert("ward".into(), (n % 2).to_string());
                        p
                    })
                    .collect();
                alice.put_many(&records).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            // The same plain entry on another type and another writer's
            // records: never in alice's patient pages.
            alice
                .put(
                    "invoice",
                    &Fields::new().with("amount", &1).unwrap(),
                    &plain(&[("clinic", "north")]),
                )
                .unwrap();
            bob.put_many(&[patient("b1", "north"), patient("b2", "north")])
                .unwrap();

            let everything = all_pages(&alice, Query::new().record_type("patient").limit(1000));
            assert_eq!(everything.len(), 60);
            let all = alice
                .query(&Query::new().record_type("patient").limit(1000))
                .unwrap()
                .records;
            let matching = |ward: Option<&str>| -> Vec<_> {
                all.iter()
                    .filter(|r| r.meta().plain["clinic"] == "north")
                    .filter(|r| ward.is_none_or(|w| r.meta().plain["ward"] == w))
                    .map(|r| r.id())
                    .collect()
            };
            let north = matching(None);
            let both = matching(Some("0"));
            assert_eq!(north.len(), 20);

            for limit in [1, 3, 7, 20, 1000] {
                let filtered = Query::new()
                    .record_type("patient")
                    .plain_eq("clinic", "north")
                    .limit(limit);
                assert_eq!(all_pages(&alice, filtered.clone()), north, "limit {limit}");
                let mut reversed = north.clone();
                reversed.reverse();
                assert_eq!(
                    all_pages(&alice, filtered.order(strongroom::Order::CreatedDesc)),
                    reversed,
                    "limit {limit}, newest first"
                );
                // A second filter narrows the walk of the first.
                assert_eq!(
                    all_pages(
                        &alice,
                        Query::new()
                            .record_type("patient")
                            .plain_eq("clinic", "north")
                            .plain_eq("ward", "0")
                            .limit(limit)
                    ),
                    both,
                    "limit {limit}, two filters"
                );
            }

            // An update that moves a record out of the entry, and a delete:
            // the index follows both, and the walk with them.
            let moved = north[4];
            alice
                .update(
                    moved,
                    1,
                    &Fields::new().with("name", "moved").unwrap(),
                    &plain(&[("clinic", "south"), ("ward", "0")]),
                )
                .unwrap();
            let deleted = north[9];
            alice.delete(deleted, 1).unwrap();
            let left: Vec<_> = north
                .iter()
                .copied()
                .filter(|id| *id != moved && *id != deleted)
                .collect();
            assert_eq!(
                all_pages(
                    &alice,
                    Query::new()
                        .record_type("patient")
                        .plain_eq("clinic", "north")
                        .limit(4)
                ),
                left
            );
            assert_eq!(
                db.count(&format!(
                    "SELECT COUNT(*) AS n FROM meta_index WHERE record_id = {}",
                    db.id(deleted)
                )),
                0
            );
        },
    );
}

#[test]
fn the_meta_index_migration_keeps_every_entry_of_a_database_written_before_it() {
    each_backend(
        "the_meta_index_migration_keeps_every_entry_of_a_database_written_before_it",
        |db| {
            let alice = client(db, &db.store(), "alice");
            let records: Vec<NewRecord> = (0..12)
                .map(|n| patient(&format!("n{n}"), if n % 3 == 0 { "north" } else { "south" }))
                .collect();
            alice.put_many(&records).unwrap();
            let filtered = Query::new()
                .record_type("patient")
                .plain_eq("clinic", "north")
                .limit(2);
            let before = all_pages(&alice, filtered.clone());
            assert_eq!(before.len(), 4);
            drop(alice);

            // Back to the shape before migration 000004, as a database
            // written by an earlier version holds it: the later migrations
            // undone first, newest first.
            let folder = match db.backend {
                Backend::Sqlite => "sqlite",
                _ => "postgres",
            };
            for (migration, version) in [
                (
                    "2026-12-07-000005_meta_index_deduplicated",
                    "20261207000005",
                ),
                (
                    "2026-12-06-000004_meta_index_in_creation_order",
                    "20261206000004",
                ),
            ] {
                let down = std::fs::read_to_string(format!(
                    "{}/migrations/{folder}/{migration}/down.sql",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .unwrap();
                for statement in down.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    db.sql(statement);
                }
                db.sql(&format!(
                    "DELETE FROM __diesel_schema_migrations WHERE version = '{version}'"
                ));
            }
            assert_eq!(
                db.count("SELECT COUNT(*) AS n FROM meta_index"),
                24,
                "two entries a record, in the old shape"
            );

            // Opening runs the migration; the entries and the pages are back.
            let alice = client(db, &db.store(), "alice");
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM meta_index"), 24);
            assert_eq!(all_pages(&alice, filtered), before);
        },
    );
}

#[test]
fn a_meta_index_row_with_a_false_time_never_repeats_a_record_across_pages() {
    each_backend(
        "a_meta_index_row_with_a_false_time_never_repeats_a_record_across_pages",
        |db| {
            let alice = client(db, &db.store(), "alice");
            let mut ids = Vec::new();
            for n in 0..6 {
                let meta = alice
                    .put(
                        "note",
                        &Fields::new().with("n", &n).unwrap(),
                        &plain(&[("clinic", "north")]),
                    )
                    .unwrap();
                ids.push(meta.id);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            // The database moves two records' index rows to the end of the
            // walk (times after every record's): the first of them ends a
            // page whose cursor, its record's own time, lies before the
            // records the walk returned just before it.
            for (id, time) in [
                (ids[1], "9000000000000000000"),
                (ids[2], "9000000000000000001"),
            ] {
                db.sql(&format!(
                    "UPDATE meta_index SET created_at = {time} WHERE record_id = {}",
                    db.id(id)
                ));
            }
            for limit in [1, 2, 4, 5] {
                let seen = all_pages(
                    &alice,
                    Query::new()
                        .record_type("note")
                        .plain_eq("clinic", "north")
                        .limit(limit),
                );
                let distinct: HashSet<_> = seen.iter().collect();
                assert_eq!(
                    distinct.len(),
                    seen.len(),
                    "limit {limit}: a record came back twice"
                );
                assert!(seen.iter().all(|id| ids.contains(id)), "limit {limit}");
                // Every record the index still orders truthfully is there.
                for id in ids.iter().filter(|id| **id != ids[1] && **id != ids[2]) {
                    assert!(seen.contains(id), "limit {limit}: {id} missing");
                }
            }
        },
    );
}

/// Processes migrating one fresh database at once (replicas starting
/// together) take turns: every one succeeds, the migrations are applied
/// once, and the schema is whole.
#[test]
fn stores_migrating_one_fresh_database_at_once_all_succeed() {
    each_backend(
        "stores_migrating_one_fresh_database_at_once_all_succeed",
        |db| {
            const STORES: usize = 4;
            let barrier = Barrier::new(STORES);
            let applied: Vec<usize> = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..STORES)
                    .map(|_| {
                        scope.spawn(|| {
                            let store = Store::open_with(
                                &db.url,
                                StoreOptions::default()
                                    .without_migrations()
                                    .create_if_missing(),
                            )
                            .unwrap();
                            barrier.wait();
                            store.run_migrations().map(|applied| applied.len())
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|w| w.join().unwrap().expect("a concurrent migration failed"))
                    .collect()
            });
            assert_eq!(applied.iter().sum::<usize>(), MIGRATIONS, "{applied:?}");
            let status = db.store().migration_status().unwrap();
            assert_eq!(
                (status.applied.len(), status.pending.len()),
                (MIGRATIONS, 0)
            );
            // The schema works.
            let alice = client(db, &db.store(), "alice");
            let p = patient("Ada", "north");
            alice.put(&p.record_type, &p.fields, &p.plain).unwrap();
        },
    );
}

/// "Only records created at or after `from` and before `before`" (and the
/// same for `updated_between`), judged at the bounds' full precision:
/// stored times are whole microseconds, and a bound a nanosecond past a
/// record's time is past it.
#[test]
fn time_bounds_between_two_microseconds_are_compared_exactly() {
    each_backend(
        "time_bounds_between_two_microseconds_are_compared_exactly",
        |db| {
            let store = db.store();
            let alice = Client::open_or_create(db.profile("alice"), &store).unwrap();
            let meta = alice
                .put(
                    "note",
                    &Fields::new().with("text", "a").unwrap(),
                    &Plain::new(),
                )
                .unwrap();
            let nano = chrono::Duration::nanoseconds(1);
            let count = |query: Query| alice.query(&query).unwrap().records.len();
            for (t, between) in [
                (
                    meta.created_at,
                    Query::created_between as fn(Query, _, _) -> Query,
                ),
                (meta.updated_at, Query::updated_between),
            ] {
                // At or after `from`: not when `from` is a nanosecond later.
                assert_eq!(count(between(Query::new(), Some(t), None)), 1);
                assert_eq!(count(between(Query::new(), Some(t + nano), None)), 0);
                assert_eq!(count(between(Query::new(), Some(t - nano), None)), 1);
                // Before `before`: when `before` is a nanosecond later.
                assert_eq!(count(between(Query::new(), None, Some(t))), 0);
                assert_eq!(count(between(Query::new(), None, Some(t + nano))), 1);
                assert_eq!(count(between(Query::new(), None, Some(t - nano))), 0);
            }
        },
    );
}
