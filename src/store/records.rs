//! The `records` table (and its plain-meta index). Rows are read in a form
//! that cannot fail as a whole ([`StoredRecord`]) and parsed one by one by
//! the caller.

use diesel::prelude::*;

use super::rows::{RecordRow, StoredRecord, RECORD_COLUMNS};
use super::schema::records;
use super::tx::db_err;
use super::AnyConnection;
use crate::error::{Error, Result};
use crate::ids::{BatchId, ClientId};

/// A key version as stored (versions past `i32::MAX` compare as the
/// largest).
fn stored_key_version(version: u32) -> i32 {
    i32::try_from(version).unwrap_or(i32::MAX)
}

/// Up to `limit` of `writer`'s records of `record_type` sealed under a key
/// version older than `current`, with ids after `after` (as stored bytes),
/// in id order — locked on PostgreSQL (SQLite's write transaction already
/// holds the database), so their batches stay while the caller works.
pub(crate) fn older_than(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    current: u32,
    after: &[u8],
    limit: i64,
) -> Result<Vec<StoredRecord>> {
    let writer = writer.to_string();
    let mine = || {
        records::table
            .filter(records::writer_id.eq(writer.clone()))
            .filter(records::record_type.eq(record_type))
            .filter(records::key_version.lt(stored_key_version(current)))
    };
    // The keyset compares the stored bytes as text: on SQLite through a
    // cast (an id there may be any bytes); PostgreSQL text is always UTF-8.
    match conn {
        AnyConnection::Sqlite(c) => mine()
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("records.record_id > CAST(")
                    .bind::<diesel::sql_types::Binary, _>(after.to_vec())
                    .sql(" AS TEXT)"),
            )
            .order(records::record_id.asc())
            .limit(limit)
            .select(RECORD_COLUMNS)
            .load(c),
        AnyConnection::Postgresql(c) => mine()
            .filter(records::record_id.gt(String::from_utf8_lossy(after).into_owned()))
            .order(records::record_id.asc())
            .limit(limit)
            .select(RECORD_COLUMNS)
            .for_update()
            .load(c),
    }
    .map_err(db_err)
}

/// How many of `writer`'s records of `record_type` are sealed under a key
/// version older than `current`.
pub(crate) fn count_older_than(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    current: u32,
) -> Result<usize> {
    let count: i64 = records::table
        .filter(records::writer_id.eq(writer.to_string()))
        .filter(records::record_type.eq(record_type))
        .filter(records::key_version.lt(stored_key_version(current)))
        .count()
        .get_result(conn)
        .map_err(db_err)?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// Where a re-wrapped record now stands: its new envelopes (`data`, the
/// JSON column), the key version they are sealed under, and its place in
/// the batch that signs it.
pub(crate) struct Rewrapped<'a> {
    pub data: String,
    pub key_version: u32,
    pub batch_id: BatchId,
    pub index: u32,
    /// The row as it was read: the update applies only if it is unchanged.
    pub was: &'a RecordRow,
}

/// Writes a re-wrapped record back if the row is still the one read (same
/// version and key version); returns whether it was.
pub(crate) fn update_rewrapped(conn: &mut AnyConnection, rewrapped: Rewrapped<'_>) -> Result<bool> {
    let was = rewrapped.was;
    let changed = diesel::update(
        records::table
            .filter(records::record_id.eq(&was.record_id))
            .filter(records::version.eq(was.version))
            .filter(records::key_version.eq(was.key_version)),
    )
    .set((
        records::data.eq(rewrapped.data),
        records::key_version.eq(i32::try_from(rewrapped.key_version)
            .map_err(|_| Error::InvalidInput("key version overflow"))?),
        records::signature.eq(None::<String>),
        records::writer_tag.eq(None::<String>),
        records::batch_id.eq(Some(rewrapped.batch_id.to_string())),
        records::batch_index.eq(Some(
            i32::try_from(rewrapped.index).map_err(|_| Error::InvalidInput("batch too large"))?,
        )),
    ))
    .execute(conn)
    .map_err(db_err)?;
    Ok(changed == 1)
}
