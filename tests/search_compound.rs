//! A search on a compound blind index returns only records whose signed
//! index description covers exactly the searched fields, and whose values
//! match on all of them: against hostile lookup rows, truncation
//! collisions and a changed index (review D of 2026-12-07).

mod common;

use common::each_backend;
use common::notes::client;
use strongroom::index::{IndexQuery, IndexSpec};
use strongroom::{Client, Fields, Plain, Query};

const TYPE: &str = "patient";

fn patient(c: &Client, email: &str, dob: &str) -> strongroom::RecordId {
    let fields = Fields::new()
        .with("email", email)
        .unwrap()
        .with("dob", dob)
        .unwrap();
    c.put(TYPE, &fields, &Plain::new()).unwrap().id
}

fn dobs(page: &strongroom::Page) -> Vec<(String, String)> {
    page.records
        .iter()
        .map(|r| {
            (
                r.field::<String>("email").unwrap(),
                r.field::<String>("dob").unwrap(),
            )
        })
        .collect()
}

/// Searches person = (ada, D) for the dobs of 1800 to 1815, which no
/// record holds (with `shared`, over the writers sharing with `reader`
/// too): each dob for which records came back, with what came back.
fn returned_for_unheld_dobs(reader: &Client, shared: bool) -> Vec<(String, Vec<(String, String)>)> {
    let mut wrong = Vec::new();
    for year in 1800..1816 {
        let dob = format!("{year}-01-01");
        let mut q = Query::new().record_type(TYPE);
        if shared {
            q = q.shared();
        }
        let q = q.index_eq(
            IndexQuery::new("person")
                .with("email", "ada@example.org")
                .with("dob", &dob),
        );
        let page = reader.query(&q).unwrap();
        if !page.records.is_empty() {
            wrong.push((dob, dobs(&page)));
        }
    }
    wrong
}

/// SECURITY.md: "The lookup table can be edited by the database to hide
/// records from a search, never to return a record whose signed,
/// decrypted value does not match". Alice's index "person" covers
/// [email, dob]; bob's index of the same name covers [email] only. Bob
/// shares with carol. The database points one lookup row holding the
/// value of alice's record at bob's record. Carol searches
/// person = (ada, 1815-12-10) and must not get bob's record whose dob is
/// 2000-01-01.
#[test]
fn a_copied_lookup_row_never_returns_a_record_whose_compound_value_does_not_match() {
    each_backend(
        "a_copied_lookup_row_never_returns_a_record_whose_compound_value_does_not_match",
        |db| {
            let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
            alice
                .declare_indexes(TYPE, [IndexSpec::new("person", ["email", "dob"])])
                .unwrap();
            bob.declare_indexes(TYPE, [IndexSpec::new("person", ["email"])])
                .unwrap();
            let ada = patient(&alice, "ada@example.org", "1815-12-10");
            let impostor = patient(&bob, "ada@example.org", "2000-01-01");
            alice.share(TYPE, carol.id()).unwrap();
            bob.share(TYPE, carol.id()).unwrap();

            db.forge_index_value(impostor, "person", TYPE, &db.index_value(ada, "person"));
            let q = Query::new().record_type(TYPE).shared().index_eq(
                IndexQuery::new("person")
                    .with("email", "ada@example.org")
                    .with("dob", "1815-12-10"),
            );
            let page = carol.query(&q).unwrap();
            assert_eq!(
                dobs(&page),
                [("ada@example.org".to_owned(), "1815-12-10".to_owned())],
                "searched dob 1815-12-10, discarded {}",
                page.discarded
            );
        },
    );
}

/// No tampering at all: issue 17 "Candidates are decrypted and compared
/// before being returned, so truncation false positives never reach the
/// caller". Two writers' same-name indexes at 1 bit (alice: [email, dob],
/// bob: [email]). Carol searches (ada, D) for dobs no record holds; every
/// answer must be empty, also when alice's computed value collides with
/// bob's record's value (bob's record, dob 2000-01-01, is then a candidate,
/// decrypted and discarded).
#[test]
fn a_truncation_collision_never_returns_a_record_whose_dob_was_not_searched() {
    each_backend(
        "a_truncation_collision_never_returns_a_record_whose_dob_was_not_searched",
        |db| {
            let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
            alice
                .declare_indexes(TYPE, [IndexSpec::new("person", ["email", "dob"]).bits(1)])
                .unwrap();
            bob.declare_indexes(TYPE, [IndexSpec::new("person", ["email"]).bits(1)])
                .unwrap();
            patient(&alice, "someone@example.org", "1900-01-01");
            patient(&bob, "ada@example.org", "2000-01-01");
            alice.share(TYPE, carol.id()).unwrap();
            bob.share(TYPE, carol.id()).unwrap();
            let wrong = returned_for_unheld_dobs(&carol, true);
            assert!(
                wrong.is_empty(),
                "records returned for unsearched dobs: {wrong:?}"
            );
        },
    );
}

/// One writer, no tampering: the documented way to change an index
/// ("rotate the type, then reindex"). Before the reindex, the index
/// "person" is [email] at version 1 and [email, dob] at version 2 (both
/// 1 bit). Searching person = (ada, D) for dobs no record holds must
/// return nothing, also when the version-1 record's stored value
/// collides with the version-2 value searched (it is then a candidate,
/// decrypted and discarded).
#[test]
fn after_changing_a_compound_index_old_records_never_match_on_a_subset_of_its_fields() {
    each_backend(
        "after_changing_a_compound_index_old_records_never_match_on_a_subset_of_its_fields",
        |db| {
            let alice = client(db, "alice");
            alice
                .declare_indexes(TYPE, [IndexSpec::new("person", ["email"]).bits(1)])
                .unwrap();
            patient(&alice, "ada@example.org", "2000-01-01");
            alice.rotate(TYPE).unwrap();
            alice
                .declare_indexes(TYPE, [IndexSpec::new("person", ["email", "dob"]).bits(1)])
                .unwrap();
            patient(&alice, "someone@example.org", "1900-01-01");
            let wrong = returned_for_unheld_dobs(&alice, false);
            assert!(
                wrong.is_empty(),
                "records returned for unsearched dobs: {wrong:?}"
            );
        },
    );
}
