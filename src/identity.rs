//! A client's identity: its id and its two key pairs.
//!
//! X25519 (encryption: access keys are wrapped to it) and Ed25519 (signing:
//! records). The secret halves live only in memory and in the client's
//! profile file, never in the database.

use std::fmt;

use crate::crypto::fingerprint::Fingerprint;
use crate::crypto::keys::{
    EncryptionPublicKey, EncryptionSecretKey, SigningPublicKey, SigningSecretKey,
};
use crate::crypto::signature::RecordSigner;
use crate::error::Result;
use crate::ids::ClientId;

/// The public half of a client: what is registered in the database and
/// pinned by peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicIdentity {
    /// The client's id.
    pub client_id: ClientId,
    /// Its X25519 public key.
    pub encryption_key: EncryptionPublicKey,
    /// Its Ed25519 public key.
    pub signing_key: SigningPublicKey,
}

impl PublicIdentity {
    /// The short, human-comparable fingerprint of these keys, for checking
    /// a peer out of band (see [`Fingerprint`]).
    pub fn fingerprint(&self) -> Result<Fingerprint> {
        Fingerprint::of(self)
    }
}

/// A client's full identity, secret keys included. `Debug` shows only the
/// public half.
pub struct Identity {
    encryption: EncryptionSecretKey,
    signing: SigningSecretKey,
    signer: RecordSigner,
    public: PublicIdentity,
}

impl Identity {
    /// A new identity: a random client id and fresh key pairs.
    pub fn generate() -> Result<Self> {
        Self::from_secret_keys(
            ClientId::random(),
            EncryptionSecretKey::generate(),
            SigningSecretKey::generate(),
        )
    }

    /// Rebuilds an identity from its secret keys (the public keys are
    /// derived from them).
    pub fn from_secret_keys(
        client_id: ClientId,
        encryption: EncryptionSecretKey,
        signing: SigningSecretKey,
    ) -> Result<Self> {
        let public = PublicIdentity {
            client_id,
            encryption_key: encryption.public_key()?,
            signing_key: signing.public_key(),
        };
        Ok(Identity {
            signer: RecordSigner::new(&signing)?,
            encryption,
            signing,
            public,
        })
    }

    /// A second copy of this identity (secret keys copied into new,
    /// zeroize-on-drop values).
    pub(crate) fn duplicate(&self) -> Result<Identity> {
        Identity::from_secret_keys(
            self.client_id(),
            EncryptionSecretKey::from_bytes(*self.encryption.unprotected_as_bytes()),
            SigningSecretKey::from_bytes(*self.signing.unprotected_as_bytes()),
        )
    }

    /// The client's id.
    pub fn client_id(&self) -> ClientId {
        self.public.client_id
    }

    /// The public half.
    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    /// The X25519 secret key (for unwrapping and wrapping access keys).
    pub fn encryption_secret(&self) -> &EncryptionSecretKey {
        &self.encryption
    }

    /// The Ed25519 secret key.
    pub fn signing_secret(&self) -> &SigningSecretKey {
        &self.signing
    }

    /// The record signer of this identity.
    pub fn signer(&self) -> &RecordSigner {
        &self.signer
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret_key_bytes() {
        let identity = Identity::generate().unwrap();
        let debug = format!("{identity:?}");
        let enc = crate::format::b64::encode(identity.encryption_secret().unprotected_as_bytes());
        let sign = crate::format::b64::encode(identity.signing_secret().unprotected_as_bytes());
        assert!(!debug.contains(&enc) && !debug.contains(&sign));
        assert!(debug.contains(&identity.client_id().to_string()));
    }

    #[test]
    fn ids_are_uuid_v4() {
        let identity = Identity::generate().unwrap();
        assert_eq!(identity.client_id().as_uuid().get_version_num(), 4);
    }
}
