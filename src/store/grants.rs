//! The `policies` table: signed share grants, one row per (writer, type,
//! reader, kind). Rows are read in a form that cannot fail as a whole; a
//! malformed row is ignored as if absent (and deleted by the operations
//! that delete its kind of row).

use diesel::prelude::*;

use super::rows::{Bytes, PolicyRow, StoredPolicy, POLICY_COLUMNS};
use super::schema::{access_keys, policies};
use super::sql_id::SqlId;
use super::tx::db_err;
use super::AnyConnection;
use crate::error::Result;
use crate::ids::ClientId;

/// `policies.kind` of a read share.
pub(crate) const KIND_READ: &str = "read";
/// `policies.kind` of an authoriser grant.
pub(crate) const KIND_AUTHORIZE: &str = "authorize";

type DB = <AnyConnection as diesel::Connection>::Backend;

/// What the database holds for one (writer, type, reader, kind).
pub(crate) enum Found {
    /// No row.
    Absent,
    /// A well-formed row (its grant is not verified here).
    Row(Box<PolicyRow>),
    /// A row that does not parse.
    Malformed,
}

/// The row of (writer, type, reader, kind), if `granted_by` is given only
/// one that names it.
pub(crate) fn find(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    reader: ClientId,
    kind: &str,
    granted_by: Option<ClientId>,
) -> Result<Found> {
    let mut query = policies::table
        .filter(policies::writer_id.eq(SqlId::from(writer)))
        .filter(policies::record_type.eq(record_type.to_owned()))
        .filter(policies::reader_id.eq(SqlId::from(reader)))
        .filter(policies::kind.eq(kind.to_owned()))
        .into_boxed::<DB>();
    if let Some(by) = granted_by {
        query = query.filter(policies::granted_by.eq(SqlId::from(by)));
    }
    let stored: Option<StoredPolicy> = query
        .select(POLICY_COLUMNS)
        .first(conn)
        .optional()
        .map_err(db_err)?;
    Ok(match stored.map(StoredPolicy::parse) {
        None => Found::Absent,
        Some(Some(row)) => Found::Row(Box::new(row)),
        Some(None) => Found::Malformed,
    })
}

/// Every well-formed row of `writer`'s `record_type`.
pub(crate) fn of_type(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
) -> Result<Vec<PolicyRow>> {
    let stored: Vec<StoredPolicy> = policies::table
        .filter(policies::writer_id.eq(SqlId::from(writer)))
        .filter(policies::record_type.eq(record_type))
        .select(POLICY_COLUMNS)
        .load(conn)
        .map_err(db_err)?;
    Ok(well_formed(stored))
}

/// Every well-formed row where `client` is the writer (`outgoing`) or the
/// reader, by record type and age.
pub(crate) fn listed(
    conn: &mut AnyConnection,
    client: ClientId,
    outgoing: bool,
) -> Result<Vec<PolicyRow>> {
    let me = SqlId::from(client);
    let mut query = policies::table.into_boxed::<DB>();
    query = if outgoing {
        query.filter(policies::writer_id.eq(me))
    } else {
        query.filter(policies::reader_id.eq(me))
    };
    let stored: Vec<StoredPolicy> = query
        .order((policies::record_type.asc(), policies::created_at.asc()))
        .select(POLICY_COLUMNS)
        .load(conn)
        .map_err(db_err)?;
    Ok(well_formed(stored))
}

fn well_formed(stored: Vec<StoredPolicy>) -> Vec<PolicyRow> {
    stored
        .into_iter()
        .filter_map(|stored| {
            let row = stored.parse();
            if row.is_none() {
                tracing::warn!("ignoring a malformed policy row");
            }
            row
        })
        .collect()
}

/// Replaces whatever row (well-formed or not) stands at `row`'s (writer,
/// type, reader, kind) with `row`.
pub(crate) fn replace(conn: &mut AnyConnection, row: &PolicyRow) -> Result<usize> {
    let row = row.to_insert()?;
    diesel::delete(
        policies::table
            .filter(policies::writer_id.eq(row.writer_id))
            .filter(policies::record_type.eq(&row.record_type))
            .filter(policies::reader_id.eq(row.reader_id))
            .filter(policies::kind.eq(&row.kind)),
    )
    .execute(conn)
    .map_err(db_err)?;
    diesel::insert_into(policies::table)
        .values(&row)
        .execute(conn)
        .map_err(db_err)
}

/// Deletes every row of `writer`'s `record_type`.
pub(crate) fn delete_of_type(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
) -> Result<usize> {
    diesel::delete(
        policies::table
            .filter(policies::writer_id.eq(SqlId::from(writer)))
            .filter(policies::record_type.eq(record_type)),
    )
    .execute(conn)
    .map_err(db_err)
}

/// Whether `reader` holds anything of `writer`'s `record_type`: a policy
/// row (of any kind, well-formed or not) or a wrapped key.
pub(crate) fn holds_share(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    reader: ClientId,
) -> Result<bool> {
    let (writer, reader) = (SqlId::from(writer), SqlId::from(reader));
    let policies: i64 = policies::table
        .filter(policies::writer_id.eq(&writer))
        .filter(policies::record_type.eq(record_type))
        .filter(policies::reader_id.eq(&reader))
        .count()
        .get_result(conn)
        .map_err(db_err)?;
    if policies > 0 {
        return Ok(true);
    }
    let keys: i64 = access_keys::table
        .filter(access_keys::writer_id.eq(&writer))
        .filter(access_keys::record_type.eq(record_type))
        .filter(access_keys::reader_id.eq(&reader))
        .count()
        .get_result(conn)
        .map_err(db_err)?;
    Ok(keys > 0)
}

/// Whether `client` holds or has used authority over `writer`'s
/// `record_type` here, by the rows as stored: an authorise grant naming it,
/// a read grant it signed or that came through it (re-signed by the writer
/// at a rotation), or a key it wrapped for another client. What
/// [`withdraw`] would remove for an authoriser, short of its own read
/// access: one hidden row (its authorise grant) does not hide the rest.
pub(crate) fn holds_authority(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    client: ClientId,
) -> Result<bool> {
    let (me, client) = (SqlId::from(writer), SqlId::from(client));
    let policies: i64 = policies::table
        .filter(policies::writer_id.eq(&me))
        .filter(policies::record_type.eq(record_type))
        .filter(
            policies::reader_id
                .eq(&client)
                .and(policies::kind.eq(KIND_AUTHORIZE))
                .or(policies::kind.eq(KIND_READ).and(
                    policies::granted_by
                        .eq(&client)
                        .or(policies::via.eq(&client)),
                )),
        )
        .count()
        .get_result(conn)
        .map_err(db_err)?;
    if policies > 0 {
        return Ok(true);
    }
    let keys: i64 = access_keys::table
        .filter(access_keys::writer_id.eq(&me))
        .filter(access_keys::record_type.eq(record_type))
        .filter(access_keys::wrapper_id.eq(&client))
        .filter(access_keys::reader_id.ne(&me))
        .filter(access_keys::reader_id.ne(&client))
        .count()
        .get_result(conn)
        .map_err(db_err)?;
    Ok(keys > 0)
}

/// What [`withdraw`] removed.
pub(crate) struct Withdrawn {
    /// Rows deleted.
    pub rows: usize,
    /// The other readers whose access went with it.
    pub readers: Vec<ClientId>,
}

/// Deletes, on `writer`'s type, the wrapped keys `client` made and the
/// access of every reader whose share came through it (directly, or
/// re-signed by the writer at a rotation), its authoriser grant, and —
/// with `own_access` — its own read grant and keys. Works on the rows as
/// stored (subqueries, no values loaded to match), so a malformed row is
/// deleted like the others and never fails it.
pub(crate) fn withdraw(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    client: ClientId,
    own_access: bool,
) -> Result<Withdrawn> {
    let me = SqlId::from(writer);
    let client_id = SqlId::from(client);
    let mine = || {
        policies::table
            .filter(policies::writer_id.eq(me))
            .filter(policies::record_type.eq(record_type))
    };
    let through = || {
        mine().filter(policies::kind.eq(KIND_READ)).filter(
            policies::granted_by
                .eq(client_id)
                .or(policies::via.eq(client_id)),
        )
    };
    let keys_of = || {
        access_keys::table
            .filter(access_keys::writer_id.eq(me))
            .filter(access_keys::record_type.eq(record_type))
    };
    let wrapped_by = || {
        keys_of()
            .filter(access_keys::wrapper_id.eq(client_id))
            .filter(access_keys::reader_id.ne(me))
    };
    // Whose access goes, for the report (ids that do not parse are
    // withdrawn all the same).
    let mut affected: Vec<Option<Vec<u8>>> = through()
        .select(Bytes(policies::reader_id))
        .load(conn)
        .map_err(db_err)?;
    affected.extend(
        wrapped_by()
            .select(Bytes(access_keys::reader_id))
            .load::<Option<Vec<u8>>>(conn)
            .map_err(db_err)?,
    );
    let mut readers: Vec<ClientId> = affected
        .into_iter()
        .filter_map(|id| super::sql_id::parse(&id?).map(ClientId::from_uuid))
        .filter(|id| *id != writer && *id != client)
        .collect();
    readers.sort();
    readers.dedup();
    let mut rows = diesel::delete(wrapped_by()).execute(conn).map_err(db_err)?;
    // Never the writer's own keys, whatever a row names as reader (a
    // made-up row must not block a revocation).
    rows += diesel::delete(
        keys_of()
            .filter(access_keys::reader_id.ne(me))
            .filter(access_keys::reader_id.eq_any(through().select(policies::reader_id))),
    )
    .execute(conn)
    .map_err(db_err)?;
    rows += diesel::delete(through()).execute(conn).map_err(db_err)?;
    let its_grants = mine().filter(policies::reader_id.eq(client_id));
    rows += if own_access {
        diesel::delete(its_grants).execute(conn)
    } else {
        diesel::delete(its_grants.filter(policies::kind.eq(KIND_AUTHORIZE))).execute(conn)
    }
    .map_err(db_err)?;
    Ok(Withdrawn { rows, readers })
}
