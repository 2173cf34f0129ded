//! Importing rows of an existing plaintext table: each source row becomes
//! one record, and the source id → record id mapping is written in the same
//! transaction, so an import killed at any point and run again ends with
//! every row imported exactly once.

use std::collections::{HashMap, HashSet};

use tracing::field::Empty;

use super::observe::op_span;
use super::Client;
use crate::error::{Error, Result};
use crate::ids::RecordId;
use crate::model::NewRecord;
use crate::store::imports;

/// One source row to import, built with [`ImportRow::new`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImportRow {
    /// The row's id in the source table (as text).
    pub source_id: String,
    /// The record it becomes.
    pub record: NewRecord,
}

impl ImportRow {
    /// The source row `source_id` (its id in the source table, as text),
    /// to become `record`.
    pub fn new(source_id: impl Into<String>, record: NewRecord) -> Self {
        ImportRow {
            source_id: source_id.into(),
            record,
        }
    }
}

/// What one import batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ImportBatchOutcome {
    /// Rows imported now.
    pub imported: usize,
    /// Rows skipped because an earlier run had imported them.
    pub already_imported: usize,
}

/// The longest import source name, and the longest source id, in bytes:
/// the pair keys the mapping table, whose index entries PostgreSQL bounds
/// (at about 2.7 KB).
pub const MAX_IMPORT_NAME_LEN: usize = 1024;

/// Refuses a source name or source id holding a NUL character, which no
/// import could have stored (PostgreSQL's text cannot hold one), or, for a
/// write, longer than [`MAX_IMPORT_NAME_LEN`] bytes — as
/// [`Error::InvalidInput`], before it reaches the database. (A look-up
/// takes a longer one: an import by an older build may hold it.)
fn check_text<'a>(
    source: &'a str,
    source_ids: impl IntoIterator<Item = &'a str>,
    writing: bool,
) -> Result<()> {
    for text in std::iter::once(source).chain(source_ids) {
        if text.contains('\0') {
            return Err(Error::InvalidInput(
                "an import source name or source id holds a NUL character",
            ));
        }
        if writing && text.len() > MAX_IMPORT_NAME_LEN {
            return Err(Error::InvalidInput(
                "an import source name or source id is longer than 1,024 bytes",
            ));
        }
    }
    Ok(())
}

impl Client {
    /// Imports a batch of source rows from `source` (a name for the source
    /// table, stable across runs): the rows not imported before become
    /// records, and their mapping is stored, all in one transaction.
    ///
    /// Concurrent imports of the same `source` (other threads or processes)
    /// are serialised batch by batch, so each row becomes one record even
    /// when two imports run at once.
    pub fn import_batch(&self, source: &str, rows: &[ImportRow]) -> Result<ImportBatchOutcome> {
        let span = op_span!(
            self,
            "import_batch",
            source,
            rows = rows.len(),
            imported = Empty,
            already_imported = Empty
        );
        self.observe(span, |span| {
            let outcome = self.import_batch_in(source, rows)?;
            span.record("imported", outcome.imported);
            span.record("already_imported", outcome.already_imported);
            Ok(outcome)
        })
    }

    fn import_batch_in(&self, source: &str, rows: &[ImportRow]) -> Result<ImportBatchOutcome> {
        if source.is_empty() {
            return Err(Error::InvalidInput("an import source needs a name"));
        }
        check_text(source, rows.iter().map(|r| r.source_id.as_str()), true)?;
        let mut unique = HashSet::new();
        if !rows.iter().all(|r| unique.insert(r.source_id.as_str())) {
            return Err(Error::InvalidInput(
                "a batch names the same source id twice",
            ));
        }
        let ids: Vec<String> = rows.iter().map(|r| r.source_id.clone()).collect();
        let records: Vec<NewRecord> = rows.iter().map(|r| r.record.clone()).collect();
        let mut already_imported = 0;
        // The rows still to import are chosen inside the write transaction,
        // after taking the source's lock: a concurrent import of the same
        // source waits for this one to commit and then sees its mapping, so
        // no row is imported twice (the mapping's primary key stays as the
        // backstop).
        let (chosen, _) = self.put_chosen_then(
            &records,
            |conn| {
                imports::lock_source(conn, source)?;
                let done = imports::find(conn, source, &ids)?;
                already_imported = done.len();
                Ok((0..rows.len())
                    .filter(|&i| !done.contains_key(&rows[i].source_id))
                    .collect())
            },
            |conn, chosen, metas| {
                let mapping: Vec<(&str, RecordId)> = chosen
                    .iter()
                    .zip(metas)
                    .map(|(&i, meta)| (rows[i].source_id.as_str(), meta.id))
                    .collect();
                imports::insert(conn, source, &mapping)
            },
        )?;
        Ok(ImportBatchOutcome {
            imported: chosen.len(),
            already_imported,
        })
    }

    /// The records that rows of `source` became, for those of `source_ids`
    /// already imported. A mapping row whose record id is malformed is left
    /// out here (the row still counts as imported for
    /// [`Client::import_batch`], which never imports it twice).
    pub fn imported(
        &self,
        source: &str,
        source_ids: &[String],
    ) -> Result<HashMap<String, RecordId>> {
        let span = op_span!(
            self,
            "imported",
            source,
            rows = source_ids.len(),
            found = Empty
        );
        self.observe(span, |span| {
            let found: HashMap<String, RecordId> = self
                .import_map(source, source_ids)?
                .into_iter()
                .filter_map(|(source_id, record_id)| Some((source_id, record_id?)))
                .collect();
            span.record("found", found.len());
            Ok(found)
        })
    }

    /// The mapping rows of `source` for those of `source_ids` already
    /// imported, each with its record id if that parses. Loaded in a form
    /// that cannot fail as a whole: a malformed row is one entry, never an
    /// error.
    fn import_map(
        &self,
        source: &str,
        source_ids: &[String],
    ) -> Result<HashMap<String, Option<RecordId>>> {
        check_text(source, source_ids.iter().map(String::as_str), false)?;
        let mut conn = self.store.conn()?;
        imports::find(&mut conn, source, source_ids)
    }

    /// How many rows of `source` have been imported.
    pub fn imported_count(&self, source: &str) -> Result<u64> {
        self.observe(op_span!(self, "imported_count", source), |_| {
            check_text(source, std::iter::empty(), false)?;
            let mut conn = self.store.conn()?;
            imports::count(&mut conn, source)
        })
    }
}
