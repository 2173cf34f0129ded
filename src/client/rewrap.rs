//! Re-wrapping existing records after a rotation: each record's data keys
//! move under the current access key version, its value ciphertexts stay
//! byte for byte as they are, and the records are signed again, one batch
//! signature per transaction.

use std::collections::BTreeMap;

use diesel::prelude::*;

use super::access::current_version;
use super::verify::{Checks, Claim};
use super::write::{drop_unused_batches, insert_batch, RECORDS_PER_BATCH};
use super::{validate, Client};
use crate::crypto::envelope::{self, FieldContext};
use crate::crypto::keys::AccessKey;
use crate::error::{Error, Result};
use crate::ids::BatchId;
use crate::record::{sign_batch, RecordProof, SealedRecord};
use crate::store::rows::{json_object, now_micros, BatchRow, RecordRow};
use crate::store::schema::records;
use crate::store::tx::{db_err, write_transaction};
use crate::store::AnyConnection;

/// Records per re-wrap transaction when [`Client::revoke`] re-wraps.
pub const DEFAULT_REWRAP_BATCH: usize = 500;

/// What a re-wrap pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RewrapOutcome {
    /// Records whose data keys now sit under the current key version.
    pub rewrapped: usize,
    /// Records left as they were because they failed verification.
    pub invalid: usize,
    /// Transactions committed (one per batch).
    pub batches: usize,
}

impl Client {
    /// Re-wraps the data keys of this client's records of `record_type`
    /// that are sealed under an older key version, under the current one —
    /// values untouched, the records signed again. Works in batches of
    /// `batch_size`, one transaction and one batch signature each;
    /// interrupted, it resumes where it stopped when called again. Records
    /// that fail verification are left as they are and counted.
    pub fn rewrap_existing(&self, record_type: &str, batch_size: usize) -> Result<RewrapOutcome> {
        self.rewrap_existing_with_progress(record_type, batch_size, |_| {})
    }

    /// [`Client::rewrap_existing`], calling `progress` with the running
    /// totals after each committed batch.
    pub fn rewrap_existing_with_progress(
        &self,
        record_type: &str,
        batch_size: usize,
        mut progress: impl FnMut(&RewrapOutcome),
    ) -> Result<RewrapOutcome> {
        validate::record_type(record_type)?;
        let batch_size = i64::try_from(batch_size.clamp(1, 4096)).unwrap_or(500);
        let mut conn = self.store.conn()?;
        let me = self.id();
        let mut total = RewrapOutcome::default();
        let mut after = String::new();
        loop {
            let (done, last) = write_transaction(&mut conn, |conn| {
                current_version(conn, me, record_type)?;
                let Some(current) = self.own_current_version(conn, record_type)? else {
                    return Ok((RewrapOutcome::default(), None));
                };
                let query = || {
                    records::table
                        .filter(records::writer_id.eq(me.to_string()))
                        .filter(records::record_type.eq(record_type))
                        .filter(records::key_version.lt(current as i32))
                        .filter(records::record_id.gt(&after))
                        .order(records::record_id.asc())
                        .limit(batch_size)
                };
                // Locked on PostgreSQL (SQLite's write transaction already
                // holds the database), so their batches stay while we work.
                let rows: Vec<RecordRow> = match conn {
                    AnyConnection::Sqlite(c) => query().select(RecordRow::as_select()).load(c),
                    AnyConnection::Postgresql(c) => {
                        query().select(RecordRow::as_select()).for_update().load(c)
                    }
                }
                .map_err(db_err)?;
                let last = rows.last().map(|r| r.record_id.clone());
                let new_key = self.key_or_err(conn, me, record_type, current)?;
                let done = self.rewrap_rows(conn, &rows, current, &new_key)?;
                Ok((done, last))
            })?;
            let Some(last) = last else { break };
            total.rewrapped += done.rewrapped;
            total.invalid += done.invalid;
            total.batches += 1;
            progress(&total);
            after = last;
        }
        tracing::info!(
            record_type,
            rewrapped = total.rewrapped,
            invalid = total.invalid,
            "re-wrapped existing records"
        );
        Ok(total)
    }

    /// Re-wraps `rows` under `new_key` (version `current`), signs them in new
    /// batches of at most `RECORDS_PER_BATCH`, and writes back each one that
    /// has not changed meanwhile; batches no record names any more go.
    fn rewrap_rows(
        &self,
        conn: &mut AnyConnection,
        rows: &[RecordRow],
        current: u32,
        new_key: &AccessKey,
    ) -> Result<RewrapOutcome> {
        let mut done = RewrapOutcome::default();
        let parsed: Vec<(&RecordRow, SealedRecord)> = rows
            .iter()
            .filter_map(|row| match row.to_sealed() {
                Ok(sealed) => Some((row, sealed)),
                Err(_) => {
                    done.invalid += 1;
                    None
                }
            })
            .collect();
        let mut checks = Checks::default();
        checks.load(
            self,
            conn,
            &parsed
                .iter()
                .map(|(_, s)| Claim::from(s))
                .collect::<Vec<_>>(),
        )?;
        // Signed RECORDS_PER_BATCH at a time, like a write, so a later read
        // of one record never loads a larger batch than a write makes.
        let mut batch_id = BatchId::random();
        let mut in_batch = 0u32;
        let mut moved: Vec<(&RecordRow, SealedRecord)> = Vec::with_capacity(parsed.len());
        for (row, sealed) in parsed {
            if in_batch as usize == RECORDS_PER_BATCH {
                batch_id = BatchId::random();
                in_batch = 0;
            }
            let index = in_batch;
            let checked = sealed.writer_id == self.id()
                && match checks.check_for(self, conn, Claim::from(&sealed))? {
                    Ok(check) => self.run_check(&sealed, &check).is_ok(),
                    Err(_) => false,
                };
            let rewrapped = if checked {
                self.rewrap_record(conn, &sealed, current, new_key, batch_id, index)
            } else {
                None
            };
            match rewrapped {
                Some(record) => {
                    moved.push((row, record));
                    in_batch += 1;
                }
                None => {
                    tracing::warn!(record_id = %sealed.record_id, "not re-wrapping a record that fails verification");
                    done.invalid += 1;
                }
            }
        }
        if moved.is_empty() {
            return Ok(done);
        }
        let now = now_micros();
        for group in moved.chunk_by(|(_, a), (_, b)| a.proof_batch() == b.proof_batch()) {
            let records: Vec<SealedRecord> = group.iter().map(|(_, r)| r.clone()).collect();
            let batch_id = records[0]
                .proof_batch()
                .ok_or(Error::Crypto("re-wrapped record outside a batch"))?;
            let batch = sign_batch(self.identity.signer(), batch_id, &records)?;
            insert_batch(conn, &BatchRow::from_signed(&batch, now))?;
        }
        let mut old_batches = std::collections::BTreeSet::new();
        for (row, record) in moved {
            let data = json_object(&record.fields)?;
            let RecordProof::Batch { batch_id, index } = record.proof else {
                return Err(Error::Crypto("re-wrapped record outside its batch"));
            };
            let changed = diesel::update(
                records::table
                    .filter(records::record_id.eq(&row.record_id))
                    .filter(records::version.eq(row.version))
                    .filter(records::key_version.eq(row.key_version)),
            )
            .set((
                records::data.eq(data),
                records::key_version.eq(current as i32),
                records::signature.eq(None::<String>),
                records::writer_tag.eq(None::<String>),
                records::batch_id.eq(Some(batch_id.to_string())),
                records::batch_index.eq(Some(
                    i32::try_from(index).map_err(|_| Error::InvalidInput("batch too large"))?,
                )),
            ))
            .execute(conn)
            .map_err(db_err)?;
            if changed == 1 {
                done.rewrapped += 1;
                old_batches.extend(row.batch());
            }
        }
        for old in old_batches {
            drop_unused_batches(conn, Some(old))?;
        }
        Ok(done)
    }

    /// One verified record with its data keys moved under `new_key`
    /// (version `current`), placed at `index` of batch `batch_id`; `None` if
    /// a data key does not open.
    fn rewrap_record(
        &self,
        conn: &mut AnyConnection,
        sealed: &SealedRecord,
        current: u32,
        new_key: &AccessKey,
        batch_id: BatchId,
        index: u32,
    ) -> Option<SealedRecord> {
        let old_key = self
            .access_key(
                conn,
                sealed.writer_id,
                &sealed.record_type,
                sealed.key_version,
            )
            .ok()?;
        let mut fields = BTreeMap::new();
        for (name, text) in &sealed.fields {
            let ctx = FieldContext {
                record_type: &sealed.record_type,
                record_id: sealed.record_id,
                writer_id: sealed.writer_id,
                field: name,
                key_version: sealed.key_version,
            };
            let moved = envelope::rewrap_field(&old_key, &ctx, new_key, current, text).ok()?;
            fields.insert(name.clone(), moved.into_string());
        }
        Some(SealedRecord {
            key_version: current,
            fields,
            proof: RecordProof::Batch { batch_id, index },
            ..sealed.clone()
        })
    }
}
