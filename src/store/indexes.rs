//! The blind index tables: `blind_index_values` (one lookup row per
//! record and index) and `blind_index_versions` (each writer's live index
//! versions of a type, with the index's description). Both are hints the
//! reader never trusts: candidates are verified, decrypted and compared.

use diesel::prelude::*;

use super::rows::{Bytes, RecordRow, Wide};
use super::schema::{blind_index_values, blind_index_versions, records};
use super::sql_id::SqlId;
use super::tx::db_err;
use super::AnyConnection;
use crate::error::{Error, Result};
use crate::format::blind_index::BlindIndexes;
use crate::ids::{BatchId, ClientId, RecordId};

/// One lookup row.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = blind_index_values, treat_none_as_default_value = false)]
pub(crate) struct IndexValueRow {
    pub record_id: SqlId,
    pub index_name: String,
    pub record_type: String,
    pub value: Vec<u8>,
}

/// The records whose lookup rows carry one of `values` in index `name` of
/// `record_type`, deduplicated; ids that do not parse are passed over.
/// `None` when there are more than `at_most` (then the caller looks them
/// up by a subquery instead of loading them).
/// One equality lookup per value: an equality is an index condition in
/// every plan, where PostgreSQL plans an `IN (list)` on the index's last
/// column as a filter over every entry of the index while the table has
/// no statistics yet (after a bulk load, before autovacuum's ANALYZE).
pub(crate) fn candidates(
    conn: &mut AnyConnection,
    record_type: &str,
    name: &str,
    values: &[Vec<u8>],
    at_most: usize,
) -> Result<Option<Vec<SqlId>>> {
    // Never more rows loaded than can be kept: one past the bound tells.
    let loaded_at_most = i64::try_from(at_most).unwrap_or(i64::MAX).saturating_add(1);
    let mut ids = Vec::new();
    for value in values {
        let found: Vec<Option<Vec<u8>>> = blind_index_values::table
            .filter(blind_index_values::record_type.eq(record_type))
            .filter(blind_index_values::index_name.eq(name))
            .filter(blind_index_values::value.eq(value))
            .select(Bytes(blind_index_values::record_id))
            .limit(loaded_at_most)
            .load(conn)
            .map_err(db_err)?;
        if found.len() > at_most {
            return Ok(None);
        }
        ids.extend(
            found
                .iter()
                .filter_map(|id| SqlId::from_stored(id.as_deref()?)),
        );
        ids.sort_unstable();
        ids.dedup();
        if ids.len() > at_most {
            return Ok(None);
        }
    }
    Ok(Some(ids))
}

// `entry_counts` groups lookup rows by their index and their record's
// writer and index version.
diesel::allow_columns_to_appear_in_same_group_by_clause!(
    blind_index_values::index_name,
    records::writer_id,
    records::index_version,
);

/// How many lookup rows each index of `record_type` has per writer and
/// index version (its values are keyed per writer and version, so only
/// rows of one group can share a value): `(index name, rows)` for each
/// group; a name that is not text is left out. With `writer`, only that
/// writer's groups.
pub(crate) fn entry_counts(
    conn: &mut AnyConnection,
    record_type: &str,
    writer: Option<ClientId>,
) -> Result<Vec<(String, u64)>> {
    let joined = blind_index_values::table
        .inner_join(records::table.on(records::record_id.eq(blind_index_values::record_id)))
        .filter(blind_index_values::record_type.eq(record_type.to_owned()));
    let group = (
        blind_index_values::index_name,
        records::writer_id,
        records::index_version,
    );
    let counted = (
        Bytes(blind_index_values::index_name),
        diesel::dsl::count_star(),
    );
    let rows: Vec<(Option<Vec<u8>>, i64)> = match writer {
        Some(writer) => joined
            .filter(records::writer_id.eq(SqlId::from(writer)))
            .group_by(group)
            .select(counted)
            .load(conn),
        None => joined.group_by(group).select(counted).load(conn),
    }
    .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, n)| {
            Some((
                String::from_utf8(name?).ok()?,
                u64::try_from(n).unwrap_or(0),
            ))
        })
        .collect())
}

/// The lookup rows of a record's index entries.
pub(crate) fn value_rows(row: &RecordRow, indexes: &BlindIndexes) -> Vec<IndexValueRow> {
    indexes
        .entries
        .iter()
        .map(|entry| IndexValueRow {
            record_id: row.record_id,
            index_name: entry.name.clone(),
            record_type: row.record_type.clone(),
            value: entry.value.clone(),
        })
        .collect()
}

/// Inserts lookup rows.
pub(crate) fn insert_values(conn: &mut AnyConnection, rows: &[IndexValueRow]) -> Result<()> {
    insert_many!(conn, blind_index_values::table, rows)
}

/// Removes a record's lookup rows.
pub(crate) fn delete_values(conn: &mut AnyConnection, record_id: RecordId) -> Result<()> {
    diesel::delete(
        blind_index_values::table.filter(blind_index_values::record_id.eq(SqlId::from(record_id))),
    )
    .execute(conn)
    .map_err(db_err)?;
    Ok(())
}

/// One live index version, as registered.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = blind_index_versions, treat_none_as_default_value = false)]
pub(crate) struct IndexVersionRow {
    pub writer_id: SqlId,
    pub record_type: String,
    pub index_name: String,
    pub index_version: i32,
    pub spec: Vec<u8>,
}

/// A live index version, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveVersion {
    pub writer_id: ClientId,
    pub index_name: String,
    pub index_version: u32,
    pub spec: Vec<u8>,
}

/// The live index versions of `record_type` (of one index, of one writer,
/// when named), oldest first. Rows that do not parse are left out, and so
/// are names no declaration accepts (control characters).
pub(crate) fn live_versions(
    conn: &mut AnyConnection,
    record_type: &str,
    index_name: Option<&str>,
    writer: Option<ClientId>,
) -> Result<Vec<LiveVersion>> {
    let mut q = blind_index_versions::table
        .filter(blind_index_versions::record_type.eq(record_type.to_owned()))
        .into_boxed::<<AnyConnection as diesel::Connection>::Backend>();
    if let Some(name) = index_name {
        q = q.filter(blind_index_versions::index_name.eq(name.to_owned()));
    }
    if let Some(writer) = writer {
        q = q.filter(blind_index_versions::writer_id.eq(SqlId::from(writer)));
    }
    type Raw = (
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<i64>,
        Option<Vec<u8>>,
    );
    let raw: Vec<Raw> = q
        .order((
            blind_index_versions::index_name.asc(),
            blind_index_versions::index_version.asc(),
        ))
        .select((
            Bytes(blind_index_versions::writer_id),
            Bytes(blind_index_versions::index_name),
            Wide(blind_index_versions::index_version),
            Bytes(blind_index_versions::spec),
        ))
        .load(conn)
        .map_err(db_err)?;
    Ok(raw
        .into_iter()
        .filter_map(|(writer, name, version, spec)| {
            Some(LiveVersion {
                writer_id: ClientId::from_uuid(SqlId::from_stored(&writer?)?.uuid()),
                index_name: String::from_utf8(name?)
                    .ok()
                    .filter(|name| crate::check_name(name).is_ok())?,
                index_version: u32::try_from(version?).ok()?,
                spec: spec?,
            })
        })
        .collect())
}

/// An index name and description as loaded (`None`: not loadable).
type NameBytes = Option<Vec<u8>>;
type SpecBytes = Option<Vec<u8>>;

/// Registers the index versions a write of `writer`'s `record_type` under
/// key `version` computes (`rows`, all of that writer, type and version;
/// none for a write that computes no index) and returns the names of the
/// version's registered indexes the write leaves out, for the caller to
/// judge. A version keeps the indexes it was first registered with, each
/// as described then: another description of one is
/// [`Error::InvalidInput`], and so is an index added to a version that has
/// indexes (the records indexed under it would lack it, and `reindex`
/// moves only records of older versions). Both want a rotation, then a
/// re-index.
pub(crate) fn register(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    version: u32,
    rows: &[IndexVersionRow],
) -> Result<Vec<String>> {
    let version =
        i32::try_from(version).map_err(|_| Error::InvalidInput("key version overflow"))?;
    // The version's registered indexes (name, description), read once.
    let registered: Vec<(NameBytes, SpecBytes)> = blind_index_versions::table
        .filter(blind_index_versions::writer_id.eq(SqlId::from(writer)))
        .filter(blind_index_versions::record_type.eq(record_type.to_owned()))
        .filter(blind_index_versions::index_version.eq(version))
        .select((
            Bytes(blind_index_versions::index_name),
            Bytes(blind_index_versions::spec),
        ))
        .load(conn)
        .map_err(db_err)?;
    if registered.is_empty() {
        for row in rows {
            diesel::insert_into(blind_index_versions::table)
                .values(row)
                .execute(conn)
                .map_err(db_err)?;
        }
        return Ok(Vec::new());
    }
    let spec_of = |row: &IndexVersionRow| {
        registered
            .iter()
            .find(|(name, _)| name.as_deref() == Some(row.index_name.as_bytes()))
            .map(|(_, spec)| spec)
    };
    if rows.iter().any(|row| spec_of(row).is_none()) {
        return Err(Error::InvalidInput(
            "a new index cannot be added at a key version that already has indexes (its records would lack it): rotate the type, then reindex, to add it",
        ));
    }
    if rows
        .iter()
        .any(|row| !matches!(spec_of(row), Some(Some(spec)) if *spec == row.spec))
    {
        return Err(Error::InvalidInput(
            "this index is already declared differently at the type's current key version: rotate the type, then reindex, to change it",
        ));
    }
    // A name that is not text names no index anyone can ask for.
    Ok(registered
        .into_iter()
        .filter_map(|(name, _)| String::from_utf8(name?).ok())
        .filter(|name| !rows.iter().any(|row| row.index_name == *name))
        .collect())
}

/// Retires `writer`'s index versions of `record_type` older than
/// `current`; returns how many.
pub(crate) fn retire_older(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    current: u32,
) -> Result<usize> {
    diesel::delete(
        blind_index_versions::table
            .filter(blind_index_versions::writer_id.eq(SqlId::from(writer)))
            .filter(blind_index_versions::record_type.eq(record_type.to_owned()))
            .filter(
                blind_index_versions::index_version.lt(i32::try_from(current).unwrap_or(i32::MAX)),
            ),
    )
    .execute(conn)
    .map_err(db_err)
}

/// Writes a re-indexed record back if the row is still the one read (same
/// version, key version and batch); returns whether it was.
pub(crate) fn update_reindexed(
    conn: &mut AnyConnection,
    was: &RecordRow,
    indexes: &BlindIndexes,
    batch_id: BatchId,
    index: u32,
) -> Result<bool> {
    let changed = diesel::update(
        records::table
            .filter(records::record_id.eq(&was.record_id))
            .filter(records::version.eq(was.version))
            .filter(records::key_version.eq(was.key_version))
            .filter(records::batch_id.eq(&was.batch_id)),
    )
    .set((
        records::blind_indexes.eq(Some(indexes.encode()?)),
        records::index_version
            .eq(Some(i32::try_from(indexes.index_version).map_err(
                |_| Error::InvalidInput("index version overflow"),
            )?)),
        records::batch_id.eq(SqlId::from(batch_id)),
        records::batch_index
            .eq(i32::try_from(index).map_err(|_| Error::InvalidInput("batch too large"))?),
    ))
    .execute(conn)
    .map_err(db_err)?;
    Ok(changed == 1)
}
