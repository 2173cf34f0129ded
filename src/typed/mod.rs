//! The typed layer: `#[derive(Sensitive)]` models and [`Repo`], a typed
//! repository over the key-value API.
//!
//! # Example
//! ```
//! use serde::{Deserialize, Serialize};
//! use strongroom::{Client, Sensitive, Store};
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! struct Visit { date: String, notes: String }
//!
//! #[derive(Debug, Clone, PartialEq, Sensitive)]
//! #[sensitive(record_type = "patient")]
//! struct Patient {
//!     clinic: String,                    // plain meta: clear, filterable
//!     #[sensitive] name: String,         // encrypted with its own data key
//!     #[sensitive] history: Vec<Visit>,  // any serde type, as JSON
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open("sqlite::memory:")?;
//! let alice = Client::open_or_create(dir.path().join("alice.profile"), &store)?;
//! let patients = alice.repo::<Patient>();
//! let saved = patients.insert(Patient {
//!     clinic: "north".into(),
//!     name: "Ada Lovelace".into(),
//!     history: vec![Visit { date: "1843".into(), notes: "fine".into() }],
//! })?;
//! let mut again = patients.get(saved.id())?;
//! assert_eq!(again.name, "Ada Lovelace");
//! again.name = "Ada King".into();
//! let updated = patients.update(again)?;               // stale versions are Error::Conflict
//! let north = patients.query().filter(|p| p.clinic("north")).fetch()?;
//! assert_eq!(north.records[0].version(), updated.version());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod plain_value;
mod repo;

pub use plain_value::PlainValue;
pub use repo::{Repo, Stored, TypedPage, TypedQuery};

use crate::error::Result;
use crate::index::{IndexQuery, IndexSpec, ModelField};
use crate::model::{Fields, Plain, Record};

/// A model whose sensitive fields are encrypted. Implemented by
/// `#[derive(Sensitive)]`; implementing it by hand is possible but rarely
/// needed.
pub trait Sensitive: Sized {
    /// The record type its records are stored under.
    const RECORD_TYPE: &'static str;

    /// The generated filter: one method per plain field, and one
    /// (`<field>_eq`, `<index>_eq`) per blind index.
    type Filter: Default;

    /// Splits a value into sensitive fields and plain meta.
    fn to_parts(&self) -> Result<(Fields, Plain)>;

    /// Rebuilds a value from a decrypted record.
    fn from_record(record: &Record) -> Result<Self>;

    /// The (name, value) equality pairs a filter holds;
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) when a filter
    /// value stores no plain entry ([`PlainValue::to_plain`] gave `None`),
    /// which no equality condition can find.
    fn filter_pairs(filter: Self::Filter) -> Result<Vec<(String, String)>>;

    /// The index conditions a filter holds (none by default).
    fn filter_indexes(filter: &Self::Filter) -> Vec<IndexQuery> {
        let _ = filter;
        Vec::new()
    }

    /// The model's blind indexes (`#[sensitive(index)]`), which
    /// [`Client::repo`](crate::Client::repo) declares for its record type;
    /// none by default.
    fn indexes() -> Vec<IndexSpec> {
        Vec::new()
    }

    /// The model's fields by stored name, sealed or plain, for
    /// [`Repo::leakage`]; none by default (the leakage report then lists
    /// the fields seen in the store).
    fn model_fields() -> Vec<ModelField> {
        Vec::new()
    }
}
