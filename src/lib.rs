//! strongroom: application-level encryption for the sensitive part of an
//! application's data.
//!
//! Each sensitive field is sealed on the client under its own data key; the
//! data key is sealed under a per-(writer, record type) access key; the
//! access key is stored only wrapped (HPKE) to the public keys of the clients
//! allowed to read; every record version is signed by its writer (one
//! Ed25519 signature per batch of record digests). The database holds
//! ciphertext, wrapped keys and signatures only.
//!
//! The byte-level formats are specified in `FORMAT.md`; the threat model is
//! in `SECURITY.md`.
//!
//! # Example
//! ```
//! use std::collections::BTreeMap;
//! use strongroom::{record, AccessKey, BatchId, Identity, RecordId};
//! use strongroom::signature::RecordHeader;
//!
//! let alice = Identity::generate()?;
//! let access_key = AccessKey::generate();
//! let values = BTreeMap::from([("name".to_owned(), b"Ada Lovelace".to_vec())]);
//! let plain = BTreeMap::from([("clinic".to_owned(), "north".to_owned())]);
//! let header = RecordHeader {
//!     record_id: RecordId::random(),
//!     version: 1,
//!     record_type: "patient",
//!     writer_id: alice.client_id(),
//!     key_version: 1,
//! };
//! let batch_id = BatchId::random();
//! let sealed = record::seal_record(&access_key, header, plain, &values, batch_id, 0)?;
//! let batch = record::sign_batch(alice.signer(), batch_id, std::slice::from_ref(&sealed))?;
//! // The batch signature verified first, the record checked against it,
//! // then every field decrypted.
//! let verified = batch.verify(alice.client_id(), &alice.public().signing_key)?;
//! let opened = record::open_record(&sealed, &verified, &access_key)?;
//! assert_eq!(opened["name"], b"Ada Lovelace");
//! # Ok::<(), strongroom::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// Lets the derive's `::strongroom::…` paths resolve inside this crate too.
extern crate self as strongroom;

mod cache;
pub mod client;
pub mod crypto;
mod error;
mod format;
pub mod identity;
mod ids;
pub mod model;
pub mod profile;
pub mod record;
pub mod store;
pub mod typed;

pub use client::{
    Client, ClientStats, Cursor, ImportBatchOutcome, ImportRow, Order, Page, Query, RevokeOutcome,
    RewrapOutcome, RewrapReport, Share, ShareKind, ShareOutcome, SkipReason, Skipped,
};
/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use crypto::fingerprint::Fingerprint;
pub use crypto::keys::{
    AccessKey, DataKey, EncryptionPublicKey, EncryptionSecretKey, PassphraseKey, SigningPublicKey,
    SigningSecretKey, KEY_LEN,
};
pub use crypto::{batch, envelope, signature, wrap};
pub use error::{BoxError, Error, ProfileError, Result};
pub use identity::{Identity, PublicIdentity};
pub use ids::{BatchId, ClientId, DatabaseId, RecordId};
pub use model::{Fields, NewRecord, Plain, Record, RecordMeta};
pub use profile::{Profile, ProfileOptions};
pub use store::{Backend, MigrationStatus, Store, StoreOptions};
pub use strongroom_derive::Sensitive;
pub use typed::{PlainValue, Repo, Sensitive, Stored, TypedPage, TypedQuery};
