//! Batch signatures: one Ed25519 signature over the BLAKE2b-256 digests of
//! many record versions.
//!
//! # Use case
//! A writer that stores 200 records at once signs them with one Ed25519
//! signature instead of 200: each record's canonical message (the signed
//! record message of FORMAT.md) is hashed with BLAKE2b-256, and the
//! writer signs the list of digests together with the batch id and its own
//! id. A record names its batch and its place in it; a reader verifies the
//! batch once against the writer's pinned signing key and then checks each
//! record's digest against its place in the list.
//!
//! # Security
//! Forging a record means either forging the writer's Ed25519 signature
//! over a digest list, or finding a second record message with the same
//! BLAKE2b-256 digest as one the writer signed (a collision, 2^128 work).
//! A reader that holds the access key can do neither. The database can
//! point a record at another batch only if that batch holds the same
//! digest, that is, the same record version signed by the same writer.
//!
//! # Errors
//! A malformed, foreign or forged batch, and a record whose digest is not
//! at its place in the batch, are the opaque [`Error::Decryption`].
//!
//! # Example
//! ```
//! use std::collections::BTreeMap;
//! use strongroom::hazmat::batch::{self, SignedBatch};
//! use strongroom::hazmat::signature::{RecordHeader, RecordSigner, SignedContent};
//! use strongroom::{BatchId, ClientId, RecordId};
//! use strongroom::hazmat::SigningSecretKey;
//!
//! let secret = SigningSecretKey::generate();
//! let signer = RecordSigner::new(&secret)?;
//! let writer = ClientId::random();
//! let (plain, fields) = (BTreeMap::new(), BTreeMap::new());
//! let content = SignedContent {
//!     header: RecordHeader {
//!         record_id: RecordId::random(),
//!         version: 1,
//!         record_type: "patient",
//!         writer_id: writer,
//!         key_version: 1,
//!     },
//!     plain: &plain,
//!     fields: &fields,
//!     file: None,
//!     indexes: None,
//! };
//! let digest = content.digest()?;
//! let signed = signer.sign_batch(BatchId::random(), writer, vec![digest])?;
//! let verified = signed.verify(writer, &secret.public_key())?;
//! verified.check(writer, 0, &digest)?;
//! # Ok::<(), strongroom::Error>(())
//! ```

use std::fmt;

use ed25519_dalek::{Signer, VerifyingKey};

use crate::crypto::keys::SigningPublicKey;
use crate::crypto::signature::{RecordSigner, SignedContent};
use crate::error::{Error, Result};
use crate::format::{b64, canonical::Canonical};
use crate::ids::BatchId;
use crate::ids::ClientId;

/// The batch signature format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The text every version-1 batch signature starts with.
pub const PREFIX: &str = "srb1.";
/// Bytes in one record digest (BLAKE2b-256).
pub const DIGEST_LEN: usize = 32;
/// The most records one batch may cover.
pub const MAX_RECORDS: usize = 4096;
const MESSAGE_LABEL: &str = "strongroom/record-batch";
const DIGEST_LABEL: &str = "strongroom/record-digest";
const SIGNATURE_LEN: usize = 64;

/// The BLAKE2b-256 digest of one record version's canonical message.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordDigest([u8; DIGEST_LEN]);

impl RecordDigest {
    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.0
    }
}

impl fmt::Debug for RecordDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A digest of ciphertext and clear meta: not secret, but long.
        write!(
            f,
            "RecordDigest({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

impl SignedContent<'_> {
    /// The record version's digest: BLAKE2b-256, keyed by nothing, of a
    /// label and the record's canonical message (FORMAT.md, "Signed record
    /// message").
    pub fn digest(&self) -> Result<RecordDigest> {
        // The message (ciphertext and clear meta, nothing secret) is built
        // in a buffer each thread keeps, not allocated afresh per record.
        thread_local! {
            static MESSAGE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        MESSAGE.with(|cell| {
            let message = self.message_into(cell.take())?;
            let digest = digest_message(&message);
            cell.replace(message);
            digest
        })
    }
}

fn digest_message(message: &[u8]) -> Result<RecordDigest> {
    use orion::hazardous::hash::blake2::blake2b::Blake2b;
    // `label(DIGEST_LABEL)` of the canonical encoding, written directly.
    let label_len = u32::try_from(DIGEST_LABEL.len()).map_err(|_| Error::Crypto("label"))?;
    let mut hasher = Blake2b::new(DIGEST_LEN).map_err(|_| Error::Crypto("BLAKE2b"))?;
    hasher
        .update(&label_len.to_be_bytes())
        .and_then(|()| hasher.update(DIGEST_LABEL.as_bytes()))
        .and_then(|()| hasher.update(message))
        .map_err(|_| Error::Crypto("BLAKE2b"))?;
    let digest = hasher.finalize().map_err(|_| Error::Crypto("BLAKE2b"))?;
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(digest.as_ref());
    Ok(RecordDigest(out))
}

/// A batch as stored: its id, its writer, the digests it covers in order,
/// and the writer's signature over all three. Not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedBatch {
    batch_id: BatchId,
    writer_id: ClientId,
    digests: Vec<RecordDigest>,
    signature: [u8; SIGNATURE_LEN],
}

impl fmt::Debug for SignedBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedBatch")
            .field("batch_id", &self.batch_id)
            .field("writer_id", &self.writer_id)
            .field("records", &self.digests.len())
            .finish_non_exhaustive()
    }
}

impl SignedBatch {
    /// Parses a stored batch: `digests` is the concatenated 32-byte
    /// digests, `signature` the 64 signature bytes. Anything malformed is
    /// [`Error::Decryption`]; nothing is verified yet.
    pub fn from_stored(
        batch_id: BatchId,
        writer_id: ClientId,
        digests: &[u8],
        signature: &[u8],
    ) -> Result<Self> {
        if digests.is_empty()
            || !digests.len().is_multiple_of(DIGEST_LEN)
            || digests.len() / DIGEST_LEN > MAX_RECORDS
        {
            return Err(Error::Decryption);
        }
        let signature: [u8; SIGNATURE_LEN] = signature.try_into().map_err(|_| Error::Decryption)?;
        let digests = digests
            .chunks_exact(DIGEST_LEN)
            .map(|chunk| {
                let mut d = [0u8; DIGEST_LEN];
                d.copy_from_slice(chunk);
                RecordDigest(d)
            })
            .collect();
        Ok(SignedBatch {
            batch_id,
            writer_id,
            digests,
            signature,
        })
    }

    /// The batch id.
    pub fn batch_id(&self) -> BatchId {
        self.batch_id
    }

    /// The writer that signed the batch.
    pub fn writer_id(&self) -> ClientId {
        self.writer_id
    }

    /// How many record versions the batch covers.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether the batch covers no record (never true of a parsed one).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// The digests as stored: their concatenation.
    pub fn digests_bytes(&self) -> Vec<u8> {
        concatenated(&self.digests)
    }

    /// The signature as stored: its 64 bytes.
    pub fn signature_bytes(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// The signature's text form: `srb1.` followed by unpadded base64url
    /// of its bytes.
    pub fn signature_text(&self) -> String {
        b64::prefixed(PREFIX, &self.signature)
    }

    /// Verifies the signature against the signing key of `writer_id`, the
    /// writer the caller expects (strict Ed25519). A batch naming another
    /// writer, or signed by another key, is [`Error::Decryption`].
    #[must_use = "only a verified batch vouches for records"]
    pub fn verify(self, writer_id: ClientId, writer: &SigningPublicKey) -> Result<VerifiedBatch> {
        if writer_id != self.writer_id {
            return Err(Error::Decryption);
        }
        let message = batch_message(self.batch_id, self.writer_id, &self.digests)
            .map_err(|_| Error::Decryption)?;
        let key = VerifyingKey::from_bytes(writer.as_bytes()).map_err(|_| Error::Decryption)?;
        key.verify_strict(
            &message,
            &ed25519_dalek::Signature::from_bytes(&self.signature),
        )
        .map_err(|_| Error::Decryption)?;
        Ok(VerifiedBatch(self))
    }
}

/// A batch whose signature verified against its writer's key: the
/// [`SignedBatch`] (read through `Deref`), and the one way to check a
/// record against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBatch(SignedBatch);

impl std::ops::Deref for VerifiedBatch {
    type Target = SignedBatch;

    fn deref(&self) -> &SignedBatch {
        &self.0
    }
}

impl VerifiedBatch {
    /// Checks that this batch, signed by `writer`, holds `digest` at
    /// `index`. Every failure is [`Error::Decryption`].
    #[must_use = "a failed check must stop the read"]
    pub fn check(&self, writer: ClientId, index: u32, digest: &RecordDigest) -> Result<()> {
        let at = usize::try_from(index).map_err(|_| Error::Decryption)?;
        match self.0.digests.get(at) {
            Some(signed) if self.0.writer_id == writer && signed == digest => Ok(()),
            _ => Err(Error::Decryption),
        }
    }
}

impl RecordSigner {
    /// Signs the digests of a batch of this writer's record versions, in
    /// order (a record's place in `digests` is its index in the batch).
    pub fn sign_batch(
        &self,
        batch_id: BatchId,
        writer_id: ClientId,
        digests: Vec<RecordDigest>,
    ) -> Result<SignedBatch> {
        if digests.is_empty() || digests.len() > MAX_RECORDS {
            return Err(Error::InvalidInput("a batch covers 1 to 4096 records"));
        }
        let message = batch_message(batch_id, writer_id, &digests)?;
        let signature = self.dalek().sign(&message);
        Ok(SignedBatch {
            batch_id,
            writer_id,
            digests,
            signature: signature.to_bytes(),
        })
    }
}

/// The canonical message a batch signature covers.
fn batch_message(
    batch_id: BatchId,
    writer_id: ClientId,
    digests: &[RecordDigest],
) -> Result<Vec<u8>> {
    let bytes = concatenated(digests);
    Ok(Canonical::with_capacity(MESSAGE_LABEL, bytes.len() + 96)
        .u32(FORMAT_VERSION)
        .uuid(batch_id.as_uuid())
        .uuid(writer_id.as_uuid())
        .bytes(&bytes)?
        .finish())
}

/// The digests back to back, as the batch message and the stored text hold
/// them.
fn concatenated(digests: &[RecordDigest]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(digests.len() * DIGEST_LEN);
    for digest in digests {
        bytes.extend_from_slice(&digest.0);
    }
    bytes
}
