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
use crate::crypto::batch::SignedBatch;
use crate::error::{Error, Result};
use crate::ids::{BatchId, ClientId, RecordId};
use crate::model::RecordMeta;
use crate::record::{RecordProof, SealedRecord};
use crate::store::AnyConnection;

/// The backend of [`AnyConnection`] (diesel's generated multi-backend).
type AnyBackend = <AnyConnection as diesel::Connection>::Backend;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = clients)]
pub(crate) struct ClientRow {
    pub client_id: String,
    pub name: Option<String>,
    pub public_key: String,
    pub signing_key: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = key_heads)]
pub(crate) struct KeyHeadRow {
    pub writer_id: String,
    pub record_type: String,
    pub current_version: i32,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = access_keys)]
pub(crate) struct AccessKeyRow {
    pub writer_id: String,
    pub record_type: String,
    pub key_version: i32,
    pub reader_id: String,
    pub wrapper_id: String,
    pub eak: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = policies)]
pub(crate) struct PolicyRow {
    pub writer_id: String,
    pub record_type: String,
    pub reader_id: String,
    pub kind: String,
    pub granted_by: String,
    pub via: Option<String>,
    pub reader_key: String,
    pub key_version: i32,
    pub signature: String,
    pub created_at: i64,
}

/// One stored record version. `Debug` is not derived: the row holds
/// ciphertext.
#[derive(Clone, Insertable, AsChangeset)]
#[diesel(table_name = records, treat_none_as_null = true)]
pub(crate) struct RecordRow {
    pub record_id: String,
    pub writer_id: String,
    pub record_type: String,
    pub version: i64,
    pub plain: String,
    pub data: String,
    pub key_version: i32,
    pub signature: Option<String>,
    pub writer_tag: Option<String>,
    pub batch_id: Option<String>,
    pub batch_index: Option<i32>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new record version signed in a batch, as inserted: the columns of
/// [`RecordRow`] without the older proof pair, so the insert is the same
/// statement for every row (prepared once and cached, not rebuilt per row)
/// and PostgreSQL's binary `COPY` can take it.
#[derive(Clone, Insertable)]
#[diesel(table_name = records, treat_none_as_default_value = false)]
pub(crate) struct BatchedRecordRow {
    pub record_id: String,
    pub writer_id: String,
    pub record_type: String,
    pub version: i64,
    pub plain: String,
    pub data: String,
    pub key_version: i32,
    pub batch_id: String,
    pub batch_index: i32,
    pub created_at: i64,
    pub updated_at: i64,
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

/// A text column as loaded: `None` if NULL or not UTF-8.
pub(crate) fn text(bytes: Option<Vec<u8>>) -> Option<String> {
    String::from_utf8(bytes?).ok()
}

/// A nullable text column as loaded: `Some(None)` if NULL, `None` if not
/// UTF-8.
fn nullable_text(bytes: Option<Vec<u8>>) -> Option<Option<String>> {
    match bytes {
        None => Some(None),
        Some(bytes) => String::from_utf8(bytes).ok().map(Some),
    }
}

/// An integer column as loaded, in `T`'s range: `None` if NULL or out of
/// range.
pub(crate) fn int<T: TryFrom<i64>>(value: Option<i64>) -> Option<T> {
    T::try_from(value?).ok()
}

/// An id column, parsed leniently (any spelling), for reports only.
fn loose_id<T: std::str::FromStr>(bytes: Option<&[u8]>) -> Option<T> {
    std::str::from_utf8(bytes?).ok()?.parse().ok()
}

/// What [`StoredRecord`] loads.
pub(crate) type RecordColumns = (
    Bytes<records::record_id>,
    Bytes<records::writer_id>,
    Bytes<records::record_type>,
    Wide<records::version>,
    Bytes<records::plain>,
    Bytes<records::data>,
    Wide<records::key_version>,
    Bytes<records::signature>,
    Bytes<records::writer_tag>,
    Bytes<records::batch_id>,
    Wide<records::batch_index>,
    Wide<records::created_at>,
    Wide<records::updated_at>,
);

/// The select clause of a [`StoredRecord`].
pub(crate) const RECORD_COLUMNS: RecordColumns = (
    Bytes(records::record_id),
    Bytes(records::writer_id),
    Bytes(records::record_type),
    Wide(records::version),
    Bytes(records::plain),
    Bytes(records::data),
    Wide(records::key_version),
    Bytes(records::signature),
    Bytes(records::writer_tag),
    Bytes(records::batch_id),
    Wide(records::batch_index),
    Wide(records::created_at),
    Wide(records::updated_at),
);

/// A record row as loaded, before it is parsed ([`StoredRecord::parse`]):
/// loading it never fails, whatever the row holds. `Debug` is not derived:
/// the row holds ciphertext.
#[derive(Clone, Queryable)]
pub(crate) struct StoredRecord {
    record_id: Option<Vec<u8>>,
    writer_id: Option<Vec<u8>>,
    record_type: Option<Vec<u8>>,
    version: Option<i64>,
    plain: Option<Vec<u8>>,
    data: Option<Vec<u8>>,
    key_version: Option<i64>,
    signature: Option<Vec<u8>>,
    writer_tag: Option<Vec<u8>>,
    batch_id: Option<Vec<u8>>,
    batch_index: Option<i64>,
    created_at: Option<i64>,
    updated_at: Option<i64>,
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
        let record_id = text(self.record_id);
        let writer_id = text(self.writer_id);
        let rest = (|| {
            Some((
                text(self.record_type)?,
                self.version?,
                text(self.plain)?,
                text(self.data)?,
                int(self.key_version)?,
                nullable_text(self.signature)?,
                nullable_text(self.writer_tag)?,
                nullable_text(self.batch_id)?,
                match self.batch_index {
                    None => None,
                    Some(index) => Some(i32::try_from(index).ok()?),
                },
                self.created_at?,
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
                    data,
                    key_version,
                    signature,
                    writer_tag,
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
                data,
                key_version,
                signature,
                writer_tag,
                batch_id,
                batch_index,
                created_at,
                updated_at,
            }),
            // Its ids, if they parse (in any spelling), for the report.
            (record_id, writer_id, _) => Err(Unreadable {
                record_id: record_id.and_then(|id| id.parse().ok()),
                writer_id: writer_id.and_then(|id| id.parse().ok()),
            }),
        }
    }

    /// The record id as stored (its bytes), if not NULL.
    pub(crate) fn id_bytes(&self) -> Option<&[u8]> {
        self.record_id.as_deref()
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

    /// The writer, if its id parses (in any spelling).
    pub(crate) fn writer(&self) -> Option<ClientId> {
        loose_id(self.writer_id.as_deref())
    }

    /// The stored version, if it is one.
    pub(crate) fn version(&self) -> Option<u64> {
        int(self.version)
    }

    /// The batch that signs the row, if it names one in UTF-8.
    pub(crate) fn batch(&self) -> Option<&str> {
        std::str::from_utf8(self.batch_id.as_deref()?).ok()
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
#[derive(Debug, Clone, Queryable)]
pub(crate) struct StoredPolicy {
    writer_id: Option<Vec<u8>>,
    record_type: Option<Vec<u8>>,
    reader_id: Option<Vec<u8>>,
    kind: Option<Vec<u8>>,
    granted_by: Option<Vec<u8>>,
    via: Option<Vec<u8>>,
    reader_key: Option<Vec<u8>>,
    key_version: Option<i64>,
    signature: Option<Vec<u8>>,
    created_at: Option<i64>,
}

impl StoredPolicy {
    /// The typed row, or `None` if a column is NULL where a value is
    /// required, not UTF-8, or out of range (the caller ignores such a row
    /// as if it were absent).
    pub(crate) fn parse(self) -> Option<PolicyRow> {
        Some(PolicyRow {
            writer_id: text(self.writer_id)?,
            record_type: text(self.record_type)?,
            reader_id: text(self.reader_id)?,
            kind: text(self.kind)?,
            granted_by: text(self.granted_by)?,
            via: nullable_text(self.via)?,
            reader_key: text(self.reader_key)?,
            key_version: int(self.key_version)?,
            signature: text(self.signature)?,
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
    /// Parses the row back (not verified); anything malformed, ids in a
    /// non-canonical spelling included, is [`Error::Decryption`].
    pub(crate) fn to_signed(&self) -> Result<SignedBatch> {
        fn column(bytes: &Option<Vec<u8>>) -> Result<&str> {
            bytes
                .as_deref()
                .and_then(|b| std::str::from_utf8(b).ok())
                .ok_or(Error::Decryption)
        }
        let batch_id: BatchId = canonical_id(column(&self.batch_id)?)?;
        let writer_id: ClientId = canonical_id(column(&self.writer_id)?)?;
        SignedBatch::from_stored(
            batch_id,
            writer_id,
            column(&self.digests)?,
            column(&self.signature)?,
        )
    }
}

/// What [`StoredClient`] loads.
pub(crate) type ClientColumns = (
    Bytes<clients::client_id>,
    Bytes<clients::name>,
    Bytes<clients::public_key>,
    Bytes<clients::signing_key>,
    Wide<clients::created_at>,
);

/// The select clause of a [`StoredClient`].
pub(crate) const CLIENT_COLUMNS: ClientColumns = (
    Bytes(clients::client_id),
    Bytes(clients::name),
    Bytes(clients::public_key),
    Bytes(clients::signing_key),
    Wide(clients::created_at),
);

/// A client row as loaded (never fails).
#[derive(Debug, Clone, Queryable)]
pub(crate) struct StoredClient {
    client_id: Option<Vec<u8>>,
    name: Option<Vec<u8>>,
    public_key: Option<Vec<u8>>,
    signing_key: Option<Vec<u8>>,
    created_at: Option<i64>,
}

impl StoredClient {
    /// The typed row, a column that is NULL or not UTF-8 left empty (which
    /// no id or key parser accepts, so the row is refused where it is
    /// parsed, like any malformed one).
    pub(crate) fn into_row(self) -> ClientRow {
        ClientRow {
            client_id: text(self.client_id).unwrap_or_default(),
            name: text(self.name),
            public_key: text(self.public_key).unwrap_or_default(),
            signing_key: text(self.signing_key).unwrap_or_default(),
            created_at: self.created_at.unwrap_or_default(),
        }
    }
}

/// What [`StoredAccessKey`] loads: the wrapper and the wrapped key (the
/// rest is what the row was looked up by).
pub(crate) type AccessKeyColumns = (Bytes<access_keys::wrapper_id>, Bytes<access_keys::eak>);

/// The select clause of a [`StoredAccessKey`].
pub(crate) const ACCESS_KEY_COLUMNS: AccessKeyColumns =
    (Bytes(access_keys::wrapper_id), Bytes(access_keys::eak));

/// A wrapped access key row as loaded (never fails).
#[derive(Debug, Clone, Queryable)]
pub(crate) struct StoredAccessKey {
    wrapper_id: Option<Vec<u8>>,
    eak: Option<Vec<u8>>,
}

impl StoredAccessKey {
    /// The wrapper's id and the wrapped key; `None` if either is NULL or
    /// not UTF-8, or the id does not parse.
    pub(crate) fn parse(self) -> Option<(ClientId, String)> {
        let wrapper = text(self.wrapper_id)?.parse().ok()?;
        Some((wrapper, text(self.eak)?))
    }
}

/// The current version column of a key head, as loaded (never fails).
pub(crate) const HEAD_VERSION: Wide<key_heads::current_version> = Wide(key_heads::current_version);

/// The key version column of wrapped access keys, as loaded.
pub(crate) const KEY_VERSION: Wide<access_keys::key_version> = Wide(access_keys::key_version);

/// An import map row's source id and record id, as loaded.
pub(crate) const IMPORT_COLUMNS: (Bytes<import_map::source_id>, Bytes<import_map::record_id>) =
    (Bytes(import_map::source_id), Bytes(import_map::record_id));

/// The columns every stored record version has, from its sealed form
/// (whichever proof vouches for it).
struct SealedColumns {
    record_id: String,
    writer_id: String,
    version: i64,
    plain: String,
    data: String,
    key_version: i32,
}

impl SealedColumns {
    fn of(sealed: &SealedRecord) -> Result<Self> {
        Ok(SealedColumns {
            record_id: sealed.record_id.to_string(),
            writer_id: sealed.writer_id.to_string(),
            version: i64::try_from(sealed.version)
                .map_err(|_| Error::InvalidInput("version overflow"))?,
            plain: json_object(&sealed.plain)?,
            data: json_object(&sealed.fields)?,
            key_version: i32::try_from(sealed.key_version)
                .map_err(|_| Error::InvalidInput("key version overflow"))?,
        })
    }
}

/// A record's place in its batch, as stored.
fn stored_batch_index(index: u32) -> Result<i32> {
    i32::try_from(index).map_err(|_| Error::InvalidInput("batch index overflow"))
}

impl BatchedRecordRow {
    /// The row for a new record version sealed at `at` (its creation and
    /// last update, a new version being both), signed in a batch; any
    /// other proof is refused.
    pub(crate) fn from_sealed(sealed: &SealedRecord, at: i64) -> Result<Self> {
        let RecordProof::Batch { batch_id, index } = sealed.proof else {
            return Err(Error::Crypto("a new record must be signed in a batch"));
        };
        let columns = SealedColumns::of(sealed)?;
        Ok(BatchedRecordRow {
            record_id: columns.record_id,
            writer_id: columns.writer_id,
            record_type: sealed.record_type.clone(),
            version: columns.version,
            plain: columns.plain,
            data: columns.data,
            key_version: columns.key_version,
            batch_id: batch_id.to_string(),
            batch_index: stored_batch_index(index)?,
            created_at: at,
            updated_at: at,
        })
    }
}

/// One signed batch of record digests.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = record_batches)]
pub(crate) struct BatchRow {
    pub batch_id: String,
    pub writer_id: String,
    pub digests: String,
    pub signature: String,
    pub created_at: i64,
}

impl BatchRow {
    /// The row for a signed batch.
    pub(crate) fn from_signed(batch: &SignedBatch, created_at: i64) -> Self {
        BatchRow {
            batch_id: batch.batch_id().to_string(),
            writer_id: batch.writer_id().to_string(),
            digests: batch.digests_text(),
            signature: batch.signature().to_owned(),
            created_at,
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = meta_index, treat_none_as_default_value = false)]
pub(crate) struct MetaRow {
    pub tag: i64,
    pub record_id: String,
}

/// The index rows of a record's plain meta.
pub(crate) fn meta_rows(record_id: &str, plain: &BTreeMap<String, String>) -> Vec<MetaRow> {
    plain
        .iter()
        .map(|(name, value)| MetaRow {
            tag: meta_tag(name, value),
            record_id: record_id.to_owned(),
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
    let digest = orion::hazardous::hash::blake2::blake2b::Blake2b::new(8)
        .and_then(|mut h| h.update(&encoded).and_then(|()| h.finalize()));
    match digest {
        Ok(digest) => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(digest.as_ref());
            i64::from_be_bytes(bytes)
        }
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
    /// The batch that signs the row, if it names one.
    pub batch_id: Option<BatchId>,
}

/// Parses an id stored as text, which must be in its canonical spelling.
fn canonical_id<T: std::str::FromStr + std::fmt::Display>(text: &str) -> Result<T> {
    let id: T = text.parse().map_err(|_| Error::Decryption)?;
    if id.to_string() != text {
        return Err(Error::Decryption);
    }
    Ok(id)
}

pub(crate) fn from_micros(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
}

impl RecordRow {
    /// The row for a sealed record.
    pub(crate) fn from_sealed(
        sealed: SealedRecord,
        created_at: i64,
        updated_at: i64,
    ) -> Result<Self> {
        let columns = SealedColumns::of(&sealed)?;
        let (signature, writer_tag, batch_id, batch_index) = match sealed.proof {
            RecordProof::Batch { batch_id, index } => (
                None,
                None,
                Some(batch_id.to_string()),
                Some(stored_batch_index(index)?),
            ),
            RecordProof::Single {
                signature,
                writer_tag,
            } => (Some(signature), Some(writer_tag), None, None),
        };
        Ok(RecordRow {
            record_id: columns.record_id,
            writer_id: columns.writer_id,
            version: columns.version,
            plain: columns.plain,
            data: columns.data,
            key_version: columns.key_version,
            record_type: sealed.record_type,
            signature,
            writer_tag,
            batch_id,
            batch_index,
            created_at,
            updated_at,
        })
    }

    /// The row's ids, key version and batch, parsed without its JSON
    /// columns: what a reader needs to find the checks and keys before it
    /// parses the rest (see [`RecordRow::to_sealed`], which agrees).
    /// Anything malformed is [`Error::Decryption`].
    pub(crate) fn head(&self) -> Result<RowHead> {
        Ok(RowHead {
            record_id: canonical_id(&self.record_id)?,
            writer_id: canonical_id(&self.writer_id)?,
            key_version: u32::try_from(self.key_version).map_err(|_| Error::Decryption)?,
            batch_id: self.batch_id.as_deref().map(canonical_id).transpose()?,
        })
    }

    /// Parses the row back; anything malformed is [`Error::Decryption`],
    /// ids not in their canonical (lower-case, hyphenated) spelling
    /// included, so one signed record cannot appear under two ids.
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
            fields: serde_json::from_str::<BTreeMap<String, String>>(&self.data)
                .map_err(|_| Error::Decryption)?,
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

    /// What vouches for the row: a batch reference, or (rows stored before
    /// batch signatures) a signature and tag; exactly one of the two.
    /// `batch_id` is the row's batch as its head parsed it.
    fn proof(&self, batch_id: Option<BatchId>) -> Result<RecordProof> {
        match (
            batch_id,
            self.batch_index,
            &self.signature,
            &self.writer_tag,
        ) {
            (Some(batch_id), Some(index), None, None) => Ok(RecordProof::Batch {
                batch_id,
                index: u32::try_from(index).map_err(|_| Error::Decryption)?,
            }),
            (None, None, Some(signature), Some(writer_tag)) => Ok(RecordProof::Single {
                signature: signature.clone(),
                writer_tag: writer_tag.clone(),
            }),
            _ => Err(Error::Decryption),
        }
    }

    /// The batch that signs this row, if it names one.
    pub(crate) fn batch(&self) -> Option<&str> {
        self.batch_id.as_deref()
    }

    /// The record id, parsed.
    pub(crate) fn id(&self) -> Option<RecordId> {
        self.record_id.parse().ok()
    }

    /// The writer id, parsed.
    pub(crate) fn writer(&self) -> Option<ClientId> {
        self.writer_id.parse().ok()
    }

    /// The plain meta as index rows.
    pub(crate) fn meta_rows(&self, plain: &BTreeMap<String, String>) -> Vec<MetaRow> {
        meta_rows(&self.record_id, plain)
    }
}
