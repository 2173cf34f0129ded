//! `Client::query_pages`: every page of a query, in order, each record
//! once, the next page fetched (on a second connection) while the current
//! one is opened — on SQLite and PostgreSQL, and on a pool of one
//! connection, where the pages follow one another.

mod common;

use common::each_backend;
use common::notes::{client, notes};
use strongroom::{Client, Error, Order, Query, RecordId, Store};

/// The record ids of every page `Client::query` gives, following `next`.
fn paged_by_hand(client: &Client, query: &Query) -> Vec<Vec<RecordId>> {
    let mut pages = Vec::new();
    let mut query = query.clone();
    loop {
        let page = client.query(&query).unwrap();
        pages.push(page.records.iter().map(|r| r.id()).collect());
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => return pages,
        }
    }
}

/// The record ids of every page `Client::query_pages` hands over.
fn paged_ahead(client: &Client, query: &Query) -> Vec<Vec<RecordId>> {
    let mut pages = Vec::new();
    client
        .query_pages(query, |page| {
            pages.push(page.records.iter().map(|r| r.id()).collect());
            Ok(())
        })
        .unwrap();
    pages
}

#[test]
fn query_pages_gives_the_pages_query_gives_in_order() {
    each_backend("query_pages_gives_the_pages_query_gives_in_order", |db| {
        let alice = client(db, "alice");
        let ids = notes(&alice, 23);
        for order in [Order::CreatedAsc, Order::CreatedDesc] {
            for limit in [1, 4, 23, 100] {
                let query = Query::new().record_type("note").order(order).limit(limit);
                let ahead = paged_ahead(&alice, &query);
                assert_eq!(
                    ahead,
                    paged_by_hand(&alice, &query),
                    "{order:?}, {limit} a page"
                );
                let mut all: Vec<RecordId> = ahead.into_iter().flatten().collect();
                assert_eq!(all.len(), 23, "each record once");
                all.sort();
                let mut expected = ids.clone();
                expected.sort();
                assert_eq!(all, expected);
            }
        }
        // The records are opened: their values read.
        let mut texts = Vec::new();
        alice
            .query_pages(&Query::new().record_type("note").limit(5), |page| {
                for record in &page.records {
                    texts.push(record.field::<String>("note")?);
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(texts.len(), 23);
        assert!(texts.contains(&"n22".to_owned()));
    });
}

#[test]
fn query_pages_stops_at_the_first_error_of_its_callback() {
    each_backend(
        "query_pages_stops_at_the_first_error_of_its_callback",
        |db| {
            let alice = client(db, "alice");
            notes(&alice, 10);
            let mut calls = 0;
            let result = alice.query_pages(&Query::new().record_type("note").limit(3), |_| {
                calls += 1;
                Err(Error::InvalidInput("stop here"))
            });
            assert!(
                matches!(result, Err(Error::InvalidInput("stop here"))),
                "{result:?}"
            );
            assert_eq!(calls, 1, "no page after the error");
        },
    );
}

#[test]
fn query_pages_works_on_a_pool_of_one_connection() {
    // An in-memory SQLite store has exactly one connection: no second one
    // to fetch ahead on, so the pages follow one another on it.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("sqlite::memory:").unwrap();
    let alice = Client::open_or_create(dir.path().join("alice.profile"), &store).unwrap();
    notes(&alice, 9);
    let query = Query::new().record_type("note").limit(2);
    let ahead = paged_ahead(&alice, &query);
    assert_eq!(ahead.len(), 5);
    assert_eq!(ahead, paged_by_hand(&alice, &query));
    // A bad query is refused before anything is read.
    let err = alice
        .query_pages(&Query::new().limit(0), |_| Ok(()))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}

/// `Query::plain_eq`: up to `MAX_PLAIN_FILTERS` filters, all holding, find
/// the record; one more is `InvalidInput` before the database is asked;
/// the same filter repeated counts once.
#[test]
fn plain_filters_are_capped_and_a_repeated_one_counts_once() {
    each_backend(
        "plain_filters_are_capped_and_a_repeated_one_counts_once",
        |db| {
            let alice = client(db, "alice");
            let plain: strongroom::Plain = (0..=strongroom::MAX_PLAIN_FILTERS)
                .map(|i| (format!("k{i}"), format!("v{i}")))
                .collect();
            let fields = strongroom::Fields::new().with("note", "n").unwrap();
            let id = alice.put("note", &fields, &plain).unwrap().id;
            let filtered = |n: usize| {
                (0..n).fold(Query::new().record_type("note"), |q, i| {
                    q.plain_eq(format!("k{i}"), format!("v{i}"))
                })
            };
            let found = alice
                .query(&filtered(strongroom::MAX_PLAIN_FILTERS))
                .unwrap();
            assert_eq!(
                found.records.iter().map(|r| r.id()).collect::<Vec<_>>(),
                [id]
            );
            assert!(matches!(
                alice.query(&filtered(strongroom::MAX_PLAIN_FILTERS + 1)),
                Err(Error::InvalidInput(_))
            ));
            let repeated = (0..1000).fold(Query::new().record_type("note"), |q, _| {
                q.plain_eq("k0", "v0")
            });
            let found = alice.query(&repeated).unwrap();
            assert_eq!(
                found.records.iter().map(|r| r.id()).collect::<Vec<_>>(),
                [id]
            );
        },
    );
}

/// README: a meta-only query lists a record whose key this client does
/// not hold (its meta needs none; its signature still verifies), where a
/// query that decrypts skips it as `NoAccess`.
#[test]
fn a_meta_only_query_lists_records_whose_key_the_client_lacks() {
    each_backend(
        "a_meta_only_query_lists_records_whose_key_the_client_lacks",
        |db| {
            let (alice, bob) = (client(db, "alice"), client(db, "bob"));
            let id = notes(&alice, 1)[0];
            let query = Query::new().record_type("note").writers(vec![alice.id()]);
            let decrypting = bob.query(&query).unwrap();
            assert!(decrypting.records.is_empty());
            assert_eq!(decrypting.skipped.len(), 1);
            assert_eq!(
                decrypting.skipped[0].reason,
                strongroom::SkipReason::NoAccess
            );
            let meta = bob.query(&query.meta_only()).unwrap();
            assert_eq!(
                meta.records.iter().map(|r| r.id()).collect::<Vec<_>>(),
                [id]
            );
            assert!(meta.skipped.is_empty());
        },
    );
}

/// README: queries filter by writer(s), up to 10,000
/// (`MAX_QUERY_WRITERS`): a list that long is served on both backends,
/// one more is `InvalidInput`, never a database error (SQLite takes at
/// most 32,766 bound values in a statement).
#[test]
fn a_writers_list_is_served_up_to_its_limit_and_refused_past_it() {
    each_backend(
        "a_writers_list_is_served_up_to_its_limit_and_refused_past_it",
        |db| {
            let alice =
                strongroom::Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
            let id = alice
                .put(
                    "note",
                    &strongroom::Fields::new().with("n", &1).unwrap(),
                    &strongroom::Plain::new(),
                )
                .unwrap()
                .id;
            let mut writers: Vec<strongroom::ClientId> = (1..strongroom::MAX_QUERY_WRITERS)
                .map(|_| strongroom::ClientId::random())
                .collect();
            writers.push(alice.id());
            let page = alice
                .query(&strongroom::Query::new().writers(writers.clone()))
                .unwrap();
            assert_eq!(
                page.records.iter().map(|r| r.id()).collect::<Vec<_>>(),
                [id]
            );
            writers.push(strongroom::ClientId::random());
            match alice.query(&strongroom::Query::new().writers(writers)) {
                Err(strongroom::Error::InvalidInput(_)) => {}
                other => panic!("{other:?}"),
            }
        },
    );
}
