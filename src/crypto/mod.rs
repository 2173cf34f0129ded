//! Cryptographic building blocks: key types, the field envelope, access-key
//! wrapping and record signatures. Nothing here touches the database.

pub(crate) mod aead;
pub mod batch;
pub mod blind;
pub mod envelope;
pub mod file_stream;
pub mod fingerprint;
pub(crate) mod kdf;
pub mod keys;
pub(crate) mod rng;
pub mod signature;
pub mod wrap;
