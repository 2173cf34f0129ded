//! strongroom: application-level encryption for the sensitive part of an
//! application's data.
//!
//! Each sensitive field is sealed on the client under its own data key; the
//! data key is sealed under a per-(writer, record type) access key; the
//! access key is stored only wrapped (HPKE) to the public keys of the clients
//! allowed to read; every record version is signed by its writer (one
//! Ed25519 signature per batch of record digests). The database — SQLite
//! embedded, or PostgreSQL — holds ciphertext, wrapped keys and signatures
//! only.
//!
//! # Derive a model, use its repository
//! ```
//! use serde::{Deserialize, Serialize};
//! use strongroom::{Client, Sensitive, Store};
//!
//! #[derive(Debug, Clone, Serialize, Deserialize)]
//! struct Visit { date: String, notes: String }
//!
//! #[derive(Debug, Clone, Sensitive)]
//! #[sensitive(record_type = "patient")]
//! struct Patient {
//!     clinic: String,                    // plain meta: stored in the clear, filterable
//!     #[sensitive] name: String,         // sealed under its own data key
//!     #[sensitive] history: Vec<Visit>,  // any serde type, sealed as JSON
//! }
//!
//! let store = Store::open("sqlite::memory:")?;               // or sqlite://PATH, postgres://…
//! # let dir = tempfile::tempdir()?; // the profile is a file: a folder that is removed after
//! let profile = dir.path().join("alice.profile");
//! let alice = Client::open_or_create(&profile, &store)?;     // the identity, created on first use
//!
//! let patients = alice.repo::<Patient>();
//! let saved = patients.insert(Patient {
//!     clinic: "north".into(),
//!     name: "Ada Lovelace".into(),
//!     history: vec![Visit { date: "1843-09-01".into(), notes: "fine".into() }],
//! })?;                                                        // sealed, signed, stored
//! let mut ada = patients.get(saved.id())?;                    // verified, then decrypted
//! ada.name = "Ada King".into();
//! let ada = patients.update(ada)?;                            // a stale version is Error::Conflict
//! let north = patients.query().filter(|p| p.clinic("north")).fetch()?;
//! assert_eq!(north.records[0].version(), ada.version());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The key-value API underneath
//! The repository is a typed front over [`Client`]'s records: a record type,
//! sealed [`Fields`] (any serde value each) and [`Plain`] meta. The command
//! line and migration tools use it directly.
//! ```
//! use strongroom::{Client, Fields, Plain, Query, Store};
//!
//! let store = Store::open("sqlite::memory:")?;
//! # let dir = tempfile::tempdir()?;
//! let profile = dir.path().join("client.profile");
//! let client = Client::open_or_create(&profile, &store)?;
//!
//! let fields = Fields::new().with("name", "Ada Lovelace")?.with("visits", &[1843, 1852])?;
//! let plain = Plain::from([("clinic".to_owned(), "north".to_owned())]);
//! let meta = client.put("patient", &fields, &plain)?;
//!
//! let record = client.get(meta.id)?;
//! assert_eq!(record.field::<String>("name")?, "Ada Lovelace");
//! let page = client.query(&Query::new().record_type("patient").plain_eq("clinic", "north"))?;
//! assert_eq!(page.records.len(), 1);
//! client.delete(meta.id, meta.version)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Map
//! - **Records:** [`Client`] (write, read, query, share, revoke, rotate,
//!   import), [`Query`] and [`Page`]; typed: [`Sensitive`] (trait and derive),
//!   [`Repo`], [`TypedQuery`], [`Stored`].
//! - **The database:** [`Store`] and [`StoreOptions`] (SQLite or
//!   PostgreSQL, pooled, embedded migrations).
//! - **Identity:** [`Identity`], [`PublicIdentity`], [`Fingerprint`]; kept
//!   in a [`Profile`] file, optionally sealed under a passphrase.
//! - **Sharing:** [`Client::share`], [`Client::revoke`],
//!   [`Client::add_authorizer`]; [`Share`] and the outcomes.
//! - **Errors:** one [`Error`]; every failed cryptographic check is the
//!   opaque [`Error::Decryption`].
//! - **Observability:** a `tracing` span per operation of [`Client`] and
//!   [`Counters`]; see [Observability](#observability).
//! - **[`hazmat`]:** the envelope, key wrapping, signatures and record
//!   sealing underneath, for interoperable readers and audits — not for
//!   storing data beside a client.
//!
//! # Observability
//! Each public operation that works on the store runs in a `tracing` span
//! at `INFO` level named after it (`put`, `put_many`, `update`, `delete`,
//! `get`, `query`, `query_pages`, `share`, `revoke`, `rotate`,
//! `import_batch`, …) whose fields are the client's id (`client_id`), the
//! operation's record type, peer and record ids, counts (`records`,
//! `fields`, `skipped`, …), `duration_ms` (recorded when it ends) and, if it
//! failed, `error` (the error's message, which names ids, record types or
//! paths, never values). A [`Repo`]'s operations run in the spans of the
//! client operations they call (`insert` in `put`, `fetch` in `query`).
//! No span or event carries a field value, a plain meta value (a query's
//! span counts its filters), a key, a ciphertext or a passphrase.
//! [`Client::counters`] returns [`Counters`]: records written, read and
//! skipped, access keys unwrapped, cache hits and misses, and conflicts.
//!
//! # Features
//! - `bundled-libpq` (default): libpq and OpenSSL 3 built from source, so
//!   PostgreSQL over TLS (`?sslmode=verify-full&sslrootcert=/path/ca.pem`)
//!   needs nothing installed beyond Rust and a C toolchain. Without it
//!   (`default-features = false`) the system's libpq is linked.
//! - `tokio`: the async front, `strongroom::asynk` — `AsyncClient` and
//!   `AsyncRepo`, `Clone + Send + Sync` handles whose methods run the
//!   blocking work on tokio's blocking pool, bounded by the store's pool
//!   size, for async web backends.
//!
//! The byte-level formats are specified in `FORMAT.md` and the threat model
//! in `SECURITY.md`, both in the repository.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// Lets the derive's `::strongroom::…` paths resolve inside this crate too.
extern crate self as strongroom;

#[doc(hidden)]
pub mod __fuzz;
#[cfg(feature = "tokio")]
pub mod asynk;
mod cache;
mod client;
mod crypto;
mod error;
mod format;
pub mod hazmat;
mod identity;
mod ids;
pub mod index;
mod json_text;
mod model;
mod profile;
use hazmat::record;
mod store;
mod typed;
mod value_check;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use client::{check_name, check_plain, check_record_type, MAX_IMPORT_NAME_LEN};
pub use client::{
    Client, ClientStats, Counters, Cursor, FileReader, ImportBatchOutcome, ImportRow, Order, Page,
    Query, ReconcileReport, RecoveryOutcome, RevokeOutcome, RewrapOutcome, RewrapReport, Share,
    ShareKind, ShareOutcome, SkipReason, Skipped, DEFAULT_REWRAP_BATCH, MAX_PAGE_SIZE,
    MAX_PLAIN_FILTERS, MAX_QUERY_WRITERS,
};
pub use crypto::fingerprint::Fingerprint;
pub use crypto::keys::{EncryptionPublicKey, SigningPublicKey};
pub use error::{BoxError, Error, ProfileError, Result};
pub use identity::{Identity, PublicIdentity};
pub use ids::{BatchId, ClientId, DatabaseId, RecordId};
pub use model::{Fields, NewRecord, Plain, Record, RecordMeta};
pub use profile::{PeerTrust, Profile, ProfileOptions, PROFILE_VERSION};
pub use store::{
    postgres_connection_string, redacted_driver_message, redacted_url, Backend, MigrationStatus,
    Store, StoreOptions, DEFAULT_SQLITE_PAGE_SIZE,
};
pub use strongroom_derive::Sensitive;
pub use typed::{PlainValue, Repo, Sensitive, Stored, TypedPage, TypedQuery};
/// The buffer decrypted values come in: wiped when dropped, read through
/// `Deref` (re-exported so no direct `zeroize` dependency is needed to name it).
pub use zeroize::Zeroizing;
