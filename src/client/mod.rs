//! A client: one identity (from its profile) working on one store.
//!
//! # Use case
//! The key-value API: [`Client::put`], [`Client::get`], [`Client::update`],
//! [`Client::delete`], [`Client::put_many`] and [`Client::query`]. Every
//! write seals each field under a fresh data key, seals the data keys under
//! the record type's access key and signs the record; every read verifies
//! before it decrypts.
//!
//! # Observability
//! Spans and counters: see the crate docs and `observe.rs`.
//!
//! # Example
//! ```
//! use strongroom::{Client, Fields, Plain, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open("sqlite::memory:")?;
//! let alice = Client::open_or_create(dir.path().join("alice.profile"), &store)?;
//! let fields = Fields::new().with("name", "Ada Lovelace")?.with("born", &1815)?;
//! let plain = Plain::from([("clinic".to_owned(), "north".to_owned())]);
//! let meta = alice.put("patient", &fields, &plain)?;
//! let record = alice.get(meta.id)?;
//! assert_eq!(record.field::<String>("name")?, "Ada Lovelace");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod access;
mod declarations;
mod files;
mod grant_rules;
mod grants;
mod import;
mod keyring;
mod lineage;
mod local_profile;
mod marks;
mod observe;
mod peers;
mod query;
mod read;
mod reconcile;
mod recovery;
mod reindex;
mod resign;
mod rewrap;
mod rotation;
mod search;
mod share;
mod validate;
mod verify;
mod write;

use std::path::Path;

use crate::error::Result;
use crate::identity::{Identity, PublicIdentity};
use crate::ids::ClientId;
use crate::profile::{Profile, ProfileOptions};
use crate::store::Store;

pub use files::FileReader;
pub(crate) use grant_rules::valid_grantee_parts;
pub use import::{ImportBatchOutcome, ImportRow, MAX_IMPORT_NAME_LEN};
pub use observe::Counters;
pub use query::{
    Cursor, Order, Page, Query, SkipReason, Skipped, MAX_PAGE_SIZE, MAX_PLAIN_FILTERS,
    MAX_QUERY_WRITERS,
};
pub use reconcile::ReconcileReport;
pub use recovery::RecoveryOutcome;
pub use rewrap::{RewrapOutcome, RewrapReport, DEFAULT_REWRAP_BATCH};
pub use share::{RevokeOutcome, Share, ShareKind, ShareOutcome};
pub use validate::{check_name, check_plain, check_record_type};

/// Counters a client keeps about its key work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Access keys unwrapped (HPKE opens) since the client was made.
    pub key_unwraps: u64,
    /// Access key look-ups answered by the cache.
    pub key_cache_hits: u64,
    /// Access keys in the cache now.
    pub cached_keys: usize,
    /// Record batch signatures verified (Ed25519) since the client was
    /// made.
    pub batch_verifications: u64,
    /// Record batches found already verified in the cache.
    pub batch_cache_hits: u64,
}

/// One client identity working on one store.
pub struct Client {
    store: Store,
    identity: Identity,
    /// The profile file as this process holds it (pins, trust, recovery
    /// client, key-version marks).
    profile: local_profile::LocalProfile,
    keyring: keyring::Keyring,
    batches: keyring::VerifiedBatches,
    /// Records written, read and skipped, and conflicts.
    tally: observe::Tally,
    /// The database identity this client checked on its first key
    /// decision (see [`Client::adopt_database`]).
    database: marks::DatabaseMark,
    /// Declared blind indexes by record type ([`Client::declare_indexes`]),
    /// and the types the planner checked once.
    indexes: declarations::Declarations,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id())
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Loads the profile at `profile_path` (creating it, with a new
    /// identity, if there is none) and registers the client's public keys
    /// in `store`.
    pub fn open_or_create(profile_path: impl AsRef<Path>, store: &Store) -> Result<Client> {
        Self::open_or_create_with(profile_path, store, ProfileOptions::default())
    }

    /// [`Client::open_or_create`] with a name and/or passphrase for the
    /// profile (the passphrase also opens an existing sealed profile).
    pub fn open_or_create_with(
        profile_path: impl AsRef<Path>,
        store: &Store,
        options: ProfileOptions<'_>,
    ) -> Result<Client> {
        let path = profile_path.as_ref();
        let passphrase = options.passphrase;
        let profile = if path.exists() {
            Profile::load(path, passphrase)?
        } else {
            match Profile::create(path, options) {
                // Another process (or thread) created it meanwhile: that
                // one is the profile.
                Err(crate::Error::Profile(crate::error::ProfileError::Exists { .. })) => {
                    Profile::load(path, passphrase)?
                }
                other => other?,
            }
        };
        Self::from_profile(profile, store)
    }

    /// A client for an already loaded profile; registers its public keys.
    ///
    /// A store whose schema is behind this build (opened with
    /// [`StoreOptions::without_migrations`](crate::StoreOptions::without_migrations)
    /// before its migrations ran) is [`Error::MigrationsPending`](crate::Error::MigrationsPending),
    /// and nothing is written.
    pub fn from_profile(profile: Profile, store: &Store) -> Result<Client> {
        store.ensure_schema_current()?;
        let client = Client {
            store: store.clone(),
            identity: profile.identity().duplicate()?,
            profile: local_profile::LocalProfile::new(profile),
            keyring: keyring::Keyring::new(),
            batches: keyring::VerifiedBatches::new(),
            tally: observe::Tally::default(),
            database: marks::DatabaseMark::default(),
            indexes: declarations::Declarations::default(),
        };
        client.observe(observe::op_span!(client, "open"), |_| client.register())?;
        Ok(client)
    }

    /// This client's id.
    pub fn id(&self) -> ClientId {
        self.identity.client_id()
    }

    /// This client's public keys.
    pub fn public(&self) -> &PublicIdentity {
        self.identity.public()
    }

    /// The store this client works on.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Key and batch counters (for tests and monitoring).
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            key_unwraps: self.keyring.unwraps(),
            key_cache_hits: self.keyring.hits(),
            cached_keys: self.keyring.len(),
            batch_verifications: self.batches.verifications(),
            batch_cache_hits: self.batches.hits(),
        }
    }

    /// Drops every cached access key (they are zeroized).
    pub fn clear_key_cache(&self) {
        self.keyring.clear();
    }

    /// Drops every cached verified record batch: later reads fetch and
    /// verify their batches again.
    pub fn clear_batch_cache(&self) {
        self.batches.clear();
    }

    fn with_profile<T>(&self, f: impl FnOnce(&mut Profile) -> T) -> T {
        self.profile.with(f)
    }
}
