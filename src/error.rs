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

    /// A profile file could not be used: see [`ProfileError`] for which
    /// way (its I/O, its shape, its version, its passphrase).
    #[error(transparent)]
    Profile(#[from] ProfileError),

    /// A peer's public keys differ from the ones pinned in the profile on
    /// first use: possibly a substituted key in the database.
    #[error("the public keys of client {client_id} differ from the ones pinned in this profile; refusing them")]
    KeyChanged {
        /// The peer whose keys changed.
        client_id: crate::ids::ClientId,
    },

    /// This database does not carry an identity this profile has written
    /// to, yet it holds rows this client wrote as a writer (access keys,
    /// key heads, records, batches or grants on its types): a copy
    /// or restore of a database whose identity row was changed, deleted or
    /// replaced. Rollback protection cannot vouch for it, so no key
    /// decision (write, share, rotate, revoke, re-wrap) is made until the
    /// user adopts it ([`crate::Client::adopt_database`], the CLI's
    /// `--adopt-database`). `database` is the id it carries, if well-formed.
    #[error("{}", identity_changed_text(database))]
    DatabaseIdentityChanged {
        /// The id the database carries now (`None`: missing or malformed).
        database: Option<crate::ids::DatabaseId>,
    },

    /// A peer's public keys do not match the fingerprint the caller
    /// expected (checked out of band). Nothing was pinned or shared.
    #[error("the public keys of client {client_id} do not match the expected fingerprint; nothing was pinned or shared")]
    FingerprintMismatch {
        /// The peer whose keys were checked.
        client_id: crate::ids::ClientId,
    },

    /// The profile trusts only peers pinned from a verified fingerprint
    /// ([`crate::profile::PeerTrust::Verified`]) and this peer has not been.
    #[error("client {client_id} is not pinned from its fingerprint and this profile trusts only verified peers; pin it from its fingerprint first (Client::pin_peer, `strongroom pin`)")]
    PeerNotVerified {
        /// The peer.
        client_id: crate::ids::ClientId,
    },

    /// A record has no field of this name (for example a record written
    /// before the field was added to the model).
    #[error("the record has no field `{field}`")]
    MissingField {
        /// The field's stored name.
        field: String,
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

    /// The database URL is not one strongroom can open. The URL is shown
    /// without its password.
    #[error("invalid database url {url}: {reason}")]
    InvalidUrl {
        /// The URL, password removed.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The database could not be reached or refused the connection.
    /// `target` names scheme, user, host, port and database, never the
    /// password (a URL libpq may read otherwise than it looks, such as one
    /// with an `@` after its user information, is `<unprintable url>`).
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// The URL, password removed.
        target: String,
        /// The driver's message, password scrubbed.
        reason: String,
    },

    /// An SQLite file that does not exist, opened without
    /// [`StoreOptions::create_if_missing`](crate::StoreOptions::create_if_missing)
    /// (or [`Store::open_or_create`](crate::Store::open_or_create)). Nothing
    /// was created.
    #[error("no database at {target} (a missing SQLite file is created only when asked to)")]
    NoDatabase {
        /// The URL.
        target: String,
    },

    /// No pooled connection became free within the connection timeout,
    /// while the pool could open connections (it is busy). A wait that
    /// times out because new connections cannot be opened (the server is
    /// down or refuses them) is [`Error::Connect`] with the driver's reason.
    #[error("timed out waiting for a connection to {target}")]
    PoolTimeout {
        /// The URL, password removed.
        target: String,
    },

    /// A PostgreSQL statement ran past the store's statement timeout
    /// ([`StoreOptions::postgres_statement_timeout`](crate::StoreOptions))
    /// and the server cancelled it: its transaction was rolled back. An
    /// operation of one transaction wrote nothing; one that commits in
    /// batches (re-wrap, re-index, import) keeps the batches committed
    /// before, as with any other error. Retrying later may succeed.
    /// Recognised by the server's message in English (`lc_messages`); a
    /// server speaking another language gives [`Error::Database`] instead.
    #[error("a database statement ran past the statement timeout and was cancelled; its transaction was rolled back")]
    StatementTimeout,

    /// Applying or listing migrations failed. The source is the migration
    /// harness's error.
    #[error("migration failed: {0}")]
    Migration(#[source] BoxError),

    /// The database's schema is not the one this build writes: it has no
    /// strongroom schema, or an older one, with `pending` of this build's
    /// migrations not applied (the store was opened with
    /// [`StoreOptions::without_migrations`](crate::StoreOptions::without_migrations)).
    /// Apply them ([`Store::run_migrations`](crate::Store::run_migrations),
    /// `strongroom migrate`, or diesel's CLI) before opening a client.
    #[error("the database's schema is behind this build: {pending} of its migrations are not applied (apply them with Store::run_migrations, `strongroom migrate` or diesel's CLI)")]
    MigrationsPending {
        /// How many of this build's migrations are not applied.
        pending: usize,
    },

    /// A write was refused by a constraint (unique, foreign key, check).
    /// The source is the driver's error (a `diesel::result::Error`).
    #[error("constraint violated: {0}")]
    Constraint(#[source] BoxError),

    /// Optimistic concurrency: the record is not at the expected version
    /// (another writer got there first). Nothing was written.
    #[error("conflict: {}", conflict_text(record_id, expected, found))]
    Conflict {
        /// The record, when known.
        record_id: Option<crate::ids::RecordId>,
        /// The version the caller expected.
        expected: Option<u64>,
        /// The version found; `None` when the write found the record
        /// changed under it without reading its new version. (A record
        /// that no longer exists is [`Error::NotFound`], not a conflict.)
        found: Option<u64>,
    },

    /// No record with this id is visible to this client.
    #[error("record {record_id} not found")]
    NotFound {
        /// The record asked for.
        record_id: crate::ids::RecordId,
    },

    /// The record exists but this client may not do this with it: it holds
    /// no access key for it, or it is not the record's writer.
    #[error("access denied to record {record_id}: {reason}")]
    AccessDenied {
        /// The record.
        record_id: crate::ids::RecordId,
        /// Why (never key material).
        reason: &'static str,
    },

    /// The database offers an older access key version for one of this
    /// client's record types than the client has already used (or has lost
    /// the newest one): a rollback, perhaps to re-admit a revoked reader.
    /// Nothing is written.
    #[error("the database offers an older access key for record type `{record_type}` than this client has used; refusing to write (after restoring an older backup on purpose: Client::restart_key_lineage, `strongroom recovery restart-lineage`)")]
    KeyRollback {
        /// The record type.
        record_type: String,
    },

    /// The operation needs a right this client does not hold (an
    /// authoriser grant, an access key).
    #[error("not permitted: {0}")]
    NotPermitted(&'static str),

    /// A revocation named a client that holds nothing of the record type
    /// here — no share (policy) and no wrapped key: never shared with,
    /// already revoked, or a mistyped id. Nothing was revoked and the key
    /// did not rotate (to rotate anyway, call [`crate::Client::rotate`]).
    #[error("client {reader} holds no share of record type `{record_type}`: nothing was revoked and the key was not rotated")]
    NotShared {
        /// The record type.
        record_type: String,
        /// The client named.
        reader: crate::ids::ClientId,
    },

    /// The database serves public keys for a client this profile has not
    /// pinned that are no usable keys (malformed, or an X25519 point no
    /// key can be agreed with): nothing was pinned or shared.
    #[error("the database serves public keys for client {client_id} that are not usable keys (malformed or a low-order point); refusing them, nothing was pinned")]
    BadPeerKeys {
        /// The peer whose served keys are unusable.
        client_id: crate::ids::ClientId,
    },

    /// A client id has no registered public keys in the store.
    #[error("client {client_id} is not registered in this store")]
    UnknownClient {
        /// The client asked for.
        client_id: crate::ids::ClientId,
    },

    /// Any other database error. The source is the driver's error (a
    /// `diesel::result::Error` or an `r2d2::Error`); its text is the
    /// driver's message only, never the row values a driver may put in its
    /// details.
    #[error("database error: {0}")]
    Database(#[source] BoxError),

    /// strongroom broke one of its own invariants (a bug, not the data's
    /// fault and not an attack): please report it.
    #[error("internal error (a bug in strongroom; please report it): {0}")]
    Internal(&'static str),

    /// A primitive failed for a reason that is not the data's fault (the
    /// operating system's random source, for example).
    #[error("cryptographic primitive failed: {0}")]
    Crypto(&'static str),

    /// A file operation ([`Client::read_file`](crate::Client::read_file),
    /// `open_file`, `update_file`) named a record that is not a file.
    #[error("record {record_id} is not a file record")]
    NotAFile {
        /// The record.
        record_id: crate::ids::RecordId,
    },

    /// Reading a file body from its source, or writing it to its
    /// destination, failed. After a failed upload nothing of it is stored;
    /// after a failed read the destination may hold part of the body (see
    /// [`Client::read_file`](crate::Client::read_file)).
    #[error("file body: {action} failed: {source}")]
    BodyIo {
        /// What failed: reading the source or writing the destination.
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The ways a profile file can fail to open, be created or be saved; each
/// names the file. Reached through [`Error::Profile`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// A profile file could not be read or written.
    #[error("profile {path}: {source}")]
    Io {
        /// The profile file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A profile file is not a valid strongroom profile: truncated, edited or
    /// not JSON. `reason` says which part is wrong (never a key).
    #[error("profile {path} is malformed: {reason}")]
    Malformed {
        /// The profile file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A profile file was written by a newer (or unknown) format version.
    #[error(
        "profile {path} has format version {found}, this strongroom reads versions 1 to {supported}"
    )]
    Version {
        /// The profile file.
        path: PathBuf,
        /// The version found in the file.
        found: u64,
        /// The newest version this build reads (it reads every version
        /// from 1 to this one).
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
    Exists {
        /// The profile file.
        path: PathBuf,
    },
}

/// The underlying error a database, migration or constraint failure keeps as
/// its source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

fn identity_changed_text(database: &Option<crate::ids::DatabaseId>) -> String {
    let which = database.map_or_else(
        || "has no well-formed identity".to_owned(),
        |id| format!("has identity {id}, which this profile has never written to,"),
    );
    format!(
        "this database {which} but holds rows this client wrote (its keys, records or grants) \
         (a restored or copied database?); refusing to use it for key decisions until it is \
         adopted (Client::adopt_database or `strongroom --adopt-database`; see SECURITY.md)"
    )
}

fn conflict_text(
    record_id: &Option<crate::ids::RecordId>,
    expected: &Option<u64>,
    found: &Option<u64>,
) -> String {
    let record = record_id.map_or_else(|| "a record".to_owned(), |id| format!("record {id}"));
    match (expected, found) {
        (Some(e), Some(f)) => format!("{record} is at version {f}, not the expected {e}"),
        (Some(e), None) => format!("{record} changed since version {e}"),
        _ => format!("{record} was changed concurrently; retry"),
    }
}

/// `Result` with strongroom's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
