//! Single-flight key unwrap (issue 18): concurrent first reads of the same
//! (writer, record type, key version) through one client unwrap that
//! access key once; the others wait for it and take it from the cache.

mod common;

use std::sync::{Arc, Barrier};

use common::{each_backend, TestDb};
use strongroom::{Client, Fields, NewRecord, Plain, RecordId, Store, StoreOptions};

const THREADS: usize = 16;

fn store(db: &TestDb) -> Store {
    let options = StoreOptions::default()
        .pool_size(THREADS as u32)
        .create_if_missing();
    Store::open_with(&db.url, options).unwrap()
}

fn notes(count: usize, tag: &str) -> Vec<NewRecord> {
    (0..count)
        .map(|i| {
            let fields = Fields::new().with("text", &format!("{tag} {i}")).unwrap();
            NewRecord::new("note", fields, Plain::new())
        })
        .collect()
}

/// Reads `ids` at once, one thread each, through `reader`.
fn read_all_at_once(reader: &Arc<Client>, ids: &[RecordId]) {
    let start = Arc::new(Barrier::new(ids.len()));
    let threads: Vec<_> = ids
        .iter()
        .map(|&id| {
            let (reader, start) = (reader.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                reader.get(id).unwrap().field::<String>("text").unwrap()
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn concurrent_first_reads_of_a_shared_type_unwrap_each_key_version_once() {
    each_backend(
        "concurrent_first_reads_of_a_shared_type_unwrap_each_key_version_once",
        |db| {
            let store = store(db);
            let alice = Client::open_or_create(db.profile("alice"), &store).unwrap();
            let bob = Client::open_or_create(db.profile("bob"), &store).unwrap();
            // Two key versions: half the records under each.
            let mut ids: Vec<RecordId> = alice
                .put_many(&notes(THREADS / 2, "v1"))
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect();
            alice.rotate("note").unwrap();
            ids.extend(
                alice
                    .put_many(&notes(THREADS / 2, "v2"))
                    .unwrap()
                    .iter()
                    .map(|m| m.id),
            );
            alice.share("note", bob.id()).unwrap();
            drop(bob);

            // Several rounds, each through a fresh reader (empty caches), so
            // that the threads really meet at the unwrap.
            for round in 0..5 {
                let reader = Arc::new(Client::open_or_create(db.profile("bob"), &store).unwrap());
                assert_eq!(reader.stats().key_unwraps, 0);
                read_all_at_once(&reader, &ids);
                let stats = reader.stats();
                assert_eq!(
                    stats.key_unwraps, 2,
                    "round {round}: {THREADS} concurrent first reads over two key versions \
                     unwrap each version once ({stats:?})"
                );
                assert_eq!(stats.cached_keys, 2);
                // Later reads are cache hits.
                read_all_at_once(&reader, &ids);
                assert_eq!(reader.stats().key_unwraps, 2);
            }
        },
    );
}

#[test]
fn a_failed_unwrap_does_not_leave_the_others_waiting() {
    each_backend("a_failed_unwrap_does_not_leave_the_others_waiting", |db| {
        let store = store(db);
        let alice = Client::open_or_create(db.profile("alice"), &store).unwrap();
        let ids: Vec<RecordId> = alice
            .put_many(&notes(THREADS, "x"))
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();
        // Never shared: every reader is refused, none hangs.
        let carol = Arc::new(Client::open_or_create(db.profile("carol"), &store).unwrap());
        let start = Arc::new(Barrier::new(ids.len()));
        let threads: Vec<_> = ids
            .iter()
            .map(|&id| {
                let (carol, start) = (carol.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    carol.get(id)
                })
            })
            .collect();
        for thread in threads {
            let result = thread.join().unwrap();
            assert!(
                matches!(result, Err(strongroom::Error::AccessDenied { .. })),
                "{result:?}"
            );
        }
        assert_eq!(carol.stats().key_unwraps, 0);
        // Shared now: the next reads work (no flight was left behind).
        alice.share("note", carol.id()).unwrap();
        read_all_at_once(&carol, &ids);
        assert_eq!(carol.stats().key_unwraps, 1);
    });
}
