//! Rows as diesel reads and writes them, and their conversion to and from
//! the crypto layer's types. A stored row that does not parse is the opaque
//! decryption error: the database is not trusted to be well-formed.
//!
//! Rows are read in a form whose loading cannot fail as a whole (see
//! [`Bytes`] and [`Wide`]): every column may be NULL, text arrives as its
//! bytes, integers as 64 bits. Each row is then parsed on its own, so one
//! malformed row — not UTF-8, NULL in a relaxed schema, a number out of
//! range — is that row's problem, never the whole statement's.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Binary, Nullable};
use diesel::sqlite::Sqlite;

use super::schema::{
    access_keys, clients, import_map, key_heads, meta_index, policies, record_batches, records,
};
use super::sql_id::{self, SqlId};
use crate::crypto::batch::SignedBatch;
use crate::crypto::file_stream::FileHead;
use crate::crypto::keys::{EncryptionPublicKey, SigningPublicKey, KEY_LEN};
use crate::error::{Error, Result};
use crate::format::b64;
use crate::format::blind_index::BlindIndexes;
use crate::identity::PublicIdentity;
use crate::ids::{BatchId, ClientId, RecordId};
use crate::model::RecordMeta;
use crate::record::{self, RecordProof, SealedRecord};
use crate::store::AnyConnection;

/// The backend of [`AnyConnection`] (diesel's generated multi-backend).
type AnyBackend = <AnyConnection as diesel::Connection>::Backend;

/// A registered client's public keys.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = clients)]
pub(crate) struct ClientRow {
    pub client_id: SqlId,
    pub name: Option<String>,
    pub public_key: Vec<u8>,
    pub signing_key: Vec<u8>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = key_heads)]
pub(crate) struct KeyHeadRow {
    pub writer_id: SqlId,
    pub record_type: String,
    pub current_version: i32,
    pub updated_at: i64,
}

/// One wrapped access key; `wrapped_key` holds the bytes of its `srk1.`
/// text form. `Debug` is not derived: the row holds a wrapped key.
#[derive(Clone, Insertable)]
#[diesel(table_name = access_keys)]
pub(crate) struct AccessKeyRow {
    pub writer_id: SqlId,
    pub record_type: String,
    pub key_version: i32,
    pub reader_id: SqlId,
    pub wrapper_id: SqlId,
    pub wrapped_key: Vec<u8>,
    pub created_at: i64,
}

/// One policy row, typed: a signed share grant (not verified here). The
/// signature is held in its `srs1.` text form; the database stores its
/// bytes ([`PolicyInsert`]).
#[derive(Debug, Clone)]
pub(crate) struct PolicyRow {
    pub writer_id: ClientId,
    pub record_type: String,
    pub reader_id: ClientId,
    pub kind: String,
    pub granted_by: ClientId,
    pub via: Option<ClientId>,
    pub reader_key: EncryptionPublicKey,
    pub key_version: i32,
    pub signature: String,
    pub created_at: i64,
}

/// A [`PolicyRow`] as inserted.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = policies)]
pub(crate) struct PolicyInsert {
    pub writer_id: SqlId,
    pub record_type: String,
    pub reader_id: SqlId,
    pub kind: String,
    pub granted_by: SqlId,
    pub via: Option<SqlId>,
    pub reader_key: Vec<u8>,
    pub key_version: i32,
    pub signature: Vec<u8>,
    pub created_at: i64,
}

impl PolicyRow {
    /// The row as inserted; a signature not in its text form is
    /// [`Error::InvalidInput`].
    pub(crate) fn to_insert(&self) -> Result<PolicyInsert> {
        Ok(PolicyInsert {
            writer_id: self.writer_id.into(),
            record_type: self.record_type.clone(),
            reader_id: self.reader_id.into(),
            kind: self.kind.clone(),
            granted_by: self.granted_by.into(),
            via: self.via.map(SqlId::from),
            reader_key: self.reader_key.as_bytes().to_vec(),
            key_version: self.key_version,
            signature: text_body(crate::crypto::signature::PREFIX, &self.signature)?,
            created_at: self.created_at,
        })
    }
}

/// One stored record version, signed in a batch. `Debug` is not derived:
/// the row holds ciphertext. Inserted (the same statement for every row,
/// prepared once and cached, and PostgreSQL's binary `COPY` can take it)
/// and written back by updates.
#[derive(Clone, Insertable, AsChangeset)]
#[diesel(table_name = records, treat_none_as_default_value = false, treat_none_as_null = true)]
pub(crate) struct RecordRow {
    pub record_id: SqlId,
    pub writer_id: SqlId,
    pub record_type: String,
    pub version: i64,
    pub plain: String,
    pub sealed_fields: Vec<u8>,
    pub key_version: i32,
    pub batch_id: SqlId,
    pub batch_index: i32,
    pub created_at: i64,
    pub updated_at: i64,
    /// A file record's head (FORMAT.md, "Files"); NULL for other records.
    pub file_head: Option<Vec<u8>>,
    /// The record's signed blind index entries (FORMAT.md, "Blind
    /// indexes"); NULL for a record that is not indexed.
    pub blind_indexes: Option<Vec<u8>>,
    /// The entries' index version (a copy the database can select on,
    /// for `reindex`; never trusted on read).
    pub index_version: Option<i32>,
}

/// The bytes a text form (`prefix` + base64url, FORMAT.md) stores; a
/// text in another form is [`Error::InvalidInput`].
pub(crate) fn text_body(prefix: &str, text: &str) -> Result<Vec<u8>> {
    b64::unprefixed(prefix, text).ok_or(Error::InvalidInput("not in its text form"))
}

/// An id column as loaded: `None` if NULL or not exactly 16 bytes.
fn id<T>(bytes: Option<&[u8]>, from: fn(uuid::Uuid) -> T) -> Option<T> {
    sql_id::parse(bytes?).map(from)
}

/// An id column as loaded, as bound again.
fn sql(bytes: Option<&[u8]>) -> Option<SqlId> {
    SqlId::from_stored(bytes?)
}

/// A fixed-size key column as loaded.
fn key(bytes: Option<Vec<u8>>) -> Option<[u8; KEY_LEN]> {
    bytes?.as_slice().try_into().ok()
}

/// A column read as its raw bytes, NULL allowed, whatever text it holds.
/// On SQLite it is selected as `CAST(column AS BLOB)`, which only retypes
/// the value (any bytes, any storage class; no copy, unlike reading a text
/// value as a blob, which diesel copies first); on PostgreSQL as itself,
/// text arriving as its UTF-8 bytes. Prepared statements are cached as
/// before.
#[derive(Debug, Clone, Copy, QueryId, ValidGrouping)]
pub(crate) struct Bytes<C>(pub C);

impl<C: Expression> Expression for Bytes<C> {
    type SqlType = Nullable<Binary>;
}

impl<C: QueryFragment<Sqlite>> QueryFragment<Sqlite> for Bytes<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("CAST(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" AS BLOB)");
        Ok(())
    }
}

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for Bytes<C> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }
}

/// The backend of [`AnyConnection`]: each connection's own SQL.
impl<C: QueryFragment<Sqlite> + QueryFragment<Pg>> QueryFragment<AnyBackend> for Bytes<C> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, AnyBackend>) -> QueryResult<()> {
        AnyBackend::walk_variant_ast(self, out)
    }
}

impl<C: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for Bytes<C> {}

impl<C: SelectableExpression<QS>, QS> SelectableExpression<QS> for Bytes<C> {}

/// A binary column's bytes, or NULL when its value is longer than the
/// bound (bytes) or, on SQLite, not a BLOB: a value the database made huge
/// is never sent, let alone loaded, whatever its size. The bound is a bound parameter, so the
/// prepared statement is cached as before.
#[derive(Debug, Clone, Copy, QueryId, ValidGrouping)]
pub(crate) struct BoundedBytes<C>(pub C, pub i64);

impl<C: Expression> Expression for BoundedBytes<C> {
    type SqlType = Nullable<Binary>;
}

impl<C: QueryFragment<Sqlite>> QueryFragment<Sqlite> for BoundedBytes<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        // Only a BLOB (what writes store), whose `length` counts bytes and
        // is read off the row's header for the column itself, without
        // loading the value; any other storage class is NULL too.
        out.push_sql("CASE WHEN typeof(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(") = 'blob' AND length(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(") <= ");
        out.push_bind_param::<BigInt, i64>(&self.1)?;
        out.push_sql(" THEN ");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" END");
        Ok(())
    }
}

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for BoundedBytes<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("CASE WHEN octet_length(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(") <= ");
        out.push_bind_param::<BigInt, i64>(&self.1)?;
        out.push_sql(" THEN ");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" END");
        Ok(())
    }
}

impl<C: QueryFragment<Sqlite> + QueryFragment<Pg>> QueryFragment<AnyBackend> for BoundedBytes<C> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, AnyBackend>) -> QueryResult<()> {
        AnyBackend::walk_variant_ast(self, out)
    }
}

impl<C: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for BoundedBytes<C> {}

impl<C: SelectableExpression<QS>, QS> SelectableExpression<QS> for BoundedBytes<C> {}

/// An integer column read as `CAST(column AS BIGINT)`, NULL allowed: a
/// PostgreSQL `integer` arrives as 64 bits like a `bigint`, and an SQLite
/// value is never silently cut to 32 bits (nor fails: SQLite converts any
/// storage class), so a value out of range is seen as such.
#[derive(Debug, Clone, Copy, QueryId, ValidGrouping)]
pub(crate) struct Wide<C>(pub C);

impl<C: Expression> Expression for Wide<C> {
    type SqlType = Nullable<BigInt>;
}

impl<C: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Wide<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("CAST(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" AS BIGINT)");
        Ok(())
    }
}

impl<C: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for Wide<C> {}

impl<C: SelectableExpression<QS>, QS> SelectableExpression<QS> for Wide<C> {}

/// How SQLite holds a record row's keys, as bits (always 0 on
/// PostgreSQL, whose columns hold nothing but their type): SQLite lets a
/// hostile operator store any class in any column, sorts NULL before
/// numbers, numbers before text and text before BLOBs, and compares the
/// stored values, so a keyset that starts after such a row must know what
/// it held.
#[derive(Debug, Clone, Copy, QueryId, ValidGrouping)]
pub(crate) struct KeyClasses;

/// `record_id` is not a BLOB (NULL, a number or text).
pub(crate) const ID_NOT_BLOB: i64 = 1;
/// `created_at` is not an integer.
pub(crate) const CREATED_NOT_INTEGER: i64 = 2;
/// `created_at` is text or a BLOB: it sorts after every number.
pub(crate) const CREATED_ABOVE_NUMBERS: i64 = 4;
/// `updated_at` is not an integer.
pub(crate) const UPDATED_NOT_INTEGER: i64 = 8;
/// `updated_at` is text or a BLOB.
pub(crate) const UPDATED_ABOVE_NUMBERS: i64 = 16;

impl Expression for KeyClasses {
    type SqlType = Nullable<BigInt>;
}

impl QueryFragment<Sqlite> for KeyClasses {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql(
            "((typeof(records.record_id) <> 'blob') \
             + 2 * (typeof(records.created_at) <> 'integer') \
             + 4 * (typeof(records.created_at) IN ('text', 'blob')) \
             + 8 * (typeof(records.updated_at) <> 'integer') \
             + 16 * (typeof(records.updated_at) IN ('text', 'blob')))",
        );
        Ok(())
    }
}

impl QueryFragment<Pg> for KeyClasses {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("CAST(0 AS BIGINT)");
        Ok(())
    }
}

impl QueryFragment<AnyBackend> for KeyClasses {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, AnyBackend>) -> QueryResult<()> {
        AnyBackend::walk_variant_ast(self, out)
    }
}

// It reads only `records`' columns: valid wherever they are (the table
// alone, or joined with the meta index).
impl<QS> AppearsOnTable<QS> for KeyClasses where records::record_id: AppearsOnTable<QS> {}

impl<QS> SelectableExpression<QS> for KeyClasses where records::record_id: SelectableExpression<QS> {}

/// How a stored time is held (see [`StoredRecord::time_class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeClass {
    /// An integer (or NULL), as strongroom writes.
    Integer,
    /// Another number (SQLite only): a real, between two integers.
    OtherNumber,
    /// Text or a BLOB (SQLite only): after every number.
    AboveNumbers,
}

/// A keyset position's record id, as the row stored it: its bytes, and
/// whether SQLite holds it as anything but a BLOB (compared then as text:
/// after every number, before every BLOB; a NULL id as the empty text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeysetId {
    pub bytes: Vec<u8>,
    pub text: bool,
}

/// A text column as loaded: `None` if NULL or not UTF-8.
pub(crate) fn text(bytes: Option<Vec<u8>>) -> Option<String> {
    String::from_utf8(bytes?).ok()
}

/// The index version an encoded blind index column names (its bytes 1 to
/// 4), as stored in `records.index_version`.
fn stored_index_version(encoded: &[u8]) -> Option<i32> {
    let bytes: [u8; 4] = encoded.get(1..5)?.try_into().ok()?;
    i32::try_from(u32::from_be_bytes(bytes)).ok()
}

/// An integer column as loaded, in `T`'s range: `None` if NULL or out of
/// range.
pub(crate) fn int<T: TryFrom<i64>>(value: Option<i64>) -> Option<T> {
    T::try_from(value?).ok()
}

/// What [`StoredRecord`] loads.
pub(crate) type RecordColumns = (
    Bytes<records::record_id>,
    Bytes<records::writer_id>,
    Bytes<records::record_type>,
    Wide<records::version>,
    Bytes<records::plain>,
    Bytes<records::sealed_fields>,
    Wide<records::key_version>,
    Bytes<records::batch_id>,
    Wide<records::batch_index>,
    Wide<records::created_at>,
    Wide<records::updated_at>,
    KeyClasses,
    Bytes<records::file_head>,
    Bytes<records::blind_indexes>,
);

/// The select clause of a [`StoredRecord`].
pub(crate) const RECORD_COLUMNS: RecordColumns = (
    Bytes(records::record_id),
    Bytes(records::writer_id),
    Bytes(records::record_type),
    Wide(records::version),
    Bytes(records::plain),
    Bytes(records::sealed_fields),
    Wide(records::key_version),
    Bytes(records::batch_id),
    Wide(records::batch_index),
    Wide(records::created_at),
    Wide(records::updated_at),
    KeyClasses,
    Bytes(records::file_head),
    Bytes(records::blind_indexes),
);

/// A record row as loaded, before it is parsed ([`StoredRecord::parse`]):
/// loading it never fails, whatever the row holds. `Debug` is not derived:
/// the row holds ciphertext. Its columns are open to the crate so that the
/// hostile-input entry points (`crate::__fuzz`) can build any row a
/// database could hold.
#[derive(Clone, Queryable)]
pub(crate) struct StoredRecord {
    pub(crate) record_id: Option<Vec<u8>>,
    pub(crate) writer_id: Option<Vec<u8>>,
    pub(crate) record_type: Option<Vec<u8>>,
    pub(crate) version: Option<i64>,
    pub(crate) plain: Option<Vec<u8>>,
    pub(crate) sealed_fields: Option<Vec<u8>>,
    pub(crate) key_version: Option<i64>,
    pub(crate) batch_id: Option<Vec<u8>>,
    pub(crate) batch_index: Option<i64>,
    pub(crate) created_at: Option<i64>,
    pub(crate) updated_at: Option<i64>,
    /// [`KeyClasses`] bits.
    pub(crate) classes: Option<i64>,
    /// NULL for a record that is not a file.
    pub(crate) file_head: Option<Vec<u8>>,
    /// NULL for a record that is not indexed.
    pub(crate) blind_indexes: Option<Vec<u8>>,
}

/// A stored record row that does not parse, with whatever of its ids does
/// (for a query's report).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unreadable {
    pub record_id: Option<RecordId>,
    pub writer_id: Option<ClientId>,
}

impl StoredRecord {
    /// The typed row; a column that is NULL where a value is required,
    /// not UTF-8, or out of its range makes the row [`Unreadable`]. Text
    /// is taken over as it is (checked, not copied).
    pub(crate) fn parse(self) -> std::result::Result<RecordRow, Unreadable> {
        // An id SQLite holds as anything but a BLOB is malformed even if
        // it is 16 bytes (beside the BLOB id it copies, it would be the
        // same record twice), and so is a time that is not an integer.
        let classes = self.classes.unwrap_or(0);
        let record_id = if classes & ID_NOT_BLOB != 0 {
            None
        } else {
            sql(self.record_id.as_deref())
        };
        let times_ok = classes & (CREATED_NOT_INTEGER | UPDATED_NOT_INTEGER) == 0;
        let writer_id = sql(self.writer_id.as_deref());
        let rest = (|| {
            Some((
                text(self.record_type)?,
                self.version?,
                text(self.plain)?,
                self.sealed_fields?,
                int(self.key_version)?,
                sql(self.batch_id.as_deref())?,
                int(self.batch_index)?,
                self.created_at.filter(|_| times_ok)?,
                self.updated_at?,
            ))
        })();
        match (record_id, writer_id, rest) {
            (
                Some(record_id),
                Some(writer_id),
                Some((
                    record_type,
                    version,
                    plain,
                    sealed_fields,
                    key_version,
                    batch_id,
                    batch_index,
                    created_at,
                    updated_at,
                )),
            ) => Ok(RecordRow {
                record_id,
                writer_id,
                record_type,
                version,
                plain,
                sealed_fields,
                key_version,
                batch_id,
                batch_index,
                created_at,
                updated_at,
                file_head: self.file_head,
                index_version: self.blind_indexes.as_deref().and_then(stored_index_version),
                blind_indexes: self.blind_indexes,
            }),
            // Its ids, if they parse, for the report.
            (record_id, writer_id, _) => Err(Unreadable {
                record_id: record_id.map(|id| RecordId::from_uuid(id.uuid())),
                writer_id: writer_id.map(|id| ClientId::from_uuid(id.uuid())),
            }),
        }
    }

    /// The record id as stored (its bytes), if not NULL.
    pub(crate) fn id_bytes(&self) -> Option<&[u8]> {
        self.record_id.as_deref()
    }

    /// The record id as a keyset position (a NULL id as the empty text).
    pub(crate) fn keyset_id(&self) -> KeysetId {
        match &self.record_id {
            Some(bytes) => KeysetId {
                bytes: bytes.clone(),
                text: self.classes.unwrap_or(0) & ID_NOT_BLOB != 0,
            },
            None => KeysetId {
                bytes: Vec::new(),
                text: true,
            },
        }
    }

    /// When the record was created or (`created = false`) last updated,
    /// as stored (microseconds), if not NULL.
    pub(crate) fn time(&self, created: bool) -> Option<i64> {
        if created {
            self.created_at
        } else {
            self.updated_at
        }
    }

    /// How the database holds the creation (or, `created = false`, update)
    /// time: an integer, another number (its value truncated by
    /// [`StoredRecord::time`]) or something that sorts after every number.
    pub(crate) fn time_class(&self, created: bool) -> TimeClass {
        let classes = self.classes.unwrap_or(0);
        let (not_integer, above) = if created {
            (CREATED_NOT_INTEGER, CREATED_ABOVE_NUMBERS)
        } else {
            (UPDATED_NOT_INTEGER, UPDATED_ABOVE_NUMBERS)
        };
        if classes & above != 0 {
            TimeClass::AboveNumbers
        } else if classes & not_integer != 0 {
            TimeClass::OtherNumber
        } else {
            TimeClass::Integer
        }
    }

    /// The writer, if its id parses.
    pub(crate) fn writer(&self) -> Option<ClientId> {
        id(self.writer_id.as_deref(), ClientId::from_uuid)
    }

    /// The stored version, if it is one.
    pub(crate) fn version(&self) -> Option<u64> {
        int(self.version)
    }

    /// The batch that signs the row, if it names one.
    pub(crate) fn batch(&self) -> Option<BatchId> {
        id(self.batch_id.as_deref(), BatchId::from_uuid)
    }

    /// The index tags of the plain meta as stored; `None` if it does not
    /// parse.
    pub(crate) fn stored_meta_tags(&self) -> Option<Vec<i64>> {
        let plain =
            serde_json::from_slice::<BTreeMap<String, String>>(self.plain.as_deref()?).ok()?;
        Some(plain.iter().map(|(n, v)| meta_tag(n, v)).collect())
    }
}

/// What [`StoredPolicy`] loads.
pub(crate) type PolicyColumns = (
    Bytes<policies::writer_id>,
    Bytes<policies::record_type>,
    Bytes<policies::reader_id>,
    Bytes<policies::kind>,
    Bytes<policies::granted_by>,
    Bytes<policies::via>,
    Bytes<policies::reader_key>,
    Wide<policies::key_version>,
    Bytes<policies::signature>,
    Wide<policies::created_at>,
);

/// The select clause of a [`StoredPolicy`].
pub(crate) const POLICY_COLUMNS: PolicyColumns = (
    Bytes(policies::writer_id),
    Bytes(policies::record_type),
    Bytes(policies::reader_id),
    Bytes(policies::kind),
    Bytes(policies::granted_by),
    Bytes(policies::via),
    Bytes(policies::reader_key),
    Wide(policies::key_version),
    Bytes(policies::signature),
    Wide(policies::created_at),
);

/// A policy row as loaded (never fails), before [`StoredPolicy::parse`].
/// Its columns are open to the crate so that the hostile-input entry
/// points (`crate::__fuzz`) can build any row a database could hold.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct StoredPolicy {
    pub(crate) writer_id: Option<Vec<u8>>,
    pub(crate) record_type: Option<Vec<u8>>,
    pub(crate) reader_id: Option<Vec<u8>>,
    pub(crate) kind: Option<Vec<u8>>,
    pub(crate) granted_by: Option<Vec<u8>>,
    pub(crate) via: Option<Vec<u8>>,
    pub(crate) reader_key: Option<Vec<u8>>,
    pub(crate) key_version: Option<i64>,
    pub(crate) signature: Option<Vec<u8>>,
    pub(crate) created_at: Option<i64>,
}

impl StoredPolicy {
    /// The typed row, or `None` if a column is NULL where a value is
    /// required, not UTF-8, not an id or key of the right length, or out of
    /// range (the caller ignores such a row as if it were absent).
    pub(crate) fn parse(self) -> Option<PolicyRow> {
        Some(PolicyRow {
            writer_id: id(self.writer_id.as_deref(), ClientId::from_uuid)?,
            record_type: text(self.record_type)?,
            reader_id: id(self.reader_id.as_deref(), ClientId::from_uuid)?,
            kind: text(self.kind)?,
            granted_by: id(self.granted_by.as_deref(), ClientId::from_uuid)?,
            via: match self.via.as_deref() {
                None => None,
                via => Some(id(via, ClientId::from_uuid)?),
            },
            reader_key: EncryptionPublicKey::from_bytes(key(self.reader_key)?),
            key_version: int(self.key_version)?,
            signature: b64::prefixed(crate::crypto::signature::PREFIX, self.signature.as_deref()?),
            created_at: self.created_at?,
        })
    }
}

/// What [`StoredBatch`] loads.
pub(crate) type BatchColumns = (
    Bytes<record_batches::batch_id>,
    Bytes<record_batches::writer_id>,
    Bytes<record_batches::digests>,
    Bytes<record_batches::signature>,
);

/// The select clause of a [`StoredBatch`].
pub(crate) const BATCH_COLUMNS: BatchColumns = (
    Bytes(record_batches::batch_id),
    Bytes(record_batches::writer_id),
    Bytes(record_batches::digests),
    Bytes(record_batches::signature),
);

/// A batch row as loaded (never fails), before [`StoredBatch::to_signed`].
#[derive(Debug, Clone, Queryable)]
pub(crate) struct StoredBatch {
    batch_id: Option<Vec<u8>>,
    writer_id: Option<Vec<u8>>,
    digests: Option<Vec<u8>>,
    signature: Option<Vec<u8>>,
}

impl StoredBatch {
    /// Parses the row back (not verified); anything malformed is
    /// [`Error::Decryption`].
    pub(crate) fn to_signed(&self) -> Result<SignedBatch> {
        SignedBatch::from_stored(
            id(self.batch_id.as_deref(), BatchId::from_uuid).ok_or(Error::Decryption)?,
            id(self.writer_id.as_deref(), ClientId::from_uuid).ok_or(Error::Decryption)?,
            self.digests.as_deref().ok_or(Error::Decryption)?,
            self.signature.as_deref().ok_or(Error::Decryption)?,
        )
    }
}

/// What [`StoredClient`] loads.
pub(crate) type ClientColumns = (
    Bytes<clients::client_id>,
    Bytes<clients::public_key>,
    Bytes<clients::signing_key>,
);

/// The select clause of a [`StoredClient`].
pub(crate) const CLIENT_COLUMNS: ClientColumns = (
    Bytes(clients::client_id),
    Bytes(clients::public_key),
    Bytes(clients::signing_key),
);

/// A client row as loaded (never fails).
#[derive(Debug, Clone, Queryable)]
pub(crate) struct StoredClient {
    client_id: Option<Vec<u8>>,
    public_key: Option<Vec<u8>>,
    signing_key: Option<Vec<u8>>,
}

impl StoredClient {
    /// The client's keys; `None` if a column is NULL or not an id or key of
    /// the right length.
    pub(crate) fn parse(self) -> Option<PublicIdentity> {
        Some(PublicIdentity {
            client_id: id(self.client_id.as_deref(), ClientId::from_uuid)?,
            encryption_key: EncryptionPublicKey::from_bytes(key(self.public_key)?),
            signing_key: SigningPublicKey::from_bytes(key(self.signing_key)?),
        })
    }
}

/// What [`StoredAccessKey`] loads: the wrapper and the wrapped key (the
/// rest is what the row was looked up by).
pub(crate) type AccessKeyColumns = (
    Bytes<access_keys::wrapper_id>,
    Bytes<access_keys::wrapped_key>,
);

/// The select clause of a [`StoredAccessKey`].
pub(crate) const ACCESS_KEY_COLUMNS: AccessKeyColumns = (
    Bytes(access_keys::wrapper_id),
    Bytes(access_keys::wrapped_key),
);

/// A wrapped access key row as loaded (never fails). `Debug` is not
/// derived: the row holds a wrapped key.
#[derive(Clone, Queryable)]
pub(crate) struct StoredAccessKey {
    wrapper_id: Option<Vec<u8>>,
    wrapped_key: Option<Vec<u8>>,
}

impl StoredAccessKey {
    /// The wrapper's id and the wrapped key in its `srk1.` text form;
    /// `None` if either is NULL or the id does not parse.
    pub(crate) fn parse(self) -> Option<(ClientId, String)> {
        let wrapper = id(self.wrapper_id.as_deref(), ClientId::from_uuid)?;
        Some((
            wrapper,
            b64::prefixed(crate::crypto::wrap::PREFIX, self.wrapped_key.as_deref()?),
        ))
    }
}

/// The current version column of a key head, as loaded (never fails).
pub(crate) const HEAD_VERSION: Wide<key_heads::current_version> = Wide(key_heads::current_version);

/// The key version column of wrapped access keys, as loaded.
pub(crate) const KEY_VERSION: Wide<access_keys::key_version> = Wide(access_keys::key_version);

/// An import map row's source id and record id, as loaded.
pub(crate) const IMPORT_COLUMNS: (Bytes<import_map::source_id>, Bytes<import_map::record_id>) =
    (Bytes(import_map::source_id), Bytes(import_map::record_id));

/// A record's place in its batch, as stored.
fn stored_batch_index(index: u32) -> Result<i32> {
    i32::try_from(index).map_err(|_| Error::InvalidInput("batch index overflow"))
}

/// One signed batch of record digests.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = record_batches)]
pub(crate) struct BatchRow {
    pub batch_id: SqlId,
    pub writer_id: SqlId,
    pub digests: Vec<u8>,
    pub signature: Vec<u8>,
    pub created_at: i64,
}

impl BatchRow {
    /// The row for a signed batch.
    pub(crate) fn from_signed(batch: &SignedBatch, created_at: i64) -> Self {
        BatchRow {
            batch_id: batch.batch_id().into(),
            writer_id: batch.writer_id().into(),
            digests: batch.digests_bytes(),
            signature: batch.signature_bytes().to_vec(),
            created_at,
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = meta_index, treat_none_as_default_value = false)]
pub(crate) struct MetaRow {
    pub tag: i64,
    /// The record's creation time, so that an entry's records are kept in
    /// the order pages walk them.
    pub created_at: i64,
    pub record_id: SqlId,
}

/// The index rows of a record's plain meta.
pub(crate) fn meta_rows(
    record_id: SqlId,
    created_at: i64,
    plain: &BTreeMap<String, String>,
) -> Vec<MetaRow> {
    plain
        .iter()
        .map(|(name, value)| MetaRow {
            tag: meta_tag(name, value),
            created_at,
            record_id,
        })
        .collect()
}

/// The index tag of one plain meta entry: BLAKE2b-64 of the canonical
/// (name, value).
pub(crate) fn meta_tag(name: &str, value: &str) -> i64 {
    let encoded = crate::format::canonical::Canonical::new("strongroom/meta-index")
        .str(name)
        .and_then(|c| c.str(value))
        .map(|c| c.finish())
        .unwrap_or_default();
    match crate::crypto::kdf::digest_8(&encoded) {
        Ok(bytes) => i64::from_be_bytes(bytes),
        // BLAKE2b with an 8-byte output cannot fail; a constant tag would
        // only widen the candidates, which readers filter again.
        Err(_) => 0,
    }
}

/// A map of strings as a JSON object, written into a buffer sized for it
/// up front (no regrowing while it is written).
pub(crate) fn json_object(map: &BTreeMap<String, String>) -> Result<String> {
    let size = 2 + map
        .iter()
        .map(|(k, v)| k.len() + v.len() + 6)
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    serde_json::to_writer(&mut out, map).map_err(|_| Error::Serialization)?;
    String::from_utf8(out).map_err(|_| Error::Serialization)
}

/// Microseconds since the Unix epoch, UTC.
pub(crate) fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// What [`RecordRow::times`] reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordTimes {
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The meta of a record read back, taken from its (checked) sealed form.
pub(crate) fn record_meta(sealed: SealedRecord, times: RecordTimes) -> RecordMeta {
    RecordMeta {
        id: sealed.record_id,
        version: sealed.version,
        writer_id: sealed.writer_id,
        record_type: sealed.record_type,
        key_version: sealed.key_version,
        file_size: sealed.file.as_ref().map(FileHead::length),
        plain: sealed.plain,
        created_at: times.created_at,
        updated_at: times.updated_at,
    }
}

/// What [`RecordRow::head`] reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowHead {
    pub record_id: RecordId,
    pub writer_id: ClientId,
    pub key_version: u32,
    /// The batch that signs the row.
    pub batch_id: BatchId,
}

pub(crate) fn from_micros(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
}

impl RecordRow {
    /// The row for a sealed record version, created at `created_at` and
    /// written at `updated_at` (a new record: both the same).
    pub(crate) fn from_sealed(
        sealed: &SealedRecord,
        created_at: i64,
        updated_at: i64,
    ) -> Result<Self> {
        let RecordProof::Batch { batch_id, index } = sealed.proof;
        Ok(RecordRow {
            record_id: sealed.record_id.into(),
            writer_id: sealed.writer_id.into(),
            record_type: sealed.record_type.clone(),
            version: i64::try_from(sealed.version)
                .map_err(|_| Error::InvalidInput("version overflow"))?,
            plain: json_object(&sealed.plain)?,
            sealed_fields: record::encode_fields(&sealed.fields)?,
            key_version: i32::try_from(sealed.key_version)
                .map_err(|_| Error::InvalidInput("key version overflow"))?,
            batch_id: batch_id.into(),
            batch_index: stored_batch_index(index)?,
            created_at,
            updated_at,
            file_head: sealed.file.as_ref().map(FileHead::to_bytes),
            blind_indexes: sealed
                .indexes
                .as_ref()
                .map(BlindIndexes::encode)
                .transpose()?,
            index_version: sealed
                .indexes
                .as_ref()
                .map(|i| i32::try_from(i.index_version))
                .transpose()
                .map_err(|_| Error::InvalidInput("index version overflow"))?,
        })
    }

    /// The row's ids, key version and batch, parsed without its meta and
    /// sealed fields: what a reader needs to find the checks and keys
    /// before it parses the rest (see [`RecordRow::to_sealed`], which
    /// agrees). A key version out of range is [`Error::Decryption`].
    pub(crate) fn head(&self) -> Result<RowHead> {
        Ok(RowHead {
            record_id: self.id(),
            writer_id: self.writer(),
            key_version: u32::try_from(self.key_version).map_err(|_| Error::Decryption)?,
            batch_id: BatchId::from_uuid(self.batch_id.uuid()),
        })
    }

    /// Parses the row back; anything malformed is [`Error::Decryption`].
    pub(crate) fn to_sealed(&self) -> Result<SealedRecord> {
        self.to_sealed_with(self.head()?)
    }

    /// [`RecordRow::to_sealed`] with the row's head already read (by
    /// [`RecordRow::head`] of this row).
    pub(crate) fn to_sealed_with(&self, head: RowHead) -> Result<SealedRecord> {
        Ok(SealedRecord {
            record_id: head.record_id,
            version: u64::try_from(self.version).map_err(|_| Error::Decryption)?,
            record_type: self.record_type.clone(),
            writer_id: head.writer_id,
            key_version: head.key_version,
            plain: serde_json::from_str::<BTreeMap<String, String>>(&self.plain)
                .map_err(|_| Error::Decryption)?,
            fields: record::decode_fields(&self.sealed_fields)?,
            file: self
                .file_head
                .as_deref()
                .map(FileHead::from_bytes)
                .transpose()?,
            indexes: self
                .blind_indexes
                .as_deref()
                .map(BlindIndexes::decode)
                .transpose()?,
            proof: self.proof(head.batch_id)?,
        })
    }

    /// When the record was created and last updated; a timestamp out of
    /// range is [`Error::Decryption`].
    pub(crate) fn times(&self) -> Result<RecordTimes> {
        Ok(RecordTimes {
            created_at: from_micros(self.created_at).ok_or(Error::Decryption)?,
            updated_at: from_micros(self.updated_at).ok_or(Error::Decryption)?,
        })
    }

    /// What vouches for the row: its batch (as its head parsed it) and its
    /// place there.
    fn proof(&self, batch_id: BatchId) -> Result<RecordProof> {
        Ok(RecordProof::Batch {
            batch_id,
            index: u32::try_from(self.batch_index).map_err(|_| Error::Decryption)?,
        })
    }

    /// The batch that signs this row.
    pub(crate) fn batch(&self) -> BatchId {
        BatchId::from_uuid(self.batch_id.uuid())
    }

    /// The record id.
    pub(crate) fn id(&self) -> RecordId {
        RecordId::from_uuid(self.record_id.uuid())
    }

    /// The writer id.
    pub(crate) fn writer(&self) -> ClientId {
        ClientId::from_uuid(self.writer_id.uuid())
    }

    /// The plain meta as index rows.
    pub(crate) fn meta_rows(&self, plain: &BTreeMap<String, String>) -> Vec<MetaRow> {
        meta_rows(self.record_id, self.created_at, plain)
    }
}
