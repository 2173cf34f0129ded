//! Races and small pools, from an adversarial review of concurrent use:
//! each test repeats its race, on both backends where the backend matters
//! (PostgreSQL's READ COMMITTED lets transactions interleave that SQLite's
//! immediate transactions run one at a time).

mod common;

use std::sync::Barrier;
use std::time::Duration;

use common::notes::{client, note, read};
use common::{each_backend, TestDb};
use strongroom::{Client, NewRecord, Plain, Query, Store, StoreOptions};

/// Runs `a` and `b` on two threads, started together.
fn race<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    let barrier = Barrier::new(2);
    std::thread::scope(|scope| {
        let first = scope.spawn(|| {
            barrier.wait();
            a()
        });
        let second = scope.spawn(|| {
            barrier.wait();
            b()
        });
        (first.join().unwrap(), second.join().unwrap())
    })
}

/// "Sharing again is a no-op": also when the same share is made twice at
/// once (on PostgreSQL both transactions used to insert the wrapped key,
/// and the second failed on the primary key).
#[test]
fn the_same_share_made_twice_at_once_succeeds_twice() {
    each_backend("the_same_share_made_twice_at_once_succeeds_twice", |db| {
        let bob = client(db, "bob");
        for round in 0..10 {
            let record_type = format!("t{round}");
            let alice = client(db, "alice");
            let id = alice
                .put(&record_type, &note("x"), &Plain::new())
                .unwrap()
                .id;
            let (a, b) = race(
                || alice.share(&record_type, bob.id()),
                || alice.share(&record_type, bob.id()),
            );
            a.unwrap();
            b.unwrap();
            assert_eq!(read(&bob, id).unwrap(), "x");
        }
    });
}

/// SECURITY.md: the recovery client reads every type, "new types included
/// (authorised in the transaction that creates a type's first key)": also
/// a type whose first write runs while the recovery client is being set.
#[test]
fn a_type_first_written_while_the_recovery_client_is_set_reaches_it() {
    each_backend(
        "a_type_first_written_while_the_recovery_client_is_set_reaches_it",
        |db| {
            for round in 0..10 {
                let alice = client(db, &format!("alice{round}"));
                let recovery = client(db, &format!("recovery{round}"));
                alice.put("old", &note("x"), &Plain::new()).unwrap();
                let fresh: Vec<NewRecord> = (0..200)
                    .map(|n| NewRecord::new("fresh", note(&n.to_string()), Plain::new()))
                    .collect();
                let (written, set) = race(
                    || alice.put_many(&fresh),
                    || {
                        std::thread::sleep(Duration::from_millis(5));
                        alice.set_recovery_client(recovery.public())
                    },
                );
                let written = written.unwrap();
                set.unwrap();
                assert_eq!(
                    read(&recovery, written[0].id).unwrap(),
                    "0",
                    "round {round}"
                );
            }
        },
    );
}

/// `revoke_and_rewrap` re-wraps on a pool of one connection too (it used
/// to hold that connection while the re-wrap waited for another, and
/// reported the re-wrap interrupted after the pool's timeout).
#[test]
fn revoke_and_rewrap_rewraps_on_a_pool_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        "sqlite::memory:",
        StoreOptions::default().connection_timeout(Duration::from_secs(2)),
    )
    .unwrap();
    let alice = Client::open_or_create(dir.path().join("alice"), &store).unwrap();
    let bob = Client::open_or_create(dir.path().join("bob"), &store).unwrap();
    for n in 0..5 {
        alice
            .put("t", &note(&n.to_string()), &Plain::new())
            .unwrap();
    }
    alice.share("t", bob.id()).unwrap();
    let outcome = alice.revoke_and_rewrap("t", bob.id()).unwrap();
    let rewrap = outcome.rewrap.expect("a re-wrap report");
    assert!(rewrap.interrupted.is_none(), "{:?}", rewrap.interrupted);
    assert_eq!(rewrap.done.rewrapped, 5);
}

/// `query_pages`: `each` may use the store, on a pool of one or two
/// connections (no connection is held while it runs).
#[test]
fn query_pages_lets_each_page_use_the_store_on_small_pools() {
    each_backend(
        "query_pages_lets_each_page_use_the_store_on_small_pools",
        |db| {
            let alice = client(db, "alice");
            for n in 0..6 {
                alice
                    .put("qp", &note(&n.to_string()), &Plain::new())
                    .unwrap();
            }
            drop(alice);
            for pool in [1, 2] {
                let store = Store::open_with(
                    &db.url,
                    StoreOptions::default()
                        .pool_size(pool)
                        .connection_timeout(Duration::from_secs(2)),
                )
                .unwrap();
                let alice = Client::open_or_create(db.profile("alice"), &store).unwrap();
                let mut seen = 0;
                alice
                    .query_pages(&Query::new().record_type("qp").limit(2), |page| {
                        for record in &page.records {
                            alice.get(record.id())?;
                            seen += 1;
                        }
                        Ok(())
                    })
                    .unwrap();
                assert_eq!(seen, 6, "pool of {pool}");
            }
        },
    );
}

/// `open_or_create` of one new profile from two threads at once: both get
/// the same client (the second loads what the first created).
#[test]
fn two_opens_of_one_new_profile_give_the_same_client() {
    let db = TestDb::sqlite();
    for round in 0..10 {
        let path = db.profile(&format!("same{round}"));
        let (a, b) = race(
            || Client::open_or_create(&path, &db.store()).map(|c| c.id()),
            || Client::open_or_create(&path, &db.store()).map(|c| c.id()),
        );
        assert_eq!(a.unwrap(), b.unwrap(), "round {round}");
    }
}

/// The recovery client set by another instance of the same profile (the
/// CLI's `recovery create` beside a running server) binds this one too:
/// it cannot be revoked or removed as authoriser, and a type this instance
/// creates afterwards reaches it.
#[test]
fn a_recovery_client_set_by_another_instance_of_the_profile_binds_this_one() {
    each_backend(
        "a_recovery_client_set_by_another_instance_of_the_profile_binds_this_one",
        |db| {
            let server = client(db, "alice");
            server.put("t", &note("x"), &Plain::new()).unwrap();
            let cli = client(db, "alice");
            let recovery = client(db, "recovery");
            cli.set_recovery_client(recovery.public()).unwrap();
            assert!(matches!(
                server.remove_authorizer("t", recovery.id()),
                Err(strongroom::Error::InvalidInput(_))
            ));
            assert!(matches!(
                server.revoke("t", recovery.id()),
                Err(strongroom::Error::InvalidInput(_))
            ));
            let fresh = server.put("fresh", &note("y"), &Plain::new()).unwrap();
            assert_eq!(read(&recovery, fresh.id).unwrap(), "y");
        },
    );
}

/// Two stores create one fresh SQLite file at once (two replicas starting
/// together; here two threads), 200 times: both open every time. The
/// switch to WAL mode after the migrations reads the header, then writes
/// it, and SQLite calls no busy handler when a read turns into a write:
/// the store tries again within its busy timeout. (Without that, about
/// one open in 360 failed with "database is locked" under load: a
/// probabilistic guard, which catches a regression in most runs, not in
/// every one.)
#[test]
fn two_stores_create_one_sqlite_file_at_once() {
    let mut failures = Vec::new();
    for round in 0..200 {
        let db = TestDb::sqlite();
        let barrier = Barrier::new(2);
        let results: Vec<strongroom::Result<()>> = std::thread::scope(|scope| {
            let opens: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        Store::open_or_create(&db.url).map(drop)
                    })
                })
                .collect();
            opens.into_iter().map(|h| h.join().unwrap()).collect()
        });
        failures.extend(
            results
                .into_iter()
                .filter_map(Result::err)
                .map(|err| format!("round {round}: {err:?}")),
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
