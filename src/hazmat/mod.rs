//! The building blocks under [`Client`](crate::Client): sealing one
//! envelope, wrapping one access key, signing one batch, sealing one record.
//!
//! **Reach for this module only to build something [`Client`](crate::Client)
//! and [`Repo`](crate::Repo) do not offer**: an interoperable reader of
//! strongroom's formats in another system, a known-answer test, an audit
//! tool. Each function here checks what it is given, but none of them
//! decides *which* key, context, writer or version is the right one: that is
//! the job of the client (access keys per writer and record type, version
//! marks against rollback, pinned peers, batch signatures verified before
//! any field is opened). Calling them in the wrong order or with the wrong
//! context gives ciphertext that is sound but means something else, or a
//! record whose writer nobody checked.
//!
//! **Do not** use them to store data beside a [`Client`](crate::Client) in
//! the same database: nothing here writes rows, keeps version marks or
//! knows about shares.
//!
//! The byte formats are specified in `FORMAT.md`.
//!
//! # Example
//! ```
//! use std::collections::BTreeMap;
//! use strongroom::hazmat::{record, signature::RecordHeader, AccessKey};
//! use strongroom::{BatchId, Identity, RecordId};
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
//! assert_eq!(*opened["name"], b"Ada Lovelace");
//! # Ok::<(), strongroom::Error>(())
//! ```

/// File bodies: streamed chunks under a data key ([`file::FileSealer`], [`file::FileOpener`]).
pub use crate::crypto::file_stream as file;
pub use crate::crypto::keys::{
    AccessKey, DataKey, EncryptionSecretKey, IndexKey, IndexSecret, PassphraseKey,
    SigningSecretKey, KEY_LEN,
};
pub use crate::crypto::{batch, blind, envelope, signature, wrap};
pub mod record;
