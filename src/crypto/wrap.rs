//! Wrapping an access key to a reader: RFC 9180 HPKE in auth mode.
//!
//! # Use case
//! An access key is stored only wrapped to a client's X25519 public key,
//! one row per (writer, record type, key version, reader). The client that
//! wraps it (the writer, or a client the writer authorised) authenticates
//! the wrap with its own X25519 secret key, so a reader can check who made
//! it.
//!
//! # Parameters
//! Suite DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305 in mode
//! `mode_auth` (orion's `ModeAuth<DHKEM_X25519_SHA256_CHACHA20>`). The
//! [`WrapContext`] (writer, record type, key version, reader, wrapper) is the
//! HPKE `info` and also the AAD of the single seal.
//!
//! # Errors
//! Unwrapping fails with the opaque [`Error::Decryption`] when the wrapped
//! key was altered, was made for another context or reader, or was not made
//! by the claimed wrapper.
//!
//! # Security
//! The caller supplies the wrapper's public key from its pinned keys, never
//! straight from the database.
//!
//! # Example
//! ```
//! use strongroom::ClientId;
//! use strongroom::hazmat::{wrap, AccessKey, EncryptionSecretKey};
//! use strongroom::hazmat::wrap::WrapContext;
//!
//! let writer = EncryptionSecretKey::generate();
//! let reader = EncryptionSecretKey::generate();
//! let ctx = WrapContext {
//!     writer_id: ClientId::random(),
//!     record_type: "patient",
//!     key_version: 1,
//!     reader_id: ClientId::random(),
//!     wrapper_id: ClientId::random(),
//! };
//! let ak = AccessKey::generate();
//! let wrapped = wrap::wrap_access_key(&ak, &ctx, &reader.public_key()?, &writer)?;
//! let back = wrap::unwrap_access_key(wrapped.as_str(), &ctx, &reader, &writer.public_key()?)?;
//! assert_eq!(back, ak);
//! # Ok::<(), strongroom::Error>(())
//! ```

use std::fmt;

use orion::hazardous::hpke::{ModeAuth, DHKEM_X25519_SHA256_CHACHA20};
use zeroize::Zeroize;

use crate::crypto::keys::{AccessKey, EncryptionPublicKey, EncryptionSecretKey, KEY_LEN};
use crate::error::{Error, Result};
use crate::format::{b64, canonical::Canonical};
use crate::ids::ClientId;

/// The wrapped-key format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The text every version-1 wrapped access key starts with.
pub const PREFIX: &str = "srk1.";
const INFO_LABEL: &str = "strongroom/access-key";
const ENC_LEN: usize = 32;
const TAG_LEN: usize = 16;
const BODY_LEN: usize = ENC_LEN + KEY_LEN + TAG_LEN;

type Hpke = ModeAuth<DHKEM_X25519_SHA256_CHACHA20>;

/// Whose key, for whom, wrapped by whom: bound into the wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapContext<'a> {
    /// The client that owns the record type and its access keys.
    pub writer_id: ClientId,
    /// The record type the access key protects.
    pub record_type: &'a str,
    /// The access key's version.
    pub key_version: u32,
    /// The client the key is wrapped to.
    pub reader_id: ClientId,
    /// The client that wrapped it (the writer or an authoriser).
    pub wrapper_id: ClientId,
}

impl WrapContext<'_> {
    /// The canonical HPKE `info` (also the AAD).
    fn info(&self) -> Result<Vec<u8>> {
        let info = Canonical::new(INFO_LABEL)
            .u32(FORMAT_VERSION)
            .uuid(self.writer_id.as_uuid())
            .str(self.record_type)?
            .u32(self.key_version)
            .uuid(self.reader_id.as_uuid())
            .uuid(self.wrapper_id.as_uuid())
            .finish();
        if info.len() > usize::from(u16::MAX) {
            return Err(Error::InvalidInput(
                "record type too long for HPKE info (64 KiB)",
            ));
        }
        Ok(info)
    }
}

/// An access key wrapped to one reader: `srk1.` and unpadded base64url of
/// `enc (32) ‖ ciphertext (32) ‖ tag (16)`.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedAccessKey(String);

impl WrappedAccessKey {
    /// The text form, `srk1.` and unpadded base64url of the bytes the
    /// store keeps (FORMAT.md).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text form, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for WrappedAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedAccessKey(v{FORMAT_VERSION})")
    }
}

/// Wraps `access_key` to `reader`, authenticated by `wrapper` (the caller's
/// own secret key).
#[must_use = "the wrapped key is the only stored copy"]
pub fn wrap_access_key(
    access_key: &AccessKey,
    ctx: &WrapContext<'_>,
    reader: &EncryptionPublicKey,
    wrapper: &EncryptionSecretKey,
) -> Result<WrappedAccessKey> {
    let info = ctx.info()?;
    let reader = reader.to_orion()?;
    let wrapper = wrapper.to_orion()?;
    let mut body = [0u8; BODY_LEN];
    let enc = Hpke::auth_seal(
        &reader,
        &info,
        &wrapper,
        access_key.unprotected_as_bytes(),
        &info,
        &mut body[ENC_LEN..],
    )
    .map_err(|_| Error::Crypto("HPKE seal"))?;
    body[..ENC_LEN].copy_from_slice(enc.as_ref());
    Ok(WrappedAccessKey(b64::prefixed(PREFIX, &body)))
}

/// Unwraps an access key wrapped to `reader` by the holder of `wrapper`'s
/// secret key, for exactly `ctx`. Every failure is [`Error::Decryption`].
#[must_use = "the access key is the only result"]
pub fn unwrap_access_key(
    wrapped: &str,
    ctx: &WrapContext<'_>,
    reader: &EncryptionSecretKey,
    wrapper: &EncryptionPublicKey,
) -> Result<AccessKey> {
    let body = b64::unprefixed(PREFIX, wrapped).ok_or(Error::Decryption)?;
    if body.len() != BODY_LEN {
        return Err(Error::Decryption);
    }
    let info = ctx.info().map_err(|_| Error::Decryption)?;
    let enc = orion::hazardous::kem::x25519_hkdf_sha256::PublicKey::try_from(&body[..ENC_LEN])
        .map_err(|_| Error::Decryption)?;
    let reader = reader.to_orion()?;
    let wrapper = wrapper.to_orion()?;
    let mut key = [0u8; KEY_LEN];
    let opened = Hpke::auth_open(
        &enc,
        &reader,
        &info,
        &wrapper,
        &body[ENC_LEN..],
        &info,
        &mut key,
    );
    let access_key = AccessKey::from_bytes(key);
    key.zeroize();
    opened.map_err(|_| Error::Decryption)?;
    Ok(access_key)
}
