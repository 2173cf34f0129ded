//! The async front (issue 18, feature `tokio`): `AsyncClient` and
//! `AsyncRepo` on SQLite and on the real PostgreSQL server — round trips,
//! dropped futures that leave all or nothing, single-flight unwraps through
//! clones, revocation seen by every clone, panics as `Error::Internal`, and
//! handles and futures that an axum handler can hold.
//!
//! Needs the library's `tokio` feature (`[[test]] required-features` in
//! Cargo.toml); `cargo test --workspace` enables it.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestDb;
use strongroom::asynk::{AsyncClient, AsyncRepo};
use strongroom::{
    Client, ClientId, Error, Fields, NewRecord, Plain, Query, RecordId, Sensitive, Store,
    StoreOptions, Stored,
};

#[derive(Debug, Clone, PartialEq, Sensitive)]
#[sensitive(record_type = "patient")]
struct Patient {
    clinic: String,
    #[sensitive]
    name: String,
    #[sensitive]
    born: u32,
}

/// SQLite, then PostgreSQL (loudly skipped outside CI when unreachable).
fn backends(test: &str) -> Vec<TestDb> {
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(common::postgres_db(test));
    dbs
}

fn store(db: &TestDb, pool_size: u32) -> Store {
    let options = StoreOptions::default()
        .pool_size(pool_size)
        .create_if_missing();
    Store::open_with(&db.url, options).unwrap()
}

fn blocking_client(db: &TestDb, store: &Store, name: &str) -> Client {
    Client::open_or_create(db.profile(name), store).unwrap()
}

fn async_client(db: &TestDb, store: &Store, name: &str) -> AsyncClient {
    AsyncClient::new(blocking_client(db, store, name))
}

fn note(text: &str) -> Fields {
    Fields::new().with("text", text).unwrap()
}

fn notes(count: usize) -> Vec<NewRecord> {
    (0..count)
        .map(|i| NewRecord::new("note", note(&format!("note {i}")), Plain::new()))
        .collect()
}

fn count_notes(db: &TestDb) -> i64 {
    db.count("SELECT COUNT(*) AS n FROM records WHERE record_type = 'note'")
}

/// Returns once every blocking task of `client` (and its clones) has
/// ended: all of its permits taken at once, by calls that wait for each
/// other.
async fn quiesce(client: &AsyncClient) {
    let n = client.max_in_flight();
    let all_in = Arc::new(std::sync::Barrier::new(n));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (client, all_in) = (client.clone(), all_in.clone());
        calls.spawn(async move {
            client
                .run(move |_| {
                    all_in.wait();
                    Ok(())
                })
                .await
        });
    }
    while let Some(joined) = calls.join_next().await {
        joined.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_round_trip() {
    for db in backends("key_value_round_trip") {
        let store = store(&db, 8);
        let alice = async_client(&db, &store, "alice");
        assert_eq!(alice.max_in_flight(), 8);

        let plain = Plain::from([("clinic".to_owned(), "north".to_owned())]);
        let meta = alice
            .put("note", note("first"), plain.clone())
            .await
            .unwrap();
        assert_eq!((meta.version, meta.writer_id), (1, alice.id()));
        let record = alice.get(meta.id).await.unwrap();
        assert_eq!(record.field::<String>("text").unwrap(), "first");
        assert_eq!(record.meta().plain, plain);

        let updated = alice
            .update(meta.id, 1, note("second"), plain.clone())
            .await
            .unwrap();
        assert_eq!(updated.version, 2);
        let stale = alice.update(meta.id, 1, note("third"), Plain::new()).await;
        assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
        let record = alice.get(meta.id).await.unwrap();
        assert_eq!(record.field::<String>("text").unwrap(), "second");

        let metas = alice.put_many(notes(5)).await.unwrap();
        assert_eq!(metas.len(), 5);
        let page = alice
            .query(Query::new().record_type("note").plain_eq("clinic", "north"))
            .await
            .unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].id(), meta.id);
        let page = alice
            .query(Query::new().record_type("note").limit(100))
            .await
            .unwrap();
        assert_eq!(page.records.len(), 6);

        let gone = alice.delete(meta.id, 1).await;
        assert!(matches!(gone, Err(Error::Conflict { .. })), "{gone:?}");
        alice.delete(meta.id, 2).await.unwrap();
        let missing = alice.get(meta.id).await;
        assert!(
            matches!(missing, Err(Error::NotFound { .. })),
            "{missing:?}"
        );

        // Any other blocking call, through `run`.
        let shares = alice.run(|client| client.outgoing_shares()).await.unwrap();
        assert!(shares.is_empty());
        assert_eq!(alice.client().stats().key_unwraps, 0, "its own key, cached");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_round_trip() {
    for db in backends("typed_round_trip") {
        let store = store(&db, 8);
        let alice = async_client(&db, &store, "alice");
        let patients: AsyncRepo<Patient> = alice.repo();
        let ada = Patient {
            clinic: "north".into(),
            name: "Ada Lovelace".into(),
            born: 1815,
        };
        let saved = patients.insert(ada.clone()).await.unwrap();
        assert_eq!(saved.version(), 1);
        let mut read = patients.get(saved.id()).await.unwrap();
        assert_eq!(*read.value(), ada);
        read.name = "Ada King".into();
        let updated = patients.update(read.clone()).await.unwrap();
        assert_eq!(updated.version(), 2);
        let stale = patients.update(read).await;
        assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");

        let more = patients
            .insert_many(vec![
                Patient {
                    clinic: "south".into(),
                    name: "Charles".into(),
                    born: 1791,
                },
                Patient {
                    clinic: "north".into(),
                    name: "Mary".into(),
                    born: 1780,
                },
            ])
            .await
            .unwrap();
        assert_eq!(more.len(), 2);
        let north = patients
            .query(|q| q.filter(|p| p.clinic("north")))
            .await
            .unwrap();
        let mut names: Vec<&str> = north.records.iter().map(|p| p.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["Ada King", "Mary"]);
        let first = patients.query(|q| q.limit(1)).await.unwrap();
        assert_eq!(first.records.len(), 1);
        assert!(first.next.is_some());

        // A record of another type is not a patient: not read, not deleted.
        let other = alice.put("note", note("x"), Plain::new()).await.unwrap();
        let wrong = patients.get(other.id).await;
        assert!(matches!(wrong, Err(Error::NotFound { .. })), "{wrong:?}");
        let wrong = patients.delete(other.id, 1).await;
        assert!(matches!(wrong, Err(Error::NotFound { .. })), "{wrong:?}");
        alice.get(other.id).await.unwrap();

        // A delete returns no record, so it counts no read, whether it
        // deletes or is refused (its type check reads the record).
        let read_before = alice.client().counters().records_read;
        let stale = patients.delete(updated.id(), 1).await;
        assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
        let wrong = patients.delete(other.id, 1).await;
        assert!(matches!(wrong, Err(Error::NotFound { .. })), "{wrong:?}");
        patients.delete(updated.id(), 2).await.unwrap();
        assert_eq!(alice.client().counters().records_read, read_before);
        let gone = patients.get(updated.id()).await;
        assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
    }
}

/// Every count seen while a dropped write finishes is 0 or all of it.
async fn wait_for_all_or_nothing(db: &TestDb, client: &AsyncClient, all: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = count_notes(db);
        assert!(
            n == 0 || n == all,
            "a dropped write left {n} of {all} records"
        );
        if n == all || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The blocking task has ended (its permit is back): the count is final.
    quiesce(client).await;
    let n = count_notes(db);
    assert!(
        n == 0 || n == all,
        "a dropped write left {n} of {all} records"
    );
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_write_leaves_all_records_or_none() {
    const RECORDS: usize = 400;
    for db in backends("a_dropped_write_leaves_all_records_or_none") {
        let store = store(&db, 4);
        let alice = async_client(&db, &store, "alice");
        // Make the key first, so the write below is only the records.
        alice.put("warmup", note("w"), Plain::new()).await.unwrap();

        // Timed out: the future is dropped while the transaction runs. The
        // blocking task goes on and commits whole.
        let timed =
            tokio::time::timeout(Duration::from_millis(1), alice.put_many(notes(RECORDS))).await;
        assert!(timed.is_err(), "400 records were written in under 1 ms");
        let n = wait_for_all_or_nothing(&db, &alice, RECORDS as i64).await;
        assert_eq!(n, RECORDS as i64, "the started write commits whole");

        // Aborted as a task, at whatever point it had reached.
        db.sql("DELETE FROM records WHERE record_type = 'note'");
        let writer = alice.clone();
        let task = tokio::spawn(async move { writer.put_many(notes(RECORDS)).await });
        tokio::time::sleep(Duration::from_millis(5)).await;
        task.abort();
        assert!(task.await.is_err_and(|e| e.is_cancelled()));
        let n = wait_for_all_or_nothing(&db, &alice, RECORDS as i64).await;
        eprintln!("{:?}: the aborted put_many left {n} records", db.backend);

        // A write that fails part-way, dropped or not, leaves nothing: the
        // 201st record names an invalid type.
        db.sql("DELETE FROM records WHERE record_type = 'note'");
        let mut bad = notes(RECORDS);
        bad[200] = NewRecord::new("", note("bad"), Plain::new());
        let failed = alice.put_many(bad).await;
        assert!(matches!(failed, Err(Error::InvalidInput(_))), "{failed:?}");
        assert_eq!(count_notes(&db), 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_gets_through_clones_unwrap_the_shared_key_once() {
    const READS: usize = 64;
    for db in backends("concurrent_gets_through_clones_unwrap_the_shared_key_once") {
        let store = store(&db, 16);
        let alice = async_client(&db, &store, "alice");
        let ids: Vec<RecordId> = alice
            .put_many(notes(READS))
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        let bob = async_client(&db, &store, "bob");
        alice.share("note", bob.id()).await.unwrap();

        for round in 0..3 {
            // A fresh reader process each round: empty caches.
            let reader = async_client(&db, &store, "bob");
            assert_eq!(reader.client().stats().key_unwraps, 0);
            let mut reads = tokio::task::JoinSet::new();
            for (i, &id) in ids.iter().enumerate() {
                let reader = reader.clone();
                reads.spawn(async move {
                    let record = reader.get(id).await.unwrap();
                    assert_eq!(record.field::<String>("text").unwrap(), format!("note {i}"));
                });
            }
            while let Some(read) = reads.join_next().await {
                read.unwrap();
            }
            let stats = reader.client().stats();
            assert_eq!(
                stats.key_unwraps, 1,
                "round {round}: {READS} concurrent gets through clones unwrap the key once \
                 ({stats:?})"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn revocation_through_one_clone_is_seen_by_another() {
    for db in backends("revocation_through_one_clone_is_seen_by_another") {
        let store = store(&db, 8);
        let alice = async_client(&db, &store, "alice");
        let alice_too = alice.clone();
        // The reader: a process of its own.
        let bob = blocking_client(&db, &store, "bob");

        let before = alice
            .put("note", note("before"), Plain::new())
            .await
            .unwrap();
        assert_eq!(before.key_version, 1);
        alice.share("note", bob.id()).await.unwrap();
        assert_eq!(
            bob.get(before.id).unwrap().field::<String>("text").unwrap(),
            "before"
        );

        let revoked = alice_too.revoke("note", bob.id()).await.unwrap();
        assert_eq!(revoked.new_version, Some(2));

        // The other clone's next write uses the new key version.
        let after = alice
            .put("note", note("after"), Plain::new())
            .await
            .unwrap();
        assert_eq!(after.key_version, 2);
        let updated = alice
            .update(before.id, 1, note("before, updated"), Plain::new())
            .await
            .unwrap();
        assert_eq!(updated.key_version, 2);

        // The revoked reader, its key cache still warm, cannot read them.
        for id in [after.id, before.id] {
            let denied = bob.get(id);
            assert!(
                matches!(denied, Err(Error::AccessDenied { .. })),
                "{denied:?}"
            );
        }
        let page = bob
            .query(&Query::new().record_type("note").shared())
            .unwrap();
        assert!(page.records.is_empty(), "{:?}", page.records);
        // The writer reads everything through either clone.
        assert_eq!(
            alice_too
                .get(after.id)
                .await
                .unwrap()
                .field::<String>("text")
                .unwrap(),
            "after"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_in_the_blocking_work_is_an_internal_error() {
    let db = TestDb::sqlite();
    let store = store(&db, 1);
    let alice = async_client(&db, &store, "alice");
    assert_eq!(alice.max_in_flight(), 1);
    let panicked = alice
        .run(|_| -> strongroom::Result<()> { panic!("boom") })
        .await;
    assert!(matches!(panicked, Err(Error::Internal(_))), "{panicked:?}");
    // Its permit came back: with one permit, later calls still run.
    for _ in 0..3 {
        let meta = alice.put("note", note("x"), Plain::new()).await.unwrap();
        alice.get(meta.id).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_wait_for_permits_not_threads() {
    // 200 concurrent calls on a pool of 2: at most 2 blocking at once, all
    // served, none timing out on the pool.
    let db = TestDb::sqlite();
    let store = store(&db, 2);
    let alice = async_client(&db, &store, "alice");
    let meta = alice.put("note", note("x"), Plain::new()).await.unwrap();
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (alice, running, most) = (alice.clone(), running.clone(), most.clone());
        calls.spawn(async move {
            alice
                .run(move |client| {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = running.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    let record = client.get(meta.id);
                    running.fetch_sub(1, SeqCst);
                    record
                })
                .await
        });
    }
    while let Some(call) = calls.join_next().await {
        call.unwrap().unwrap();
    }
    let most = most.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=2).contains(&most), "{most} blocking calls at once");
}

fn is_shareable<T: Send + Sync + Clone + 'static>() {}

fn is_send<F: Future + Send + 'static>(_future: F) {}

/// Type-checked, never run: every future of the front is `Send + 'static`
/// when made from an owned handle, as an axum handler makes it.
#[allow(dead_code)]
fn futures_are_send_and_static(
    client: AsyncClient,
    repo: AsyncRepo<Patient>,
    stored: Stored<Patient>,
) {
    let id = stored.id();
    let c = client.clone();
    is_send(async move { c.put("note", Fields::new(), Plain::new()).await });
    let c = client.clone();
    is_send(async move { c.put_many(Vec::new()).await });
    let c = client.clone();
    is_send(async move { c.get(id).await });
    let c = client.clone();
    is_send(async move { c.update(id, 1, Fields::new(), Plain::new()).await });
    let c = client.clone();
    is_send(async move { c.delete(id, 1).await });
    let c = client.clone();
    is_send(async move { c.query(Query::new()).await });
    let c = client.clone();
    is_send(async move { c.share(String::from("note"), ClientId::random()).await });
    let c = client.clone();
    is_send(async move { c.revoke("note", ClientId::random()).await });
    let c = client.clone();
    is_send(async move { c.run(|client| Ok(client.id())).await });
    let r = repo.clone();
    is_send(async move { r.insert(stored.into_inner()).await });
    let r = repo.clone();
    is_send(async move { r.get(id).await });
    let r = repo.clone();
    is_send(async move { r.delete(id, 1).await });
    let r = repo.clone();
    is_send(async move { r.query(|q| q.filter(|p| p.clinic("north")).limit(10)).await });
    is_send(async move { repo.insert_many(Vec::new()).await });
}

#[test]
fn handles_are_send_sync_clone_and_static() {
    is_shareable::<AsyncClient>();
    is_shareable::<AsyncRepo<Patient>>();
    // Whatever the model: the repository holds no value of it.
    is_shareable::<AsyncRepo<std::rc::Rc<u8>>>();
}
