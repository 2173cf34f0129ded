//! Re-indexing: moving a type's records to the current index version (or
//! indexing them for the first time), in batches, one transaction and one
//! batch signature each; resumable and idempotent. When no record is left
//! behind, the old index versions are retired.

use tracing::field::Empty;

use super::observe::op_span;
use super::resign;
use super::{search::lookup_rows, validate, Client};
use crate::error::{Error, Result};
use crate::index::ReindexOutcome;
use crate::record::{RecordProof, SealedRecord};
use crate::store::indexes;
use crate::store::records::{self, Behind};
use crate::store::rows::{KeysetId, StoredRecord};
use crate::store::{batches, AnyConnection};

/// One re-index transaction's work.
struct Step {
    done: ReindexOutcome,
    last: Option<KeysetId>,
}

impl Client {
    /// Indexes this client's records of `record_type` under the current
    /// key version with the type's indexes (declared with
    /// [`Client::declare_indexes`], else [`Client::indexes_in_use`]):
    /// records never indexed, and records indexed under an older version
    /// (after a rotation). Works in batches of `batch_size`,
    /// one transaction and one batch signature each; interrupted, it
    /// resumes where it stopped when called again, and running it again
    /// changes nothing. Lookups keep finding every record meanwhile (they
    /// search every live version). When no record is left behind, the
    /// older index versions are retired: from then on a reader revoked
    /// before the current version can compute no index value of the type.
    /// Records that fail verification or do not open are counted as
    /// invalid and left.
    pub fn reindex(&self, record_type: &str, batch_size: usize) -> Result<ReindexOutcome> {
        self.reindex_with_progress(record_type, batch_size, |_| {})
    }

    /// [`Client::reindex`], calling `progress` with the running totals
    /// after each committed batch.
    pub fn reindex_with_progress(
        &self,
        record_type: &str,
        batch_size: usize,
        mut progress: impl FnMut(&ReindexOutcome),
    ) -> Result<ReindexOutcome> {
        let span = op_span!(
            self,
            "reindex",
            record_type,
            batch_size,
            reindexed = Empty,
            invalid = Empty,
            remaining = Empty
        );
        self.observe(span, |span| {
            validate::record_type(record_type)?;
            let batch_size = i64::try_from(batch_size.clamp(1, 4096)).unwrap_or(500);
            let mut conn = self.store.conn()?;
            let mut total = ReindexOutcome::default();
            let mut after: Option<KeysetId> = None;
            loop {
                let step = self.write_tx(&mut conn, |conn| {
                    self.reindex_step(conn, record_type, after.as_ref(), batch_size)
                })?;
                total.reindexed += step.done.reindexed;
                total.invalid += step.done.invalid;
                let Some(last) = step.last else {
                    total.remaining = step.done.remaining;
                    total.retired = step.done.retired;
                    break;
                };
                total.batches += 1;
                progress(&total);
                after = Some(last);
            }
            span.record("reindexed", total.reindexed);
            span.record("invalid", total.invalid);
            if let Some(remaining) = total.remaining {
                span.record("remaining", remaining);
            }
            Ok(total)
        })
    }

    fn reindex_step(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        after: Option<&KeysetId>,
        batch_size: i64,
    ) -> Result<Step> {
        let Some(current) = self.own_current_version(conn, record_type)? else {
            // No key: nothing of the type was ever written by this client.
            return Ok(Step {
                done: ReindexOutcome {
                    remaining: Some(0),
                    ..ReindexOutcome::default()
                },
                last: None,
            });
        };
        let key = self.key_or_err(conn, self.id(), record_type, current)?;
        let Some(prepared) = self.prepare_indexes(conn, record_type, &key, current, 0)? else {
            return Err(Error::InvalidInput(
                "the record type has no indexes: declare them first (Client::declare_indexes)",
            ));
        };
        let rows = records::behind(
            conn,
            Behind::Index,
            self.id(),
            record_type,
            current,
            after,
            batch_size,
        )?;
        let Some(last) = rows.last().map(StoredRecord::keyset_id) else {
            let remaining =
                records::count_behind(conn, Behind::Index, self.id(), record_type, current)?;
            let retired = if remaining == 0 {
                indexes::retire_older(conn, self.id(), record_type, current)?
            } else {
                0
            };
            return Ok(Step {
                done: ReindexOutcome {
                    remaining: Some(remaining),
                    retired,
                    ..ReindexOutcome::default()
                },
                last: None,
            });
        };
        let (parsed, malformed) = resign::parse_rows(rows, "reindex");
        let (moved, left) =
            self.change_verified(conn, &parsed, "reindex", |conn, sealed, batch_id, index| {
                let Ok(key) = self.access_key(
                    conn,
                    sealed.writer_id,
                    &sealed.record_type,
                    sealed.key_version,
                ) else {
                    return Ok(None);
                };
                let Ok(values) = crate::record::open_verified(sealed, &key) else {
                    return Ok(None);
                };
                Ok(Some(SealedRecord {
                    indexes: Some(prepared.entries(&values)?),
                    proof: RecordProof::Batch { batch_id, index },
                    ..sealed.clone()
                }))
            })?;
        let mut done = ReindexOutcome {
            invalid: malformed + left,
            ..ReindexOutcome::default()
        };
        if moved.is_empty() {
            return Ok(Step {
                done,
                last: Some(last),
            });
        }
        let mut old_batches = self.sign_new_batches(conn, &moved)?;
        for (row, record) in &moved {
            let RecordProof::Batch { batch_id, index } = record.proof;
            let Some(entries) = record.indexes.as_ref() else {
                continue;
            };
            if indexes::update_reindexed(conn, row, entries, batch_id, index)? {
                indexes::delete_values(conn, record.record_id)?;
                indexes::insert_values(conn, &lookup_rows(row, record))?;
                done.reindexed += 1;
                old_batches.insert(row.batch());
            }
        }
        for old in old_batches {
            batches::drop_if_unused(conn, Some(old))?;
        }
        Ok(Step {
            done,
            last: Some(last),
        })
    }
}
