//! Blind indexes: equality search on sealed fields.
//!
//! An index over one or more sensitive fields stores, for each record, a
//! keyed BLAKE2b of the fields' normalised values, truncated to a chosen
//! number of bits, in a table of its own with a database index. The key is
//! derived from the record type's access key of the version the record is
//! indexed under (FORMAT.md, "Blind indexes"), so every client that may read
//! the type can search it, nobody else can compute an index value, and a
//! reader revoked at version `v` cannot compute the values of records
//! indexed under `v + 1` or later.
//!
//! A lookup computes the searched value's index value under every live
//! index version the reader holds a key for, asks the database for the
//! records carrying one of them, then verifies, decrypts and compares each
//! candidate: records whose values do not match (truncation's false
//! positives, or rows the database made up) are discarded and counted in
//! [`crate::Page::discarded`], never returned.
//!
//! What each kind of field reveals to the database is listed by
//! [`crate::Client::leakage`]; the [`plan`]ner warns when an index keeps too
//! many bits (equality leaks exactly) or too few (lookups scan too much).
//!
//! ```
//! use strongroom::index::{IndexQuery, IndexSpec, Normalize};
//! use strongroom::{Client, Fields, Plain, Query, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open("sqlite::memory:")?;
//! let alice = Client::open_or_create(dir.path().join("alice.profile"), &store)?;
//! alice.declare_indexes("patient", [IndexSpec::on_field("email").normalize(Normalize::Lowercase)])?;
//! alice.put("patient", &Fields::new().with("email", "Ada@Example.org")?, &Plain::new())?;
//! alice.put("patient", &Fields::new().with("email", "bob@example.org")?, &Plain::new())?;
//!
//! let found = alice.query(
//!     &Query::new().record_type("patient").index_eq(IndexQuery::new("email").with("email", "ada@example.org")),
//! )?;
//! assert_eq!(found.records.len(), 1);
//! assert_eq!(found.records[0].field::<String>("email")?, "Ada@Example.org");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod leakage;
mod planner;
mod query;
mod spec;
pub(crate) mod values;

pub use leakage::{FieldClass, FieldLeakage, IndexInfo, IndexLeakage, Leakage, ModelField};
pub use planner::{bits_for, plan, Plan, PlanWarning, DEFAULT_BITS, MAX_CANDIDATES, MIN_SHARED};
pub use query::IndexQuery;
pub(crate) use spec::parse_spec as spec_parts;
pub use spec::{IndexSpec, Normalize, MAX_BITS};

/// What a [`crate::Client::reindex`] pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReindexOutcome {
    /// Records now indexed under the current key version.
    pub reindexed: usize,
    /// Records left as they were: malformed, failing verification, or
    /// whose values could not be read; counted once per pass.
    pub invalid: usize,
    /// Transactions committed (one per batch).
    pub batches: usize,
    /// Records of the type not yet indexed under the current version when
    /// the pass ended; `None` while it runs.
    pub remaining: Option<usize>,
    /// Old index versions retired at the end (none are while records
    /// remain).
    pub retired: usize,
}
