//! What a writer signs: the canonical message of a record version (whose
//! BLAKE2b-256 digest a batch signature covers, see [`crate::hazmat::batch`]) and
//! share grants, each with Ed25519 (ed25519-dalek).
//!
//! # Use case
//! A writer signs the digests of the record versions it stores, a batch at
//! a time, and every share grant it makes; a reader verifies them against
//! the writer's pinned signing key *before* it decrypts or acts. A reader
//! that holds the access key can decrypt but cannot forge a record, because
//! it lacks the writer's signing key.
//!
//! # Parameters
//! The record message ([`SignedContent`]) covers the record id, version,
//! type, writer, key version, every plain meta entry and every field
//! envelope (both sorted by name).
//!
//! # Errors
//! A bad, malformed or foreign signature is the opaque [`Error::Decryption`].
//!
//! # Example
//! ```
//! use strongroom::hazmat::signature::{self, GrantKind, RecordSigner, ShareGrant};
//! use strongroom::{ClientId, Identity};
//!
//! let writer = Identity::generate()?;
//! let reader = Identity::generate()?;
//! let grant = ShareGrant {
//!     writer_id: writer.client_id(),
//!     record_type: "patient",
//!     reader_id: reader.client_id(),
//!     reader_key: reader.public().encryption_key,
//!     kind: GrantKind::Read,
//!     key_version: 1,
//!     granted_by: writer.client_id(),
//!     via: None,
//! };
//! let signed = writer.signer().sign_grant(&grant)?;
//! signature::verify_grant(&writer.public().signing_key, &grant, &signed)?;
//! # Ok::<(), strongroom::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::crypto::envelope::Envelope;
use crate::crypto::keys::{SigningPublicKey, SigningSecretKey};
use crate::error::{Error, Result};
use crate::format::{b64, canonical::Canonical};
use crate::ids::{ClientId, RecordId};

/// The signature format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The text every version-1 signature (of a grant) starts with.
pub const PREFIX: &str = "srs1.";
const MESSAGE_LABEL: &str = "strongroom/record";
const SIGNATURE_LEN: usize = 64;

/// The identity of one record version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader<'a> {
    /// The record's id.
    pub record_id: RecordId,
    /// The record's version (1 on insert, +1 on each update).
    pub version: u64,
    /// The record type.
    pub record_type: &'a str,
    /// The writer (owner) of the record.
    pub writer_id: ClientId,
    /// The access key version that seals the record's data keys.
    pub key_version: u32,
}

/// Everything a record version's digest covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedContent<'a> {
    /// Id, version, type, writer, key version.
    pub header: RecordHeader<'a>,
    /// Plain (unencrypted) meta, by name.
    pub plain: &'a BTreeMap<String, String>,
    /// Field envelopes (their bytes), by field name.
    pub fields: &'a BTreeMap<String, Envelope>,
    /// A file record's head (its encoded bytes), `None` for other records.
    pub file: Option<&'a [u8]>,
    /// The record's blind index entries (their encoded bytes, FORMAT.md
    /// "Blind indexes"), `None` for a record that is not indexed.
    pub indexes: Option<&'a [u8]>,
}

impl SignedContent<'_> {
    /// The canonical record message whose digest a batch signs, written
    /// into `buffer` (cleared first; its allocation is reused).
    pub(crate) fn message_into(&self, buffer: Vec<u8>) -> Result<Vec<u8>> {
        let h = &self.header;
        let size: usize = self.fields.values().map(|v| v.len() + 40).sum::<usize>() + 256;
        let mut msg = Canonical::reusing(MESSAGE_LABEL, buffer, size)
            .u32(FORMAT_VERSION)
            .uuid(h.record_id.as_uuid())
            .u64(h.version)
            .str(h.record_type)?
            .uuid(h.writer_id.as_uuid())
            .u32(h.key_version)
            .pairs(self.plain.iter().map(|(k, v)| (k.as_str(), v.as_str())))?
            .pairs(self.fields.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))?;
        // `u32(0)` without a file body; `u32(1) ‖ bytes(head)` with one.
        msg = match self.file {
            None => msg.u32(0),
            Some(head) => msg.u32(1).bytes(head)?,
        };
        // Nothing more without blind indexes; `u32(1) ‖ bytes(entries)`
        // with them (the message without them is a strict prefix, so the
        // two never encode alike).
        if let Some(indexes) = self.indexes {
            msg = msg.u32(1).bytes(indexes)?;
        }
        Ok(msg.finish())
    }
}

/// Signs record batches and share grants with one client's Ed25519 key.
/// Holds the expanded key so signing many batches does not re-derive it;
/// zeroized on drop.
pub struct RecordSigner {
    key: SigningKey,
}

impl RecordSigner {
    /// A signer for `secret`.
    pub fn new(secret: &SigningSecretKey) -> Result<Self> {
        Ok(RecordSigner {
            key: secret.to_dalek(),
        })
    }

    /// The Ed25519 key, for [`crate::hazmat::batch`].
    pub(crate) fn dalek(&self) -> &SigningKey {
        &self.key
    }

    /// `srs1.` and the base64url Ed25519 signature of `message`.
    fn sign_message(&self, message: &[u8]) -> String {
        b64::prefixed(PREFIX, &self.key.sign(message).to_bytes())
    }
}

impl fmt::Debug for RecordSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordSigner(<redacted>)")
    }
}

/// Strict Ed25519 verification of an `srs1.` signature over `message`.
/// Every failure is [`Error::Decryption`].
fn verify_message(writer: &SigningPublicKey, message: &[u8], signature: &str) -> Result<()> {
    let bytes: [u8; SIGNATURE_LEN] = b64::unprefixed(PREFIX, signature)
        .ok_or(Error::Decryption)?
        .try_into()
        .map_err(|_| Error::Decryption)?;
    let key = VerifyingKey::from_bytes(writer.as_bytes()).map_err(|_| Error::Decryption)?;
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&bytes))
        .map_err(|_| Error::Decryption)
}

/// What a share grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrantKind {
    /// The reader may read the writer's records of the type.
    Read,
    /// The client may share the writer's type on its behalf.
    Authorize,
}

/// A signed share: `granted_by` (the writer, or an authoriser for `Read`)
/// lets `reader_id` read — or, for `Authorize`, share — `writer_id`'s
/// `record_type` up to `key_version`. Grants are stored with the policy
/// rows; clients check them before they act on a row, so the database
/// alone can neither make nor replay a share past a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareGrant<'a> {
    /// The owner of the records.
    pub writer_id: ClientId,
    /// The record type.
    pub record_type: &'a str,
    /// The client the grant is for.
    pub reader_id: ClientId,
    /// That client's X25519 public key, as the grantor pinned it: a
    /// rotation wraps the new key to this key, never to one the database
    /// serves.
    pub reader_key: crate::crypto::keys::EncryptionPublicKey,
    /// What it allows.
    pub kind: GrantKind,
    /// The newest access key version it covers.
    pub key_version: u32,
    /// Who signed it.
    pub granted_by: ClientId,
    /// For a grant the writer re-signed at a rotation: the authoriser the
    /// share originally came through.
    pub via: Option<ClientId>,
}

impl ShareGrant<'_> {
    fn message(&self) -> Result<Vec<u8>> {
        let kind = match self.kind {
            GrantKind::Read => 0,
            GrantKind::Authorize => 1,
        };
        let message = Canonical::new("strongroom/share-grant")
            .u32(FORMAT_VERSION)
            .uuid(self.writer_id.as_uuid())
            .str(self.record_type)?
            .uuid(self.reader_id.as_uuid())
            .bytes(self.reader_key.as_bytes())?
            .u32(kind)
            .u32(self.key_version)
            .uuid(self.granted_by.as_uuid());
        Ok(match self.via {
            None => message.u32(0),
            Some(via) => message.u32(1).uuid(via.as_uuid()),
        }
        .finish())
    }
}

impl RecordSigner {
    /// Signs a share grant (the signer must be its `granted_by`).
    pub fn sign_grant(&self, grant: &ShareGrant<'_>) -> Result<String> {
        Ok(self.sign_message(&grant.message()?))
    }
}

/// Verifies a share grant against its signer's (`granted_by`) signing key.
/// Every failure is [`Error::Decryption`].
#[must_use = "a failed verification must stop whatever relies on the grant"]
pub fn verify_grant(
    signer: &SigningPublicKey,
    grant: &ShareGrant<'_>,
    signature: &str,
) -> Result<()> {
    let message = grant.message().map_err(|_| Error::Decryption)?;
    verify_message(signer, &message, signature)
}
