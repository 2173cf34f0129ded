//! The `record_batches` table: one writer signature over many record
//! digests. Read in a form that cannot fail as a whole: a malformed batch
//! row is left out, and fails only the records that name it.

use diesel::prelude::*;

use super::rows::{BatchRow, StoredBatch, BATCH_COLUMNS};
use super::schema::{record_batches, records};
use super::sql_id::SqlId;
use super::tx::db_err;
use super::AnyConnection;
use crate::crypto::batch::SignedBatch;
use crate::error::Result;
use crate::ids::BatchId;

/// The well-formed batches among `ids` (not verified).
pub(crate) fn load(conn: &mut AnyConnection, ids: &[BatchId]) -> Result<Vec<SignedBatch>> {
    let rows: Vec<StoredBatch> = record_batches::table
        .filter(record_batches::batch_id.eq_any(ids.iter().copied().map(SqlId::from)))
        .select(BATCH_COLUMNS)
        .load(conn)
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.to_signed().ok())
        .collect())
}

/// Stores a signed batch.
pub(crate) fn insert(conn: &mut AnyConnection, batch: &BatchRow) -> Result<()> {
    diesel::insert_into(record_batches::table)
        .values(batch)
        .execute(conn)
        .map_err(db_err)?;
    Ok(())
}

/// Removes `batch` if no record names it any more (after an update, a
/// delete or a re-wrap moved its last record to another batch).
///
/// On PostgreSQL the batch row is locked first: two transactions moving the
/// last two records of one batch then run one after the other, and the
/// second sees the first's change, so the batch is not left behind. (SQLite
/// writers are serial already.) Callers removing several batches pass them
/// in ascending order, so two such transactions cannot deadlock.
pub(crate) fn drop_if_unused(conn: &mut AnyConnection, batch: Option<BatchId>) -> Result<()> {
    let Some(batch) = batch.map(SqlId::from) else {
        return Ok(());
    };
    if let AnyConnection::Postgresql(c) = conn {
        record_batches::table
            .filter(record_batches::batch_id.eq(batch))
            .select(super::rows::Bytes(record_batches::batch_id))
            .for_update()
            .load::<Option<Vec<u8>>>(c)
            .map_err(db_err)?;
    }
    diesel::delete(
        record_batches::table
            .filter(record_batches::batch_id.eq(batch))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                records::table.filter(records::batch_id.eq(record_batches::batch_id)),
            ))),
    )
    .execute(conn)
    .map_err(db_err)?;
    Ok(())
}
