//! The `import_map` table: which source row became which record, written
//! in the records' own transaction so an import can be re-run safely.
//! Read in a form that cannot fail as a whole.

use std::collections::HashMap;

use diesel::prelude::*;

use super::rows::{now_micros, text, IMPORT_COLUMNS};
use super::schema::import_map;
use super::sql_id::{self, SqlId};
use super::tx::{db_err, on_backend};
use super::AnyConnection;
use crate::error::Result;
use crate::ids::RecordId;

/// A mapping row's source id and record id, as loaded.
type StoredMapping = (Option<Vec<u8>>, Option<Vec<u8>>);

#[derive(Insertable)]
#[diesel(table_name = import_map)]
struct MapRow<'a> {
    source: &'a str,
    source_id: &'a str,
    record_id: SqlId,
    imported_at: i64,
}

/// Serialises the writers of `source` until the current write transaction
/// ends. PostgreSQL: a transaction-level advisory lock keyed by a hash of
/// the source name (a collision only makes two imports wait for each other
/// needlessly). SQLite: nothing to do, its write transactions
/// (`BEGIN IMMEDIATE`) already exclude each other.
pub(crate) fn lock_source(conn: &mut AnyConnection, source: &str) -> Result<()> {
    match conn {
        AnyConnection::Sqlite(_) => Ok(()),
        AnyConnection::Postgresql(c) => {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind::<diesel::sql_types::Text, _>(source)
                .execute(c)
                .map(|_| ())
                .map_err(db_err)
        }
    }
}

/// Stores that the rows `source_id` of `source` became `record_id`.
pub(crate) fn insert(
    conn: &mut AnyConnection,
    source: &str,
    mapping: &[(&str, RecordId)],
) -> Result<()> {
    let now = now_micros();
    let rows: Vec<MapRow<'_>> = mapping
        .iter()
        .map(|(source_id, record_id)| MapRow {
            source,
            source_id,
            record_id: (*record_id).into(),
            imported_at: now,
        })
        .collect();
    for chunk in rows.chunks(1000) {
        on_backend!(&mut *conn, |c| diesel::insert_into(import_map::table)
            .values(chunk)
            .execute(c))
        .map_err(db_err)?;
    }
    Ok(())
}

/// The mapping rows of `source` for those of `source_ids` already
/// imported, each with its record id if that parses. A malformed row is
/// one entry, never an error.
pub(crate) fn find(
    conn: &mut AnyConnection,
    source: &str,
    source_ids: &[String],
) -> Result<HashMap<String, Option<RecordId>>> {
    let mut out = HashMap::new();
    for chunk in source_ids.chunks(1000) {
        let rows: Vec<StoredMapping> = import_map::table
            .filter(import_map::source.eq(source))
            .filter(import_map::source_id.eq_any(chunk))
            .select(IMPORT_COLUMNS)
            .load(conn)
            .map_err(db_err)?;
        for (source_id, record_id) in rows {
            // It matched one of `source_ids`, so it is UTF-8.
            let Some(source_id) = text(source_id) else {
                continue;
            };
            let record_id = record_id
                .and_then(|id| sql_id::parse(&id))
                .map(RecordId::from_uuid);
            if record_id.is_none() {
                tracing::warn!("an import mapping row names a malformed record id");
            }
            out.insert(source_id, record_id);
        }
    }
    Ok(out)
}

/// How many rows of `source` have been imported.
pub(crate) fn count(conn: &mut AnyConnection, source: &str) -> Result<u64> {
    let count: i64 = import_map::table
        .filter(import_map::source.eq(source))
        .count()
        .get_result(conn)
        .map_err(db_err)?;
    Ok(u64::try_from(count).unwrap_or(0))
}
