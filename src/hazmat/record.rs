//! A whole record version, sealed and signed: the unit the store writes and
//! reads.
//!
//! [`seal_record`] seals each field with its own data key and places the
//! record in a batch; [`sign_batch`] signs the batch's record digests with
//! one Ed25519 signature (see [`crate::hazmat::batch`]); [`open_record`] checks the
//! record against its verified batch first, and only then decrypts.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

use crate::crypto::batch::{RecordDigest, SignedBatch, VerifiedBatch};
use crate::crypto::envelope::{self, Envelope, FieldContext};
use crate::crypto::file_stream::{FileContext, FileHead};
use crate::crypto::keys::AccessKey;
use crate::crypto::signature::{RecordHeader, RecordSigner, SignedContent};
use crate::error::{Error, Result};
pub use crate::format::blind_index::{BlindIndexes, IndexEntry};
use crate::ids::{BatchId, ClientId, RecordId};

/// Encodes a record's field envelopes as its stored sealed-fields column:
/// a version byte, then each field's name and envelope bytes,
/// length-prefixed, in name order (FORMAT.md, "Sealed fields").
pub fn encode_fields(fields: &BTreeMap<String, Envelope>) -> Result<Vec<u8>> {
    crate::format::sealed_fields::encode(fields)
}

/// Decodes a sealed-fields column written by [`encode_fields`]; anything
/// malformed (version, order, lengths, trailing bytes) is
/// [`Error::Decryption`].
pub fn decode_fields(column: &[u8]) -> Result<BTreeMap<String, Envelope>> {
    crate::format::sealed_fields::decode(column)
}

/// What vouches for a stored record version.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordProof {
    /// The record's digest at `index` of a batch its writer signed.
    Batch {
        /// The batch.
        batch_id: BatchId,
        /// The record's place in the batch.
        index: u32,
    },
}

impl fmt::Debug for RecordProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordProof::Batch { batch_id, index } => f
                .debug_struct("Batch")
                .field("batch_id", batch_id)
                .field("index", index)
                .finish(),
        }
    }
}

/// One stored record version: ids, plain meta, field envelopes, signature.
///
/// `Debug` shows ids, meta and field names, never envelopes.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// The record's id.
    pub record_id: RecordId,
    /// The record's version.
    pub version: u64,
    /// The record type.
    pub record_type: String,
    /// The writer.
    pub writer_id: ClientId,
    /// The access key version that seals the data keys.
    pub key_version: u32,
    /// Plain (unencrypted) meta.
    pub plain: BTreeMap<String, String>,
    /// Field envelopes by field name.
    pub fields: BTreeMap<String, Envelope>,
    /// A file record's head (its body is stored in chunks); `None` for
    /// other records.
    pub file: Option<FileHead>,
    /// Its blind index entries ([`crate::index`]); `None` for a record
    /// that is not indexed.
    pub indexes: Option<BlindIndexes>,
    /// What vouches for all of the above.
    pub proof: RecordProof,
}

impl SealedRecord {
    fn header(&self) -> RecordHeader<'_> {
        RecordHeader {
            record_id: self.record_id,
            version: self.version,
            record_type: &self.record_type,
            writer_id: self.writer_id,
            key_version: self.key_version,
        }
    }

    fn field_context<'a>(&'a self, field: &'a str) -> FieldContext<'a> {
        FieldContext {
            record_type: &self.record_type,
            record_id: self.record_id,
            writer_id: self.writer_id,
            field,
            key_version: self.key_version,
        }
    }

    fn content<'a>(
        &'a self,
        file: Option<&'a [u8]>,
        indexes: Option<&'a [u8]>,
    ) -> SignedContent<'a> {
        SignedContent {
            header: self.header(),
            plain: &self.plain,
            fields: &self.fields,
            file,
            indexes,
        }
    }

    /// Where a file record's body lives (for [`crate::hazmat::file`]).
    pub fn file_context(&self) -> FileContext<'_> {
        FileContext {
            record_type: &self.record_type,
            record_id: self.record_id,
            writer_id: self.writer_id,
            key_version: self.key_version,
            version: self.version,
        }
    }

    /// The batch the record names.
    pub fn proof_batch(&self) -> BatchId {
        let RecordProof::Batch { batch_id, .. } = self.proof;
        batch_id
    }

    /// The digest its batch signature covers (see [`crate::hazmat::batch`]).
    pub fn digest(&self) -> Result<RecordDigest> {
        let head = self.file.as_ref().map(FileHead::to_bytes);
        let indexes = self
            .indexes
            .as_ref()
            .map(BlindIndexes::encode)
            .transpose()?;
        self.content(head.as_deref(), indexes.as_deref()).digest()
    }

    /// Checks the record against its batch, verified against the writer's
    /// key: the batch is the one the record names, signed by the record's
    /// writer, with the record's digest at the record's place.
    pub fn verify_in(&self, batch: &VerifiedBatch) -> Result<()> {
        match &self.proof {
            RecordProof::Batch { batch_id, index } if *batch_id == batch.batch_id() => {
                let digest = self.digest().map_err(|_| Error::Decryption)?;
                batch.check(self.writer_id, *index, &digest)
            }
            _ => Err(Error::Decryption),
        }
    }

    /// Opens every field (after a check by the caller). Values already
    /// opened are wiped if a later one fails.
    fn open_fields(&self, access_key: &AccessKey) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>> {
        // One buffer frames every field's AADs.
        let mut scratch = Vec::new();
        self.fields
            .iter()
            .map(|(name, sealed)| {
                envelope::open_field_in(access_key, &self.field_context(name), sealed, &mut scratch)
                    .map(|value| (name.clone(), Zeroizing::new(value)))
            })
            .collect()
    }
}

impl fmt::Debug for SealedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedRecord")
            .field("record_id", &self.record_id)
            .field("version", &self.version)
            .field("record_type", &self.record_type)
            .field("writer_id", &self.writer_id)
            .field("key_version", &self.key_version)
            .field("plain", &self.plain)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("file", &self.file)
            .field(
                "indexes",
                &self.indexes.as_ref().map(|i| {
                    i.entries
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                }),
            )
            .field("proof", &self.proof)
            .finish_non_exhaustive()
    }
}

/// Seals every value with its own data key under `access_key`, as the
/// record at `index` of batch `batch_id`; [`sign_batch`] signs it.
#[must_use = "the sealed record is the only copy"]
pub fn seal_record<V: AsRef<[u8]>>(
    access_key: &AccessKey,
    header: RecordHeader<'_>,
    plain: BTreeMap<String, String>,
    values: &BTreeMap<String, V>,
    batch_id: BatchId,
    index: u32,
) -> Result<SealedRecord> {
    let mut record = SealedRecord {
        record_id: header.record_id,
        version: header.version,
        record_type: header.record_type.to_owned(),
        writer_id: header.writer_id,
        key_version: header.key_version,
        plain,
        fields: BTreeMap::new(),
        file: None,
        indexes: None,
        proof: RecordProof::Batch { batch_id, index },
    };
    let mut fields = BTreeMap::new();
    for (name, value) in values {
        let sealed = envelope::seal_field(access_key, &record.field_context(name), value.as_ref())?;
        fields.insert(name.clone(), sealed);
    }
    record.fields = fields;
    Ok(record)
}

/// Signs `records`, all sealed by `signer`'s client as the records of batch
/// `batch_id` in order (record `i` at index `i`), with one signature.
pub fn sign_batch(
    signer: &RecordSigner,
    batch_id: BatchId,
    records: &[SealedRecord],
) -> Result<SignedBatch> {
    let writer_id = records
        .first()
        .map(|r| r.writer_id)
        .ok_or(Error::InvalidInput("a batch covers at least one record"))?;
    let mut digests = Vec::with_capacity(records.len());
    for (at, record) in records.iter().enumerate() {
        let placed = matches!(&record.proof,
            RecordProof::Batch { batch_id: b, index } if *b == batch_id && usize::try_from(*index).ok() == Some(at));
        if !placed || record.writer_id != writer_id {
            return Err(Error::InvalidInput(
                "every record of a batch names the batch, its place in it and the same writer",
            ));
        }
        digests.push(record.digest()?);
    }
    signer.sign_batch(batch_id, writer_id, digests)
}

/// Checks `record` against its verified batch, then opens every field.
/// Nothing is decrypted unless the check holds. Each value comes in a
/// buffer wiped when dropped.
#[must_use = "the opened values are the only result"]
pub fn open_record(
    record: &SealedRecord,
    batch: &VerifiedBatch,
    access_key: &AccessKey,
) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>> {
    record.verify_in(batch)?;
    record.open_fields(access_key)
}

/// Opens every field of a record the caller has already verified.
pub(crate) fn open_verified(
    record: &SealedRecord,
    access_key: &AccessKey,
) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>> {
    record.open_fields(access_key)
}
