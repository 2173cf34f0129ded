//! The `file_chunks` table: the sealed chunks of file bodies, one row per
//! chunk, keyed by (record id, record version, sequence number). Chunks
//! are read back in a form that cannot fail as a whole ([`StoredChunk`]);
//! the reader checks each one.

use diesel::prelude::*;

use super::rows::{BoundedBytes, Wide};
use super::schema::{file_chunks, records};
use super::sql_id::SqlId;
use super::tx::db_err;
use super::AnyConnection;
use crate::error::{Error, Result};
use crate::ids::RecordId;

/// One sealed chunk to insert. `Debug` is not derived: it holds
/// ciphertext.
#[derive(Clone, Insertable)]
#[diesel(table_name = file_chunks, treat_none_as_default_value = false)]
pub(crate) struct ChunkRow {
    pub record_id: SqlId,
    pub version: i64,
    pub seq: i64,
    pub chunk: Vec<u8>,
}

/// A chunk row as loaded: its sequence number and bytes, either NULL or
/// of another type in a hostile database.
#[derive(Queryable)]
pub(crate) struct StoredChunk {
    pub seq: Option<i64>,
    pub chunk: Option<Vec<u8>>,
}

fn stored(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::InvalidInput("a file version or chunk out of range"))
}

impl ChunkRow {
    /// The row of chunk `seq` of `record_id` at `version`.
    pub(crate) fn new(record_id: RecordId, version: u64, seq: u64, chunk: Vec<u8>) -> Result<Self> {
        Ok(ChunkRow {
            record_id: record_id.into(),
            version: stored(version)?,
            seq: stored(seq)?,
            chunk,
        })
    }
}

/// Inserts sealed chunks (inside the caller's write transaction).
pub(crate) fn insert(conn: &mut AnyConnection, rows: &[ChunkRow]) -> Result<()> {
    insert_many!(conn, file_chunks::table, rows)
}

/// Up to `limit` chunks of `record_id` at `version`, from sequence number
/// `from` on, in order; a chunk longer than `max_len` bytes (no write
/// makes one) arrives as NULL, never loaded.
pub(crate) fn window(
    conn: &mut AnyConnection,
    record_id: RecordId,
    version: u64,
    from: u64,
    limit: usize,
    max_len: usize,
) -> Result<Vec<StoredChunk>> {
    file_chunks::table
        .filter(file_chunks::record_id.eq(SqlId::from(record_id)))
        .filter(file_chunks::version.eq(stored(version)?))
        .filter(file_chunks::seq.ge(stored(from)?))
        .order(file_chunks::seq.asc())
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .select((
            Wide(file_chunks::seq),
            BoundedBytes(
                file_chunks::chunk,
                i64::try_from(max_len).unwrap_or(i64::MAX),
            ),
        ))
        .load::<StoredChunk>(conn)
        .map_err(db_err)
}

/// Whether `record_id` has chunk rows at `version` outside sequence
/// numbers `0..chunks`: rows no write makes (the body has exactly `chunks`
/// chunks), which the database added. Compared as stored, so on SQLite a
/// sequence number stored as text counts as one too.
pub(crate) fn has_rows_outside(
    conn: &mut AnyConnection,
    record_id: RecordId,
    version: u64,
    chunks: u64,
) -> Result<bool> {
    let found: i64 = file_chunks::table
        .filter(file_chunks::record_id.eq(SqlId::from(record_id)))
        .filter(file_chunks::version.eq(stored(version)?))
        .filter(
            file_chunks::seq
                .lt(0)
                .or(file_chunks::seq.ge(stored(chunks)?)),
        )
        .count()
        .get_result(conn)
        .map_err(db_err)?;
    Ok(found > 0)
}

/// Removes every chunk of `record_id` (all versions); returns how many.
pub(crate) fn delete_record(conn: &mut AnyConnection, record_id: RecordId) -> Result<usize> {
    diesel::delete(file_chunks::table.filter(file_chunks::record_id.eq(SqlId::from(record_id))))
        .execute(conn)
        .map_err(db_err)
}

/// Removes the chunks of `record_id` at `version`; returns how many.
pub(crate) fn delete_version(
    conn: &mut AnyConnection,
    record_id: RecordId,
    version: u64,
) -> Result<usize> {
    diesel::delete(
        file_chunks::table
            .filter(file_chunks::record_id.eq(SqlId::from(record_id)))
            .filter(file_chunks::version.eq(stored(version)?)),
    )
    .execute(conn)
    .map_err(db_err)
}

/// Removes every chunk that no file record's current version owns (a
/// record deleted, or updated, by SQL outside strongroom); returns how
/// many. Uploads in progress are not seen: their chunks are not committed.
pub(crate) fn delete_orphans(conn: &mut AnyConnection) -> Result<usize> {
    let owned = records::table
        .filter(records::record_id.eq(file_chunks::record_id))
        .filter(records::version.eq(file_chunks::version))
        .filter(records::file_head.is_not_null());
    diesel::delete(file_chunks::table.filter(diesel::dsl::not(diesel::dsl::exists(owned))))
        .execute(conn)
        .map_err(db_err)
}
