//! Re-signing existing records in new batches: what re-wrapping (after a
//! rotation) and re-indexing share. Each stored row is parsed on its own,
//! verified as a read would, changed by the caller, placed in a new batch
//! of at most `RECORDS_PER_BATCH` records, and the new batches are signed;
//! the caller writes the records back.

use std::collections::BTreeSet;

use super::verify::{Checks, Claim};
use super::write::RECORDS_PER_BATCH;
use super::Client;
use crate::error::Result;
use crate::ids::BatchId;
use crate::record::{sign_batch, SealedRecord};
use crate::store::rows::{now_micros, BatchRow, RecordRow, StoredRecord};
use crate::store::{batches, AnyConnection};

/// The rows that parse, each with its sealed record, and how many did not.
pub(crate) fn parse_rows(
    rows: Vec<StoredRecord>,
    action: &'static str,
) -> (Vec<(RecordRow, SealedRecord)>, usize) {
    let mut parsed = Vec::with_capacity(rows.len());
    let mut invalid = 0;
    for stored in rows {
        match stored.parse() {
            Ok(row) => match row.to_sealed() {
                Ok(sealed) => parsed.push((row, sealed)),
                Err(_) => {
                    tracing::warn!(record_id = %row.id(), action, "left a malformed record row");
                    invalid += 1;
                }
            },
            Err(bad) => {
                tracing::warn!(record_id = %super::observe::shown(bad.record_id), action, "left a malformed record row");
                invalid += 1;
            }
        }
    }
    (parsed, invalid)
}

/// Records changed for writing back, each beside the row it replaces.
pub(crate) type Changed<'r> = Vec<(&'r RecordRow, SealedRecord)>;

impl Client {
    /// Verifies each of this client's records in `parsed` and passes it to
    /// `change` with its place in a new batch (batch id, index); returns
    /// the changed records and how many were left (failing verification,
    /// another writer's, or `change` gave `None`).
    pub(crate) fn change_verified<'r>(
        &self,
        conn: &mut AnyConnection,
        parsed: &'r [(RecordRow, SealedRecord)],
        action: &'static str,
        mut change: impl FnMut(
            &mut AnyConnection,
            &SealedRecord,
            BatchId,
            u32,
        ) -> Result<Option<SealedRecord>>,
    ) -> Result<(Changed<'r>, usize)> {
        let mut checks = Checks::default();
        checks.load(
            self,
            conn,
            &parsed
                .iter()
                .map(|(_, s)| Claim::from(s))
                .collect::<Vec<_>>(),
        )?;
        // RECORDS_PER_BATCH at a time, like a write, so a later read of one
        // record never loads a larger batch than a write makes.
        let mut batch_id = BatchId::random();
        let mut in_batch = 0u32;
        let mut changed = Vec::with_capacity(parsed.len());
        let mut left = 0;
        for (row, sealed) in parsed {
            if in_batch as usize == RECORDS_PER_BATCH {
                batch_id = BatchId::random();
                in_batch = 0;
            }
            let verified = sealed.writer_id == self.id()
                && match checks.check_for(self, conn, Claim::from(sealed))? {
                    Ok(check) => self.run_check(sealed, &check).is_ok(),
                    Err(_) => false,
                };
            let record = if verified {
                change(conn, sealed, batch_id, in_batch)?
            } else {
                None
            };
            match record {
                Some(record) => {
                    changed.push((row, record));
                    in_batch += 1;
                }
                None => {
                    tracing::warn!(record_id = %sealed.record_id, action, "left a record that fails verification");
                    left += 1;
                }
            }
        }
        Ok((changed, left))
    }

    /// Signs and stores the new batches of `changed`; returns their ids
    /// (to drop at the end any that no record names, for instance when
    /// every record of one changed meanwhile).
    pub(crate) fn sign_new_batches(
        &self,
        conn: &mut AnyConnection,
        changed: &Changed<'_>,
    ) -> Result<BTreeSet<BatchId>> {
        let now = now_micros();
        let mut ids = BTreeSet::new();
        for group in changed.chunk_by(|(_, a), (_, b)| a.proof_batch() == b.proof_batch()) {
            let records: Vec<SealedRecord> = group.iter().map(|(_, r)| r.clone()).collect();
            let batch_id = records[0].proof_batch();
            let batch = sign_batch(self.identity.signer(), batch_id, &records)?;
            batches::insert(conn, &BatchRow::from_signed(&batch, now))?;
            ids.insert(batch_id);
        }
        Ok(ids)
    }
}
