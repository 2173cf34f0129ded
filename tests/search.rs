//! Blind indexes (issue 17), on SQLite and PostgreSQL: exact match, no
//! match, normalisers, compound indexes, truncation false positives
//! filtered out, shared and revoked readers, reindex after a rotation, no
//! plaintext in the index tables, and tampered lookup rows.

mod common;

use common::notes::client;
use common::{each_backend, TestDb};
use strongroom::index::{IndexQuery, IndexSpec, Normalize};
use strongroom::{Client, Fields, Plain, Query};

const TYPE: &str = "patient";

fn patient(c: &Client, email: &str, last: &str, dob: &str) -> strongroom::RecordId {
    let fields = Fields::new()
        .with("email", email)
        .unwrap()
        .with("last_name", last)
        .unwrap()
        .with("dob", dob)
        .unwrap();
    c.put(TYPE, &fields, &Plain::new()).unwrap().id
}

fn declare(c: &Client, email_bits: u16) {
    c.declare_indexes(
        TYPE,
        [
            IndexSpec::on_field("email")
                .normalize(Normalize::Lowercase)
                .bits(email_bits),
            IndexSpec::new("by_name_dob", ["last_name", "dob"]),
        ],
    )
    .unwrap();
}

fn find(c: &Client, condition: IndexQuery, shared: bool) -> strongroom::Page {
    let mut q = Query::new().record_type(TYPE).index_eq(condition);
    if shared {
        q = q.shared();
    }
    c.query(&q).unwrap()
}

fn email(v: &str) -> IndexQuery {
    IndexQuery::new("email").with("email", v)
}

fn emails(page: &strongroom::Page) -> Vec<String> {
    let mut out: Vec<String> = page
        .records
        .iter()
        .map(|r| r.field::<String>("email").unwrap())
        .collect();
    out.sort();
    out
}

#[test]
fn exact_match_no_match_normaliser_and_compound_index() {
    each_backend("exact_match_no_match_normaliser_and_compound_index", |db| {
        let alice = client(db, "alice");
        declare(&alice, 16);
        patient(&alice, "Ada@Example.org", "Lovelace", "1815-12-10");
        patient(&alice, "bob@example.org", "Babbage", "1791-12-26");
        patient(&alice, "carol@example.org", "Lovelace", "1900-01-01");

        let page = find(&alice, email("ada@EXAMPLE.org"), false);
        assert_eq!(emails(&page), ["Ada@Example.org"]);
        assert!(find(&alice, email("nobody@example.org"), false)
            .records
            .is_empty());

        let compound = IndexQuery::new("by_name_dob")
            .with("last_name", "Lovelace")
            .with("dob", "1815-12-10");
        assert_eq!(emails(&find(&alice, compound, false)), ["Ada@Example.org"]);
        // The compound index has no normaliser: case matters.
        let wrong_case = IndexQuery::new("by_name_dob")
            .with("last_name", "lovelace")
            .with("dob", "1815-12-10");
        assert!(find(&alice, wrong_case, false).records.is_empty());
    });
}

#[test]
fn truncation_false_positives_never_reach_the_caller() {
    each_backend("truncation_false_positives_never_reach_the_caller", |db| {
        let alice = client(db, "alice");
        declare(&alice, 1); // one bit: about half the records share a value
        for n in 0..20 {
            patient(&alice, &format!("user{n}@example.org"), "X", "2000-01-01");
        }
        let page = find(&alice, email("user7@example.org"), false);
        assert_eq!(emails(&page), ["user7@example.org"]);
        assert!(
            page.discarded > 0,
            "with 1 bit some candidates must collide"
        );
    });
}

#[test]
fn shared_reader_searches_and_revoked_reader_cannot_find_new_records() {
    each_backend(
        "shared_reader_searches_and_revoked_reader_cannot_find_new_records",
        |db| {
            let (alice, bob) = (client(db, "alice"), client(db, "bob"));
            declare(&alice, 16);
            patient(&alice, "ada@example.org", "Lovelace", "1815-12-10");
            // Not shared: nothing.
            assert!(find(&bob, email("ada@example.org"), true)
                .records
                .is_empty());
            alice.share(TYPE, bob.id()).unwrap();
            assert_eq!(
                emails(&find(&bob, email("ada@example.org"), true)),
                ["ada@example.org"]
            );

            alice.revoke(TYPE, bob.id()).unwrap();
            patient(&alice, "new@example.org", "New", "2020-01-01");
            // Alice finds the new record; bob holds no key of its index
            // version and cannot compute its value.
            assert_eq!(
                emails(&find(&alice, email("new@example.org"), false)),
                ["new@example.org"]
            );
            assert!(find(&bob, email("new@example.org"), true)
                .records
                .is_empty());
        },
    );
}

#[test]
fn search_works_during_and_after_a_reindex_which_retires_old_versions() {
    each_backend(
        "search_works_during_and_after_a_reindex_which_retires_old_versions",
        |db| {
            let alice = client(db, "alice");
            declare(&alice, 16);
            for n in 0..5 {
                patient(&alice, &format!("old{n}@example.org"), "Old", "1900-01-01");
            }
            alice.rotate(TYPE).unwrap();
            patient(&alice, "new@example.org", "New", "2020-01-01");
            let versions = |db: &TestDb| {
                db.count("SELECT COUNT(DISTINCT index_version) AS n FROM blind_index_versions")
            };
            assert_eq!(versions(db), 2);
            // Half done: one batch of two, then stop.
            let mut batches = 0;
            let _ = alice.reindex_with_progress(TYPE, 2, |_| batches += 1);
            assert!(batches >= 1);
            // Old and new records are found at every point.
            assert_eq!(
                emails(&find(&alice, email("old4@example.org"), false)),
                ["old4@example.org"]
            );
            assert_eq!(
                emails(&find(&alice, email("new@example.org"), false)),
                ["new@example.org"]
            );
            // Running it again changes nothing and the old version is gone.
            let again = alice.reindex(TYPE, 2).unwrap();
            assert_eq!(again.reindexed, 0);
            assert_eq!(again.remaining, Some(0));
            assert_eq!(versions(db), 1);
            for n in 0..5 {
                let e = format!("old{n}@example.org");
                assert_eq!(emails(&find(&alice, email(&e), false)), vec![e]);
            }
        },
    );
}

#[test]
fn index_tables_hold_no_plaintext_and_tampered_rows_return_no_wrong_record() {
    each_backend(
        "index_tables_hold_no_plaintext_and_tampered_rows_return_no_wrong_record",
        |db| {
            let alice = client(db, "alice");
            declare(&alice, 16);
            let ada = patient(&alice, "MARKER-ada@example.org", "Lovelace", "1815-12-10");
            let bob = patient(&alice, "MARKER-bob@example.org", "Babbage", "1791-12-26");
            let dump = db.texts(&format!(
                "SELECT {} AS t FROM blind_index_values",
                db.hex("value")
            ));
            assert_eq!(dump.len(), 4);
            let marker: String = "MARKER".bytes().map(|b| format!("{b:02x}")).collect();
            assert!(dump
                .iter()
                .all(|v| !v.to_lowercase().contains(&marker.to_lowercase())));
            // The database copies ada's lookup value onto bob's row: a
            // search for ada must still return ada only.
            db.sql(&format!(
                "UPDATE blind_index_values SET value = (SELECT value FROM blind_index_values WHERE record_id = {} AND index_name = 'email') WHERE record_id = {} AND index_name = 'email'",
                db.id(ada),
                db.id(bob)
            ));
            let page = find(&alice, email("marker-ada@example.org"), false);
            assert_eq!(emails(&page), ["MARKER-ada@example.org"]);
            assert_eq!(page.discarded, 1);
        },
    );
}
