//! Re-wrapping existing records after a rotation: each record's data keys
//! move under the current access key version, its value ciphertexts stay
//! byte for byte as they are, and the records are signed again, one batch
//! signature per transaction.

use std::collections::BTreeMap;

use tracing::field::Empty;

use super::access::{current_version, KeyUnavailable};
use super::observe::op_span;
use super::resign;
use super::{validate, Client};
use crate::crypto::envelope::{self, FieldContext};
use crate::crypto::file_stream;
use crate::crypto::keys::AccessKey;
use crate::error::{Error, Result};
use crate::ids::BatchId;
use crate::record::{RecordProof, SealedRecord};
use crate::store::batches;
use crate::store::records;
use crate::store::rows::{KeysetId, StoredRecord};
use crate::store::tx::read_transaction;
use crate::store::AnyConnection;

/// Records per re-wrap transaction when [`Client::revoke`] re-wraps.
pub const DEFAULT_REWRAP_BATCH: usize = 500;

/// What a re-wrap pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RewrapOutcome {
    /// Records whose data keys now sit under the current key version.
    pub rewrapped: usize,
    /// Records left as they were because their stored row is malformed or
    /// they failed verification; each is counted once per pass.
    pub invalid: usize,
    /// Transactions committed (one per batch).
    pub batches: usize,
    /// Records of the type still sealed under an older key version when
    /// the pass ended (the invalid ones among them), counted then. `None`
    /// while the pass runs (in progress reports), and after an
    /// interruption whose database did not answer the count either.
    pub remaining: Option<usize>,
    /// The key version records are re-wrapped under: this client's current
    /// one for the type. `None` when it holds no key of the type in this
    /// database (nothing to re-wrap: a type it never wrote here, or a
    /// mistyped one), and while the pass runs or after an interruption
    /// before its last step.
    pub key_version: Option<u32>,
}

/// How a re-wrap went that could not fail the call it ran in (the one
/// after a committed revocation): what was done, and the error that
/// interrupted it, if one did. A later [`Client::rewrap_existing`] resumes
/// the work.
#[derive(Debug)]
#[non_exhaustive]
pub struct RewrapReport {
    /// What the pass did before it ended (all of it, or up to the
    /// interruption).
    pub done: RewrapOutcome,
    /// The error that stopped it; `None` if it ran to the end.
    pub interrupted: Option<Error>,
}

/// One re-wrap transaction's work.
struct Step {
    done: RewrapOutcome,
    /// The stored id of the last row it looked at (where the next one
    /// starts); `None` when there were no rows left.
    last: Option<KeysetId>,
    /// With no rows left: the records still under an older version.
    remaining: usize,
}

impl Client {
    /// Re-wraps the data keys of this client's records of `record_type`
    /// that are sealed under an older key version, under the current one —
    /// values untouched, the records signed again. Works in batches of
    /// `batch_size`, one transaction and one batch signature each;
    /// interrupted, it resumes where it stopped when called again. Records
    /// that fail verification, or whose stored row is malformed, are left
    /// as they are, counted and passed over.
    pub fn rewrap_existing(&self, record_type: &str, batch_size: usize) -> Result<RewrapOutcome> {
        self.rewrap_existing_with_progress(record_type, batch_size, |_| {})
    }

    /// [`Client::rewrap_existing`], calling `progress` with the running
    /// totals after each committed batch.
    pub fn rewrap_existing_with_progress(
        &self,
        record_type: &str,
        batch_size: usize,
        progress: impl FnMut(&RewrapOutcome),
    ) -> Result<RewrapOutcome> {
        let report = self.rewrap_existing_report(record_type, batch_size, progress);
        match report.interrupted {
            None => Ok(report.done),
            Some(err) => Err(err),
        }
    }

    /// [`Client::rewrap_existing_with_progress`] that never fails as a
    /// whole: an error ends the pass and is returned in the report beside
    /// the work done until then (its batches are committed), with the
    /// records still remaining under older versions counted again if the
    /// database answers.
    pub fn rewrap_existing_report(
        &self,
        record_type: &str,
        batch_size: usize,
        progress: impl FnMut(&RewrapOutcome),
    ) -> RewrapReport {
        let span = op_span!(
            self,
            "rewrap_existing",
            record_type,
            batch_size,
            rewrapped = Empty,
            invalid = Empty,
            batches = Empty,
            remaining = Empty
        );
        self.observe(span, |span| {
            let report = self.rewrap_report_in(record_type, batch_size, progress);
            let done = &report.done;
            span.record("rewrapped", done.rewrapped);
            span.record("invalid", done.invalid);
            span.record("batches", done.batches);
            if let Some(remaining) = done.remaining {
                span.record("remaining", remaining);
            }
            report
        })
    }

    fn rewrap_report_in(
        &self,
        record_type: &str,
        batch_size: usize,
        mut progress: impl FnMut(&RewrapOutcome),
    ) -> RewrapReport {
        let mut total = RewrapOutcome::default();
        let interrupted =
            match self.rewrap_batches(record_type, batch_size, &mut total, &mut progress) {
                Ok(()) => None,
                Err(err) => {
                    total.remaining = self.count_remaining(record_type).ok();
                    Some(err)
                }
            };
        tracing::info!(
            record_type,
            rewrapped = total.rewrapped,
            invalid = total.invalid,
            remaining = ?total.remaining,
            interrupted = interrupted.is_some(),
            "re-wrapped existing records"
        );
        RewrapReport {
            done: total,
            interrupted,
        }
    }

    /// The batches of a pass, adding to `total` as each commits.
    fn rewrap_batches(
        &self,
        record_type: &str,
        batch_size: usize,
        total: &mut RewrapOutcome,
        progress: &mut impl FnMut(&RewrapOutcome),
    ) -> Result<()> {
        validate::record_type(record_type)?;
        let batch_size = i64::try_from(batch_size.clamp(1, 4096)).unwrap_or(500);
        let mut conn = self.store.conn()?;
        // The stored id of the last row looked at, as stored: the keyset
        // moves past every row, a malformed one (an id of another length,
        // or text in SQLite's BLOB column) included.
        let mut after: Option<KeysetId> = None;
        loop {
            let step = self.write_tx(&mut conn, |conn| {
                current_version(conn, self.id(), record_type)?;
                self.rewrap_step(conn, record_type, after.as_ref(), batch_size)
            })?;
            let Some(last) = step.last else {
                total.remaining = Some(step.remaining);
                total.key_version = step.done.key_version;
                return Ok(());
            };
            total.rewrapped += step.done.rewrapped;
            total.invalid += step.done.invalid;
            total.batches += 1;
            progress(total);
            after = Some(last);
        }
    }

    /// Inside a write transaction: re-wraps the next `batch_size` records
    /// after the stored id `after`, or (none left) counts what remains
    /// under older versions.
    fn rewrap_step(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        after: Option<&KeysetId>,
        batch_size: i64,
    ) -> Result<Step> {
        let Some(current) = self.own_current_version(conn, record_type)? else {
            return Ok(Step {
                done: RewrapOutcome::default(),
                last: None,
                remaining: 0,
            });
        };
        let rows = records::older_than(conn, self.id(), record_type, current, after, batch_size)?;
        // A row with a NULL id is never selected (`NULL > x` holds for no
        // x), so every row here has one.
        let Some(last) = rows.last().map(StoredRecord::keyset_id) else {
            let remaining = records::count_older_than(conn, self.id(), record_type, current)?;
            return Ok(Step {
                done: RewrapOutcome {
                    key_version: Some(current),
                    ..RewrapOutcome::default()
                },
                last: None,
                remaining,
            });
        };
        let new_key = self.key_or_err(conn, self.id(), record_type, current)?;
        let done = self.rewrap_rows(conn, rows, current, &new_key)?;
        Ok(Step {
            done,
            last: Some(last),
            remaining: 0,
        })
    }

    /// How many of this client's records of `record_type` are still sealed
    /// under an older key version than its current one.
    fn count_remaining(&self, record_type: &str) -> Result<usize> {
        let mut conn = self.store.conn()?;
        read_transaction(&mut conn, |conn| {
            let Some(current) = self.own_current_version(conn, record_type)? else {
                return Ok(0);
            };
            records::count_older_than(conn, self.id(), record_type, current)
        })
    }

    /// Re-wraps `rows` under `new_key` (version `current`), signs them in new
    /// batches of at most `RECORDS_PER_BATCH`, and writes back each one that
    /// has not changed meanwhile; batches no record names any more go. A
    /// row that does not parse or verify is counted as invalid and left.
    fn rewrap_rows(
        &self,
        conn: &mut AnyConnection,
        rows: Vec<StoredRecord>,
        current: u32,
        new_key: &AccessKey,
    ) -> Result<RewrapOutcome> {
        let (parsed, malformed) = resign::parse_rows(rows, "rewrap");
        let (moved, left) =
            self.change_verified(conn, &parsed, "rewrap", |conn, sealed, batch_id, index| {
                self.rewrap_record(conn, sealed, current, new_key, batch_id, index)
            })?;
        let mut done = RewrapOutcome {
            invalid: malformed + left,
            ..RewrapOutcome::default()
        };
        if moved.is_empty() {
            return Ok(done);
        }
        // The batches to remove if no record names them at the end: the
        // old ones the records left, and a new one whose records were all
        // changed meanwhile (or hold values the update does not match).
        let mut old_batches = self.sign_new_batches(conn, &moved)?;
        for (row, record) in moved {
            let sealed_fields = crate::record::encode_fields(&record.fields)?;
            let RecordProof::Batch { batch_id, index } = record.proof;
            let changed = records::update_rewrapped(
                conn,
                records::Rewrapped {
                    sealed_fields,
                    file_head: record.file.as_ref().map(|h| h.to_bytes()),
                    key_version: current,
                    batch_id,
                    index,
                    was: row,
                },
            )?;
            if changed {
                done.rewrapped += 1;
                old_batches.insert(row.batch());
            }
        }
        for old in old_batches {
            batches::drop_if_unused(conn, Some(old))?;
        }
        Ok(done)
    }

    /// One verified record with its data keys moved under `new_key`
    /// (version `current`), placed at `index` of batch `batch_id`; `None` if
    /// a data key does not open, or the old access key cannot be had (the
    /// record is counted invalid); a database error interrupts the pass.
    fn rewrap_record(
        &self,
        conn: &mut AnyConnection,
        sealed: &SealedRecord,
        current: u32,
        new_key: &AccessKey,
        batch_id: BatchId,
        index: u32,
    ) -> Result<Option<SealedRecord>> {
        let old_key = match self.access_key(
            conn,
            sealed.writer_id,
            &sealed.record_type,
            sealed.key_version,
        ) {
            Ok(key) => key,
            Err(KeyUnavailable::Failed(err @ (Error::Database(_) | Error::Connect { .. }))) => {
                return Err(err)
            }
            Err(_) => return Ok(None),
        };
        Ok(moved_record(
            sealed, &old_key, current, new_key, batch_id, index,
        ))
    }
}

/// `sealed` with its data keys moved from `old_key` to `new_key` (version
/// `current`), placed at `index` of batch `batch_id`; `None` if a data key
/// does not open.
fn moved_record(
    sealed: &SealedRecord,
    old_key: &AccessKey,
    current: u32,
    new_key: &AccessKey,
    batch_id: BatchId,
    index: u32,
) -> Option<SealedRecord> {
    let mut fields = BTreeMap::new();
    for (name, envelope) in &sealed.fields {
        let ctx = FieldContext {
            record_type: &sealed.record_type,
            record_id: sealed.record_id,
            writer_id: sealed.writer_id,
            field: name,
            key_version: sealed.key_version,
        };
        let moved = envelope::rewrap_field(old_key, &ctx, new_key, current, envelope).ok()?;
        fields.insert(name.clone(), moved);
    }
    // A file's data key moves like a field's; its chunks stay as they are.
    let file = match &sealed.file {
        None => None,
        Some(head) => Some(
            file_stream::rewrap_file_key(old_key, &sealed.file_context(), new_key, current, head)
                .ok()?,
        ),
    };
    Some(SealedRecord {
        key_version: current,
        fields,
        file,
        proof: RecordProof::Batch { batch_id, index },
        ..sealed.clone()
    })
}
