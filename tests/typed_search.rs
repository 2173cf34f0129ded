//! Blind indexes declared on a `#[derive(Sensitive)]` model: the generated
//! `<field>_eq` and `<index>_eq` filters, normalisers (built-in and a
//! function), a compound index, truncation's false positives, a shared
//! reader, re-indexing after a model gains an index, and the leakage
//! report; on SQLite and PostgreSQL.

mod common;

use common::{each_backend, TestDb};
use strongroom::index::FieldClass;
use strongroom::{Client, Error, Sensitive};

/// Keeps the digits of a national id written with spaces or dashes.
fn digits(value: &str) -> String {
    value.chars().filter(char::is_ascii_digit).collect()
}

#[derive(Debug, Clone, PartialEq, Sensitive)]
#[sensitive(record_type = "person")]
#[sensitive(index(name = "by_name_dob", fields = ["last_name", "dob"], normalize = "lowercase"))]
struct Person {
    clinic: String,
    #[sensitive(index(normalize = digits))]
    national_id: String,
    #[sensitive(index(normalize = "lowercase", bits = 20))]
    email: Option<String>,
    #[sensitive]
    last_name: String,
    #[sensitive]
    dob: String,
    #[sensitive]
    notes: String,
}

/// The same record type before it had indexes.
#[derive(Debug, Clone, PartialEq, Sensitive)]
#[sensitive(record_type = "person")]
struct PersonUnindexed {
    clinic: String,
    #[sensitive]
    national_id: String,
    #[sensitive]
    email: Option<String>,
    #[sensitive]
    last_name: String,
    #[sensitive]
    dob: String,
    #[sensitive]
    notes: String,
}

/// The same record type with one more index (`notes`).
#[derive(Debug, Clone, PartialEq, Sensitive)]
#[sensitive(record_type = "person")]
#[sensitive(index(name = "by_name_dob", fields = ["last_name", "dob"], normalize = "lowercase"))]
struct PersonMoreIndexed {
    clinic: String,
    #[sensitive(index(normalize = digits))]
    national_id: String,
    #[sensitive(index(normalize = "lowercase", bits = 20))]
    email: Option<String>,
    #[sensitive]
    last_name: String,
    #[sensitive]
    dob: String,
    #[sensitive(index)]
    notes: String,
}

/// One bit kept: about half the records share each index value.
#[derive(Debug, Clone, PartialEq, Sensitive)]
#[sensitive(record_type = "token")]
struct Token {
    #[sensitive(index(bits = 1))]
    code: u32,
}

fn person(n: u32) -> Person {
    Person {
        clinic: if n.is_multiple_of(2) {
            "north"
        } else {
            "south"
        }
        .into(),
        national_id: format!("{n:03}-45-{n:04}"),
        email: Some(format!("Person{n}@Example.org")),
        last_name: format!("Name{n}"),
        dob: format!("19{:02}-01-01", n % 100),
        notes: format!("notes of {n}"),
    }
}

fn client(db: &TestDb, name: &str) -> Client {
    Client::open_or_create(db.profile(name), &db.store()).unwrap()
}

#[test]
fn generated_filters_find_exactly_the_matching_record() {
    each_backend("generated_filters_find_exactly_the_matching_record", |db| {
        let alice = client(db, "alice");
        let people = alice.repo::<Person>();
        people.insert_many((0..20).map(person).collect()).unwrap();
        let mut no_email = person(99);
        no_email.email = None;
        people.insert(no_email).unwrap();

        // The custom normaliser: a differently written id finds it.
        for written in ["007-45-0007", "007 45 0007", "007450007"] {
            let page = people
                .query()
                .filter(|p| p.national_id_eq(written))
                .fetch()
                .unwrap();
            assert_eq!(page.records.len(), 1, "{written}");
            assert_eq!(page.records[0].national_id, "007-45-0007");
        }
        // Another value after normalisation: nothing.
        let none = people
            .query()
            .filter(|p| p.national_id_eq("007-45-0008"))
            .fetch()
            .unwrap();
        assert!(none.records.is_empty());

        // Lowercase, through an Option field.
        let page = people
            .query()
            .filter(|p| p.email_eq("PERSON12@example.ORG"))
            .fetch()
            .unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].last_name, "Name12");

        // The compound index: both values must match.
        let page = people
            .query()
            .filter(|p| p.by_name_dob_eq("NAME5", "1905-01-01"))
            .fetch()
            .unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].national_id, "005-45-0005");
        let page = people
            .query()
            .filter(|p| p.by_name_dob_eq("Name5", "1906-01-01"))
            .fetch()
            .unwrap();
        assert!(page.records.is_empty());

        // An index condition combines with a plain filter.
        let south = people
            .query()
            .filter(|p| p.national_id_eq("007450007").clinic("south"))
            .fetch()
            .unwrap();
        assert_eq!(south.records.len(), 1);
        let north = people
            .query()
            .filter(|p| p.national_id_eq("007450007").clinic("north"))
            .fetch()
            .unwrap();
        assert!(north.records.is_empty());

        // Two index conditions in one query are refused, not half applied.
        let err = people
            .query()
            .filter(|p| {
                p.national_id_eq("007450007")
                    .email_eq("person7@example.org")
            })
            .fetch()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    });
}

#[test]
fn truncation_false_positives_never_reach_the_caller() {
    each_backend("truncation_false_positives_never_reach_the_caller", |db| {
        let alice = client(db, "alice");
        let tokens = alice.repo::<Token>();
        tokens
            .insert_many((0..40).map(|code| Token { code }).collect())
            .unwrap();
        let page = tokens.query().filter(|t| t.code_eq(17u32)).fetch().unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].code, 17);
        // With one bit, about 20 of the 39 other records share the value.
        assert!(page.discarded >= 5, "discarded {}", page.discarded);
    });
}

#[test]
fn a_shared_reader_searches_with_the_same_model() {
    each_backend("a_shared_reader_searches_with_the_same_model", |db| {
        let alice = client(db, "alice");
        let bob = client(db, "bob");
        alice.repo::<Person>().insert(person(3)).unwrap();
        let before = bob
            .repo::<Person>()
            .query()
            .shared()
            .filter(|p| p.national_id_eq("003-45-0003"))
            .fetch()
            .unwrap();
        assert!(before.records.is_empty(), "not shared yet");
        alice.share("person", bob.id()).unwrap();
        let page = bob
            .repo::<Person>()
            .query()
            .shared()
            .filter(|p| p.national_id_eq("003 45 0003"))
            .fetch()
            .unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].meta().writer_id, alice.id());
    });
}

#[test]
fn records_written_before_the_model_had_indexes_are_found_after_reindex() {
    each_backend(
        "records_written_before_the_model_had_indexes_are_found_after_reindex",
        |db| {
            let alice = client(db, "alice");
            let old: Vec<PersonUnindexed> = (0..12)
                .map(|n| {
                    let p = person(n);
                    PersonUnindexed {
                        clinic: p.clinic,
                        national_id: p.national_id,
                        email: p.email,
                        last_name: p.last_name,
                        dob: p.dob,
                        notes: p.notes,
                    }
                })
                .collect();
            alice.repo::<PersonUnindexed>().insert_many(old).unwrap();
            let people = alice.repo::<Person>();
            let find = || {
                people
                    .query()
                    .filter(|p| p.national_id_eq("011-45-0011"))
                    .fetch()
                    .unwrap()
                    .records
                    .len()
            };
            assert_eq!(find(), 0, "not indexed yet");
            let outcome = people.reindex(5).unwrap();
            assert_eq!(outcome.reindexed, 12);
            assert_eq!(outcome.remaining, Some(0));
            assert_eq!(find(), 1);
            assert_eq!(people.reindex(5).unwrap().reindexed, 0, "idempotent");
        },
    );
}

#[test]
fn the_leakage_report_lists_every_field_of_the_model() {
    each_backend("the_leakage_report_lists_every_field_of_the_model", |db| {
        let alice = client(db, "alice");
        let people = alice.repo::<Person>();
        people.insert_many((0..3).map(person).collect()).unwrap();
        let report = people.leakage().unwrap();
        let class = |name: &str| {
            report
                .field(name)
                .unwrap_or_else(|| panic!("{name} missing from {report}"))
                .clone()
        };
        assert!(matches!(class("clinic"), FieldClass::Plain), "{report}");
        assert!(matches!(class("notes"), FieldClass::Sealed), "{report}");
        assert!(
            matches!(class("national_id"), FieldClass::Indexed { .. }),
            "{report}"
        );
        assert!(
            matches!(class("email"), FieldClass::Indexed { .. }),
            "{report}"
        );
        assert!(
            report.indexes.iter().any(|i| i.name == "by_name_dob"),
            "{report}"
        );
        let text = report.to_string();
        assert!(text.contains("by_name_dob"), "{text}");
        assert!(!text.contains("Name1"), "no values in the report: {text}");
    });
}

#[test]
fn an_index_added_at_an_indexed_key_version_waits_for_a_rotation() {
    each_backend(
        "an_index_added_at_an_indexed_key_version_waits_for_a_rotation",
        |db| {
            let alice = client(db, "alice");
            alice
                .repo::<Person>()
                .insert_many((0..4).map(person).collect())
                .unwrap();
            let more = alice.repo::<PersonMoreIndexed>();
            let p = person(7);
            let seven = PersonMoreIndexed {
                clinic: p.clinic,
                national_id: p.national_id,
                email: p.email,
                last_name: p.last_name,
                dob: p.dob,
                notes: p.notes,
            };
            // Records indexed under this version would lack `notes`: refused.
            let err = more.insert(seven.clone()).unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput(why) if why.contains("rotate")),
                "{err:?}"
            );
            assert_eq!(
                db.count("SELECT COUNT(*) AS n FROM records"),
                4,
                "nothing written"
            );
            alice.rotate("person").unwrap();
            more.insert(seven).unwrap();
            let outcome = more.reindex(100).unwrap();
            assert_eq!(outcome.reindexed, 4);
            assert_eq!(outcome.remaining, Some(0));
            let found = more
                .query()
                .filter(|p| p.notes_eq("notes of 2"))
                .fetch()
                .unwrap();
            assert_eq!(found.records.len(), 1);
            assert_eq!(found.records[0].national_id, "002-45-0002");
        },
    );
}

/// An earlier build of a model that kept `email` as plain meta.
#[derive(Debug, Clone, PartialEq, Sensitive)]
#[sensitive(record_type = "member")]
struct MemberPlainEmail {
    email: String,
    #[sensitive]
    name: String,
}

/// The current build: `email` sealed and indexed at 24 bits.
#[derive(Debug, Clone, PartialEq, Sensitive)]
#[sensitive(record_type = "member")]
struct MemberWide {
    #[sensitive(index(bits = 24))]
    email: String,
    #[sensitive]
    name: String,
}

/// After the planner's advice: 8 bits.
#[derive(Debug, Clone, PartialEq, Sensitive)]
#[sensitive(record_type = "member")]
struct MemberNarrow {
    #[sensitive(index(bits = 8))]
    email: String,
    #[sensitive]
    name: String,
}

/// `Repo::leakage` reports what the records already stored reveal, not
/// only what the model declares: a field an older model kept plain is
/// plain, and an index counts at the bits of a live version not yet
/// retired by a re-index.
#[test]
fn a_models_leakage_report_counts_what_older_records_reveal() {
    each_backend(
        "a_models_leakage_report_counts_what_older_records_reveal",
        |db| {
            let alice = client(db, "alice");
            let class = |report: &strongroom::index::Leakage, name: &str| {
                report
                    .field(name)
                    .unwrap_or_else(|| panic!("{name} missing from {report}"))
                    .clone()
            };
            let member = |n: u32| (format!("m{n}@example.org"), format!("M{n}"));
            let wide = alice.repo::<MemberWide>();
            // Before any record: the model's own declaration.
            assert!(matches!(
                class(&wide.leakage().unwrap(), "email"),
                FieldClass::Indexed { ref indexes } if indexes == &[("email".to_owned(), 24)]
            ));
            for n in 0..3 {
                let (email, name) = member(n);
                wide.insert(MemberWide { email, name }).unwrap();
            }
            alice.rotate("member").unwrap();
            let narrow = alice.repo::<MemberNarrow>();
            let (email, name) = member(3);
            narrow.insert(MemberNarrow { email, name }).unwrap();
            // Three records still carry 24-bit values.
            assert!(matches!(
                class(&narrow.leakage().unwrap(), "email"),
                FieldClass::Indexed { ref indexes } if indexes == &[("email".to_owned(), 24)]
            ));
            assert_eq!(narrow.reindex(100).unwrap().reindexed, 3);
            assert!(matches!(
                class(&narrow.leakage().unwrap(), "email"),
                FieldClass::Indexed { ref indexes } if indexes == &[("email".to_owned(), 8)]
            ));
            // A record of an older build holds the email in the clear.
            let (email, name) = member(4);
            alice
                .repo::<MemberPlainEmail>()
                .insert(MemberPlainEmail { email, name })
                .unwrap();
            let report = narrow.leakage().unwrap();
            assert!(
                matches!(class(&report, "email"), FieldClass::Plain),
                "{report}"
            );
            assert!(
                matches!(class(&report, "name"), FieldClass::Sealed),
                "{report}"
            );
            assert_eq!(report.records, 5);
        },
    );
}
