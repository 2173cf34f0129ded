//! The database's own identity: the one row of `database_identity`, a
//! random id created with the schema. Profiles key their rollback marks by
//! it (see `SECURITY.md`), so the same database reached by another URL, or
//! its file copied elsewhere, keeps its marks.

use diesel::prelude::*;

use super::rows::Bytes;
use super::schema::database_identity;
use super::tx::db_err;
use super::AnyConnection;
use crate::error::Result;
use crate::ids::DatabaseId;

/// What the identity row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredIdentity {
    /// A well-formed id.
    Id(DatabaseId),
    /// No row (deleted, or a schema older than the identity migration).
    Missing,
    /// A row whose id is not a UUID (NULL, not 16 bytes).
    Malformed,
}

/// Reads the identity row. The column is loaded as bytes, so a malformed
/// value is [`StoredIdentity::Malformed`], never a failed query.
pub(crate) fn read(conn: &mut AnyConnection) -> Result<StoredIdentity> {
    let row: Option<Option<Vec<u8>>> = database_identity::table
        .filter(database_identity::singleton.eq(1))
        .select(Bytes(database_identity::database_id))
        .first(conn)
        .optional()
        .map_err(db_err)?;
    Ok(match row {
        None => StoredIdentity::Missing,
        Some(bytes) => bytes
            .and_then(|b| super::sql_id::parse(&b))
            .map(DatabaseId::from_uuid)
            .map_or(StoredIdentity::Malformed, StoredIdentity::Id),
    })
}

/// Replaces whatever identity row there is with a fresh random id (a
/// database that lost its row, or an explicit adoption of a broken one).
pub(crate) fn replace(conn: &mut AnyConnection) -> Result<DatabaseId> {
    let id = DatabaseId::random();
    diesel::delete(database_identity::table)
        .execute(conn)
        .map_err(db_err)?;
    diesel::insert_into(database_identity::table)
        .values((
            database_identity::singleton.eq(1),
            database_identity::database_id.eq(super::sql_id::SqlId::from(id)),
            database_identity::created_at.eq(super::rows::now_micros()),
        ))
        .execute(conn)
        .map_err(db_err)?;
    Ok(id)
}
