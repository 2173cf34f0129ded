//! Record signatures: Ed25519 (ed25519-dalek) over a canonical encoding of
//! everything stored about one record version.
//!
//! # Use case
//! The writer signs each record version it stores; a reader verifies the
//! signature against the writer's pinned signing key *before* it decrypts
//! anything. A reader that holds the access key can decrypt but cannot forge
//! a record, because it lacks the writer's signing key.
//!
//! # Parameters
//! The signed message ([`SignedContent`]) covers the record id, version,
//! type, writer, key version, every plain meta entry and every field
//! envelope (both sorted by name), and an optional file digest.
//!
//! # Errors
//! A bad, malformed or foreign signature is the opaque [`Error::Decryption`].
//!
//! # Example
//! ```
//! use std::collections::BTreeMap;
//! use strongroom::signature::{self, RecordSigner, SignedContent, RecordHeader};
//! use strongroom::{ClientId, RecordId, SigningSecretKey};
//!
//! let secret = SigningSecretKey::generate();
//! let signer = RecordSigner::new(&secret)?;
//! let plain = BTreeMap::from([("clinic".to_owned(), "north".to_owned())]);
//! let fields = BTreeMap::new();
//! let content = SignedContent {
//!     header: RecordHeader {
//!         record_id: RecordId::random(),
//!         version: 1,
//!         record_type: "patient",
//!         writer_id: ClientId::random(),
//!         key_version: 1,
//!     },
//!     plain: &plain,
//!     fields: &fields,
//!     file_digest: None,
//! };
//! let sig = signer.sign(&content)?;
//! signature::verify_record(&secret.public_key(), &content, sig.as_str())?;
//! # Ok::<(), strongroom::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::crypto::keys::{SigningPublicKey, SigningSecretKey};
use crate::error::{Error, Result};
use crate::format::{b64, canonical::Canonical};
use crate::ids::{ClientId, RecordId};

/// The signature format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The text every version-1 record signature starts with.
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

/// Everything a record signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedContent<'a> {
    /// Id, version, type, writer, key version.
    pub header: RecordHeader<'a>,
    /// Plain (unencrypted) meta, by name.
    pub plain: &'a BTreeMap<String, String>,
    /// Field envelopes (their stored text), by field name.
    pub fields: &'a BTreeMap<String, String>,
    /// The digest of a file body's ciphertext, for file records.
    pub file_digest: Option<&'a [u8]>,
}

impl SignedContent<'_> {
    /// The canonical message that is signed.
    pub(crate) fn message(&self) -> Result<Vec<u8>> {
        self.message_into(Vec::new())
    }

    /// [`SignedContent::message`], written into `buffer` (cleared first;
    /// its allocation is reused).
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
            .pairs(self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        msg = match self.file_digest {
            None => msg.u32(0),
            Some(digest) => msg.u32(1).bytes(digest)?,
        };
        Ok(msg.finish())
    }
}

/// A record signature: `srs1.` and the unpadded base64url of the 64-byte
/// Ed25519 signature.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordSignature(String);

impl RecordSignature {
    /// The stored text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored text form, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for RecordSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordSignature(..)")
    }
}

/// A writer tag: `srt1.` and the unpadded base64url of a 32-byte keyed
/// BLAKE2b tag over the same message as the signature.
pub const TAG_PREFIX: &str = "srt1.";
const TAG_LEN: usize = 32;
const TAG_KEY_INFO: &[u8] = b"strongroom/writer-tag/v1";

/// Signs records with one client's Ed25519 key, and tags them with a
/// BLAKE2b key only that client holds (derived from its signing seed with
/// HKDF-SHA256). Holds the expanded keys so signing many records does not
/// re-derive them; zeroized on drop.
///
/// The signature is what every reader verifies. The tag lets the writer
/// check its own records at the cost of a MAC instead of an Ed25519
/// verification: nobody else — not the database, not a reader holding the
/// access key — can compute it.
pub struct RecordSigner {
    key: SigningKey,
    tag_key: orion::hazardous::mac::blake2b::SecretKey,
}

impl RecordSigner {
    /// A signer for `secret`.
    pub fn new(secret: &SigningSecretKey) -> Result<Self> {
        use orion::hazardous::kdf::hkdf::{Hkdf, SHA256};
        let mut tag_key = zeroize::Zeroizing::new([0u8; 32]);
        Hkdf::<SHA256>::derive_key(
            b"strongroom",
            secret.unprotected_as_bytes(),
            Some(TAG_KEY_INFO),
            &mut tag_key[..],
        )
        .map_err(|_| Error::Crypto("HKDF"))?;
        Ok(RecordSigner {
            key: secret.to_dalek(),
            tag_key: orion::hazardous::mac::blake2b::SecretKey::try_from(&tag_key[..])
                .map_err(|_| Error::Crypto("BLAKE2b key"))?,
        })
    }

    /// The Ed25519 key, for [`crate::batch`].
    pub(crate) fn dalek(&self) -> &SigningKey {
        &self.key
    }

    /// The writer tag of `content` (see [`RecordSigner`]).
    #[must_use = "the tag must be stored with the record"]
    pub fn tag(&self, content: &SignedContent<'_>) -> Result<String> {
        self.tag_text(&content.message()?)
    }

    /// `srt1.` and the base64url tag of `message`.
    fn tag_text(&self, message: &[u8]) -> Result<String> {
        let tag = self.raw_tag(message)?;
        let mut text = String::with_capacity(TAG_PREFIX.len() + 43);
        text.push_str(TAG_PREFIX);
        b64::encode_into(tag.unprotected_as_ref(), &mut text);
        Ok(text)
    }

    /// Checks a writer tag made by this signer's client. Every failure is
    /// [`Error::Decryption`].
    #[must_use = "a failed check must stop the read"]
    pub fn verify_tag(&self, content: &SignedContent<'_>, tag: &str) -> Result<()> {
        let encoded = tag.strip_prefix(TAG_PREFIX).ok_or(Error::Decryption)?;
        let bytes = b64::decode(encoded).map_err(|_| Error::Decryption)?;
        if bytes.len() != TAG_LEN {
            return Err(Error::Decryption);
        }
        let expected = orion::hazardous::mac::blake2b::Tag::try_from(&bytes[..])
            .map_err(|_| Error::Decryption)?;
        let message = content.message().map_err(|_| Error::Decryption)?;
        orion::hazardous::mac::blake2b::Blake2b::verify(&expected, &self.tag_key, TAG_LEN, &message)
            .map_err(|_| Error::Decryption)
    }

    fn raw_tag(&self, message: &[u8]) -> Result<orion::hazardous::mac::blake2b::Tag> {
        let mut mac = orion::hazardous::mac::blake2b::Blake2b::new(&self.tag_key, TAG_LEN)
            .map_err(|_| Error::Crypto("BLAKE2b"))?;
        mac.update(message).map_err(|_| Error::Crypto("BLAKE2b"))?;
        mac.finalize().map_err(|_| Error::Crypto("BLAKE2b"))
    }

    /// Signs `content`.
    #[must_use = "the signature must be stored with the record"]
    pub fn sign(&self, content: &SignedContent<'_>) -> Result<RecordSignature> {
        Ok(RecordSignature(self.sign_message(&content.message()?)))
    }

    /// `srs1.` and the base64url Ed25519 signature of `message`.
    fn sign_message(&self, message: &[u8]) -> String {
        let signature = self.key.sign(message);
        let mut text = String::with_capacity(PREFIX.len() + 86);
        text.push_str(PREFIX);
        b64::encode_into(&signature.to_bytes(), &mut text);
        text
    }
}

impl fmt::Debug for RecordSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordSigner(<redacted>)")
    }
}

/// Verifies `signature` over `content` against the writer's signing key
/// (strict Ed25519 verification). Every failure is [`Error::Decryption`].
#[must_use = "a failed verification must stop the read"]
pub fn verify_record(
    writer: &SigningPublicKey,
    content: &SignedContent<'_>,
    signature: &str,
) -> Result<()> {
    let message = content.message().map_err(|_| Error::Decryption)?;
    verify_message(writer, &message, signature)
}

/// Strict Ed25519 verification of an `srs1.` signature over `message`.
/// Every failure is [`Error::Decryption`].
fn verify_message(writer: &SigningPublicKey, message: &[u8], signature: &str) -> Result<()> {
    let encoded = signature.strip_prefix(PREFIX).ok_or(Error::Decryption)?;
    let bytes: [u8; SIGNATURE_LEN] = b64::decode(encoded)
        .map_err(|_| Error::Decryption)?
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
