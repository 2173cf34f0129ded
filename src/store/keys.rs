//! Key heads and wrapped access keys: the lock writes and rotations meet
//! on, and one wrapped access key per (writer, type, version, reader). Rows
//! are read in a form that cannot fail as a whole; a malformed value is
//! passed over or reported as absent, never a failed statement.

use diesel::prelude::*;

use super::rows::{
    int, now_micros, AccessKeyRow, KeyHeadRow, StoredAccessKey, ACCESS_KEY_COLUMNS, HEAD_VERSION,
    KEY_VERSION,
};
use super::schema::{access_keys, key_heads, policies, record_batches, records};
use super::sql_id::SqlId;
use super::tx::{db_err, on_backend};
use super::AnyConnection;
use crate::error::{Error, Result};
use crate::ids::ClientId;

/// How a key head is locked while it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadLock {
    /// A write: a concurrent rotation waits for it (PostgreSQL `FOR SHARE`;
    /// SQLite's write transactions are already exclusive).
    Write,
    /// A rotation: two rotations queue instead of deadlocking on a lock
    /// upgrade (PostgreSQL `FOR UPDATE`).
    Rotation,
}

/// Locks the key head of (writer, type) and returns its version hint.
/// The head row is (re)created first, since the database may have deleted
/// it and locking a missing row locks nothing. A value that is not a key
/// version (NULL in a relaxed schema, negative, huge) is no hint, never an
/// error that would block the writer.
pub(crate) fn lock_head(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    lock: HeadLock,
) -> Result<Option<u32>> {
    let placeholder = KeyHeadRow {
        writer_id: SqlId::from(writer),
        record_type: record_type.to_owned(),
        current_version: 0,
        updated_at: now_micros(),
    };
    on_backend!(&mut *conn, |c| diesel::insert_into(key_heads::table)
        .values(&placeholder)
        .on_conflict_do_nothing()
        .execute(c))
    .map_err(db_err)?;
    let query = key_heads::table
        .filter(key_heads::writer_id.eq(SqlId::from(writer)))
        .filter(key_heads::record_type.eq(record_type))
        .select(HEAD_VERSION);
    let version: Option<Option<i64>> = match conn {
        AnyConnection::Postgresql(pg) if lock == HeadLock::Rotation => {
            query.for_update().first(pg).optional()
        }
        AnyConnection::Postgresql(pg) => query.for_share().first(pg).optional(),
        AnyConnection::Sqlite(_) => query.first(conn).optional(),
    }
    .map_err(db_err)?;
    Ok(version.and_then(|v| {
        let parsed = int::<u32>(v);
        if parsed.is_none() {
            tracing::warn!(record_type, "ignoring a malformed key head row");
        }
        parsed
    }))
}

/// Marks the advisory locks on a writer's set of record types apart from
/// other advisory locks ("types" in ASCII).
const TYPE_SET_LOCK: i64 = 0x7479_7065_7300;

/// PostgreSQL: a transaction-scoped advisory lock on `writer`'s set of
/// record types, taken shared by the transaction that creates a type's
/// first key and exclusive by one that must see every type (setting the
/// recovery client), so neither misses the other. SQLite runs write
/// transactions one at a time already: nothing to take.
pub(crate) fn lock_type_set(
    conn: &mut AnyConnection,
    writer: ClientId,
    exclusive: bool,
) -> Result<()> {
    let AnyConnection::Postgresql(pg) = conn else {
        return Ok(());
    };
    let id = writer.as_uuid().as_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&id[..8]);
    let key = i64::from_be_bytes(first) ^ TYPE_SET_LOCK;
    let statement = if exclusive {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
    } else {
        diesel::sql_query("SELECT pg_advisory_xact_lock_shared($1)")
    };
    statement
        .bind::<diesel::sql_types::BigInt, _>(key)
        .execute(pg)
        .map_err(db_err)?;
    Ok(())
}

/// Moves the key head of (writer, type) to `version`; returns the rows
/// changed (1, or 0 if the head is gone).
pub(crate) fn set_head(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    version: u32,
) -> Result<usize> {
    diesel::update(
        key_heads::table
            .filter(key_heads::writer_id.eq(SqlId::from(writer)))
            .filter(key_heads::record_type.eq(record_type)),
    )
    .set((
        key_heads::current_version.eq(stored_version(version)?),
        key_heads::updated_at.eq(now_micros()),
    ))
    .execute(conn)
    .map_err(db_err)
}

/// A key version as stored.
fn stored_version(version: u32) -> Result<i32> {
    i32::try_from(version).map_err(|_| Error::InvalidInput("key version overflow"))
}

/// The versions of (writer, type) wrapped by `holder` to itself, newest
/// first; malformed versions are passed over.
pub(crate) fn self_wrapped_versions(
    conn: &mut AnyConnection,
    holder: ClientId,
    record_type: &str,
) -> Result<Vec<u32>> {
    let versions: Vec<Option<i64>> = access_keys::table
        .filter(access_keys::writer_id.eq(SqlId::from(holder)))
        .filter(access_keys::record_type.eq(record_type))
        .filter(access_keys::reader_id.eq(SqlId::from(holder)))
        .filter(access_keys::wrapper_id.eq(SqlId::from(holder)))
        .order(access_keys::key_version.desc())
        .select(KEY_VERSION)
        .load(conn)
        .map_err(db_err)?;
    Ok(versions.into_iter().filter_map(int::<u32>).collect())
}

/// The record types `writer` holds its own access keys for (wrapped by and
/// to itself), sorted and without repeats.
pub(crate) fn self_wrapped_types(
    conn: &mut AnyConnection,
    writer: ClientId,
) -> Result<Vec<String>> {
    let me = SqlId::from(writer);
    // As bytes: a type that is not text (a row the database made up) is
    // passed over, never a failed load.
    let types: Vec<Option<Vec<u8>>> = access_keys::table
        .filter(access_keys::writer_id.eq(&me))
        .filter(access_keys::reader_id.eq(&me))
        .filter(access_keys::wrapper_id.eq(&me))
        .select(super::rows::Bytes(access_keys::record_type))
        .distinct()
        .load(conn)
        .map_err(db_err)?;
    let mut types: Vec<String> = types
        .into_iter()
        .flatten()
        .filter_map(|bytes| String::from_utf8(bytes).ok())
        .collect();
    types.sort();
    types.dedup();
    Ok(types)
}

/// Deletes every wrapped key of (writer, type) at `version` or above: a
/// rotation to `version` holds the head lock, and no own key opened
/// there, so such rows can only be made up (they would otherwise stand
/// in the new version's slots). Returns the rows deleted.
pub(crate) fn delete_from_version(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    version: u32,
) -> Result<usize> {
    diesel::delete(
        access_keys::table
            .filter(access_keys::writer_id.eq(SqlId::from(writer)))
            .filter(access_keys::record_type.eq(record_type))
            .filter(access_keys::key_version.ge(stored_version(version)?)),
    )
    .execute(conn)
    .map_err(db_err)
}

/// Whether the database holds any row of `client` as a writer: an access
/// key of one of its types (wrapped for anyone), a key head past its
/// placeholder version 0, a record, a batch signature or a grant on one
/// of its types (any record type).
/// Grants it made on another writer's types as an authoriser do not
/// count: it makes them without a key decision of its own.
pub(crate) fn holds_rows_of(conn: &mut AnyConnection, client: ClientId) -> Result<bool> {
    use diesel::dsl::{exists, select};
    let me = SqlId::from(client);
    // Each question stops at its first row; the first one answered yes
    // ends the search.
    Ok(select(exists(
        access_keys::table.filter(access_keys::writer_id.eq(&me)),
    ))
    .get_result::<bool>(conn)
    .map_err(db_err)?
        // A head at version 0 is the placeholder a write's own
        // transaction inserts to lock on, before this question.
        || select(exists(
            key_heads::table
                .filter(key_heads::writer_id.eq(&me))
                .filter(key_heads::current_version.ne(0)),
        ))
        .get_result::<bool>(conn)
        .map_err(db_err)?
        || select(exists(records::table.filter(records::writer_id.eq(&me))))
            .get_result::<bool>(conn)
            .map_err(db_err)?
        || select(exists(
            record_batches::table.filter(record_batches::writer_id.eq(&me)),
        ))
        .get_result::<bool>(conn)
        .map_err(db_err)?
        || select(exists(policies::table.filter(policies::writer_id.eq(&me))))
            .get_result::<bool>(conn)
            .map_err(db_err)?)
}

/// Whether anything is stored for `writer`'s `record_type` (wrapped keys,
/// grants or records): such a type must not start a new key lineage.
pub(crate) fn type_has_rows(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
) -> Result<bool> {
    let writer = SqlId::from(writer);
    let keys: i64 = access_keys::table
        .filter(access_keys::writer_id.eq(&writer))
        .filter(access_keys::record_type.eq(record_type))
        .count()
        .get_result(conn)
        .map_err(db_err)?;
    let grants: i64 = policies::table
        .filter(policies::writer_id.eq(&writer))
        .filter(policies::record_type.eq(record_type))
        .count()
        .get_result(conn)
        .map_err(db_err)?;
    let records: i64 = records::table
        .filter(records::writer_id.eq(&writer))
        .filter(records::record_type.eq(record_type))
        .count()
        .get_result(conn)
        .map_err(db_err)?;
    Ok(keys + grants + records > 0)
}

/// Where a wrapped access key belongs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WrappedKeySlot<'a> {
    pub writer_id: ClientId,
    pub record_type: &'a str,
    pub key_version: u32,
    pub reader_id: ClientId,
}

/// Stores a wrapped access key (`srk1.` text) made by `wrapper_id`.
pub(crate) fn insert_wrapped(
    conn: &mut AnyConnection,
    slot: WrappedKeySlot<'_>,
    wrapper_id: ClientId,
    wrapped: String,
) -> Result<()> {
    diesel::insert_into(access_keys::table)
        .values(&AccessKeyRow {
            writer_id: SqlId::from(slot.writer_id),
            record_type: slot.record_type.to_owned(),
            key_version: stored_version(slot.key_version)?,
            reader_id: SqlId::from(slot.reader_id),
            wrapper_id: SqlId::from(wrapper_id),
            wrapped_key: super::rows::text_body(crate::crypto::wrap::PREFIX, &wrapped)?,
            created_at: now_micros(),
        })
        .execute(conn)
        .map_err(db_err)?;
    Ok(())
}

/// What the database holds in a wrapped key's slot.
pub(crate) enum Wrapped {
    /// No row: not shared with this reader (or revoked).
    Absent,
    /// The claimed wrapper and the wrapped key text.
    Found(ClientId, String),
    /// A row that does not parse.
    Malformed,
}

/// The wrapped key in `slot`.
pub(crate) fn find_wrapped(conn: &mut AnyConnection, slot: WrappedKeySlot<'_>) -> Result<Wrapped> {
    let Ok(version) = i32::try_from(slot.key_version) else {
        return Ok(Wrapped::Malformed);
    };
    let row: Option<StoredAccessKey> = access_keys::table
        .filter(access_keys::writer_id.eq(SqlId::from(slot.writer_id)))
        .filter(access_keys::record_type.eq(slot.record_type))
        .filter(access_keys::key_version.eq(version))
        .filter(access_keys::reader_id.eq(SqlId::from(slot.reader_id)))
        .select(ACCESS_KEY_COLUMNS)
        .first(conn)
        .optional()
        .map_err(db_err)?;
    Ok(match row.map(StoredAccessKey::parse) {
        None => Wrapped::Absent,
        Some(Some((wrapper, eak))) => Wrapped::Found(wrapper, eak),
        Some(None) => Wrapped::Malformed,
    })
}

/// Deletes every wrapped key of `writer`'s `record_type` held by `reader`.
pub(crate) fn delete_for_reader(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    reader: ClientId,
) -> Result<usize> {
    diesel::delete(
        access_keys::table
            .filter(access_keys::writer_id.eq(SqlId::from(writer)))
            .filter(access_keys::record_type.eq(record_type))
            .filter(access_keys::reader_id.eq(SqlId::from(reader))),
    )
    .execute(conn)
    .map_err(db_err)
}

/// The key versions of (writer, type) for which `holder` has a wrapped
/// key, oldest first; malformed versions are passed over.
pub(crate) fn held_versions(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    holder: ClientId,
) -> Result<Vec<u32>> {
    let versions: Vec<Option<i64>> = access_keys::table
        .filter(access_keys::writer_id.eq(SqlId::from(writer)))
        .filter(access_keys::record_type.eq(record_type))
        .filter(access_keys::reader_id.eq(SqlId::from(holder)))
        .order(access_keys::key_version.asc())
        .select(KEY_VERSION)
        .load(conn)
        .map_err(db_err)?;
    Ok(versions.into_iter().filter_map(int::<u32>).collect())
}

/// Deletes whatever fills `slot`.
pub(crate) fn delete_wrapped(conn: &mut AnyConnection, slot: WrappedKeySlot<'_>) -> Result<usize> {
    diesel::delete(
        access_keys::table
            .filter(access_keys::writer_id.eq(SqlId::from(slot.writer_id)))
            .filter(access_keys::record_type.eq(slot.record_type))
            .filter(access_keys::key_version.eq(stored_version(slot.key_version)?))
            .filter(access_keys::reader_id.eq(SqlId::from(slot.reader_id))),
    )
    .execute(conn)
    .map_err(db_err)
}
