//! The searched values of an index lookup.

use std::fmt;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::Fields;

/// An equality condition on a blind index: the index's name and the value
/// of each of its fields. Values are serialised as fields are (JSON), so
/// the same Rust value finds what [`Fields::with`] stored.
///
/// `Debug` shows the index and field names, never values.
#[derive(Clone, Default)]
pub struct IndexQuery {
    pub(crate) name: String,
    pub(crate) values: Fields,
    pub(crate) failed: bool,
}

impl IndexQuery {
    /// A condition on the index `name` (a single-field index is named
    /// after its field).
    pub fn new(name: impl Into<String>) -> Self {
        IndexQuery {
            name: name.into(),
            values: Fields::new(),
            failed: false,
        }
    }

    /// The searched value of `field`. A value that does not serialise
    /// makes the query fail with [`Error::Serialization`].
    pub fn with<T: Serialize + ?Sized>(mut self, field: impl Into<String>, value: &T) -> Self {
        if self.values.insert(field, value).is_err() {
            self.failed = true;
        }
        self
    }

    /// The searched values, already encoded as fields.
    pub fn from_fields(name: impl Into<String>, values: Fields) -> Self {
        IndexQuery {
            name: name.into(),
            values,
            failed: false,
        }
    }

    /// The index's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.failed {
            return Err(Error::Serialization);
        }
        // The name a spec may have (1 to 255 bytes, no control character):
        // anything else matches no index, on every backend alike
        // (PostgreSQL's text cannot even hold a NUL).
        crate::client::check_name(&self.name).map_err(|_| {
            Error::InvalidInput("an index name is 1 to 255 bytes without control characters")
        })?;
        if self.values.is_empty() {
            return Err(Error::InvalidInput(
                "an index condition names at least one field value",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for IndexQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexQuery")
            .field("name", &self.name)
            .field("fields", &self.values.names().collect::<Vec<_>>())
            .finish()
    }
}
