//! The one error type of the library.

use std::path::PathBuf;

/// Everything that can go wrong in strongroom.
///
/// Every failed cryptographic check — a tampered, truncated, moved or
/// malformed ciphertext, a wrong key, a bad signature, a wrapped key from the
/// wrong client — is the single opaque [`Error::Decryption`]: an attacker
/// learns nothing about which check failed. No variant ever carries
/// plaintext, key bytes or ciphertext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Decryption or verification failed: the data was altered, moved to
    /// another context, is malformed, or is not meant for this key.
    #[error(
        "decryption failed: the data was altered, is malformed, or is not for this key or context"
    )]
    Decryption,

    /// An argument is out of the range the formats can encode (for example a
    /// record type longer than 4 GiB) or is otherwise unusable.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),

    /// A profile file could not be read or written.
    #[error("profile {path}: {source}")]
    ProfileIo {
        /// The profile file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A profile file is not a valid strongroom profile: truncated, edited or
    /// not JSON. `reason` says which part is wrong (never a key).
    #[error("profile {path} is malformed: {reason}")]
    ProfileMalformed {
        /// The profile file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A profile file was written by a newer (or unknown) format version.
    #[error(
        "profile {path} has format version {found}, this strongroom reads version {supported}"
    )]
    ProfileVersion {
        /// The profile file.
        path: PathBuf,
        /// The version found in the file.
        found: u64,
        /// The version this build reads.
        supported: u32,
    },

    /// The profile is sealed under a passphrase and none was given.
    #[error("profile {path} is sealed under a passphrase; none was given")]
    PassphraseRequired {
        /// The profile file.
        path: PathBuf,
    },

    /// The passphrase does not open the sealed profile (or the sealed part
    /// was altered: the two cannot be told apart).
    #[error("profile {path}: wrong passphrase, or the sealed profile was altered")]
    WrongPassphrase {
        /// The profile file.
        path: PathBuf,
    },

    /// A profile already exists where a new one was to be created.
    #[error("profile {path} already exists; refusing to overwrite it")]
    ProfileExists {
        /// The profile file.
        path: PathBuf,
    },

    /// A peer's public keys differ from the ones pinned in the profile on
    /// first use: possibly a substituted key in the database.
    #[error("the public keys of client {client_id} differ from the ones pinned in this profile; refusing them")]
    KeyChanged {
        /// The peer whose keys changed.
        client_id: crate::ids::ClientId,
    },

    /// A value could not be encoded as JSON (its `Serialize` impl failed).
    #[error("a value could not be serialized to JSON")]
    Serialization,

    /// A field opened correctly but its JSON does not decode into the
    /// requested type. Names the field, never the value.
    #[error("field `{field}` does not decode into the requested type")]
    ValueType {
        /// The field's stored name.
        field: String,
    },

    /// A primitive failed for a reason that is not the data's fault (the
    /// operating system's random source, for example).
    #[error("cryptographic primitive failed: {0}")]
    Crypto(&'static str),
}

/// `Result` with strongroom's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
