//! Blind index values: keyed BLAKE2b of normalised field values.
//!
//! # Use case
//! Equality search on sealed fields ([`crate::index`]). FORMAT.md, "Blind
//! indexes", specifies every byte.
//!
//! # Construction
//! Three keyed BLAKE2b steps (orion's BLAKE2b MAC, 32-byte keys):
//! 1. index secret = BLAKE2b-256(key = access key of version `v`,
//!    canonical(`strongroom/index-secret`, 1, writer, record type, `v`));
//! 2. index key = BLAKE2b-256(key = index secret,
//!    canonical(`strongroom/index-key`, 1, index name, index description));
//! 3. value = the first `bits` bits of BLAKE2b-256(key = index key,
//!    canonical(`strongroom/index-value`, 1, count, each input)), the
//!    unused low bits of the last byte zero.
//!
//! # Security
//! Whoever holds the access key of version `v` can compute every index
//! value of version `v`, and nobody else: the database learns only which
//! records share a value (at `bits` bits).
//!
//! # Example
//! ```
//! use strongroom::ClientId;
//! use strongroom::hazmat::{blind, AccessKey};
//!
//! let ak = AccessKey::generate();
//! let secret = blind::index_secret(&ak, ClientId::random(), "patient", 1)?;
//! let key = blind::index_key(&secret, "ssn", b"\x01")?;
//! let a = blind::blind_value(&key, &[b"\"123\"".to_vec()], 12)?;
//! assert_eq!(a.len(), 2);
//! assert_eq!(a[1] & 0x0f, 0); // 12 bits kept, 4 zeroed
//! assert_eq!(a, blind::blind_value(&key, &[b"\"123\"".to_vec()], 12)?);
//! # Ok::<(), strongroom::Error>(())
//! ```

use orion::hazardous::mac::blake2b::{Blake2b, SecretKey};
use zeroize::Zeroize;

use crate::crypto::keys::{AccessKey, IndexKey, IndexSecret, KEY_LEN};
use crate::error::{Error, Result};
use crate::format::canonical::Canonical;
use crate::ids::ClientId;

const SECRET_LABEL: &str = "strongroom/index-secret";
const KEY_LABEL: &str = "strongroom/index-key";
const VALUE_LABEL: &str = "strongroom/index-value";
const CONSTRUCTION_VERSION: u32 = 1;

/// BLAKE2b-256 of `message` keyed by `key`.
fn keyed(key: &[u8; KEY_LEN], message: &[u8]) -> Result<[u8; 32]> {
    let key = SecretKey::try_from(&key[..]).map_err(|_| Error::Crypto("BLAKE2b key"))?;
    let mut mac = Blake2b::new(&key, 32).map_err(|_| Error::Crypto("BLAKE2b"))?;
    mac.update(message).map_err(|_| Error::Crypto("BLAKE2b"))?;
    let tag = mac.finalize().map_err(|_| Error::Crypto("BLAKE2b"))?;
    let mut out = [0u8; 32];
    let bytes: &[u8] = tag.unprotected_as_ref();
    out.copy_from_slice(bytes);
    Ok(out)
}

/// The index secret of `(writer, record_type, version)`, from that
/// version's access key.
pub fn index_secret(
    access_key: &AccessKey,
    writer_id: ClientId,
    record_type: &str,
    version: u32,
) -> Result<IndexSecret> {
    let message = Canonical::new(SECRET_LABEL)
        .u32(CONSTRUCTION_VERSION)
        .uuid(writer_id.as_uuid())
        .str(record_type)?
        .u32(version)
        .finish();
    let mut out = keyed(access_key.unprotected_as_bytes(), &message)?;
    let secret = IndexSecret::from_bytes(out);
    out.zeroize();
    Ok(secret)
}

/// The key of the index `name` described by `spec` (its stored
/// description), under `secret`.
pub fn index_key(secret: &IndexSecret, name: &str, spec: &[u8]) -> Result<IndexKey> {
    let message = Canonical::new(KEY_LABEL)
        .u32(CONSTRUCTION_VERSION)
        .str(name)?
        .bytes(spec)?
        .finish();
    let mut out = keyed(secret.unprotected_as_bytes(), &message)?;
    let key = IndexKey::from_bytes(out);
    out.zeroize();
    Ok(key)
}

/// The index value of `inputs` (the normalised field values, in the
/// index's field order): `bits` bits (1 to 256), in `ceil(bits / 8)`
/// bytes, the unused low bits of the last byte zero.
pub fn blind_value<V: AsRef<[u8]>>(key: &IndexKey, inputs: &[V], bits: u16) -> Result<Vec<u8>> {
    if bits == 0 || bits > 256 {
        return Err(Error::InvalidInput("an index keeps 1 to 256 bits"));
    }
    let count = u32::try_from(inputs.len()).map_err(|_| Error::InvalidInput("too many inputs"))?;
    let mut builder = Canonical::new(VALUE_LABEL)
        .u32(CONSTRUCTION_VERSION)
        .u32(count);
    for input in inputs {
        builder = builder.bytes(input.as_ref())?;
    }
    let mut message = builder.finish();
    let full = keyed(key.unprotected_as_bytes(), &message);
    message.zeroize();
    let full = full?;
    let bytes = usize::from(bits.div_ceil(8));
    let mut out = full[..bytes].to_vec();
    let spare = bytes * 8 - usize::from(bits);
    if let Some(last) = out.last_mut() {
        *last &= 0xffu8 << spare;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The official BLAKE2 keyed known answers (BLAKE2/BLAKE2
    /// testvectors/blake2b-kat.txt: key 00..3f), through the same orion
    /// MAC the construction uses, at 64 bytes of key and output.
    #[test]
    fn orion_keyed_blake2b_matches_the_blake2_kat() {
        let key: Vec<u8> = (0u8..64).collect();
        let key = SecretKey::try_from(&key[..]).unwrap();
        for (input, expected) in [
            (&b""[..], "10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568"),
            (&[0u8][..], "961f6dd1e4dd30f63901690c512e78e4b45e4742ed197c3c5e45c549fd25f2e4187b0bc9fe30492b16b0d0bc4ef9b0f34c7003fac09a5ef1532e69430234cebd"),
            (&[0u8, 1][..], "da2cfbe2d8409a0f38026113884f84b50156371ae304c4430173d08a99d9fb1b983164a3770706d537f49e0c916d9f32b95cc37a95b99d857436f0232c88a965"),
        ] {
            let mut mac = Blake2b::new(&key, 64).unwrap();
            mac.update(input).unwrap();
            let tag = mac.finalize().unwrap();
            let bytes: &[u8] = tag.unprotected_as_ref();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, expected);
        }
    }

    #[test]
    fn values_depend_on_every_input_and_key_and_truncate_cleanly() {
        let ak = AccessKey::from_bytes([7u8; 32]);
        let writer = ClientId::random();
        let s1 = index_secret(&ak, writer, "t", 1).unwrap();
        let s2 = index_secret(&ak, writer, "t", 2).unwrap();
        assert_ne!(s1, s2);
        assert_ne!(s1, index_secret(&ak, writer, "u", 1).unwrap());
        let k = index_key(&s1, "ssn", b"spec").unwrap();
        assert_ne!(k, index_key(&s1, "ssn", b"spec2").unwrap());
        assert_ne!(k, index_key(&s2, "ssn", b"spec").unwrap());
        let full = blind_value(&k, &[b"a".to_vec()], 256).unwrap();
        assert_eq!(full.len(), 32);
        let cut = blind_value(&k, &[b"a".to_vec()], 9).unwrap();
        assert_eq!(cut, vec![full[0], full[1] & 0x80]);
        assert_ne!(full, blind_value(&k, &[b"b".to_vec()], 256).unwrap());
        // Boundaries between inputs are part of the value.
        assert_ne!(
            blind_value(&k, &[b"ab".to_vec(), b"c".to_vec()], 256).unwrap(),
            blind_value(&k, &[b"a".to_vec(), b"bc".to_vec()], 256).unwrap()
        );
        assert!(blind_value(&k, &[b"a".to_vec()], 0).is_err());
        assert!(blind_value(&k, &[b"a".to_vec()], 257).is_err());
    }
}
