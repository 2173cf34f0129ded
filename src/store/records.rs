//! The `records` table (and its plain-meta index). Rows are read in a form
//! that cannot fail as a whole ([`StoredRecord`]) and parsed one by one by
//! the caller.

use diesel::prelude::*;

use super::rows::{
    meta_tag, KeysetId, MetaRow, RecordRow, StoredRecord, TimeClass, RECORD_COLUMNS,
};
use super::schema::{blind_index_values, meta_index, records};
use super::sql_id::SqlId;
use super::tx::db_err;
use super::AnyConnection;
use crate::error::{Error, Result};
use crate::ids::{BatchId, ClientId, RecordId};

/// A key version as stored (versions past `i32::MAX` compare as the
/// largest).
fn stored_key_version(version: u32) -> i32 {
    i32::try_from(version).unwrap_or(i32::MAX)
}

/// Up to `limit` of `writer`'s records of `record_type` sealed under a key
/// version older than `current`, with ids after `after` (none: from the
/// first), in id order — locked on PostgreSQL (SQLite's write transaction already
/// holds the database), so their batches stay while the caller works.
pub(crate) fn older_than(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    current: u32,
    after: Option<&KeysetId>,
    limit: i64,
) -> Result<Vec<StoredRecord>> {
    behind(
        conn,
        Behind::Key,
        writer,
        record_type,
        current,
        after,
        limit,
    )
}

/// What a pass moves records of a type forward on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behind {
    /// Their data keys' access key version (re-wrap).
    Key,
    /// Their blind indexes' version, or none yet (re-index; file records
    /// are never indexed).
    Index,
}

/// Loads up to `$limit` rows of the query `$rows()` with ids after
/// `$after`, in id order, locked on PostgreSQL. The keyset compares the
/// stored value: on SQLite as it was stored (an id there may be any bytes,
/// as a BLOB or as text, and SQLite sorts all text before all BLOBs); a
/// PostgreSQL uuid is always 16 bytes.
macro_rules! keyset_load {
    ($conn:expr, $after:expr, $limit:expr, $rows:expr) => {{
        let rows = $rows;
        match ($conn, $after) {
            (AnyConnection::Sqlite(c), None) => rows()
                .order(records::record_id.asc())
                .limit($limit)
                .select(RECORD_COLUMNS)
                .load(c),
            (AnyConnection::Sqlite(c), Some(after)) => rows()
                .filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>(if after.text {
                        "records.record_id > CAST("
                    } else {
                        "records.record_id > ("
                    })
                    .bind::<diesel::sql_types::Binary, _>(after.bytes.clone())
                    .sql(if after.text { " AS TEXT)" } else { ")" }),
                )
                .order(records::record_id.asc())
                .limit($limit)
                .select(RECORD_COLUMNS)
                .load(c),
            (AnyConnection::Postgresql(c), None) => rows()
                .order(records::record_id.asc())
                .limit($limit)
                .select(RECORD_COLUMNS)
                .for_update()
                .load(c),
            (AnyConnection::Postgresql(c), Some(after)) => rows()
                .filter(records::record_id.gt(postgres_keyset_id(&after.bytes)))
                .order(records::record_id.asc())
                .limit($limit)
                .select(RECORD_COLUMNS)
                .for_update()
                .load(c),
        }
        .map_err(db_err)
    }};
}

/// Up to `limit` of `writer`'s records of `record_type` behind `current`
/// on `which`, with ids after `after`, in id order, locked as
/// [`older_than`] says.
pub(crate) fn behind(
    conn: &mut AnyConnection,
    which: Behind,
    writer: ClientId,
    record_type: &str,
    current: u32,
    after: Option<&KeysetId>,
    limit: i64,
) -> Result<Vec<StoredRecord>> {
    let writer = SqlId::from(writer);
    let version = stored_key_version(current);
    // A NULL id (a relaxed schema) is never selected: no keyset position
    // could move past it on both engines.
    let mine = || {
        records::table
            .filter(records::writer_id.eq(writer))
            .filter(records::record_type.eq(record_type))
            .filter(records::record_id.is_not_null())
    };
    match which {
        Behind::Key => keyset_load!(conn, after, limit, || {
            mine().filter(records::key_version.lt(version))
        }),
        Behind::Index => keyset_load!(conn, after, limit, || {
            mine().filter(records::file_head.is_null()).filter(
                records::index_version
                    .is_null()
                    .or(records::index_version.lt(version)),
            )
        }),
    }
}

/// A keyset position's record id on PostgreSQL, whose `uuid` is always 16
/// bytes: anything else (a NULL id in a relaxed schema) is the largest
/// uuid. PostgreSQL sorts NULL last ascending and first descending, so
/// after a NULL id ascending only more NULLs of its time follow, and
/// descending every other id of its time is still to come: both are the
/// rows past the largest uuid.
fn postgres_keyset_id(id: &[u8]) -> SqlId {
    SqlId::from_stored(id).unwrap_or(SqlId([0xFF; 16]))
}

/// How many of `writer`'s records of `record_type` are sealed under a key
/// version older than `current`.
pub(crate) fn count_older_than(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    current: u32,
) -> Result<usize> {
    count_behind(conn, Behind::Key, writer, record_type, current)
}

/// How many of `writer`'s records of `record_type` are behind `current`
/// on `which`.
pub(crate) fn count_behind(
    conn: &mut AnyConnection,
    which: Behind,
    writer: ClientId,
    record_type: &str,
    current: u32,
) -> Result<usize> {
    let q = records::table
        .filter(records::writer_id.eq(SqlId::from(writer)))
        .filter(records::record_type.eq(record_type))
        .into_boxed::<DB>();
    let q = match which {
        Behind::Key => q.filter(records::key_version.lt(stored_key_version(current))),
        Behind::Index => q.filter(records::file_head.is_null()).filter(
            records::index_version
                .is_null()
                .or(records::index_version.lt(stored_key_version(current))),
        ),
    };
    let count: i64 = q.count().get_result(conn).map_err(db_err)?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// How many records of `record_type` the store holds (every writer's).
pub(crate) fn count_of_type(conn: &mut AnyConnection, record_type: &str) -> Result<u64> {
    let count: i64 = records::table
        .filter(records::record_type.eq(record_type))
        .count()
        .get_result(conn)
        .map_err(db_err)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Where a re-wrapped record now stands: its new envelopes (the encoded
/// sealed-fields column), the key version they are sealed under, and its
/// place in the batch that signs it.
pub(crate) struct Rewrapped<'a> {
    pub sealed_fields: Vec<u8>,
    /// A file record's head with its data key re-sealed (`None` otherwise).
    pub file_head: Option<Vec<u8>>,
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
        records::sealed_fields.eq(rewrapped.sealed_fields),
        records::file_head.eq(rewrapped.file_head),
        records::key_version.eq(i32::try_from(rewrapped.key_version)
            .map_err(|_| Error::InvalidInput("key version overflow"))?),
        records::batch_id.eq(SqlId::from(rewrapped.batch_id)),
        records::batch_index
            .eq(i32::try_from(rewrapped.index)
                .map_err(|_| Error::InvalidInput("batch too large"))?),
    ))
    .execute(conn)
    .map_err(db_err)?;
    Ok(changed == 1)
}

/// The stored record `id`, as loaded.
pub(crate) fn find(conn: &mut AnyConnection, id: RecordId) -> Result<Option<StoredRecord>> {
    records::table
        .find(SqlId::from(id))
        .select(RECORD_COLUMNS)
        .first(conn)
        .optional()
        .map_err(db_err)
}

/// Up to `limit` of `writer`'s records of `record_type` with a lookup row
/// of index `index_name`, the highest index version first (as the rows'
/// unsigned copies say: the caller verifies what it uses).
pub(crate) fn newest_with_index(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    index_name: &str,
    limit: i64,
) -> Result<Vec<StoredRecord>> {
    records::table
        .filter(records::writer_id.eq(SqlId::from(writer)))
        .filter(records::record_type.eq(record_type))
        .filter(
            records::record_id.eq_any(
                blind_index_values::table
                    .filter(blind_index_values::record_type.eq(record_type.to_owned()))
                    .filter(blind_index_values::index_name.eq(index_name.to_owned()))
                    .select(blind_index_values::record_id),
            ),
        )
        .order((records::index_version.desc(), records::updated_at.desc()))
        .select(RECORD_COLUMNS)
        .limit(limit)
        .load(conn)
        .map_err(db_err)
}

/// Whose records a selection visits.
pub(crate) enum Writers<'a> {
    /// These writers'.
    These(&'a [ClientId]),
    /// This client's own.
    Own(ClientId),
    /// This client's own and those of every writer with a read policy for
    /// it on the record's type.
    OwnAndShared(ClientId),
}

/// One page of a query, as the database is asked for it.
pub(crate) struct Selection<'a> {
    pub writers: Writers<'a>,
    pub record_type: Option<&'a str>,
    /// Plain meta equality filters, looked up in the meta index (a hint:
    /// the caller re-checks the signed meta).
    pub plain: &'a [(String, String)],
    /// A blind index lookup: the index's name and the values to find
    /// (a hint: the caller verifies, decrypts and compares).
    pub index: Option<(&'a str, &'a [Vec<u8>])>,
    pub created_from: Option<i64>,
    pub created_before: Option<i64>,
    pub updated_from: Option<i64>,
    pub updated_before: Option<i64>,
    /// Ordered by creation (else by last update), ascending or not, then by
    /// id.
    pub by_created: bool,
    pub ascending: bool,
    /// Start after this (timestamp, record id as stored).
    pub after: Option<(i64, KeysetId)>,
    pub limit: i64,
}

type DB = <AnyConnection as diesel::Connection>::Backend;

/// A condition of a page's query.
type Condition = Box<dyn BoxableExpression<records::table, DB, SqlType = diesel::sql_types::Bool>>;

diesel::define_sql_function! {
    /// SQL's `coalesce`, for two booleans.
    fn coalesce(value: diesel::sql_types::Nullable<diesel::sql_types::Bool>, otherwise: diesel::sql_types::Bool) -> diesel::sql_types::Bool;
}

/// The condition on whose records a page visits, boxed as `$cond` (the
/// records table alone, or joined with the meta index).
macro_rules! writers_condition {
    ($writers:expr, $cond:ty) => {
        match $writers {
            Writers::These(writers) => Box::new(
                records::writer_id
                    .eq_any(writers.iter().copied().map(SqlId::from).collect::<Vec<_>>()),
            ) as $cond,
            Writers::Own(me) => Box::new(records::writer_id.eq(SqlId::from(me))) as $cond,
            Writers::OwnAndShared(me) => {
                let me = SqlId::from(me);
                Box::new(
                    records::writer_id.eq(me).or(diesel::dsl::sql::<diesel::sql_types::Bool>(
                        "(records.writer_id, records.record_type) IN \
                         (SELECT writer_id, record_type FROM policies WHERE kind = 'read' AND reader_id = ",
                    )
                    .bind::<super::sql_id::Uuid, _>(me)
                    .sql(")")),
                ) as $cond
            }
        }
    };
}

/// `$condition`, written so that no index can serve it: the same truth
/// (a `NULL` is false in a `WHERE` either way), left out of the planner's
/// choice of index.
macro_rules! unplanned {
    ($condition:expr, $cond:ty) => {
        Box::new(coalesce(
            $condition.nullable(),
            false.into_sql::<diesel::sql_types::Bool>(),
        )) as $cond
    };
}

/// Applies what every page's query shares after its source and its
/// writer and type conditions: the other plain filters, the time bounds,
/// the order and the keyset (on `$order_table`'s creation time and id,
/// the columns the page walks) and the limit; loads the page.
macro_rules! finish_page {
    ($conn:expr, $q:expr, $s:expr, $plain:expr, $on_postgres:expr, $order_table:literal, $created:expr, $id:expr) => {{
        let (conn, s, on_postgres) = ($conn, $s, $on_postgres);
        let mut q = $q;
        for (name, value) in $plain {
            // Under an alias: the walk joins `meta_index` itself.
            let entries = diesel::alias!(meta_index as other_entries);
            q = q.filter(
                records::record_id.eq_any(
                    entries
                        .filter(entries.field(meta_index::tag).eq(meta_tag(name, value)))
                        .select(entries.field(meta_index::record_id)),
                ),
            );
        }
        if let Some(t) = s.created_from {
            q = q.filter(records::created_at.ge(t));
        }
        if let Some(t) = s.created_before {
            q = q.filter(records::created_at.lt(t));
        }
        if let Some(t) = s.updated_from {
            q = q.filter(records::updated_at.ge(t));
        }
        if let Some(t) = s.updated_before {
            q = q.filter(records::updated_at.lt(t));
        }
        q = match (s.by_created, s.ascending) {
            (true, true) => q.order(($created.asc(), $id.asc())),
            (true, false) => q.order(($created.desc(), $id.desc())),
            (false, true) => q.order((records::updated_at.asc(), records::record_id.asc())),
            (false, false) => q.order((records::updated_at.desc(), records::record_id.desc())),
        };
        if let Some((t, id)) = s.after.as_ref() {
            let t = *t;
            // A row-value comparison, so both engines seek the index to the
            // cursor instead of filtering every earlier row.
            let (column, id_column) = if s.by_created {
                (
                    concat!($order_table, ".created_at"),
                    concat!($order_table, ".record_id"),
                )
            } else {
                ("records.updated_at", "records.record_id")
            };
            let op = if s.ascending { ">" } else { "<" };
            let before_id = diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "({column}, {id_column}) {op} ("
            ))
            .bind::<diesel::sql_types::BigInt, _>(t)
            .sql(", ");
            // SQLite compares the id as it was stored, BLOB or text (a page
            // may end on a malformed row); PostgreSQL ids are uuids.
            q = if on_postgres {
                q.filter(
                    before_id
                        .bind::<super::sql_id::Uuid, _>(postgres_keyset_id(&id.bytes))
                        .sql(")"),
                )
            } else if id.text {
                q.filter(
                    before_id
                        .sql("CAST(")
                        .bind::<diesel::sql_types::Binary, _>(id.bytes.clone())
                        .sql(" AS TEXT))"),
                )
            } else {
                q.filter(
                    before_id
                        .bind::<diesel::sql_types::Binary, _>(id.bytes.clone())
                        .sql(")"),
                )
            };
        }
        q.limit(s.limit).load(conn).map_err(db_err)
    }};
}

/// The most candidate ids a page's query binds; more are selected by a
/// subquery on the lookup table instead.
const MAX_BOUND_CANDIDATES: usize = 10_000;

/// How a page filtered by a blind index finds its candidates.
enum Candidates<'a> {
    /// Few enough to bind: by id.
    Ids(Vec<SqlId>),
    /// Many (a planted flood, or an index kept at too few bits): by the
    /// lookup of `values` itself.
    Lookup {
        record_type: &'a str,
        name: &'a str,
        values: &'a [Vec<u8>],
    },
}

/// The rows of one page, as loaded.
///
/// A page filtered by plain equality and ordered by creation walks the
/// meta index, which keeps each entry's records in creation order, joined
/// to `records` by id: it reads about as many index rows as the page
/// holds, however many records match, and the writer and type conditions
/// are checked on the rows it reaches. The page's order and keyset are the
/// index's creation time; only index rows whose time is their record's
/// join, so the order is the records' own (a database that changes either
/// time can only hide records, as it can anyway). Other pages walk
/// `records` in their order.
pub(crate) fn select(conn: &mut AnyConnection, s: Selection<'_>) -> Result<Vec<StoredRecord>> {
    let on_postgres = matches!(conn, AnyConnection::Postgresql(_));
    // An index condition: its candidates first (equality lookups, see
    // `indexes::candidates`); none, no page.
    let candidates = match (s.index, s.record_type) {
        (Some((name, values)), Some(record_type)) => {
            match super::indexes::candidates(conn, record_type, name, values, MAX_BOUND_CANDIDATES)?
            {
                Some(ids) if ids.is_empty() => return Ok(Vec::new()),
                Some(ids) => Some(Candidates::Ids(ids)),
                None => Some(Candidates::Lookup {
                    record_type,
                    name,
                    values,
                }),
            }
        }
        _ => None,
    };
    let walk = match (s.plain.split_first(), &candidates) {
        (Some((first, rest)), None) if s.by_created => Some((first, rest)),
        _ => None,
    };
    if let Some(((name, value), rest)) = walk {
        if on_postgres {
            // For this read transaction only: a page walks about as many
            // index rows as it returns, in a few ms, which a parallel
            // worker's start-up alone exceeds on a small machine.
            diesel::sql_query("SET LOCAL max_parallel_workers_per_gather = 0")
                .execute(conn)
                .map_err(db_err)?;
        }
        type Joined = diesel::helper_types::InnerJoinQuerySource<
            records::table,
            meta_index::table,
            diesel::dsl::Eq<meta_index::record_id, records::record_id>,
        >;
        type JoinedCondition =
            Box<dyn BoxableExpression<Joined, DB, SqlType = diesel::sql_types::Bool>>;
        let mut q = records::table
            .inner_join(meta_index::table.on(meta_index::record_id.eq(records::record_id)))
            .select(RECORD_COLUMNS)
            .filter(meta_index::tag.eq(meta_tag(name, value)))
            .into_boxed::<DB>();
        let writers = writers_condition!(s.writers, JoinedCondition);
        let of_type = s
            .record_type
            .map(|t| Box::new(records::record_type.eq(t.to_owned())) as JoinedCondition);
        // Checked on the rows the walk reaches, kept out of the plan's
        // choice: SQLite without statistics would rather walk every record
        // of the writer and type in the (writer, type, created) index, and
        // PostgreSQL, before its statistics know a bulk load, hashes them
        // all (seconds at 1,000,000 records).
        // Only index rows that give their record's own creation time: the
        // next page's cursor comes from the record, so a row claiming
        // another time could bring records back on a later page.
        let mut checked: JoinedCondition =
            Box::new(writers.and(meta_index::created_at.eq(records::created_at)));
        if let Some(of_type) = of_type {
            checked = Box::new(checked.and(of_type));
        }
        // One condition, kept out of the plan: as a join condition, or as
        // several, PostgreSQL reckons the walk finds too little to reach
        // the page's end and scans and sorts every match instead.
        q = q.filter(unplanned!(checked, JoinedCondition));
        return finish_page!(
            conn,
            q,
            &s,
            rest,
            on_postgres,
            "meta_index",
            meta_index::created_at,
            meta_index::record_id
        );
    }
    let mut q = records::table.select(RECORD_COLUMNS).into_boxed::<DB>();
    let writers = writers_condition!(s.writers, Condition);
    let of_type: Option<Condition> = s
        .record_type
        .map(|t| Box::new(records::record_type.eq(t.to_owned())) as Condition);
    match candidates {
        Some(candidates) => {
            // Found by id, through the primary key: the writer and type
            // conditions are kept out of the plan's index choice, which
            // without statistics would rather scan every record of the
            // writer and type in the (writer, type, created) index.
            q = match candidates {
                Candidates::Ids(ids) => q.filter(records::record_id.eq_any(ids)),
                // Too many to bind (SQLite takes at most 32,766
                // variables a statement): the lookup itself, as a
                // subquery.
                Candidates::Lookup {
                    record_type,
                    name,
                    values,
                } => q.filter(
                    records::record_id.eq_any(
                        blind_index_values::table
                            .filter(blind_index_values::record_type.eq(record_type.to_owned()))
                            .filter(blind_index_values::index_name.eq(name.to_owned()))
                            .filter(blind_index_values::value.eq_any(values.to_vec()))
                            .select(blind_index_values::record_id),
                    ),
                ),
            };
            q = q.filter(unplanned!(writers, Condition));
            if let Some(of_type) = of_type {
                q = q.filter(unplanned!(of_type, Condition));
            }
        }
        None => {
            q = q.filter(writers);
            if let Some(of_type) = of_type {
                q = q.filter(of_type);
            }
        }
    }
    finish_page!(
        conn,
        q,
        &s,
        s.plain,
        on_postgres,
        "records",
        records::created_at,
        records::record_id
    )
}

/// The stored record `id`, as loaded and locked for a change (PostgreSQL
/// `FOR UPDATE`; SQLite's write transaction already holds the database),
/// so the batch that signs it stays until the caller is done.
pub(crate) fn find_for_change(
    conn: &mut AnyConnection,
    id: RecordId,
) -> Result<Option<StoredRecord>> {
    let query = || records::table.find(SqlId::from(id)).select(RECORD_COLUMNS);
    match conn {
        AnyConnection::Sqlite(c) => query().first(c),
        AnyConnection::Postgresql(c) => query().for_update().first(c),
    }
    .optional()
    .map_err(db_err)
}

fn stored_version(version: u64) -> Result<i64> {
    i64::try_from(version).map_err(|_| Error::InvalidInput("version out of range"))
}

/// Replaces record `id` at `expected_version` with `row`; returns whether
/// it was there at that version.
pub(crate) fn replace(
    conn: &mut AnyConnection,
    id: RecordId,
    expected_version: u64,
    row: &RecordRow,
) -> Result<bool> {
    let changed = diesel::update(
        records::table
            .filter(records::record_id.eq(SqlId::from(id)))
            .filter(records::version.eq(stored_version(expected_version)?)),
    )
    .set(row)
    .execute(conn)
    .map_err(db_err)?;
    Ok(changed == 1)
}

/// Deletes record `id` at `expected_version`; returns whether it was there
/// at that version.
pub(crate) fn delete(
    conn: &mut AnyConnection,
    id: RecordId,
    expected_version: u64,
) -> Result<bool> {
    let deleted = diesel::delete(
        records::table
            .filter(records::record_id.eq(SqlId::from(id)))
            .filter(records::version.eq(stored_version(expected_version)?)),
    )
    .execute(conn)
    .map_err(db_err)?;
    Ok(deleted == 1)
}

/// Inserts new record versions signed in batches.
pub(crate) fn insert(conn: &mut AnyConnection, rows: &[RecordRow]) -> Result<()> {
    insert_many!(conn, records::table, rows)
}

/// Inserts plain-meta index rows.
pub(crate) fn insert_meta(conn: &mut AnyConnection, rows: &[MetaRow]) -> Result<()> {
    insert_many!(conn, meta_index::table, rows)
}

/// Removes the index rows of a stored record's plain meta (all of the
/// record's, found without the index, if its stored meta is malformed).
pub(crate) fn delete_meta(conn: &mut AnyConnection, row: &StoredRecord) -> Result<()> {
    let Some(record_id) = row.id_bytes().and_then(SqlId::from_stored) else {
        return Ok(());
    };
    let of_record = meta_index::table.filter(meta_index::record_id.eq(record_id));
    // Found through the key (tag, created_at, record_id) when the row's
    // meta and creation time are well formed; otherwise every index row of
    // the record, by a scan.
    let created = match row.time_class(true) {
        TimeClass::Integer => row.time(true),
        _ => None,
    };
    match (row.stored_meta_tags(), created) {
        (Some(tags), Some(created_at)) => diesel::delete(
            of_record
                .filter(meta_index::tag.eq_any(tags))
                .filter(meta_index::created_at.eq(created_at)),
        )
        .execute(conn),
        _ => diesel::delete(of_record).execute(conn),
    }
    .map_err(db_err)?;
    Ok(())
}

/// Field names seen in records of a type (read from the clear parts of
/// the stored rows, nothing decrypted).
#[derive(Debug, Default)]
pub(crate) struct FieldNames {
    pub sealed: std::collections::BTreeSet<String>,
    pub plain: std::collections::BTreeSet<String>,
}

/// The records [`field_names_of_type`] reads at a time.
const FIELD_NAMES_PAGE: i64 = 5_000;

/// The field names of every record of `record_type`, read a page at a
/// time in record id order; rows that do not parse are passed over (a row
/// whose id does not parse cannot be paged past, which a database that
/// edits ids can use to hide names, as it can by deleting rows).
pub(crate) fn field_names_of_type(
    conn: &mut AnyConnection,
    record_type: &str,
) -> Result<FieldNames> {
    type Raw = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);
    let mut names = FieldNames::default();
    let mut after: Option<SqlId> = None;
    loop {
        let mut page = records::table
            .filter(records::record_type.eq(record_type.to_owned()))
            .order(records::record_id.asc())
            .limit(FIELD_NAMES_PAGE)
            .select((
                super::rows::Bytes(records::record_id),
                super::rows::Bytes(records::sealed_fields),
                super::rows::Bytes(records::plain),
            ))
            .into_boxed::<DB>();
        if let Some(after) = after {
            page = page.filter(records::record_id.gt(after));
        }
        let rows: Vec<Raw> = page.load(conn).map_err(db_err)?;
        let full = i64::try_from(rows.len()).is_ok_and(|n| n == FIELD_NAMES_PAGE);
        let last = rows
            .iter()
            .rev()
            .find_map(|(id, _, _)| id.as_deref().and_then(SqlId::from_stored));
        for (_, sealed, plain) in rows {
            // A name no write accepts (control characters: escape
            // sequences for a terminal, forged report lines) is the
            // database's invention, and is left out.
            let written = |name: &String| crate::check_name(name).is_ok();
            if let Some(fields) = sealed.and_then(|s| crate::record::decode_fields(&s).ok()) {
                names.sealed.extend(fields.into_keys().filter(written));
            }
            if let Some(plain) = plain.and_then(|p| {
                serde_json::from_slice::<std::collections::BTreeMap<String, String>>(&p).ok()
            }) {
                names.plain.extend(plain.into_keys().filter(written));
            }
        }
        match last {
            Some(last) if full && after.is_none_or(|a| a != last) => after = Some(last),
            _ => return Ok(names),
        }
    }
}
