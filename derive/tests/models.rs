//! The derive on real models: generic structs, a re-exported strongroom,
//! and filters, through a repository on an in-memory SQLite store.

use std::cell::Cell;
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;
use strongroom::{Client, PlainValue, Sensitive, Store};

/// A crate that reaches strongroom only through a re-export.
mod reexport {
    pub use strongroom;
}

#[derive(Debug, Clone, PartialEq, Sensitive)]
#[sensitive(record_type = "labelled")]
struct Labelled<T: Serialize + DeserializeOwned> {
    label: String,
    #[sensitive]
    data: T,
    #[sensitive]
    note: Option<T>,
}

#[derive(Debug, Clone, PartialEq, Sensitive)]
struct Keyed<K: PlainValue, const N: usize> {
    key: K,
    #[sensitive]
    body: String,
}

#[derive(Debug, Clone, PartialEq, reexport::strongroom::Sensitive)]
#[sensitive(crate = "reexport::strongroom", record_type = "memo")]
struct Memo {
    topic: String,
    #[sensitive]
    text: String,
}

/// Runs `test` with a client on a fresh in-memory store.
fn with_client(test: impl FnOnce(&Client)) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("sqlite::memory:").unwrap();
    let client = Client::open_or_create(dir.path().join("alice.profile"), &store).unwrap();
    test(&client);
}

#[test]
fn generic_struct_round_trips_through_a_repository() {
    with_client(|client| {
        let repo = client.repo::<Labelled<Vec<u32>>>();
        let value = Labelled {
            label: "primes".into(),
            data: vec![2, 3, 5, 7],
            note: None,
        };
        let saved = repo.insert(value.clone()).unwrap();
        assert_eq!(saved.meta().record_type, "labelled");
        assert_eq!(repo.get(saved.id()).unwrap().into_inner(), value);
        let page = repo.query().filter(|f| f.label("primes")).fetch().unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].data, [2, 3, 5, 7]);
        assert_eq!(page.records[0].note, None);
    });
}

#[test]
fn generic_plain_field_and_const_parameter_filter() {
    type Model = Keyed<u32, 3>;
    let pairs = Model::filter_pairs(<Model as Sensitive>::Filter::default().key(7u32)).unwrap();
    assert_eq!(pairs, [("key".to_owned(), "7".to_owned())]);
    assert_eq!(Model::RECORD_TYPE, "keyed");
    with_client(|client| {
        let repo = client.repo::<Model>();
        for key in [7, 8] {
            repo.insert(Keyed {
                key,
                body: format!("body {key}"),
            })
            .unwrap();
        }
        let page = repo.query().filter(|f| f.key(8u32)).fetch().unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].body, "body 8");
    });
}

/// The filter owns no `T`: it is `Send`, `Sync`, `Default`, `Clone` and
/// `Debug` even when `T` is none of them but serializable, and every
/// instantiation shares the one record type.
#[test]
fn generic_filter_needs_nothing_of_t() {
    fn usable<F: Send + Sync + Default + Clone + Debug>() {}
    usable::<<Labelled<Cell<u32>> as Sensitive>::Filter>();
    let filter = <Labelled<Cell<u32>> as Sensitive>::Filter::default().label("x");
    assert_eq!(
        format!("{:?}", filter.clone()),
        r#"LabelledFilter { pairs: [("label", Some("x"))], indexes: [] }"#
    );
    assert_eq!(
        <Labelled<Cell<u32>>>::RECORD_TYPE,
        <Labelled<String>>::RECORD_TYPE
    );
}

#[test]
fn crate_path_override_works_through_a_reexport() {
    with_client(|client| {
        let repo = client.repo::<Memo>();
        let memo = Memo {
            topic: "ops".into(),
            text: "rotate keys".into(),
        };
        let saved = repo.insert(memo.clone()).unwrap();
        assert_eq!(saved.meta().record_type, "memo");
        assert!(!saved.meta().plain.values().any(|v| v.contains("rotate")));
        let page = repo.query().filter(|f| f.topic("ops")).fetch().unwrap();
        assert_eq!(page.records[0].value(), &memo);
    });
}

/// A crate that denies rustc's allow-by-default lints can still derive:
/// the generated code sits at the user's field spans, so its own lints
/// count there (this module not compiling fails the test build).
#[deny(
    unused_results,
    unused_qualifications,
    trivial_casts,
    trivial_numeric_casts,
    unused_import_braces,
    single_use_lifetimes,
    unreachable_pub,
    missing_debug_implementations,
    variant_size_differences,
    unused_lifetimes
)]
mod strict_lints {
    use strongroom::Sensitive;

    /// A model.
    #[derive(Debug, Clone, Sensitive)]
    #[sensitive(record_type = "linted")]
    pub(crate) struct Linted {
        pub(crate) clinic: String,
        pub(crate) ward: Option<u32>,
        #[sensitive]
        pub(crate) name: String,
        #[sensitive(pad = 64, index)]
        pub(crate) referrer: Option<String>,
    }
}

#[test]
fn a_crate_denying_allow_by_default_lints_derives() {
    use strict_lints::Linted;
    let _ = <Linted as Sensitive>::Filter::default()
        .clinic("x")
        .ward(3u32)
        .referrer_eq("y");
    let value = Linted {
        clinic: "x".into(),
        ward: Some(3),
        name: "n".into(),
        referrer: None,
    };
    let (fields, plain) = value.to_parts().unwrap();
    assert_eq!(fields.names().collect::<Vec<_>>(), ["name", "referrer"]);
    assert_eq!(plain.len(), 2);
}
