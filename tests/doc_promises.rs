//! Claims of README.md, SECURITY.md and OPERATIONS.md that no other test
//! asserted. Each test names the sentence it checks.

mod common;

use common::{each_backend, TestDb};
use serde::{Deserialize, Serialize};
use strongroom::index::IndexSpec;
use strongroom::{Client, Error, Fields, Plain, Query, Sensitive};

fn client(db: &TestDb, name: &str) -> Client {
    Client::open_or_create(db.profile(name), &db.store()).unwrap()
}

// ---------------------------------------------------------------------
// README "Sharing": the snippet (compiled as a doc test, never run there)
// run as shown, with the comments' claims asserted.
#[test]
fn readme_sharing_snippet_compiles_and_does_what_its_comments_say() {
    each_backend("readme_sharing_snippet", |db| {
        let device = client(db, "device");
        let backend = client(db, "backend");
        let clinic = client(db, "clinic");
        let doctor = client(db, "doctor");
        let hr = |v: &str| Fields::new().with("bpm", v).unwrap();
        let first = device
            .put("heart_rate", &hr("61"), &Plain::new())
            .unwrap()
            .id;

        let keys_before = db.count("SELECT COUNT(*) AS n FROM access_keys");
        let policies_before = db.count("SELECT COUNT(*) AS n FROM policies");
        device.share("heart_rate", backend.id()).unwrap(); // one wrapped key + one policy row
        assert_eq!(
            db.count("SELECT COUNT(*) AS n FROM access_keys") - keys_before,
            1,
            "one wrapped key"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) AS n FROM policies") - policies_before,
            1,
            "one policy row"
        );
        let page = backend
            .query(&Query::new().record_type("heart_rate").shared())
            .unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].id(), first);

        device.revoke("heart_rate", backend.id()).unwrap(); // rotate: later records are out of reach
        let later = device
            .put("heart_rate", &hr("62"), &Plain::new())
            .unwrap()
            .id;
        assert!(matches!(
            backend.get(later),
            Err(Error::AccessDenied { .. })
        ));

        device.add_authorizer("heart_rate", clinic.id()).unwrap(); // the clinic may share on the device's behalf
        clinic
            .share_on_behalf(device.id(), "heart_rate", doctor.id())
            .unwrap();
        assert_eq!(
            doctor.get(later).unwrap().field::<String>("bpm").unwrap(),
            "62"
        );
    });
}

// ---------------------------------------------------------------------
// README: "The record type defaults to the struct's name in snake_case, an
// underscore before every capital but the first ... (`HeartRateSample` →
// `heart_rate_sample`, `HTTPServer` → `h_t_t_p_server`; ... `ÄrzteBrief` →
// `ärzte_brief`)". Only `PatientVisit` was asserted (derive unit test).
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Sensitive)]
struct HTTPServer {
    #[sensitive]
    name: String,
}
#[derive(Debug, Clone, Sensitive)]
struct HeartRateSample {
    #[sensitive]
    bpm: u32,
}
#[derive(Debug, Clone, Sensitive)]
#[allow(non_camel_case_types)]
struct ÄrzteBrief {
    #[sensitive]
    text: String,
}

#[test]
fn default_record_types_are_named_as_the_readme_says_and_are_usable() {
    assert_eq!(
        <HeartRateSample as strongroom::Sensitive>::RECORD_TYPE,
        "heart_rate_sample"
    );
    assert_eq!(
        <HTTPServer as strongroom::Sensitive>::RECORD_TYPE,
        "h_t_t_p_server"
    );
    assert_eq!(
        <ÄrzteBrief as strongroom::Sensitive>::RECORD_TYPE,
        "ärzte_brief"
    );
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    let saved = alice
        .repo::<ÄrzteBrief>()
        .insert(ÄrzteBrief { text: "x".into() })
        .unwrap();
    assert_eq!(saved.meta().record_type, "ärzte_brief");
    let _ = alice
        .repo::<HTTPServer>()
        .insert(HTTPServer { name: "n".into() })
        .unwrap();
    let _ = alice
        .repo::<HeartRateSample>()
        .insert(HeartRateSample { bpm: 60 })
        .unwrap();
}

// ---------------------------------------------------------------------
// README: "a value stored as JSON reads back as JSON gives it, so
// `Some(None)` of an `Option<Option<T>>` reads back as `None`"; "an
// `Option` is encrypted too, `None` included".
#[derive(Debug, Clone, Sensitive)]
#[sensitive(record_type = "opt_opt")]
struct OptOpt {
    tag: String,
    #[sensitive]
    maybe: Option<Option<String>>,
}

#[test]
fn some_none_of_an_option_option_reads_back_as_none() {
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    let repo = alice.repo::<OptOpt>();
    let saved = repo
        .insert(OptOpt {
            tag: "t".into(),
            maybe: Some(None),
        })
        .unwrap();
    let read = repo.get(saved.id()).unwrap();
    assert_eq!(read.value().maybe, None);
    // Sealed either way: no plain entry named `maybe`.
    assert!(!read.meta().plain.contains_key("maybe"));
}

// ---------------------------------------------------------------------
// README: "`#[serde(…)]` attributes on the model's own fields are not
// applied ...: every field is stored under its Rust name or its
// `#[sensitive(rename)]`, and a `#[serde(skip)]` plain field is stored in
// the clear like any other".
#[derive(Debug, Clone, Serialize, Deserialize, Sensitive)]
#[sensitive(record_type = "serde_attrs")]
struct SerdeAttrs {
    #[serde(skip)]
    internal: String,
    #[serde(rename = "nm")]
    #[sensitive]
    name: String,
}

#[test]
fn serde_attributes_on_model_fields_are_not_applied() {
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    let saved = alice
        .repo::<SerdeAttrs>()
        .insert(SerdeAttrs {
            internal: "in-the-clear".into(),
            name: "Ada".into(),
        })
        .unwrap();
    assert_eq!(
        saved.meta().plain.get("internal").map(String::as_str),
        Some("in-the-clear"),
        "a #[serde(skip)] plain field is stored in the clear"
    );
    let record = alice.get(saved.id()).unwrap();
    assert_eq!(record.field::<String>("name").unwrap(), "Ada");
    assert!(record.field::<String>("nm").is_err());
}

// ---------------------------------------------------------------------
// README: "`#[sensitive(pad = 64)]` pads the JSON with spaces to a multiple
// of 64 bytes, so a set and an unset field, and any two values shorter
// than that, seal to the same size"; SECURITY: "with at least one space up
// to a multiple of `N` bytes, so every value shorter than `N` bytes, `None`
// included, seals to the same size, and a longer one shows only how many
// blocks of `N` it fills". Checked at the boundaries (N-1 and N bytes).
#[derive(Debug, Clone, Sensitive)]
#[sensitive(record_type = "padded8")]
struct Padded8 {
    #[sensitive(pad = 8)]
    v: Option<String>,
}

#[test]
fn padding_boundaries_are_as_security_md_says() {
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    let repo = alice.repo::<Padded8>();
    let len = |v: Option<&str>| {
        let id = repo
            .insert(Padded8 {
                v: v.map(str::to_owned),
            })
            .unwrap()
            .id();
        db.sealed_fields_len(id)
    };
    let none = len(None); // `null`: 4 bytes
    let five = len(Some("abc")); // `"abc"`: 5 bytes
    let seven = len(Some("abcde")); // 7 bytes: N - 1
    let eight = len(Some("abcdef")); // 8 bytes: N, needs a second block
    let fifteen = len(Some("abcdefghijklm")); // 15 bytes
    assert_eq!(none, five);
    assert_eq!(
        none, seven,
        "every value shorter than N seals to the same size"
    );
    assert_eq!(
        eight - seven,
        8,
        "a value of N bytes fills two blocks (at least one space)"
    );
    assert_eq!(eight, fifteen);
}

// ---------------------------------------------------------------------
// README: "`bits` (1 to 256, default 16)". The derive refuses other bits
// at compile time (ui test); the runtime `IndexSpec` was not tested.
#[test]
fn index_bits_outside_1_to_256_are_invalid_input() {
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    for bits in [0u16, 257, 1000] {
        let err = alice
            .declare_indexes("patient", [IndexSpec::on_field("email").bits(bits)])
            .expect_err(&format!("bits {bits} must be refused"));
        assert!(
            matches!(err, Error::InvalidInput(_)),
            "bits {bits}: {err:?}"
        );
    }
    alice
        .declare_indexes("patient", [IndexSpec::on_field("email").bits(256)])
        .unwrap();
    assert_eq!(IndexSpec::on_field("email").bits_kept(), 16, "default 16");
}

// ---------------------------------------------------------------------
// README: "page ... (up to 1,000 records a page)": 1001 is tested; 0 too?
#[test]
fn a_page_of_zero_records_is_invalid_input() {
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    assert!(matches!(
        alice.query(&Query::new().limit(0)),
        Err(Error::InvalidInput(_))
    ));
    alice.query(&Query::new().limit(1000)).unwrap();
}

// ---------------------------------------------------------------------
// README: "Generic structs work (all instantiations share one record type;
// lifetimes are refused)".
#[derive(Debug, Clone, Sensitive)]
#[sensitive(record_type = "tagged")]
struct Tagged<
    T: Serialize + serde::de::DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static,
> {
    label: String,
    #[sensitive]
    value: T,
}

#[test]
fn generic_instantiations_share_one_record_type() {
    assert_eq!(
        <Tagged<u32> as strongroom::Sensitive>::RECORD_TYPE,
        "tagged"
    );
    assert_eq!(
        <Tagged<String> as strongroom::Sensitive>::RECORD_TYPE,
        "tagged"
    );
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    let id = alice
        .repo::<Tagged<u32>>()
        .insert(Tagged {
            label: "a".into(),
            value: 7,
        })
        .unwrap()
        .id();
    // Read through another instantiation: same type, value does not fit.
    assert!(alice.repo::<Tagged<Vec<u8>>>().get(id).is_err());
    assert_eq!(
        alice.repo::<Tagged<u64>>().get(id).unwrap().value().value,
        7
    );
}

// ---------------------------------------------------------------------
// README: "A failed write leaves nothing behind: it is whole or absent."
// (Only a file upload is documented to keep a type's first access key.)
// A write that fails in the database after sealing (a trigger aborts the
// second record's insert) on a type that has no key yet.
#[test]
fn a_put_many_that_fails_in_the_database_leaves_nothing_behind() {
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    let tables = [
        "records",
        "record_batches",
        "access_keys",
        "key_heads",
        "meta_index",
        "policies",
    ];
    let counts = || -> Vec<i64> {
        tables
            .iter()
            .map(|t| db.count(&format!("SELECT COUNT(*) AS n FROM {t}")))
            .collect()
    };
    let before = counts();
    db.sql(
        "CREATE TRIGGER second_record_fails BEFORE INSERT ON records \
         WHEN (SELECT COUNT(*) FROM records) >= 1 \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    );
    let rec = |v: &str| {
        strongroom::NewRecord::new(
            "fresh_type",
            Fields::new().with("v", v).unwrap(),
            Plain::from([("p".to_owned(), v.to_owned())]),
        )
    };
    let err = alice.put_many(&[rec("a"), rec("b")]).unwrap_err();
    assert!(matches!(err, Error::Database(_)), "{err:?}");
    let after = counts();
    for ((t, b), a) in tables.iter().zip(&before).zip(&after) {
        assert_eq!(b, a, "table {t}: a failed write left rows behind");
    }
}

// ---------------------------------------------------------------------
// README (quickstart, Operations): "a profile refuses a copy of its
// database from before one of its key rotations, `Error::KeyRollback`; an
// older copy at the same key versions opens as the database it was".
#[test]
fn an_older_copy_opens_unless_a_rotation_came_after_it() {
    let db = TestDb::sqlite();
    let path = db.sqlite_path().unwrap();
    let note = |v: &str| Fields::new().with("note", v).unwrap();
    {
        let alice = client(&db, "alice");
        alice.put("patient", &note("one"), &Plain::new()).unwrap();
    }
    // A consistent copy (the WAL checkpointed into it).
    let same_versions = path.with_extension("same");
    db.sql(&format!("VACUUM INTO '{}'", same_versions.display()));
    {
        let alice = client(&db, "alice");
        alice.put("patient", &note("two"), &Plain::new()).unwrap();
    }
    let open = |copy: &std::path::Path| {
        let store = strongroom::Store::open(&format!("sqlite://{}", copy.display())).unwrap();
        Client::open_or_create(db.profile("alice"), &store).unwrap()
    };
    // At the same key versions: it opens and takes writes.
    open(&same_versions)
        .put("patient", &note("three"), &Plain::new())
        .unwrap();
    // From before a rotation: the type's writes are refused.
    let before_rotation = path.with_extension("before");
    db.sql(&format!("VACUUM INTO '{}'", before_rotation.display()));
    client(&db, "alice").rotate("patient").unwrap();
    match open(&before_rotation).put("patient", &note("four"), &Plain::new()) {
        Err(Error::KeyRollback { .. }) => {}
        other => panic!("a copy from before a rotation: {other:?}"),
    }
}

// ---------------------------------------------------------------------
// SECURITY, "Rollback protection": "An identity the profile does not know
// is accepted only for a database holding no row this client wrote as a
// writer: no access key of its types, key head, record, batch signature
// or grant on its types". The existing test hides only the key tables
// (records stay). Here one kind of row is left at a time: a batch
// signature alone, or a grant alone, must still refuse the new identity.
#[test]
fn one_remaining_row_of_any_listed_kind_refuses_an_unknown_identity() {
    let writer_tables = [
        "access_keys",
        "key_heads",
        "records",
        "record_batches",
        "policies",
        "blind_index_versions",
    ];
    for keep in [
        "record_batches",
        "policies",
        "records",
        "key_heads",
        "access_keys",
    ] {
        each_backend(
            &format!("one_remaining_row_refuses_identity_{keep}"),
            |db| {
                let store = db.store();
                let alice = client(db, "alice");
                let bob = client(db, "bob");
                let note = Fields::new().with("note", "x").unwrap();
                alice.put("patient", &note, &Plain::new()).unwrap();
                alice.share("patient", bob.id()).unwrap();
                let me = db.id(alice.id());
                drop(alice);
                db.sql(&format!(
                    "UPDATE database_identity SET database_id = {}",
                    db.id(strongroom::DatabaseId::random())
                ));
                db.sql("DELETE FROM meta_index");
                let _ = db.try_sql("DELETE FROM meta_index_by_created");
                for table in writer_tables {
                    if table != keep {
                        db.sql(&format!("DELETE FROM {table} WHERE writer_id = {me}"));
                    }
                }
                let alice = Client::open_or_create(db.profile("alice"), &store).unwrap();
                match alice.put("patient", &note, &Plain::new()) {
                    Err(Error::DatabaseIdentityChanged { .. }) => {}
                    other => panic!(
                        "only `{keep}` rows of the writer left: expected DatabaseIdentityChanged, got {other:?}"
                    ),
                }
            },
        );
    }
}
