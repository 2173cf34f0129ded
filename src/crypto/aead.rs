//! XChaCha20-Poly1305 with associated data (orion's hazardous API) and a
//! random 24-byte nonce from the userspace CSPRNG.
//!
//! A sealed box is `nonce (24) ‖ ciphertext ‖ tag (16)`.

use orion::hazardous::aead::xchacha20poly1305::{Nonce, SecretKey, XChaCha20Poly1305};

use crate::crypto::keys::KEY_LEN;
use crate::crypto::rng;
use crate::error::{Error, Result};

/// XChaCha20 nonce length.
pub(crate) const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub(crate) const TAG_LEN: usize = 16;
/// Bytes a sealed box adds to its plaintext.
pub(crate) const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

fn orion_key(key: &[u8; KEY_LEN]) -> Result<SecretKey> {
    SecretKey::try_from(&key[..]).map_err(|_| Error::Crypto("XChaCha20-Poly1305 key"))
}

/// Seals `plaintext` under `key` with `aad`, appending
/// `nonce ‖ ciphertext ‖ tag` to `out`.
pub(crate) fn seal_into(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let nonce_bytes: [u8; NONCE_LEN] = rng::bytes();
    let nonce = Nonce::from(nonce_bytes);
    let start = out.len();
    out.extend_from_slice(&nonce_bytes);
    out.resize(start + NONCE_LEN + plaintext.len() + TAG_LEN, 0);
    XChaCha20Poly1305::seal(
        &orion_key(key)?,
        &nonce,
        plaintext,
        Some(aad),
        &mut out[start + NONCE_LEN..],
    )
    .map_err(|_| Error::Crypto("XChaCha20-Poly1305 seal"))
}

/// Opens a sealed box made by [`seal_into`]; any failure is
/// [`Error::Decryption`].
pub(crate) fn open_into(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    sealed: &[u8],
    out: &mut [u8],
) -> Result<()> {
    if sealed.len() < OVERHEAD || out.len() != sealed.len() - OVERHEAD {
        return Err(Error::Decryption);
    }
    let (nonce_bytes, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_from(nonce_bytes).map_err(|_| Error::Decryption)?;
    XChaCha20Poly1305::open(&orion_key(key)?, &nonce, ciphertext, Some(aad), out)
        .map_err(|_| Error::Decryption)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_aad_binding() {
        let key = [9u8; KEY_LEN];
        let mut sealed = Vec::new();
        seal_into(&key, b"ctx", b"hello", &mut sealed).unwrap();
        assert_eq!(sealed.len(), 5 + OVERHEAD);
        let mut out = [0u8; 5];
        open_into(&key, b"ctx", &sealed, &mut out).unwrap();
        assert_eq!(&out, b"hello");
        assert!(open_into(&key, b"other", &sealed, &mut out).is_err());
        assert!(open_into(&[8u8; KEY_LEN], b"ctx", &sealed, &mut out).is_err());
        assert!(open_into(&key, b"ctx", &sealed[..20], &mut out).is_err());
    }

    #[test]
    fn nonces_differ() {
        let key = [1u8; KEY_LEN];
        let (mut a, mut b) = (Vec::new(), Vec::new());
        seal_into(&key, b"", b"x", &mut a).unwrap();
        seal_into(&key, b"", b"x", &mut b).unwrap();
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
    }
}
