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

impl Client {
    /// Imports a batch of source rows from `source` (a name for the source
    /// table, stable across runs): the rows not imported before become
    /// records, and their mapping is stored, all in one transaction.
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
        let mut unique = HashSet::new();
        if !rows.iter().all(|r| unique.insert(r.source_id.as_str())) {
            return Err(Error::InvalidInput(
                "a batch names the same source id twice",
            ));
        }
        let ids: Vec<String> = rows.iter().map(|r| r.source_id.clone()).collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let done = self.import_map(source, &ids)?;
            let todo: Vec<&ImportRow> = rows
                .iter()
                .filter(|r| !done.contains_key(&r.source_id))
                .collect();
            let records: Vec<NewRecord> = todo.iter().map(|r| r.record.clone()).collect();
            let written = self.put_many_then(&records, |conn, metas| {
                let mapping: Vec<(&str, RecordId)> = todo
                    .iter()
                    .zip(metas)
                    .map(|(row, meta)| (row.source_id.as_str(), meta.id))
                    .collect();
                imports::insert(conn, source, &mapping)
            });
            match written {
                Ok(_) => {
                    return Ok(ImportBatchOutcome {
                        imported: todo.len(),
                        already_imported: done.len(),
                    })
                }
                // Another import of the same source mapped some of these
                // rows meanwhile: nothing of this batch was written; look
                // again.
                Err(Error::Constraint(_)) if attempt < 3 => continue,
                Err(err) => return Err(err),
            }
        }
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
        let mut conn = self.store.conn()?;
        imports::find(&mut conn, source, source_ids)
    }

    /// How many rows of `source` have been imported.
    pub fn imported_count(&self, source: &str) -> Result<u64> {
        self.observe(op_span!(self, "imported_count", source), |_| {
            let mut conn = self.store.conn()?;
            imports::count(&mut conn, source)
        })
    }
}
