//! The field envelope: one sensitive value, sealed under its own data key,
//! which is sealed under the access key.
//!
//! # Use case
//! Every sensitive field of every record version is stored as one envelope:
//! raw bytes in the database (inside the record's sealed-fields column, see
//! [`crate::hazmat::record::encode_fields`]), `srf1.` followed by the same bytes in
//! unpadded base64url as text (CLI, exports, docs). The store calls [`seal_field`] on write and [`open_field`] on read,
//! after the record's signature has been verified.
//!
//! # Parameters
//! A [`FieldContext`] names where the value lives (record type, record id,
//! writer, field name, access key version). It is bound into the AAD of both
//! seals, so an envelope moved anywhere else fails to open.
//!
//! # Errors
//! Opening fails with the opaque [`Error::Decryption`] for every tampered,
//! moved, truncated, badly encoded or unknown-version envelope, and for a
//! wrong access key.
//!
//! # Security
//! A fresh 32-byte data key and fresh random 24-byte nonces for every seal.
//! The envelope's length reveals the value's length.
//!
//! # Example
//! ```
//! use strongroom::{ClientId, RecordId};
//! use strongroom::hazmat::{envelope, AccessKey};
//! use strongroom::hazmat::envelope::FieldContext;
//!
//! let ak = AccessKey::generate();
//! let ctx = FieldContext {
//!     record_type: "patient",
//!     record_id: RecordId::random(),
//!     writer_id: ClientId::random(),
//!     field: "name",
//!     key_version: 1,
//! };
//! let sealed = envelope::seal_field(&ak, &ctx, b"Ada Lovelace")?;
//! assert!(sealed.to_text().starts_with("srf1."));
//! assert_eq!(*envelope::open_field(&ak, &ctx, &sealed)?, b"Ada Lovelace");
//! // The text form parses back to the same bytes.
//! assert_eq!(envelope::Envelope::from_text(&sealed.to_text())?, sealed);
//! # Ok::<(), strongroom::Error>(())
//! ```

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::aead::{self, OVERHEAD};
use crate::crypto::keys::{AccessKey, DataKey, KEY_LEN};
use crate::error::{Error, Result};
use crate::format::{b64, canonical::Canonical};
use crate::ids::{ClientId, RecordId};

/// The envelope format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The text every version-1 envelope starts with.
pub const PREFIX: &str = "srf1.";
/// Domain label of the field AAD.
const AAD_LABEL: &str = "strongroom/field";
/// Role marker of the data-key seal's AAD.
const ROLE_DATA_KEY: u32 = 1;
/// Role marker of the value seal's AAD.
const ROLE_VALUE: u32 = 0;
/// Bytes of the sealed data key: nonce, key, tag.
const SEALED_DK_LEN: usize = KEY_LEN + OVERHEAD;
/// The shortest envelope: a sealed data key and a sealed empty value.
const MIN_LEN: usize = SEALED_DK_LEN + OVERHEAD;

/// Where a sealed value belongs; bound into both seals as AAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldContext<'a> {
    /// The record type (for example `patient`).
    pub record_type: &'a str,
    /// The record the field belongs to.
    pub record_id: RecordId,
    /// The client that wrote (and owns) the record.
    pub writer_id: ClientId,
    /// The field's stored name.
    pub field: &'a str,
    /// The version of the access key that seals the data key.
    pub key_version: u32,
}

impl FieldContext<'_> {
    /// The canonical AADs of the two seals: label, format version, record
    /// type, record id, writer id, field name, then the seal's role — and,
    /// for the sealed data key, the access key version.
    ///
    /// The value's AAD leaves the key version out, so that re-wrapping a
    /// data key under a newer access key leaves the value's ciphertext
    /// untouched; the value stays bound to its key version through its data
    /// key, which only the data-key seal (bound to the version) releases.
    ///
    /// Both are written into `buffer` (cleared first, its allocation
    /// reused): the value's AAD, then the data key's, each built from the
    /// same common part. No allocation once `buffer` is large enough, so a
    /// reader opening many fields reuses one buffer.
    pub(crate) fn aads_in<'b>(&self, buffer: &'b mut Vec<u8>) -> Result<Aads<'b>> {
        let capacity = 2 * (64 + self.record_type.len() + self.field.len());
        let mut out = Canonical::reusing(AAD_LABEL, std::mem::take(buffer), capacity)
            .u32(FORMAT_VERSION)
            .str(self.record_type)?
            .uuid(self.record_id.as_uuid())
            .uuid(self.writer_id.as_uuid())
            .str(self.field)?
            .finish();
        let common = out.len();
        out.extend_from_slice(&ROLE_VALUE.to_be_bytes());
        let split = out.len();
        out.extend_from_within(..common);
        out.extend_from_slice(&ROLE_DATA_KEY.to_be_bytes());
        out.extend_from_slice(&self.key_version.to_be_bytes());
        *buffer = out;
        Ok(Aads {
            bytes: buffer,
            split,
        })
    }
}

/// The two AADs of one field, in one buffer (see [`FieldContext::aads_in`]).
pub(crate) struct Aads<'b> {
    bytes: &'b [u8],
    split: usize,
}

impl Aads<'_> {
    /// The data-key seal's AAD.
    pub(crate) fn data_key(&self) -> &[u8] {
        &self.bytes[self.split..]
    }

    /// The value seal's AAD.
    pub(crate) fn value(&self) -> &[u8] {
        &self.bytes[..self.split]
    }
}

/// One sealed field value, as its bytes: the sealed data key (nonce, key,
/// tag), then the sealed value (nonce, ciphertext, tag). Its text form is
/// `srf1.` followed by the same bytes in unpadded base64url.
///
/// `Debug` shows only the version and length, never the ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope(Vec<u8>);

impl Envelope {
    /// Takes stored bytes as an envelope. Nothing is checked here but the
    /// length; opening checks the rest.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        if bytes.len() < MIN_LEN {
            return Err(Error::Decryption);
        }
        Ok(Envelope(bytes))
    }

    /// Parses the text form (`srf1.` + unpadded base64url); anything else
    /// is [`Error::Decryption`].
    pub fn from_text(text: &str) -> Result<Self> {
        Self::from_bytes(b64::unprefixed(PREFIX, text).ok_or(Error::Decryption)?)
    }

    /// The stored bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The stored bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The text form: `srf1.` followed by unpadded base64url of the bytes.
    pub fn to_text(&self) -> String {
        b64::prefixed(PREFIX, &self.0)
    }

    /// Bytes stored.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: an envelope holds at least a sealed data key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Envelope(v{FORMAT_VERSION}, {} bytes)", self.0.len())
    }
}

/// Seals `plaintext` for the field named by `ctx` under a fresh data key,
/// itself sealed under `access_key`.
#[must_use = "the sealed value is the only copy"]
pub fn seal_field(
    access_key: &AccessKey,
    ctx: &FieldContext<'_>,
    plaintext: &[u8],
) -> Result<Envelope> {
    let mut buffer = Vec::new();
    let aads = ctx.aads_in(&mut buffer)?;
    let data_key = DataKey::generate();
    let mut body = Vec::with_capacity(SEALED_DK_LEN + OVERHEAD + plaintext.len());
    aead::seal_into(
        access_key.unprotected_as_bytes(),
        aads.data_key(),
        data_key.unprotected_as_bytes(),
        &mut body,
    )?;
    aead::seal_into(
        data_key.unprotected_as_bytes(),
        aads.value(),
        plaintext,
        &mut body,
    )?;
    Ok(Envelope(body))
}

/// Opens the sealed data key at the start of `body`.
fn open_data_key(access_key: &AccessKey, dk_aad: &[u8], body: &[u8]) -> Result<DataKey> {
    let mut dk_bytes = [0u8; KEY_LEN];
    let opened = aead::open_into(
        access_key.unprotected_as_bytes(),
        dk_aad,
        &body[..SEALED_DK_LEN],
        &mut dk_bytes,
    );
    let data_key = DataKey::from_bytes(dk_bytes);
    dk_bytes.zeroize();
    opened?;
    Ok(data_key)
}

/// Opens an envelope made by [`seal_field`] for the same `ctx`.
///
/// Every failure is the opaque [`Error::Decryption`]. The value comes in
/// a buffer wiped when dropped.
#[must_use = "the opened value is the only result"]
pub fn open_field(
    access_key: &AccessKey,
    ctx: &FieldContext<'_>,
    envelope: &Envelope,
) -> Result<Zeroizing<Vec<u8>>> {
    open_field_in(access_key, ctx, envelope, &mut Vec::new()).map(Zeroizing::new)
}

/// [`open_field`] with its AADs framed in `scratch` (any content; its
/// allocation is reused), for a reader that opens many fields.
pub(crate) fn open_field_in(
    access_key: &AccessKey,
    ctx: &FieldContext<'_>,
    envelope: &Envelope,
    scratch: &mut Vec<u8>,
) -> Result<Vec<u8>> {
    let body = envelope.as_bytes();
    if body.len() < MIN_LEN {
        return Err(Error::Decryption);
    }
    let aads = ctx.aads_in(scratch).map_err(|_| Error::Decryption)?;
    let data_key = open_data_key(access_key, aads.data_key(), body)?;
    let sealed_value = &body[SEALED_DK_LEN..];
    let mut plaintext = vec![0u8; sealed_value.len() - OVERHEAD];
    aead::open_into(
        data_key.unprotected_as_bytes(),
        aads.value(),
        sealed_value,
        &mut plaintext,
    )?;
    Ok(plaintext)
}

/// Re-wraps an envelope's data key from `from` (the access key of
/// `ctx.key_version`) to `to` (the access key of `to_version`), leaving the
/// value's ciphertext byte for byte as it was. Checks that the value opens
/// before re-wrapping it. Every failure is [`Error::Decryption`].
#[must_use = "the re-wrapped envelope replaces the old one"]
pub fn rewrap_field(
    from: &AccessKey,
    ctx: &FieldContext<'_>,
    to: &AccessKey,
    to_version: u32,
    envelope: &Envelope,
) -> Result<Envelope> {
    if envelope.len() < MIN_LEN {
        return Err(Error::Decryption);
    }
    let mut body = envelope.as_bytes().to_vec();
    let mut buffer = Vec::new();
    let aads = ctx.aads_in(&mut buffer).map_err(|_| Error::Decryption)?;
    let data_key = open_data_key(from, aads.data_key(), &body)?;
    let sealed_value = &body[SEALED_DK_LEN..];
    let mut check = zeroize::Zeroizing::new(vec![0u8; sealed_value.len() - OVERHEAD]);
    aead::open_into(
        data_key.unprotected_as_bytes(),
        aads.value(),
        sealed_value,
        &mut check,
    )?;
    let moved = FieldContext {
        key_version: to_version,
        ..*ctx
    };
    let new_aads = moved.aads_in(&mut buffer)?;
    let mut sealed_dk = Vec::with_capacity(SEALED_DK_LEN);
    aead::seal_into(
        to.unprotected_as_bytes(),
        new_aads.data_key(),
        data_key.unprotected_as_bytes(),
        &mut sealed_dk,
    )?;
    body[..SEALED_DK_LEN].copy_from_slice(&sealed_dk);
    Ok(Envelope(body))
}

/// Seals any serde value as its JSON encoding.
#[must_use = "the sealed value is the only copy"]
pub fn seal_json<T: Serialize + ?Sized>(
    access_key: &AccessKey,
    ctx: &FieldContext<'_>,
    value: &T,
) -> Result<Envelope> {
    let mut json = serde_json::to_vec(value).map_err(|_| Error::Serialization)?;
    let sealed = seal_field(access_key, ctx, &json);
    json.zeroize();
    sealed
}

/// Opens an envelope and decodes its JSON into `T`.
///
/// A value that opens but does not decode into `T` is
/// [`Error::ValueType`] (naming the field, never the value).
#[must_use = "the opened value is the only result"]
pub fn open_json<T: DeserializeOwned>(
    access_key: &AccessKey,
    ctx: &FieldContext<'_>,
    envelope: &Envelope,
) -> Result<T> {
    let json = open_field(access_key, ctx, envelope)?;
    serde_json::from_slice(&json).map_err(|_| Error::ValueType {
        field: ctx.field.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh buffer and a reused one, whatever it held, frame the same
    /// AADs: the canonical encodings FORMAT.md gives.
    #[test]
    fn aads_framed_in_a_reused_buffer_are_the_canonical_ones() {
        let ctx = FieldContext {
            record_type: "patient",
            record_id: RecordId::random(),
            writer_id: ClientId::random(),
            field: "name",
            key_version: 7,
        };
        let common = || {
            Canonical::new(AAD_LABEL)
                .u32(FORMAT_VERSION)
                .str("patient")
                .unwrap()
                .uuid(ctx.record_id.as_uuid())
                .uuid(ctx.writer_id.as_uuid())
                .str("name")
                .unwrap()
        };
        let dk = common().u32(ROLE_DATA_KEY).u32(7).finish();
        let value = common().u32(ROLE_VALUE).finish();
        for mut buffer in [Vec::new(), vec![0xAB; 1000]] {
            let aads = ctx.aads_in(&mut buffer).unwrap();
            assert_eq!((aads.data_key(), aads.value()), (&dk[..], &value[..]));
        }
    }
}
