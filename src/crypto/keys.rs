//! Secret and public key types.
//!
//! Every secret key type comes from one macro: it zeroizes on drop, its
//! `Debug` prints no key bytes, equality is constant-time, and its raw bytes
//! are reachable only through `unprotected_as_bytes`. Public keys are
//! separate types and print freely.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::rng;
use crate::error::{Error, Result};

/// Length in bytes of every key in strongroom.
pub const KEY_LEN: usize = 32;

macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; KEY_LEN]);

        impl $name {
            /// A fresh key from the CSPRNG.
            pub fn generate() -> Self {
                Self(rng::bytes())
            }

            /// Takes ownership of raw key bytes.
            pub fn from_bytes(mut bytes: [u8; KEY_LEN]) -> Self {
                let key = Self(bytes);
                bytes.zeroize();
                key
            }

            /// Copies raw key bytes from a slice of exactly [`KEY_LEN`] bytes.
            pub fn try_from_slice(bytes: &[u8]) -> Result<Self> {
                let array: [u8; KEY_LEN] = bytes
                    .try_into()
                    .map_err(|_| Error::InvalidInput("a key is exactly 32 bytes"))?;
                Ok(Self::from_bytes(array))
            }

            /// The raw key bytes. Unprotected: whatever the caller copies
            /// them into is not zeroized for it.
            pub fn unprotected_as_bytes(&self) -> &[u8; KEY_LEN] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl ConstantTimeEq for $name {
            fn ct_eq(&self, other: &Self) -> subtle::Choice {
                self.0.ct_eq(&other.0)
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.ct_eq(other).into()
            }
        }

        impl Eq for $name {}
    };
}

secret_key!(
    /// The index secret of one (writer, record type, index version),
    /// derived from that version's access key; index keys derive from it.
    IndexSecret
);
secret_key!(
    /// The key of one blind index at one index version: keys the BLAKE2b
    /// of the normalised values.
    IndexKey
);
secret_key!(
    /// The symmetric key of one (writer, record type, key version). It seals
    /// the data keys of every record of that type; stored only wrapped.
    AccessKey
);
secret_key!(
    /// The symmetric key of one field of one record version; stored only
    /// sealed under an [`AccessKey`].
    DataKey
);
secret_key!(
    /// A client's X25519 secret key: opens access keys wrapped to it and
    /// authenticates the access keys it wraps.
    EncryptionSecretKey
);
secret_key!(
    /// A client's Ed25519 secret key (the 32-byte seed): signs records.
    SigningSecretKey
);
secret_key!(
    /// A key derived from a passphrase (Argon2id); seals a profile's secrets.
    PassphraseKey
);

macro_rules! public_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name([u8; KEY_LEN]);

        impl $name {
            /// Wraps raw public key bytes.
            pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
                Self(bytes)
            }

            /// The raw public key bytes.
            pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
                &self.0
            }

            /// The key as unpadded base64url, the form stored in the database.
            pub fn to_base64(&self) -> String {
                crate::format::b64::encode(&self.0)
            }

            /// Parses the unpadded base64url form.
            pub fn from_base64(text: &str) -> Result<Self> {
                let bytes = crate::format::b64::decode(text)
                    .map_err(|_| Error::InvalidInput("a public key is 32 bytes of base64url"))?;
                let array: [u8; KEY_LEN] = bytes
                    .try_into()
                    .map_err(|_| Error::InvalidInput("a public key is 32 bytes of base64url"))?;
                Ok(Self(array))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_base64())
            }
        }
    };
}

public_key!(
    /// A client's X25519 public key: access keys are wrapped to it.
    EncryptionPublicKey
);
public_key!(
    /// A client's Ed25519 public key: verifies the records it signs.
    SigningPublicKey
);

impl EncryptionSecretKey {
    /// The X25519 public key of this secret key.
    pub fn public_key(&self) -> Result<EncryptionPublicKey> {
        let secret = self.to_orion()?;
        let public = orion::hazardous::kem::x25519_hkdf_sha256::PublicKey::try_from(&secret)
            .map_err(|_| Error::Crypto("X25519 public key derivation"))?;
        let bytes: [u8; KEY_LEN] = public
            .as_ref()
            .try_into()
            .map_err(|_| Error::Crypto("X25519 public key length"))?;
        Ok(EncryptionPublicKey(bytes))
    }

    /// The key as orion's HPKE private key (zeroized on drop by orion).
    pub(crate) fn to_orion(&self) -> Result<orion::hazardous::kem::x25519_hkdf_sha256::PrivateKey> {
        orion::hazardous::kem::x25519_hkdf_sha256::PrivateKey::try_from(&self.0[..])
            .map_err(|_| Error::Crypto("X25519 private key"))
    }
}

impl EncryptionPublicKey {
    /// Whether a key can be agreed with this point: not one of X25519's
    /// low-order points (the all-zero key among them), whose shared secret
    /// is the same whatever the other side's key, and to which HPKE
    /// refuses to wrap.
    pub(crate) fn is_usable(&self) -> bool {
        use orion::hazardous::ecc::x25519;
        let (Ok(ours), Ok(theirs)) = (
            x25519::PrivateKey::generate(),
            x25519::PublicKey::try_from(&self.0[..]),
        ) else {
            return false;
        };
        x25519::key_agreement(&ours, &theirs).is_ok()
    }

    /// The key as orion's HPKE public key.
    pub(crate) fn to_orion(self) -> Result<orion::hazardous::kem::x25519_hkdf_sha256::PublicKey> {
        orion::hazardous::kem::x25519_hkdf_sha256::PublicKey::try_from(&self.0[..])
            .map_err(|_| Error::Decryption)
    }
}

impl SigningSecretKey {
    /// The dalek signing key (zeroized on drop by dalek).
    pub(crate) fn to_dalek(&self) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&self.0)
    }

    /// The Ed25519 public key of this secret key.
    pub fn public_key(&self) -> SigningPublicKey {
        SigningPublicKey(self.to_dalek().verifying_key().to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_debug_redacted(debug: String, raw: &[u8; KEY_LEN]) {
        assert!(debug.contains("<redacted>"), "{debug}");
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let b64 = crate::format::b64::encode(raw);
        assert!(!debug.contains(&hex));
        assert!(!debug.contains(&b64));
        assert!(!debug.contains(&format!("{raw:?}")));
        // No decimal run of the first bytes either.
        assert!(!debug.contains(&format!("{}, {}", raw[0], raw[1])));
    }

    #[test]
    fn debug_prints_no_key_bytes_for_every_secret_type() {
        let ak = AccessKey::generate();
        assert_debug_redacted(format!("{ak:?}"), ak.unprotected_as_bytes());
        let dk = DataKey::generate();
        assert_debug_redacted(format!("{dk:?}"), dk.unprotected_as_bytes());
        let ek = EncryptionSecretKey::generate();
        assert_debug_redacted(format!("{ek:?}"), ek.unprotected_as_bytes());
        let sk = SigningSecretKey::generate();
        assert_debug_redacted(format!("{sk:#?}"), sk.unprotected_as_bytes());
        let is = IndexSecret::generate();
        assert_debug_redacted(format!("{is:?}"), is.unprotected_as_bytes());
        let ik = IndexKey::generate();
        assert_debug_redacted(format!("{ik:?}"), ik.unprotected_as_bytes());
        let pk = PassphraseKey::generate();
        assert_debug_redacted(format!("{pk:?}"), pk.unprotected_as_bytes());
    }

    /// Every secret key type wipes its bytes when dropped (checked by the
    /// compiler: each implements `ZeroizeOnDrop`), as does the Ed25519 key
    /// ed25519-dalek holds while signing.
    #[test]
    fn every_secret_type_zeroizes_on_drop() {
        fn zeroizes_on_drop<T: ZeroizeOnDrop>() {}
        zeroizes_on_drop::<IndexSecret>();
        zeroizes_on_drop::<IndexKey>();
        zeroizes_on_drop::<AccessKey>();
        zeroizes_on_drop::<DataKey>();
        zeroizes_on_drop::<EncryptionSecretKey>();
        zeroizes_on_drop::<SigningSecretKey>();
        zeroizes_on_drop::<PassphraseKey>();
        zeroizes_on_drop::<ed25519_dalek::SigningKey>();
    }

    #[test]
    fn equality_compares_bytes() {
        let a = AccessKey::from_bytes([7; KEY_LEN]);
        assert_eq!(a, AccessKey::from_bytes([7; KEY_LEN]));
        assert_ne!(a, AccessKey::from_bytes([8; KEY_LEN]));
        assert_ne!(AccessKey::generate(), AccessKey::generate());
    }

    #[test]
    fn zeroize_clears_the_bytes() {
        let mut key = DataKey::from_bytes([0xAB; KEY_LEN]);
        key.zeroize();
        assert_eq!(key.unprotected_as_bytes(), &[0u8; KEY_LEN]);
    }

    #[test]
    fn try_from_slice_rejects_wrong_lengths() {
        assert!(AccessKey::try_from_slice(&[1; 31]).is_err());
        assert!(AccessKey::try_from_slice(&[1; 33]).is_err());
        assert!(AccessKey::try_from_slice(&[1; 32]).is_ok());
    }

    #[test]
    fn public_keys_are_deterministic() {
        let ek = EncryptionSecretKey::from_bytes([3; KEY_LEN]);
        assert_eq!(ek.public_key().unwrap(), ek.public_key().unwrap());
        let sk = SigningSecretKey::from_bytes([4; KEY_LEN]);
        assert_eq!(sk.public_key(), sk.public_key());
        let round = SigningPublicKey::from_base64(&sk.public_key().to_base64()).unwrap();
        assert_eq!(round, sk.public_key());
    }
}
