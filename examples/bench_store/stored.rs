//! strongroom's own stored rows, read and written with plain diesel and no
//! strongroom code: what the database work of its stored shape costs before
//! any parsing or cryptography.
//!
//! Everything in the benchmark that knows how strongroom stores a record
//! lives in this module: the table and column declarations, which tables a
//! reset empties, how many rows a record leaves behind, the meta-index tag
//! and the SQL of the queries the scale run explains. The rest of the
//! benchmark goes through the public API only, so a new stored shape (the
//! migrations under `migrations/`) changes this file and nothing else.

use std::io::Write;

use diesel::connection::SimpleConnection;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sqlite::Sqlite;

use super::InsertWay;

/// The SQL type of strongroom's id columns: `uuid` on PostgreSQL, a
/// 16-byte BLOB on SQLite.
#[derive(Debug, Clone, Copy, diesel::sql_types::SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Binary"))]
pub struct Uuid;

/// An id as stored: its 16 bytes.
#[derive(Debug, Clone, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = Uuid)]
pub struct Id(Vec<u8>);

impl ToSql<Uuid, Pg> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&self.0)?;
        Ok(IsNull::No)
    }
}

impl ToSql<Uuid, Sqlite> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.as_slice());
        Ok(IsNull::No)
    }
}

impl FromSql<Uuid, Pg> for Id {
    fn from_sql(bytes: diesel::pg::PgValue<'_>) -> deserialize::Result<Self> {
        Ok(Id(bytes.as_bytes().to_vec()))
    }
}

impl FromSql<Uuid, Sqlite> for Id {
    fn from_sql(
        bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        <Vec<u8> as FromSql<diesel::sql_types::Binary, Sqlite>>::from_sql(bytes).map(Id)
    }
}

impl Id {
    /// A hyphenated UUID as stored.
    pub fn parse(text: &str) -> anyhow::Result<Id> {
        Ok(Id(uuid::Uuid::parse_str(text)?.as_bytes().to_vec()))
    }
}

// The columns of `records` a query selects and `put_many` fills.
diesel::table! {
    use diesel::sql_types::*;
    use super::Uuid;

    records (record_id) {
        record_id -> Uuid,
        writer_id -> Uuid,
        record_type -> Text,
        version -> BigInt,
        plain -> Text,
        sealed_fields -> Binary,
        key_version -> Integer,
        batch_id -> Uuid,
        batch_index -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Uuid;

    meta_index (tag, created_at, record_id) {
        tag -> BigInt,
        created_at -> BigInt,
        record_id -> Uuid,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Uuid;

    record_batches (batch_id) {
        batch_id -> Uuid,
        writer_id -> Uuid,
        digests -> Binary,
        signature -> Binary,
        created_at -> BigInt,
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = records, treat_none_as_default_value = false)]
#[allow(dead_code)] // fetched, never looked at
pub struct StoredRow {
    record_id: Id,
    writer_id: Id,
    record_type: String,
    version: i64,
    plain: String,
    sealed_fields: Vec<u8>,
    key_version: i32,
    batch_id: Id,
    batch_index: i32,
    created_at: i64,
    updated_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = meta_index, treat_none_as_default_value = false)]
pub struct StoredMeta {
    tag: i64,
    created_at: i64,
    record_id: Id,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = record_batches, treat_none_as_default_value = false)]
pub struct StoredBatch {
    batch_id: Id,
    writer_id: Id,
    digests: Vec<u8>,
    signature: Vec<u8>,
    created_at: i64,
}

/// Everything a `put_many` stored for its records: rows, meta-index rows
/// and batch signatures.
pub struct Stored {
    records: Vec<StoredRow>,
    meta: Vec<StoredMeta>,
    batches: Vec<StoredBatch>,
}

impl Stored {
    /// Whether these are the rows `put_many` leaves for `n` records of the
    /// benchmark (two plain meta entries each, a batch signature per 200).
    pub fn check(&self, n: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.records.len() == n
                && self.meta.len() == 2 * n
                && self.batches.len() == n.div_ceil(200),
            "unexpected stored rows: {} records, {} meta-index rows, {} batches for {n} records",
            self.records.len(),
            self.meta.len(),
            self.batches.len()
        );
        Ok(())
    }
}

/// The tables a record write fills (emptied between the benchmark's paths,
/// so each writes into an empty store; clients stay registered).
const WRITTEN: [&str; 5] = [
    "meta_index",
    "records",
    "record_batches",
    "access_keys",
    "key_heads",
];

/// Empties the tables a record write fills, on SQLite.
pub fn reset_sqlite(conn: &mut diesel::SqliteConnection) -> anyhow::Result<()> {
    for t in WRITTEN {
        conn.batch_execute(&format!("DELETE FROM {t}"))?;
    }
    Ok(())
}

/// Empties the tables a record write fills, on PostgreSQL (`TRUNCATE`, as
/// `DELETE` would leave dead rows that slow the next insert).
pub fn reset_postgres(conn: &mut diesel::PgConnection) -> anyhow::Result<()> {
    conn.batch_execute(&format!("TRUNCATE {}", WRITTEN.join(", ")))?;
    Ok(())
}

/// The benchmark's own tables; every other table of the database is
/// strongroom's (its size is counted as strongroom's, see `size`).
pub const NOT_STRONGROOM: [&str; 3] = [
    "plain_patients",
    "least_records",
    "__diesel_schema_migrations",
];

/// The meta-index tag of a plain meta entry, as FORMAT.md defines it:
/// BLAKE2b with an 8-byte output over `label("strongroom/meta-index") ‖
/// str(name) ‖ str(value)`, read as a big-endian signed integer.
pub fn meta_tag(name: &str, value: &str) -> i64 {
    use orion::hazardous::hash::blake2::blake2b::Blake2b;
    let mut message = Vec::new();
    for part in ["strongroom/meta-index", name, value] {
        message.extend_from_slice(&u32::try_from(part.len()).expect("short").to_be_bytes());
        message.extend_from_slice(part.as_bytes());
    }
    let mut hasher = Blake2b::new(8).expect("BLAKE2b-64");
    hasher.update(&message).expect("hash");
    let digest = hasher.finalize().expect("hash");
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(digest.as_ref());
    i64::from_be_bytes(bytes)
}

/// The SQL of one page of `Query::new().record_type(record_type)
/// [.plain_eq(name, value)].limit(limit)` by `writer`, as `Client::query`
/// runs it: reconstructed by hand from `records::select` in
/// `src/store/records.rs` (which `src/client/read.rs` calls). The same
/// filters, order, keyset comparison and limit + 1, with the values
/// written in as literals where strongroom binds them; the same columns,
/// without the casts strongroom's select list wraps them in on SQLite
/// (`CAST(… AS BLOB)`, `CAST(… AS BIGINT)`: they do not change how the
/// rows are found) and diesel's identifier quotes. The same text on both
/// backends but for the id literals (`writer` is given as the backend's
/// literal). With a plain filter strongroom also turns PostgreSQL's
/// parallel workers off for the transaction (`SET LOCAL`), which this
/// text cannot carry: a caller explaining it sets the same first. `meta` is the meta-index tag of the plain filter, `after` the
/// cursor's (created_at, record_id literal).
pub fn page_sql(
    writer: &str,
    record_type: &str,
    meta: Option<i64>,
    after: Option<(i64, &str)>,
    limit: usize,
) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let columns = "records.record_id, records.writer_id, records.record_type, records.version, \
         records.plain, records.sealed_fields, records.key_version, \
         records.batch_id, records.batch_index, records.created_at, \
         records.updated_at";
    // With a plain filter, strongroom walks the meta index in creation
    // order, joined to `records` by id, the writer and type checked on the
    // rows it reaches (kept out of the plan's index choice).
    let (mut sql, order) = match meta {
        Some(tag) => (
            format!(
                "SELECT {columns} FROM records INNER JOIN meta_index ON \
                 (meta_index.record_id = records.record_id) \
                 WHERE meta_index.tag = {tag} \
                 AND coalesce(records.writer_id = {writer} \
                 AND meta_index.created_at = records.created_at \
                 AND records.record_type = {}, false)",
                quote(record_type)
            ),
            "meta_index",
        ),
        None => (
            format!(
                "SELECT {columns} FROM records WHERE records.writer_id = {writer} \
                 AND records.record_type = {}",
                quote(record_type)
            ),
            "records",
        ),
    };
    if let Some((t, id)) = after {
        sql.push_str(&format!(
            " AND ({order}.created_at, {order}.record_id) > ({t}, {id})"
        ));
    }
    sql.push_str(&format!(
        " ORDER BY {order}.created_at ASC, {order}.record_id ASC LIMIT {}",
        limit + 1
    ));
    sql
}

/// strongroom's stored rows on one database, with plain diesel.
pub trait StoredDb {
    /// Fetches `writer`'s stored rows of type `patient`, as strongroom's
    /// query selects them (pages of `page` by keyset), without parsing or
    /// decrypting; returns how many.
    fn fetch_stored(&mut self, writer: &str, page: i64) -> anyhow::Result<usize>;
    /// Takes every stored record, meta-index and batch row out of the
    /// database (they are put back by [`StoredDb::insert_stored`]).
    fn take_stored(&mut self) -> anyhow::Result<Stored>;
    /// Inserts stored rows in one transaction, as strongroom's write does
    /// (batches, records, meta index), with no parsing or cryptography.
    fn insert_stored(&mut self, stored: &Stored, way: InsertWay) -> anyhow::Result<()>;
}

macro_rules! stored_db {
    ($conn:ty, $copy:expr, $empty_stored:expr) => {
        impl StoredDb for $conn {
            fn take_stored(&mut self) -> anyhow::Result<Stored> {
                self.transaction(|conn| {
                    let stored = Stored {
                        records: records::table.select(StoredRow::as_select()).load(conn)?,
                        meta: meta_index::table
                            .select(StoredMeta::as_select())
                            .load(conn)?,
                        batches: record_batches::table
                            .select(StoredBatch::as_select())
                            .load(conn)?,
                    };
                    conn.batch_execute($empty_stored)?;
                    Ok(stored)
                })
            }

            fn insert_stored(&mut self, stored: &Stored, way: InsertWay) -> anyhow::Result<()> {
                self.transaction(|conn| {
                    insert_way!(conn, record_batches::table, &stored.batches, way, $copy);
                    insert_way!(conn, records::table, &stored.records, way, $copy);
                    insert_way!(conn, meta_index::table, &stored.meta, way, $copy);
                    Ok::<_, diesel::result::Error>(())
                })?;
                Ok(())
            }

            fn fetch_stored(&mut self, writer: &str, page: i64) -> anyhow::Result<usize> {
                use records::dsl as r;
                let writer = Id::parse(writer)?;
                super::count_by_keyset(
                    page,
                    |after: Option<(i64, Id)>| {
                        let mut q = r::records
                            .select(StoredRow::as_select())
                            .filter(r::writer_id.eq(writer.clone()))
                            .filter(r::record_type.eq("patient"))
                            .order((r::created_at.asc(), r::record_id.asc()))
                            .limit(page + 1)
                            .into_boxed();
                        if let Some((t, last)) = after {
                            q = q.filter(
                                diesel::dsl::sql::<diesel::sql_types::Bool>(
                                    "(records.created_at, records.record_id) > (",
                                )
                                .bind::<diesel::sql_types::BigInt, _>(t)
                                .sql(", ")
                                .bind::<Uuid, _>(last)
                                .sql(")"),
                            );
                        }
                        q.load(self)
                    },
                    |row: &StoredRow| (row.created_at, row.record_id.clone()),
                )
            }
        }
    };
}

stored_db!(
    diesel::SqliteConnection,
    super::no_copy,
    // SQLite empties a table whole when DELETE has no WHERE.
    "DELETE FROM meta_index; DELETE FROM records; DELETE FROM record_batches"
);
stored_db!(
    diesel::PgConnection,
    pg_copy!(),
    "TRUNCATE meta_index, records, record_batches"
);
