//! The typed repository over `#[derive(Sensitive)]` models, on SQLite and
//! PostgreSQL.

mod common;

use common::{each_backend, TestDb};
use serde::{Deserialize, Serialize};
use strongroom::{Client, Error, Sensitive};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Visit {
    date: String,
    notes: String,
}

#[derive(Debug, Clone, PartialEq, Sensitive)]
#[sensitive(record_type = "patient")]
struct Patient {
    clinic: String,
    ward: u32,
    discharged: bool,
    referrer: Option<String>,
    #[sensitive]
    name: String,
    #[sensitive]
    national_id: Option<String>,
    #[sensitive]
    history: Vec<Visit>,
}

fn ada() -> Patient {
    Patient {
        clinic: "north".into(),
        ward: 7,
        discharged: false,
        referrer: None,
        name: "Ada Lovelace".into(),
        national_id: None,
        history: vec![Visit {
            date: "1843".into(),
            notes: "fine".into(),
        }],
    }
}

fn client(db: &TestDb, name: &str) -> Client {
    Client::open_or_create(db.profile(name), &db.store()).unwrap()
}

#[test]
fn insert_get_update_delete() {
    each_backend("insert_get_update_delete", |db| {
        let alice = client(db, "alice");
        let patients = alice.repo::<Patient>();
        let saved = patients.insert(ada()).unwrap();
        assert_eq!(saved.version(), 1);
        assert_eq!(saved.meta().writer_id, alice.id());
        assert_eq!(saved.meta().record_type, "patient");
        // Plain fields are meta; sensitive ones are not.
        assert_eq!(
            saved.meta().plain.get("clinic").map(String::as_str),
            Some("north")
        );
        assert_eq!(
            saved.meta().plain.get("ward").map(String::as_str),
            Some("7")
        );
        assert!(!saved.meta().plain.contains_key("name"));
        assert!(
            !saved.meta().plain.contains_key("referrer"),
            "None stores no entry"
        );

        let mut read = patients.get(saved.id()).unwrap();
        assert_eq!(*read, ada());
        read.name = "Ada King".into();
        read.national_id = Some("1815-12-10".into());
        read.referrer = Some("Babbage".into());
        let stale = read.clone();
        let updated = patients.update(read).unwrap();
        assert_eq!(updated.version(), 2);
        assert!(matches!(
            patients.update(stale.clone()),
            Err(Error::Conflict { .. })
        ));
        let again = patients.get(saved.id()).unwrap();
        assert_eq!(again.national_id.as_deref(), Some("1815-12-10"));
        assert_eq!(again.referrer.as_deref(), Some("Babbage"));
        assert!(matches!(
            patients.delete(&stale),
            Err(Error::Conflict { .. })
        ));
        patients.delete(&again).unwrap();
        assert!(matches!(
            patients.get(saved.id()),
            Err(Error::NotFound { .. })
        ));
    });
}

#[test]
fn an_option_field_is_encrypted_whether_or_not_it_is_set() {
    each_backend(
        "an_option_field_is_encrypted_whether_or_not_it_is_set",
        |db| {
            let alice = client(db, "alice");
            let patients = alice.repo::<Patient>();
            let none = patients.insert(ada()).unwrap();
            let record = alice.get(none.id()).unwrap();
            let names: Vec<&str> = record.field_names().collect();
            assert!(
                names.contains(&"national_id"),
                "a None is sealed too: {names:?}"
            );
            assert_eq!(record.field::<Option<String>>("national_id").unwrap(), None);
        },
    );
}

#[test]
fn typed_queries_filter_on_plain_fields() {
    each_backend("typed_queries_filter_on_plain_fields", |db| {
        let alice = client(db, "alice");
        let patients = alice.repo::<Patient>();
        let mut batch = Vec::new();
        for i in 0..30u32 {
            let mut p = ada();
            p.name = format!("patient {i}");
            p.ward = i % 3;
            p.clinic = if i % 2 == 0 {
                "north".into()
            } else {
                "south".into()
            };
            p.discharged = i % 5 == 0;
            batch.push(p);
        }
        let stored = patients.insert_many(batch).unwrap();
        assert_eq!(stored.len(), 30);
        assert_eq!(stored[4].name, "patient 4");

        let page = patients
            .query()
            .filter(|p| p.clinic("north").ward(0u32))
            .limit(100)
            .fetch()
            .unwrap();
        let expected = (0..30).filter(|i| i % 2 == 0 && i % 3 == 0).count();
        assert_eq!(page.records.len(), expected);
        assert!(page
            .records
            .iter()
            .all(|p| p.clinic == "north" && p.ward == 0));

        let page = patients
            .query()
            .filter(|p| p.discharged(true))
            .limit(100)
            .fetch()
            .unwrap();
        assert_eq!(page.records.len(), 6);

        // Paging through all of them.
        let mut seen = 0;
        let mut query = patients.query().limit(7);
        loop {
            let page = query.fetch().unwrap();
            seen += page.records.len();
            match page.next {
                Some(cursor) => query = patients.query().limit(7).after(cursor),
                None => break,
            }
        }
        assert_eq!(seen, 30);
    });
}

mod evolution {
    use super::*;

    /// The first version of the model.
    #[derive(Debug, Clone, PartialEq, Sensitive)]
    #[sensitive(record_type = "member")]
    pub struct MemberV1 {
        pub club: String,
        #[sensitive]
        pub name: String,
        #[sensitive]
        pub history: Vec<String>,
    }

    /// A later version: a new optional field, and `history` renamed in Rust
    /// but still stored under its old name.
    #[derive(Debug, Clone, PartialEq, Sensitive)]
    #[sensitive(record_type = "member")]
    pub struct MemberV2 {
        pub club: String,
        #[sensitive]
        pub name: String,
        #[sensitive(rename = "history")]
        pub visits: Vec<String>,
        #[sensitive]
        pub allergies: Option<Vec<String>>,
    }

    /// A version that added a required field.
    #[derive(Debug, Clone, PartialEq, Sensitive)]
    #[sensitive(record_type = "member")]
    pub struct MemberV3 {
        pub club: String,
        #[sensitive]
        pub name: String,
        #[sensitive]
        pub blood_type: String,
    }
}

#[test]
fn records_written_by_an_older_model_read_under_a_newer_one() {
    use evolution::*;
    each_backend(
        "records_written_by_an_older_model_read_under_a_newer_one",
        |db| {
            let alice = client(db, "alice");
            let old = alice
                .repo::<MemberV1>()
                .insert(MemberV1 {
                    club: "chess".into(),
                    name: "Ada".into(),
                    history: vec!["joined".into()],
                })
                .unwrap();
            let v2 = alice.repo::<MemberV2>().get(old.id()).unwrap();
            assert_eq!(
                v2.visits,
                vec!["joined".to_owned()],
                "rename keeps old records readable"
            );
            assert_eq!(v2.allergies, None, "a field added later reads as None");
            let err = alice.repo::<MemberV3>().get(old.id()).unwrap_err();
            assert!(
                matches!(&err, Error::MissingField { field } if field == "blood_type"),
                "{err:?}"
            );
            assert!(err.to_string().contains("blood_type"));
            // A record of another type is not found through this repository.
            assert!(matches!(
                alice.repo::<Patient>().get(old.id()),
                Err(Error::NotFound { .. })
            ));
        },
    );
}

#[test]
fn the_default_record_type_is_the_struct_name_in_snake_case() {
    #[derive(Sensitive)]
    struct LabResult {
        #[sensitive]
        value: f64,
    }
    assert_eq!(<LabResult as Sensitive>::RECORD_TYPE, "lab_result");
    let _ = |r: LabResult| r.value;
}
