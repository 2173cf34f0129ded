//! Blind indexes (issue 17), on SQLite and PostgreSQL: exact match, no
//! match, normalisers (built-in and custom), compound indexes, truncation
//! false positives filtered out, shared and revoked readers, reindex after
//! a rotation and after a failure part-way, no plaintext in the index
//! tables, and tampered lookup rows.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::notes::client;
use common::{each_backend, unhex, TestDb};
use strongroom::index::{IndexQuery, IndexSpec, Normalize};
use strongroom::{Backend, Client, Error, Fields, NewRecord, Plain, Query};

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

/// Integers beyond the 64-bit range read back from JSON as the nearest
/// float, so two of them could give one index input: such a value is not
/// indexed and a search for one is refused, never answered with a record
/// holding another value. Values within 64 bits, strings of digits
/// included, are found as before.
#[test]
fn integers_beyond_64_bits_are_never_matched_for_one_another() {
    each_backend(
        "integers_beyond_64_bits_are_never_matched_for_one_another",
        |db| {
            let alice = client(db, "alice");
            alice
                .declare_indexes(TYPE, [IndexSpec::on_field("n").bits(256)])
                .unwrap();
            let put = |fields: Fields| alice.put(TYPE, &fields, &Plain::new()).unwrap().id;
            let big = 1u128 << 64;
            let stored = put(Fields::new().with("n", &big).unwrap());
            let small = put(Fields::new().with("n", &u64::MAX).unwrap());
            let text = put(Fields::new().with("n", &(big + 1).to_string()).unwrap());
            let search = |condition: IndexQuery| {
                alice.query(&Query::new().record_type(TYPE).index_eq(condition))
            };
            // The stored big integer is not returned for its neighbour, nor
            // for itself: neither can be searched.
            for n in [big, big + 1] {
                let refused = search(IndexQuery::new("n").with("n", &n));
                assert!(
                    matches!(refused, Err(Error::InvalidInput(_))),
                    "{refused:?}"
                );
            }
            let ids = |page: strongroom::Page| {
                page.records.iter().map(|r| r.meta().id).collect::<Vec<_>>()
            };
            assert_eq!(
                ids(search(IndexQuery::new("n").with("n", &u64::MAX)).unwrap()),
                [small]
            );
            assert_eq!(
                ids(search(IndexQuery::new("n").with("n", &(big + 1).to_string())).unwrap()),
                [text]
            );
            // Still stored and read back exactly.
            assert_eq!(alice.get(stored).unwrap().field::<u128>("n").unwrap(), big);
        },
    );
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

/// One record's blind index state as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexState {
    /// `records.index_version` (`None`: NULL).
    column_version: Option<u32>,
    /// The index version inside the signed `records.blind_indexes`.
    signed_version: u32,
    /// The signed entries: (index name, value as hex).
    signed: BTreeSet<(String, String)>,
    /// The record's rows in `blind_index_values`: (index name, value as hex).
    lookup: BTreeSet<(String, String)>,
}

impl IndexState {
    /// The record's row and its lookup rows agree: the column repeats the
    /// signed version, and the lookup rows are exactly the signed entries.
    fn assert_consistent(&self, id: &str) {
        assert_eq!(
            self.column_version,
            Some(self.signed_version),
            "record {id}: index_version column and signed entries disagree"
        );
        assert_eq!(
            self.lookup, self.signed,
            "record {id}: lookup rows are not the record's signed entries"
        );
    }

    fn value(&self, index: &str) -> String {
        self.lookup
            .iter()
            .find(|(name, _)| name == index)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no lookup row of index {index}"))
    }
}

/// Parses `records.blind_indexes` (FORMAT.md, "Blind indexes"): its index
/// version and its (name, value hex) entries.
fn parse_blind_indexes(bytes: &[u8]) -> (u32, BTreeSet<(String, String)>) {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> &'a [u8] {
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        head
    }
    let mut b = bytes;
    assert_eq!(take(&mut b, 1), [1], "blind_indexes format version");
    let version = u32::from_be_bytes(take(&mut b, 4).try_into().unwrap());
    let count = u16::from_be_bytes(take(&mut b, 2).try_into().unwrap());
    let mut entries = BTreeSet::new();
    for _ in 0..count {
        let len = usize::from(u16::from_be_bytes(take(&mut b, 2).try_into().unwrap()));
        let name = String::from_utf8(take(&mut b, len).to_vec()).unwrap();
        let len = usize::from(u16::from_be_bytes(take(&mut b, 2).try_into().unwrap()));
        take(&mut b, len); // the description
        let len = usize::from(take(&mut b, 1)[0]);
        entries.insert((name, hex::encode(take(&mut b, len))));
    }
    assert!(b.is_empty(), "nothing follows the last entry");
    (version, entries)
}

/// Every record of `TYPE` with its index state, by record id.
fn index_states(db: &TestDb) -> BTreeMap<String, IndexState> {
    let mut out = BTreeMap::new();
    for line in db.texts(&format!(
        "SELECT {} || '|' || COALESCE(CAST(index_version AS TEXT), '-') || '|' || COALESCE({}, '') AS t \
         FROM records WHERE record_type = '{TYPE}'",
        db.id_text("record_id"),
        db.hex("blind_indexes")
    )) {
        let parts: Vec<&str> = line.split('|').collect();
        let [id, column, blob] = parts[..] else {
            panic!("unexpected row {line}")
        };
        let (signed_version, signed) = parse_blind_indexes(&unhex(blob));
        out.insert(
            id.to_owned(),
            IndexState {
                column_version: column.parse().ok(),
                signed_version,
                signed,
                lookup: BTreeSet::new(),
            },
        );
    }
    for line in db.texts(&format!(
        "SELECT {} || '|' || index_name || '|' || {} AS t FROM blind_index_values WHERE record_type = '{TYPE}'",
        db.id_text("record_id"),
        db.hex("value")
    )) {
        let parts: Vec<&str> = line.split('|').collect();
        let [id, name, value] = parts[..] else {
            panic!("unexpected row {line}")
        };
        out.get_mut(id)
            .unwrap_or_else(|| panic!("a lookup row of no record: {line}"))
            .lookup
            .insert((name.to_owned(), value.to_owned()));
    }
    out
}

/// The live index versions of `TYPE`, as (index name, version) pairs.
fn live_versions(db: &TestDb) -> BTreeSet<(String, String)> {
    db.texts(&format!(
        "SELECT index_name || '|' || CAST(index_version AS TEXT) AS t FROM blind_index_versions WHERE record_type = '{TYPE}'"
    ))
    .into_iter()
    .map(|line| {
        let (name, version) = line.split_once('|').unwrap();
        (name.to_owned(), version.to_owned())
    })
    .collect()
}

fn live(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The database aborts every update that moves a record to index version
/// 2 once `limit` records are at that version ("injected reindex
/// failure"): the batch it happens in rolls back, earlier ones stay.
fn fail_reindex_after(db: &TestDb, limit: usize) {
    match db.backend {
        Backend::Sqlite => db.sql(&format!(
            "CREATE TRIGGER fail_reindex BEFORE UPDATE ON records \
             WHEN NEW.index_version = 2 AND OLD.index_version IS NOT 2 \
             AND (SELECT COUNT(*) FROM records WHERE index_version = 2) >= {limit} \
             BEGIN SELECT RAISE(ABORT, 'injected reindex failure'); END"
        )),
        _ => {
            // Each test has a database of its own: the function and the
            // trigger live in its `public` schema, beside `records`.
            db.sql(&format!(
                "CREATE FUNCTION fail_reindex() RETURNS trigger AS $$ BEGIN \
                 IF NEW.index_version = 2 AND OLD.index_version IS DISTINCT FROM 2 \
                 AND (SELECT COUNT(*) FROM records WHERE index_version = 2) >= {limit} THEN \
                 RAISE EXCEPTION 'injected reindex failure'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql"
            ));
            db.sql("CREATE TRIGGER fail_reindex BEFORE UPDATE ON records FOR EACH ROW EXECUTE FUNCTION fail_reindex()");
        }
    }
}

fn stop_failing_reindex(db: &TestDb) {
    db.sql(match db.backend {
        Backend::Sqlite => "DROP TRIGGER fail_reindex",
        _ => "DROP TRIGGER fail_reindex ON records",
    });
}

#[test]
fn reindex_resumes_after_a_failure_part_way_without_half_written_batches() {
    each_backend(
        "reindex_resumes_after_a_failure_part_way_without_half_written_batches",
        |db| {
            const TOTAL: usize = 50;
            // Batches of ten; the database fails the 26th move: two
            // batches commit, the third fails half-way through (after five
            // records' rows and lookup rows were rewritten) and rolls back.
            const COMMITTED: usize = 20;
            const FAIL_AT: usize = 25;
            let alice = client(db, "alice");
            // 64 bits: a record's value under version 2 never equals its
            // value under version 1 by chance.
            alice
                .declare_indexes(
                    TYPE,
                    [
                        IndexSpec::on_field("email")
                            .normalize(Normalize::Lowercase)
                            .bits(64),
                        IndexSpec::new("by_name_dob", ["last_name", "dob"]).bits(64),
                    ],
                )
                .unwrap();
            let batch: Vec<NewRecord> = (0..TOTAL)
                .map(|n| {
                    let fields = Fields::new()
                        .with("email", &format!("p{n}@example.org"))
                        .unwrap()
                        .with("last_name", &format!("Last{n}"))
                        .unwrap()
                        .with("dob", "2000-01-01")
                        .unwrap();
                    NewRecord::new(TYPE, fields, Plain::new())
                })
                .collect();
            let email_of: BTreeMap<String, String> = alice
                .put_many(&batch)
                .unwrap()
                .into_iter()
                .enumerate()
                .map(|(n, meta)| (meta.id.to_string(), format!("p{n}@example.org")))
                .collect();
            let before = index_states(db);
            assert_eq!(before.len(), TOTAL);
            for (id, state) in &before {
                state.assert_consistent(id);
                assert_eq!(state.column_version, Some(1));
                assert_eq!(state.lookup.len(), 2);
            }

            alice.rotate(TYPE).unwrap();
            fail_reindex_after(db, FAIL_AT);
            let mut progress = Vec::new();
            let err = alice
                .reindex_with_progress(TYPE, 10, |p| progress.push((p.batches, p.reindexed)))
                .unwrap_err();
            assert!(
                matches!(err, Error::Database(_)) && err.to_string().contains("injected"),
                "the injected failure is returned: {err}"
            );
            assert_eq!(progress, [(1, 10), (2, 20)], "two batches committed");

            // The committed batches stayed; the failed one left nothing,
            // not even the five records it had rewritten.
            let during = index_states(db);
            assert_eq!(during.len(), TOTAL);
            let moved: BTreeSet<&String> = during
                .iter()
                .filter(|(_, s)| s.column_version == Some(2))
                .map(|(id, _)| id)
                .collect();
            assert_eq!(moved.len(), COMMITTED);
            assert!(!moved.is_empty() && moved.len() < TOTAL);
            for (id, state) in &during {
                state.assert_consistent(id);
                let old = &before[id];
                match state.column_version {
                    // Untouched: the record's row and lookup rows as written.
                    Some(1) => assert_eq!(state, old, "record {id} at version 1 changed"),
                    // Moved whole: no lookup row keeps a version-1 value.
                    Some(2) => {
                        assert_eq!(state.lookup.len(), 2);
                        for index in ["email", "by_name_dob"] {
                            assert_ne!(
                                state.value(index),
                                old.value(index),
                                "record {id} at version 2 kept its version-1 {index} value"
                            );
                        }
                    }
                    other => panic!("record {id} at index version {other:?}"),
                }
            }
            assert_eq!(
                live_versions(db),
                live(&[
                    ("by_name_dob", "1"),
                    ("by_name_dob", "2"),
                    ("email", "1"),
                    ("email", "2")
                ]),
                "nothing is retired while records are behind"
            );

            // Search finds records at either version meanwhile, and a
            // record written now.
            let old_one = during
                .iter()
                .find(|(_, s)| s.column_version == Some(1))
                .map(|(id, _)| email_of[id].clone())
                .unwrap();
            let new_one = email_of[*moved.iter().next().unwrap()].clone();
            for e in [&old_one, &new_one] {
                assert_eq!(
                    emails(&find(&alice, email(e), false)),
                    std::slice::from_ref(e)
                );
            }
            patient(&alice, "fresh@example.org", "Fresh", "2020-01-01");
            assert_eq!(
                emails(&find(&alice, email("FRESH@example.org"), false)),
                ["fresh@example.org"]
            );

            // Resumed: only the rest is re-indexed, then the old version
            // is retired.
            stop_failing_reindex(db);
            let resumed = alice.reindex(TYPE, 10).unwrap();
            assert_eq!(resumed.reindexed, TOTAL - COMMITTED);
            assert_eq!(resumed.batches, 3);
            assert_eq!(resumed.invalid, 0);
            assert_eq!(resumed.remaining, Some(0));
            assert!(resumed.retired > 0);
            assert_eq!(
                live_versions(db),
                live(&[("by_name_dob", "2"), ("email", "2")])
            );
            let after = index_states(db);
            assert_eq!(after.len(), TOTAL + 1);
            for (id, state) in &after {
                state.assert_consistent(id);
                assert_eq!(state.column_version, Some(2));
            }
            for id in &moved {
                assert_eq!(
                    after[*id], during[*id],
                    "record {id}, re-indexed before the failure, was done again"
                );
            }
            for e in email_of.values() {
                assert_eq!(
                    emails(&find(&alice, email(e), false)),
                    std::slice::from_ref(e)
                );
            }
            assert_eq!(
                emails(&find(&alice, email("fresh@example.org"), false)),
                ["fresh@example.org"]
            );

            // A third call has nothing to do.
            let third = alice.reindex(TYPE, 10).unwrap();
            assert_eq!(third.reindexed, 0);
            assert_eq!(third.batches, 0);
            assert_eq!(third.remaining, Some(0));
            assert_eq!(third.retired, 0);
            assert_eq!(index_states(db), after);
        },
    );
}

/// Strips spaces and dashes: "+41 79 123-45-67" is "+41791234567".
fn phone_digits(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

const PHONE: Normalize = Normalize::Custom {
    id: "tests::phone_digits",
    apply: phone_digits,
};

fn by_phone(c: &Client, phone: &str, shared: bool) -> strongroom::Result<Vec<String>> {
    let mut q = Query::new()
        .record_type("contact")
        .index_eq(IndexQuery::new("phone").with("phone", phone));
    if shared {
        q = q.shared();
    }
    let page = c.query(&q)?;
    Ok(page
        .records
        .iter()
        .map(|r| r.field::<String>("phone").unwrap())
        .collect())
}

#[test]
fn custom_normaliser_matches_formats_and_readers_must_declare_it() {
    each_backend(
        "custom_normaliser_matches_formats_and_readers_must_declare_it",
        |db| {
            let declare_phone = |c: &Client, normalize: Normalize| {
                c.declare_indexes(
                    "contact",
                    [IndexSpec::on_field("phone").normalize(normalize).bits(32)],
                )
                .unwrap()
            };
            let alice = client(db, "alice");
            declare_phone(&alice, PHONE);
            for phone in ["+41 79 123-45-67", "+41 79 999 00 00"] {
                alice
                    .put(
                        "contact",
                        &Fields::new().with("phone", phone).unwrap(),
                        &Plain::new(),
                    )
                    .unwrap();
            }
            let stored = ["+41 79 123-45-67"];
            // Formats that normalise to the same value find the record.
            for searched in [
                "+41 79 123-45-67",
                "+41791234567",
                "+41-79-123-45-67",
                " +41 79 123 45 67 ",
            ] {
                assert_eq!(by_phone(&alice, searched, false).unwrap(), stored);
            }
            // Values that differ after normalisation do not.
            for searched in ["+41 79 123-45-68", "41 79 123 45 67", "+41 79 123.45.67"] {
                assert!(
                    by_phone(&alice, searched, false).unwrap().is_empty(),
                    "{searched} found a record"
                );
            }

            let (bob, carol, dave) = (client(db, "bob"), client(db, "carol"), client(db, "dave"));
            for reader in [&bob, &carol, &dave] {
                alice.share("contact", reader.id()).unwrap();
            }
            // A reader declaring the same normaliser searches like alice.
            declare_phone(&bob, PHONE);
            assert_eq!(by_phone(&bob, "+41-79-1234567", true).unwrap(), stored);
            assert!(by_phone(&bob, "+41 79 123-45-68", true).unwrap().is_empty());
            // A reader that did not declare it, or declared another
            // function, is told to declare it.
            fn other(value: &str) -> String {
                value.to_owned()
            }
            declare_phone(
                &dave,
                Normalize::Custom {
                    id: "tests::other",
                    apply: other,
                },
            );
            for reader in [&carol, &dave] {
                match by_phone(reader, "+41 79 123-45-67", true) {
                    Err(Error::InvalidInput(why)) => assert!(
                        why.contains("custom normaliser") && why.contains("declare"),
                        "unclear error: {why}"
                    ),
                    other => panic!("a reader without the normaliser got {other:?}"),
                }
            }
        },
    );
}

#[test]
fn lookup_rows_pointed_at_other_records_return_no_wrong_record_and_are_discarded() {
    each_backend(
        "lookup_rows_pointed_at_other_records_return_no_wrong_record_and_are_discarded",
        |db| {
            let alice = client(db, "alice");
            declare(&alice, 16);
            let ada = patient(&alice, "ada@example.org", "Lovelace", "1815-12-10");
            let bob = patient(&alice, "bob@example.org", "Babbage", "1791-12-26");
            let carol = patient(&alice, "carol@example.org", "Herschel", "1750-03-16");
            // A forged row: bob's lookup row replaced by one with ada's
            // value. Both are candidates; only ada is returned.
            db.forge_index_value(bob, "email", TYPE, &db.index_value(ada, "email"));
            let page = find(&alice, email("ada@example.org"), false);
            assert_eq!(emails(&page), ["ada@example.org"]);
            assert_eq!(page.discarded, 1);
            assert!(page.skipped.is_empty());

            // Ada's own row moved onto carol: the candidates are bob and
            // carol, neither is ada, nothing is returned.
            db.sql(&format!(
                "DELETE FROM blind_index_values WHERE record_id = {} AND index_name = 'email'",
                db.id(carol)
            ));
            db.sql(&format!(
                "UPDATE blind_index_values SET record_id = {} WHERE record_id = {} AND index_name = 'email'",
                db.id(carol),
                db.id(ada)
            ));
            let page = find(&alice, email("ada@example.org"), false);
            assert!(
                page.records.is_empty(),
                "returned {:?} for ada",
                emails(&page)
            );
            assert_eq!(page.discarded, 2);
            assert!(page.skipped.is_empty());
            // Bob and carol, whose rows now hold ada's value, are not
            // found by their own values either: a denial, never a wrong
            // answer.
            for e in ["bob@example.org", "carol@example.org"] {
                assert!(find(&alice, email(e), false).records.is_empty());
            }
        },
    );
}

/// More candidates than SQLite binds in one statement (32,766): 40,000
/// lookup rows planted with ada's value (they name no record). The search
/// still answers, with ada alone.
#[test]
fn a_flood_of_planted_candidates_still_answers() {
    each_backend("a_flood_of_planted_candidates_still_answers", |db| {
        let alice = client(db, "alice");
        declare(&alice, 16);
        let ada = patient(&alice, "ada@example.org", "Lovelace", "1815-12-10");
        patient(&alice, "bob@example.org", "Babbage", "1791-12-26");
        let value = db.blob(&db.index_value(ada, "email"));
        db.sql(&match db.backend {
            Backend::Sqlite => format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000) \
                 INSERT INTO blind_index_values (record_id, index_name, record_type, value) \
                 SELECT randomblob(16), 'email', '{TYPE}', {value} FROM n"
            ),
            _ => format!(
                "INSERT INTO blind_index_values (record_id, index_name, record_type, value) \
                 SELECT gen_random_uuid(), 'email', '{TYPE}', {value} FROM generate_series(1, 40000)"
            ),
        });
        let page = find(&alice, email("ada@example.org"), false);
        assert_eq!(emails(&page), ["ada@example.org"]);
        assert!(page.next.is_none());
    });
}

/// A query uses one index condition: a second `index_eq` is refused, not
/// silently put in the first one's place; an index name no spec can have
/// (a NUL) is refused alike on both backends.
#[test]
fn an_index_left_out_at_an_indexed_key_version_is_refused_until_a_rotation() {
    each_backend(
        "an_index_left_out_at_an_indexed_key_version_is_refused_until_a_rotation",
        |db| {
            let alice = client(db, "alice");
            declare(&alice, 16);
            let ada = patient(&alice, "ada@example.org", "Lovelace", "1815-12-10");
            let by_name = || {
                IndexQuery::new("by_name_dob")
                    .with("last_name", "Lovelace")
                    .with("dob", "1815-12-10")
            };
            assert_eq!(emails(&find(&alice, by_name(), false)), ["ada@example.org"]);
            let fields = |email: &str| {
                Fields::new()
                    .with("email", email)
                    .unwrap()
                    .with("last_name", "Lovelace")
                    .unwrap()
                    .with("dob", "1815-12-10")
                    .unwrap()
            };
            let left_out = |result: strongroom::Result<strongroom::RecordMeta>| match result {
                Err(Error::InvalidInput(why)) => assert!(why.contains("leaves out"), "{why}"),
                other => panic!("expected InvalidInput, got {other:?}"),
            };
            // A declaration (another build's model, say) without
            // `by_name_dob`, and one without any index: at the key version
            // that has it, a put or an update would leave its records out of
            // an index every reader still searches.
            for declared in [
                vec![IndexSpec::on_field("email").normalize(Normalize::Lowercase)],
                vec![],
            ] {
                alice.declare_indexes(TYPE, declared).unwrap();
                left_out(alice.put(TYPE, &fields("grace@example.org"), &Plain::new()));
                left_out(alice.update(ada, 1, &fields("ada.king@example.org"), &Plain::new()));
            }
            assert_eq!(
                db.count("SELECT COUNT(*) AS n FROM records"),
                1,
                "nothing written"
            );
            assert_eq!(emails(&find(&alice, by_name(), false)), ["ada@example.org"]);
            // After a rotation the new version has only `email`; the re-index
            // moves the old record onto it and retires `by_name_dob`.
            alice.rotate(TYPE).unwrap();
            alice
                .declare_indexes(
                    TYPE,
                    [IndexSpec::on_field("email").normalize(Normalize::Lowercase)],
                )
                .unwrap();
            patient(&alice, "grace@example.org", "Hopper", "1906-12-09");
            assert_eq!(alice.reindex(TYPE, 100).unwrap().reindexed, 1);
            assert_eq!(
                emails(&find(&alice, email("ADA@example.org"), false)),
                ["ada@example.org"]
            );
        },
    );
}

#[test]
fn a_second_index_condition_and_a_bad_index_name_are_refused() {
    each_backend(
        "a_second_index_condition_and_a_bad_index_name_are_refused",
        |db| {
            let alice = client(db, "alice");
            declare(&alice, 16);
            patient(&alice, "ada@example.org", "Lovelace", "1815-12-10");
            let twice = Query::new()
                .record_type(TYPE)
                .index_eq(email("nobody@example.org"))
                .index_eq(email("ada@example.org"));
            match alice.query(&twice) {
                Err(Error::InvalidInput(why)) => {
                    assert!(why.contains("one index condition"), "{why}")
                }
                other => panic!("expected InvalidInput, got {other:?}"),
            }
            for name in ["em\0ail", ""] {
                let bad = Query::new()
                    .record_type(TYPE)
                    .index_eq(IndexQuery::new(name).with("email", "ada@example.org"));
                match alice.query(&bad) {
                    Err(Error::InvalidInput(why)) => assert!(why.contains("index name"), "{why}"),
                    other => panic!("expected InvalidInput for {name:?}, got {other:?}"),
                }
            }
        },
    );
}

/// Two writers' indexes of one name over different fields: a reader's
/// shared search passes over the version that cannot take its condition
/// and answers from the one that can; a condition no version can take is
/// still `InvalidInput`.
#[test]
fn a_shared_search_passes_over_another_writers_index_of_other_fields() {
    each_backend(
        "a_shared_search_passes_over_another_writers_index_of_other_fields",
        |db| {
            let (alice, bob) = (client(db, "alice"), client(db, "bob"));
            alice
                .declare_indexes(TYPE, [IndexSpec::new("email", ["email", "dob"])])
                .unwrap();
            bob.declare_indexes(TYPE, [IndexSpec::on_field("email")])
                .unwrap();
            patient(&alice, "ada@example.org", "Lovelace", "1815-12-10");
            patient(&bob, "ada@example.org", "Lovelace", "1815-12-10");
            alice.share(TYPE, bob.id()).unwrap();
            let page = find(&bob, email("ada@example.org"), true);
            assert_eq!(page.records.len(), 1, "{:?}", emails(&page));
            assert_eq!(page.records[0].meta().writer_id, bob.id());
            // Alice's two-field condition, read by bob: her version takes
            // it, his does not.
            let both = IndexQuery::new("email")
                .with("email", "ada@example.org")
                .with("dob", "1815-12-10");
            let page = find(&bob, both, true);
            assert_eq!(page.records.len(), 1);
            assert_eq!(page.records[0].meta().writer_id, alice.id());
            let neither = Query::new()
                .record_type(TYPE)
                .shared()
                .index_eq(IndexQuery::new("email").with("phone", "1"));
            assert!(
                matches!(bob.query(&neither), Err(Error::InvalidInput(_))),
                "a condition no version takes"
            );
        },
    );
}

/// SECURITY.md: `leakage` lists each field as sealed, indexed or plain.
/// Over every writer and every live index version: two writers' indexes
/// of one name over different fields both count, at the most bits kept;
/// a version not yet retired by a reindex still counts at its bits; a
/// field that is plain meta in any record is plain.
#[test]
fn the_leakage_report_counts_every_writer_and_every_live_version() {
    use strongroom::index::FieldClass;
    each_backend(
        "the_leakage_report_counts_every_writer_and_every_live_version",
        |db| {
            let (alice, bob) = (client(db, "alice"), client(db, "bob"));
            let alice_indexes = |dob_bits| {
                [
                    IndexSpec::new("idx", ["email"]).bits(8),
                    IndexSpec::on_field("dob").bits(dob_bits),
                ]
            };
            alice.declare_indexes(TYPE, alice_indexes(256)).unwrap();
            bob.declare_indexes(TYPE, [IndexSpec::new("idx", ["ssn"]).bits(256)])
                .unwrap();
            patient(&alice, "ada@example.org", "Lovelace", "1815-12-10");
            bob.put(
                TYPE,
                &Fields::new().with("ssn", "123-45-6789").unwrap(),
                &Plain::from([("email".to_owned(), "bob@example.org".to_owned())]),
            )
            .unwrap();
            // Alice's dob index at 256 bits, then rotated and declared at
            // 4 bits, without a reindex: the 256-bit version stays live.
            alice.rotate(TYPE).unwrap();
            alice.declare_indexes(TYPE, alice_indexes(4)).unwrap();
            patient(&alice, "y@example.org", "Y", "2001-01-01");

            let report = alice.leakage(TYPE).unwrap();
            let class = |name: &str| {
                report
                    .field(name)
                    .unwrap_or_else(|| panic!("{name} missing from {report}"))
                    .clone()
            };
            match class("ssn") {
                FieldClass::Indexed { indexes } => {
                    assert_eq!(indexes, [("idx".to_owned(), 256)], "{report}")
                }
                other => panic!("ssn: {other:?} in {report}"),
            }
            assert!(matches!(class("email"), FieldClass::Plain), "{report}");
            match class("dob") {
                FieldClass::Indexed { indexes } => {
                    assert_eq!(indexes, [("dob".to_owned(), 256)], "{report}")
                }
                other => panic!("dob: {other:?} in {report}"),
            }
        },
    );
}

/// SECURITY.md: "plain if any record holds it as plain meta": every
/// record counts, not only the newest. Here `ssn` is plain meta in the
/// oldest record only, and sealed in 5,000 newer ones; each record also
/// names a plain field of its own, so the report shows that every record
/// was read (more than one page of the scan).
#[test]
fn the_leakage_report_reads_every_record_not_only_the_newest() {
    use strongroom::index::FieldClass;
    each_backend(
        "the_leakage_report_reads_every_record_not_only_the_newest",
        |db| {
            let alice = client(db, "alice");
            alice
                .put(
                    TYPE,
                    &Fields::new().with("name", "Ada").unwrap(),
                    &Plain::from([("ssn".to_owned(), "123-45-6789".to_owned())]),
                )
                .unwrap();
            let newer: Vec<NewRecord> = (0..5_000)
                .map(|i| {
                    NewRecord::new(
                        TYPE,
                        Fields::new()
                            .with("name", &format!("p{i}"))
                            .unwrap()
                            .with("ssn", "x")
                            .unwrap(),
                        Plain::from([(format!("own_{i}"), "1".to_owned())]),
                    )
                })
                .collect();
            alice.put_many(&newer).unwrap();
            let report = alice.leakage(TYPE).unwrap();
            let class = |name: &str| {
                report
                    .field(name)
                    .unwrap_or_else(|| panic!("{name} missing"))
                    .clone()
            };
            assert!(matches!(class("ssn"), FieldClass::Plain));
            assert!(matches!(class("name"), FieldClass::Sealed));
            let own = report
                .fields
                .iter()
                .filter(|f| f.name.starts_with("own_") && matches!(f.class, FieldClass::Plain))
                .count();
            assert_eq!(own, 5_000);
        },
    );
}

/// SECURITY.md: a client that declared nothing writes with the indexes its
/// own newest indexed record was signed with, never with the store's
/// unsigned index rows. A row planted for alice (a 256-bit index over
/// `dob`, copied from mallory's) changes nothing her next write computes,
/// and an index her newest record happens not to carry (no value for its
/// fields) is still computed, as an older record signed it.
#[test]
fn an_undeclared_client_takes_its_indexes_from_its_signed_records_not_the_index_rows() {
    each_backend(
        "an_undeclared_client_takes_its_indexes_from_its_signed_records_not_the_index_rows",
        |db| {
            let (alice, mallory) = (client(db, "alice"), client(db, "mallory"));
            declare(&alice, 16);
            patient(&alice, "ada@example.org", "Lovelace", "1815-12-10");
            mallory
                .declare_indexes(TYPE, [IndexSpec::on_field("dob").bits(256)])
                .unwrap();
            patient(&mallory, "m@example.org", "M", "1900-01-01");
            db.sql(&format!(
                "INSERT INTO blind_index_versions (writer_id, record_type, index_name, index_version, spec) \
                 SELECT {}, record_type, 'leak', 1, spec FROM blind_index_versions \
                 WHERE writer_id = {} AND index_name = 'dob'",
                db.id(alice.id()),
                db.id(mallory.id())
            ));
            // Alice's newest record has no value for `by_name_dob`'s
            // fields, so it carries `email` alone: the index still counts,
            // from an older record that carries it.
            alice
                .put(
                    TYPE,
                    &Fields::new().with("email", "eve@example.org").unwrap(),
                    &Plain::new(),
                )
                .unwrap();
            // The same profile in a new process: nothing declared.
            let again = client(db, "alice");
            assert!(again.declared_indexes(TYPE).is_empty());
            let mut in_use: Vec<String> = again
                .indexes_in_use(TYPE)
                .unwrap()
                .iter()
                .map(|s| s.name().to_owned())
                .collect();
            in_use.sort();
            assert_eq!(in_use, ["by_name_dob", "email"]);
            let bob = patient(&again, "bob@example.org", "Babbage", "1791-12-26");
            let names = db.texts(&format!(
                "SELECT index_name AS t FROM blind_index_values WHERE record_id = {} ORDER BY index_name",
                db.id(bob)
            ));
            assert_eq!(names, ["by_name_dob", "email"]);
            assert_eq!(
                emails(&find(&again, email("BOB@example.org"), false)),
                ["bob@example.org"]
            );
        },
    );
}

/// FORMAT.md: a record of a type with indexes in use but none of their
/// fields stores `records.blind_indexes` as a 0-entry list (`01 ‖ u32 v ‖
/// 0000`), with `records.index_version` v, not NULL; a file record, or a
/// record of a type without indexes, stores NULL.
#[test]
fn a_record_without_covered_fields_stores_an_empty_index_list() {
    each_backend(
        "a_record_without_covered_fields_stores_an_empty_index_list",
        |db| {
            let alice = client(db, "alice");
            declare(&alice, 16);
            let other = alice
                .put(
                    TYPE,
                    &Fields::new().with("other", "x").unwrap(),
                    &Plain::new(),
                )
                .unwrap()
                .id;
            let plain_type = alice
                .put(
                    "memo",
                    &Fields::new().with("other", "x").unwrap(),
                    &Plain::new(),
                )
                .unwrap()
                .id;
            let stored = |id: strongroom::RecordId| {
                db.texts(&format!(
                    "SELECT CASE WHEN blind_indexes IS NULL THEN 'NULL' ELSE {} END || ':' \
                     || COALESCE(CAST(index_version AS TEXT), 'NULL') AS t \
                     FROM records WHERE record_id = {}",
                    db.hex("blind_indexes"),
                    db.id(id)
                ))
            };
            assert_eq!(stored(other), ["01000000010000:1"]);
            assert_eq!(stored(plain_type), ["NULL:NULL"]);
        },
    );
}

fn with_ssn(c: &Client, n: usize) {
    let batch: Vec<NewRecord> = (0..n)
        .map(|i| {
            NewRecord::new(
                TYPE,
                Fields::new()
                    .with("ssn", &format!("123-45-{i:04}"))
                    .unwrap(),
                Plain::new(),
            )
        })
        .collect();
    c.put_many(&batch).unwrap();
}

fn without_ssn(c: &Client, n: usize) {
    let batch: Vec<NewRecord> = (0..n)
        .map(|i| {
            NewRecord::new(
                TYPE,
                Fields::new().with("note", &format!("n{i}")).unwrap(),
                Plain::new(),
            )
        })
        .collect();
    c.put_many(&batch).unwrap();
}

fn ssn_warning(c: &Client) -> (Option<strongroom::index::PlanWarning>, String) {
    let report = c.leakage(TYPE).unwrap();
    let ssn = report
        .indexes
        .iter()
        .find(|i| i.name == "ssn")
        .expect("the ssn index is reported");
    (ssn.plan.warning, report.to_string())
}

/// SECURITY.md: "With R records [in one writer's index at one key
/// version] and `bits` bits, about C = R / 2^bits records share each value
/// ... The planner warns below C = 2". Only records carrying an entry of
/// the index count: 5 ssns at 4 bits (16 values) are C = 0.3, whatever
/// the 200 records without an ssn.
#[test]
fn leakage_counts_only_the_entries_of_the_index() {
    each_backend(
        "leakage_counts_only_the_entries_of_the_index",
        |db: &TestDb| {
            let alice = client(db, "alice");
            alice
                .declare_indexes(TYPE, [IndexSpec::on_field("ssn").bits(4)])
                .unwrap();
            with_ssn(&alice, 5);
            // Patients without an ssn (an optional field).
            without_ssn(&alice, 200);
            let (warning, report) = ssn_warning(&alice);
            assert_eq!(
                warning,
                Some(strongroom::index::PlanWarning::EqualityLeaksExactly),
                "5 entries at 4 bits leak equality exactly, but the report says:\n{report}"
            );
        },
    );
}

/// The same with another writer: index values are keyed per writer (and
/// per index version), so the database sees which of Alice's 5 records
/// share a value whatever Bob writes; Bob's 200 records of the type (in
/// his own index of the same name, under his own key) do not hide it.
#[test]
fn leakage_counts_each_writers_index_apart() {
    each_backend("leakage_counts_each_writers_index_apart", |db: &TestDb| {
        let (alice, bob) = (client(db, "alice"), client(db, "bob"));
        for c in [&alice, &bob] {
            c.declare_indexes(TYPE, [IndexSpec::on_field("ssn").bits(4)])
                .unwrap();
        }
        with_ssn(&alice, 5);
        with_ssn(&bob, 200);
        let (warning, report) = ssn_warning(&alice);
        assert_eq!(
                warning,
                Some(strongroom::index::PlanWarning::EqualityLeaksExactly),
                "Alice's 5 entries under her own index key leak equality exactly, but the report says:\n{report}"
            );
    });
}

/// A custom normaliser's id is at most 248 bytes (its stored name,
/// `custom:ID`, at most 255), as the error says.
#[test]
fn a_custom_normaliser_id_is_at_most_248_bytes() {
    fn same(v: &str) -> String {
        v.to_owned()
    }
    for (len, ok) in [(248, true), (249, false)] {
        let id: &'static str = Box::leak("n".repeat(len).into_boxed_str());
        let spec = IndexSpec::on_field("ssn").normalize(Normalize::Custom { id, apply: same });
        let db = TestDb::sqlite();
        let alice = client(&db, "alice");
        match alice.declare_indexes(TYPE, [spec]) {
            Ok(_) => assert!(ok, "{len} bytes accepted"),
            Err(Error::InvalidInput(why)) => {
                assert!(!ok, "{len} bytes refused: {why}");
                assert!(why.contains("248"), "{why}");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

/// Data read from the database is hostile: a bad row is skipped, never a
/// failed query. One edited `blind_index_versions` row (unsigned) is
/// passed over for a client that declared the index (its condition is
/// checked against the declaration), not turned into an `InvalidInput`
/// blaming the caller's correct condition; a condition the declaration
/// does not fit is still that error.
#[test]
fn an_edited_index_version_row_does_not_fail_a_declared_search() {
    each_backend(
        "an_edited_index_version_row_does_not_fail_a_declared_search",
        |db: &TestDb| {
            let alice = client(db, "alice");
            alice
                .declare_indexes(TYPE, [IndexSpec::on_field("email")])
                .unwrap();
            alice
                .put(
                    TYPE,
                    &Fields::new().with("email", "ada@example.org").unwrap(),
                    &Plain::new(),
                )
                .unwrap();
            // The description FORMAT.md gives: u8 1, u16 bits, normaliser,
            // fields; here over a field `other`.
            let forged = [&[1u8, 0, 16, 4][..], b"none", &[1, 5], b"other"].concat();
            db.sql(&format!(
                "UPDATE blind_index_versions SET spec = {} WHERE index_name = 'email'",
                db.blob(&forged)
            ));
            let got = alice.query(
                &Query::new()
                    .record_type(TYPE)
                    .index_eq(IndexQuery::new("email").with("email", "ada@example.org")),
            );
            assert!(
                got.is_ok(),
                "one edited index row failed the whole search: {got:?}"
            );
            let wrong = alice.query(
                &Query::new()
                    .record_type(TYPE)
                    .index_eq(IndexQuery::new("email").with("other", "x")),
            );
            assert!(matches!(wrong, Err(Error::InvalidInput(_))), "{wrong:?}");
        },
    );
}

/// README: dropping a type's last index is not supported yet: after a
/// rotation and an empty declaration, `reindex` is `InvalidInput`; the old
/// version's lookup rows stay until each record is updated or deleted,
/// and its version row stays (so `leakage` still reports the index).
#[test]
fn dropping_the_last_index_is_refused_and_its_rows_stay_until_records_change() {
    each_backend(
        "dropping_the_last_index_is_refused_and_its_rows_stay_until_records_change",
        |db| {
            let alice = client(db, "alice");
            alice
                .declare_indexes(TYPE, [IndexSpec::on_field("ssn")])
                .unwrap();
            let ids: Vec<_> = (0..3)
                .map(|i| {
                    let fields = Fields::new().with("ssn", &format!("s{i}")).unwrap();
                    alice.put(TYPE, &fields, &Plain::new()).unwrap()
                })
                .collect();
            alice.rotate(TYPE).unwrap();
            alice
                .declare_indexes(TYPE, Vec::<IndexSpec>::new())
                .unwrap();
            match alice.reindex(TYPE, 10) {
                Err(Error::InvalidInput(_)) => {}
                other => panic!("{other:?}"),
            }
            let lookup_rows = || db.count("SELECT COUNT(*) AS n FROM blind_index_values");
            assert_eq!(lookup_rows(), 3);
            // Updated (no index at the new version) or deleted: its rows go.
            let fields = Fields::new().with("ssn", "changed").unwrap();
            alice
                .update(ids[0].id, ids[0].version, &fields, &Plain::new())
                .unwrap();
            alice.delete(ids[1].id, ids[1].version).unwrap();
            assert_eq!(lookup_rows(), 1);
            assert_eq!(
                db.count("SELECT COUNT(*) AS n FROM blind_index_versions"),
                1,
                "the old version row stays"
            );
            let report = alice.leakage(TYPE).unwrap();
            assert!(report.indexes.iter().any(|i| i.name == "ssn"), "{report}");
        },
    );
}
