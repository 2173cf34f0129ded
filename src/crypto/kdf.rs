//! Key derivation from a passphrase (Argon2id, orion's `kdf`) and the
//! short unkeyed digest the meta index tags plain entries with (BLAKE2b).

use orion::hazardous::hash::blake2::blake2b::Blake2b;
use orion::kdf::{self, CostParams, Password, Salt};

use super::keys::{PassphraseKey, KEY_LEN};
use crate::error::{Error, Result};

/// Argon2id of `passphrase` under `salt` with `iterations` passes over
/// `memory_kib` KiB, one lane: the key that seals a profile's secret
/// keys. An empty passphrase is [`Error::InvalidInput`].
pub(crate) fn passphrase_key(
    passphrase: &str,
    salt: &[u8],
    iterations: u32,
    memory_kib: u32,
) -> Result<PassphraseKey> {
    if passphrase.is_empty() {
        return Err(Error::InvalidInput("the passphrase is empty"));
    }
    let password = Password::try_from(passphrase.as_bytes())
        .map_err(|_| Error::InvalidInput("unusable passphrase"))?;
    let salt = Salt::try_from(salt).map_err(|_| Error::Crypto("Argon2id salt"))?;
    let cost = CostParams::new(iterations, memory_kib, 1)
        .map_err(|_| Error::Crypto("Argon2id parameters"))?;
    let derived = kdf::derive_key(&password, &salt, &cost, KEY_LEN as u32)
        .map_err(|_| Error::Crypto("Argon2id"))?;
    PassphraseKey::try_from_slice(derived.unprotected_as_ref())
}

/// BLAKE2b with an 8-byte output of `bytes` (unkeyed: the meta index's
/// tags are meant to be computed by anyone who knows the plain entry).
pub(crate) fn digest_8(bytes: &[u8]) -> Result<[u8; 8]> {
    let digest = Blake2b::new(8)
        .and_then(|mut h| h.update(bytes).and_then(|()| h.finalize()))
        .map_err(|_| Error::Crypto("BLAKE2b"))?;
    let mut out = [0u8; 8];
    out.copy_from_slice(digest.as_ref());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// strongroom's own derivation (one lane, no secret, no associated
    /// data) against the reference implementation's command line:
    /// `echo -n "123" | argon2 ABCDEFGHIJKLMNOP -id -v 13 -k 1024 -t 5`
    /// (phc-winner-argon2; one lane is its default). RFC 9106's own vector
    /// (four lanes, a secret and associated data) is in
    /// `tests/primitives_kat.rs`.
    #[test]
    fn passphrase_key_is_argon2id_as_the_reference_cli_gives_it() {
        let key = passphrase_key("123", b"ABCDEFGHIJKLMNOP", 5, 1024).unwrap();
        let hex: String = key
            .unprotected_as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "3c5d010180ba0cf5b6b858cba23b318e42d33088983c404598599c3b029ecac6"
        );
        assert!(matches!(
            passphrase_key("", b"ABCDEFGHIJKLMNOP", 5, 1024),
            Err(Error::InvalidInput(_))
        ));
    }

    /// BLAKE2b with an 8-byte output is its own parameterisation (RFC 7693
    /// puts the output length in the parameter block), so its known answer
    /// comes from the reference tool: `printf abc | b2sum -l 64` prints
    /// `d8bb14d833d59559` (GNU coreutils 9).
    #[test]
    fn digest_8_is_blake2b_64() {
        assert_eq!(
            digest_8(b"abc").unwrap(),
            [0xd8, 0xbb, 0x14, 0xd8, 0x33, 0xd5, 0x95, 0x59]
        );
    }
}
