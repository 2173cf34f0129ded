//! Rows as diesel reads and writes them, and their conversion to and from
//! the crypto layer's types. A stored row that does not parse is the opaque
//! decryption error: the database is not trusted to be well-formed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::{
    access_keys, clients, key_heads, meta_index, policies, record_batches, records,
};
use crate::crypto::batch::SignedBatch;
use crate::error::{Error, Result};
use crate::ids::{BatchId, ClientId, RecordId};
use crate::model::RecordMeta;
use crate::record::{RecordProof, SealedRecord};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
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

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
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

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
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
#[derive(Clone, Queryable, Selectable, Insertable, AsChangeset)]
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
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
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

    /// Parses the row back (not verified); anything malformed, ids in a
    /// non-canonical spelling included, is [`Error::Decryption`].
    pub(crate) fn to_signed(&self) -> Result<SignedBatch> {
        let batch_id: BatchId = self.batch_id.parse().map_err(|_| Error::Decryption)?;
        let writer_id: ClientId = self.writer_id.parse().map_err(|_| Error::Decryption)?;
        if batch_id.to_string() != self.batch_id || writer_id.to_string() != self.writer_id {
            return Err(Error::Decryption);
        }
        SignedBatch::from_stored(batch_id, writer_id, &self.digests, &self.signature)
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

    /// The index tags of the plain meta as stored in this row (empty if it
    /// does not parse).
    pub(crate) fn stored_meta_tags(&self) -> Vec<i64> {
        serde_json::from_str::<BTreeMap<String, String>>(&self.plain)
            .map(|plain| plain.iter().map(|(n, v)| meta_tag(n, v)).collect())
            .unwrap_or_default()
    }
}
