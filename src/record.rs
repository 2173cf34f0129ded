//! A whole record version, sealed and signed: the unit the store writes and
//! reads.
//!
//! [`seal_record`] seals each field with its own data key, signs the result
//! and tags it with the writer's own MAC key; [`open_record`] verifies the
//! signature against the writer's key first, and only then decrypts;
//! [`open_own_record`] does the same for the writer itself with the tag.

use std::collections::BTreeMap;
use std::fmt;

use crate::crypto::envelope::{self, FieldContext};
use crate::crypto::keys::{AccessKey, SigningPublicKey};
use crate::crypto::signature::{self, RecordHeader, RecordSigner, SignedContent};
use crate::error::Result;
use crate::ids::{ClientId, RecordId};

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
    pub fields: BTreeMap<String, String>,
    /// The writer's signature over all of the above.
    pub signature: String,
    /// The writer's own tag over the same message (see
    /// [`RecordSigner`]).
    pub writer_tag: String,
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

    fn content(&self) -> SignedContent<'_> {
        SignedContent {
            header: self.header(),
            plain: &self.plain,
            fields: &self.fields,
            file_digest: None,
        }
    }

    /// Checks the signature against the writer's signing key.
    pub fn verify(&self, writer: &SigningPublicKey) -> Result<()> {
        signature::verify_record(writer, &self.content(), &self.signature)
    }

    /// Checks the writer tag with the writer's own signer: how a writer
    /// checks its own records (a MAC instead of an Ed25519 verification).
    pub fn verify_own(&self, signer: &RecordSigner) -> Result<()> {
        signer.verify_tag(&self.content(), &self.writer_tag)
    }

    /// Opens every field (after a check by the caller).
    fn open_fields(&self, access_key: &AccessKey) -> Result<BTreeMap<String, Vec<u8>>> {
        self.fields
            .iter()
            .map(|(name, sealed)| {
                envelope::open_field(access_key, &self.field_context(name), sealed)
                    .map(|value| (name.clone(), value))
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
            .finish_non_exhaustive()
    }
}

/// Seals every value with its own data key under `access_key` and signs the
/// record version with `signer`.
#[must_use = "the sealed record is the only copy"]
pub fn seal_record<V: AsRef<[u8]>>(
    signer: &RecordSigner,
    access_key: &AccessKey,
    header: RecordHeader<'_>,
    plain: BTreeMap<String, String>,
    values: &BTreeMap<String, V>,
) -> Result<SealedRecord> {
    let mut record = SealedRecord {
        record_id: header.record_id,
        version: header.version,
        record_type: header.record_type.to_owned(),
        writer_id: header.writer_id,
        key_version: header.key_version,
        plain,
        fields: BTreeMap::new(),
        signature: String::new(),
        writer_tag: String::new(),
    };
    let mut fields = BTreeMap::new();
    for (name, value) in values {
        let sealed = envelope::seal_field(access_key, &record.field_context(name), value.as_ref())?;
        fields.insert(name.clone(), sealed.into_string());
    }
    record.fields = fields;
    let (signature, tag) = signer.sign_and_tag(&record.content())?;
    record.signature = signature.into_string();
    record.writer_tag = tag;
    Ok(record)
}

/// Verifies `record` against the writer's signing key, then opens every
/// field. Nothing is decrypted unless the signature holds.
#[must_use = "the opened values are the only result"]
pub fn open_record(
    record: &SealedRecord,
    writer: &SigningPublicKey,
    access_key: &AccessKey,
) -> Result<BTreeMap<String, Vec<u8>>> {
    record.verify(writer)?;
    record.open_fields(access_key)
}

/// Opens every field of a record the caller has already verified.
pub(crate) fn open_verified(
    record: &SealedRecord,
    access_key: &AccessKey,
) -> Result<BTreeMap<String, Vec<u8>>> {
    record.open_fields(access_key)
}

/// Checks the writer tag of one of the caller's own records with its
/// signer, then opens every field. Nothing is decrypted unless the tag
/// holds.
#[must_use = "the opened values are the only result"]
pub fn open_own_record(
    record: &SealedRecord,
    signer: &RecordSigner,
    access_key: &AccessKey,
) -> Result<BTreeMap<String, Vec<u8>>> {
    record.verify_own(signer)?;
    record.open_fields(access_key)
}
