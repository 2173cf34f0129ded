//! The sensitive database: a diesel connection pool on SQLite (embedded,
//! the default) or PostgreSQL, with the schema's migrations embedded.
//!
//! # Use case
//! A [`Store`] is opened once per process and shared (it is a cheap clone
//! of a pool). Clients read and write records through it; it stores only
//! ciphertext, wrapped keys, signatures and plain meta.
//!
//! # Parameters
//! [`StoreOptions`]: pool size, connection timeout, whether to run the
//! embedded migrations on open, SQLite's busy timeout. SQLite connections
//! use WAL mode, `synchronous = NORMAL` and foreign keys. `sqlite::memory:`
//! is one private database, so its pool holds exactly one connection.
//!
//! # Errors
//! An unreachable database is [`Error::Connect`] at once, naming host,
//! port and database but never the password, with the driver's reason (for
//! PostgreSQL libpq's own message: an unknown host, a refused port, a
//! certificate that does not verify under `sslmode=verify-full`); a pool
//! that has no free connection in time is [`Error::PoolTimeout`] — unless
//! the pool could not open one because the server refused or dropped it
//! (a server down or restarting): that is [`Error::Connect`] with the
//! driver's reason, and the next operation after the server is back
//! succeeds on the same store.
//!
//! # Example
//! ```
//! let store = strongroom::Store::open("sqlite::memory:")?;
//! assert_eq!(store.backend(), strongroom::Backend::Sqlite);
//! # Ok::<(), strongroom::Error>(())
//! ```

/// Inserts many rows: on SQLite one cached, prepared single-row statement
/// per row (an in-process call each; a multi-row statement would be built
/// and prepared again for every chunk), on PostgreSQL one binary `COPY …
/// FROM STDIN` (no SQL to parse and plan per row; inside the transaction,
/// so it is all or nothing like the rest of the write).
macro_rules! insert_many {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let rows = $rows;
        match $conn {
            $crate::store::AnyConnection::Sqlite(c) => {
                for row in rows {
                    diesel::insert_into($table)
                        .values(row)
                        .execute(c)
                        .map_err($crate::store::tx::db_err)?;
                }
            }
            $crate::store::AnyConnection::Postgresql(c) => {
                if !rows.is_empty() {
                    diesel::copy_from($table)
                        .from_insertable(rows)
                        .execute(c)
                        .map_err($crate::store::tx::db_err)?;
                }
            }
        }
        Ok(())
    }};
}

pub(crate) mod batches;
pub(crate) mod clients;
mod connection;
pub(crate) mod files;
pub(crate) mod grants;
pub(crate) mod identity;
pub(crate) mod imports;
pub(crate) mod indexes;
pub(crate) mod keys;
mod migrate;
pub(crate) mod records;
pub(crate) mod rows;
pub(crate) mod schema;
pub(crate) mod sql_id;
pub(crate) mod tx;
mod url;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
pub(crate) use connection::AnyConnection;
use connection::Manager;
pub use migrate::MigrationStatus;
use url::DatabaseUrl;

pub(crate) type Conn = PooledConnection<Manager>;

/// Which database engine a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (bundled), a file or in memory.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// How to open a [`Store`]: `StoreOptions::default()` and the setters below.
///
/// ```
/// use std::time::Duration;
/// use strongroom::StoreOptions;
///
/// let options = StoreOptions::default()
///     .pool_size(4)
///     .connection_timeout(Duration::from_secs(3));
/// assert_eq!(options.pool_size, 4);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Most connections the pool holds (default 8; always 1 in memory).
    pub pool_size: u32,
    /// How long to wait for a connection, from the pool or the server
    /// (default 5 s; a PostgreSQL server gets it as libpq's
    /// `connect_timeout`, in whole seconds, at least 2, unless the URL sets
    /// one). From 1 ms to 24 hours: anything else is
    /// [`Error::InvalidInput`] at open.
    pub connection_timeout: Duration,
    /// Run pending embedded migrations on open (default true).
    pub run_migrations: bool,
    /// How long SQLite waits on a locked database (default 5 s; at most
    /// 24 hours, more is [`Error::InvalidInput`] at open).
    pub sqlite_busy_timeout: Duration,
    /// Create a missing SQLite file (default false: a missing file is
    /// [`Error::NoDatabase`]). The folder must exist.
    pub create_if_missing: bool,
    /// The page size of an SQLite database this store creates (default
    /// [`DEFAULT_SQLITE_PAGE_SIZE`]; a power of two from 512 to 65,536).
    /// A database that exists keeps the page size it was made with.
    pub sqlite_page_size: u32,
    /// The longest a PostgreSQL statement may run, lock waits included,
    /// before the server cancels it ([`Error::StatementTimeout`]; its
    /// transaction is rolled back). Default `None`: the server's own
    /// `statement_timeout` (PostgreSQL's default is no limit). From 1 ms
    /// to 24 hours; ignored by SQLite, whose waits are
    /// [`StoreOptions::sqlite_busy_timeout`].
    pub postgres_statement_timeout: Option<Duration>,
}

/// The page size of the SQLite databases a [`Store`] creates: 16 KiB
/// (SQLite's own default is 4 KiB).
///
/// Measured on a 2-core VM (`examples/bench_chunk_floor`, BENCHMARKING.md
/// "Files"): plain inserts of a file's 64 KiB sealed chunks ran at about
/// 190 MB/s with 4 KiB pages, 260-285 with 16 KiB and 270-315 with
/// 64 KiB; for records, 16 KiB pages cut `put_many`'s time by a third to
/// a half against 4 KiB at about the same bytes a record, while 64 KiB
/// pages doubled a single `put`'s latency. A single `put` takes about a
/// quarter to two fifths longer with 16 KiB pages than with 4 KiB (about
/// 120-150 against 90-120 µs); [`StoreOptions::sqlite_page_size`] picks
/// another size.
pub const DEFAULT_SQLITE_PAGE_SIZE: u32 = 16_384;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            pool_size: 8,
            connection_timeout: Duration::from_secs(5),
            run_migrations: true,
            sqlite_busy_timeout: Duration::from_secs(5),
            create_if_missing: false,
            sqlite_page_size: DEFAULT_SQLITE_PAGE_SIZE,
            postgres_statement_timeout: None,
        }
    }
}

impl StoreOptions {
    /// Most connections the pool holds.
    #[must_use]
    pub fn pool_size(mut self, connections: u32) -> Self {
        self.pool_size = connections;
        self
    }

    /// How long to wait for a connection, from the pool or the server.
    #[must_use]
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How long SQLite waits on a locked database.
    #[must_use]
    pub fn sqlite_busy_timeout(mut self, timeout: Duration) -> Self {
        self.sqlite_busy_timeout = timeout;
        self
    }

    /// The page size of an SQLite database this store creates (a power of
    /// two from 512 to 65,536; another is [`Error::InvalidInput`] on
    /// open, whatever the backend, PostgreSQL's included, which does not
    /// use it). It has no effect on a database that exists.
    #[must_use]
    pub fn sqlite_page_size(mut self, bytes: u32) -> Self {
        self.sqlite_page_size = bytes;
        self
    }

    /// The longest a PostgreSQL statement may run before the server
    /// cancels it ([`StoreOptions::postgres_statement_timeout`]). A web
    /// backend sets one: a deadline of its own drops a request's wait, but
    /// a statement already sent (behind a table another session locked, say)
    /// keeps its pooled connection until the server answers.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = strongroom::StoreOptions::default()
    ///     .postgres_statement_timeout(Duration::from_secs(5));
    /// assert_eq!(options.postgres_statement_timeout, Some(Duration::from_secs(5)));
    /// ```
    #[must_use]
    pub fn postgres_statement_timeout(mut self, timeout: Duration) -> Self {
        self.postgres_statement_timeout = Some(timeout);
        self
    }

    /// Create a missing SQLite file (its folder must exist).
    #[must_use]
    pub fn create_if_missing(mut self) -> Self {
        self.create_if_missing = true;
        self
    }

    /// Do not run pending migrations on open (run them with
    /// [`Store::run_migrations`], or with diesel's CLI).
    #[must_use]
    pub fn without_migrations(mut self) -> Self {
        self.run_migrations = false;
        self
    }
}

/// How long [`Store::spare_conn`] waits for a connection.
const SPARE_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// The sensitive database. Cloning shares the pool.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Manager>,
    /// The pool's latest failure to open a connection, cleared when it
    /// opens one.
    connect_failure: ConnectFailure,
    backend: Backend,
    url: DatabaseUrl,
    /// Set once this store saw every embedded migration applied: a
    /// client's open need not ask again.
    schema_current: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// [`StoreOptions::sqlite_busy_timeout`]: how long the switch to WAL
    /// mode after the migrations tries again on a locked database.
    sqlite_busy_timeout: Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The shortest connection timeout a store takes (the pool needs one above
/// zero).
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// The longest connection or busy timeout a store takes: a day is beyond
/// any wait a caller means, and far from the overflow of a deadline
/// computed from it.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug)]
struct SessionSetup {
    sqlite_busy_timeout: Duration,
    sqlite_page_size: u32,
    postgres_statement_timeout: Option<Duration>,
}

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for SessionSetup {
    fn on_acquire(&self, conn: &mut AnyConnection) -> std::result::Result<(), diesel::r2d2::Error> {
        if let AnyConnection::Sqlite(sqlite) = conn {
            // None of these writes to the file: the page size takes effect
            // only when a still empty database is first written (by the
            // migrations that create the schema). The busy timeout comes
            // first: the others may read the file, and one that meets a
            // lock (another process recovering the WAL after a crash, say)
            // must wait for it, not fail at once.
            let sql = format!(
                "PRAGMA busy_timeout = {};
                 PRAGMA page_size = {};
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA cache_size = -16384;",
                self.sqlite_busy_timeout.as_millis(),
                self.sqlite_page_size
            );
            sqlite
                .batch_execute(&sql)
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        if let (AnyConnection::Postgresql(pg), Some(timeout)) =
            (&mut *conn, self.postgres_statement_timeout)
        {
            pg.batch_execute(&format!("SET statement_timeout = {}", timeout.as_millis()))
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        // WAL mode is written into the file: only a database that holds
        // strongroom's schema is switched (a file that is not one, opened
        // by mistake, is left as it was; the migrations that create the
        // schema switch it).
        if matches!(conn, AnyConnection::Sqlite(_))
            && migrate::schema_present(conn).map_err(diesel::r2d2::Error::QueryError)?
        {
            migrate::use_wal(conn, self.sqlite_busy_timeout)
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

impl Store {
    /// Opens `sqlite://PATH` (which must exist: see
    /// [`Store::open_or_create`]), `sqlite::memory:`, `postgres://…` or a
    /// libpq keyword string (`host=db dbname=app sslmode=verify-full`) with
    /// default options.
    pub fn open(url: &str) -> Result<Store> {
        Self::open_with(url, StoreOptions::default())
    }

    /// Opens a store with explicit options.
    pub fn open_with(url: &str, options: StoreOptions) -> Result<Store> {
        let url = DatabaseUrl::parse(url)?;
        let backend = if url.is_postgres() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let in_memory = url == DatabaseUrl::SqliteMemory;
        if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&options.connection_timeout) {
            return Err(Error::InvalidInput(
                "the connection timeout is from 1 ms to 24 hours",
            ));
        }
        if options.sqlite_busy_timeout > MAX_TIMEOUT {
            return Err(Error::InvalidInput(
                "the SQLite busy timeout is at most 24 hours",
            ));
        }
        if options
            .postgres_statement_timeout
            .is_some_and(|timeout| !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&timeout))
        {
            return Err(Error::InvalidInput(
                "the PostgreSQL statement timeout is from 1 ms to 24 hours",
            ));
        }
        let page = options.sqlite_page_size;
        if !(512..=65_536).contains(&page) || !page.is_power_of_two() {
            return Err(Error::InvalidInput(
                "the SQLite page size must be a power of two from 512 to 65536",
            ));
        }
        if let DatabaseUrl::SqliteFile(path) = &url {
            check_sqlite_file(&url, std::path::Path::new(path), options.create_if_missing)?;
        }
        let manager = Manager::new(&url, options.connection_timeout);
        let session = SessionSetup {
            sqlite_busy_timeout: options.sqlite_busy_timeout,
            sqlite_page_size: options.sqlite_page_size,
            postgres_statement_timeout: options.postgres_statement_timeout,
        };
        // One connection first, outside the pool, set up as the pool sets
        // up each: a database that cannot be reached, or an SQLite file
        // that is no database, fails here at once with the driver's
        // reason, instead of after the pool's retries with "timed out
        // waiting for connection".
        let mut first = manager.connect().map_err(|err| connect_error(&url, &err))?;
        session
            .on_acquire(&mut first)
            .map_err(|err| connect_error(&url, &err))?;
        drop(first);
        let connect_failure = ConnectFailure::default();
        let mut builder = Pool::builder()
            .max_size(if in_memory {
                1
            } else {
                options.pool_size.max(1)
            })
            .connection_timeout(options.connection_timeout)
            .connection_customizer(Box::new(session))
            .error_handler(Box::new(QuietErrors {
                secrets: url.secrets().into_iter().map(Zeroizing::new).collect(),
                latest: connect_failure.clone(),
            }))
            .event_handler(Box::new(ConnectSuccess {
                latest: connect_failure.clone(),
            }));
        if in_memory {
            // The one connection *is* the database: never close it.
            builder = builder
                .min_idle(Some(1))
                .idle_timeout(None)
                .max_lifetime(None);
        } else {
            builder = builder.min_idle(Some(1));
        }
        let pool = builder
            .build(manager)
            .map_err(|err| connect_error(&url, &err))?;
        let store = Store {
            pool,
            connect_failure,
            backend,
            url,
            schema_current: Default::default(),
            sqlite_busy_timeout: options.sqlite_busy_timeout,
        };
        if options.run_migrations {
            let applied = store.run_migrations()?;
            if !applied.is_empty() {
                tracing::info!(count = applied.len(), backend = ?store.backend, "applied migrations");
            }
        }
        tracing::debug!(url = ?store.url, "opened store");
        Ok(store)
    }

    /// Opens a store, creating a missing SQLite file (but not its folder):
    /// [`Store::open_with`] and [`StoreOptions::create_if_missing`]. A
    /// PostgreSQL database must exist already.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let url = format!("sqlite://{}", dir.path().join("sensitive.db").display());
    /// assert!(strongroom::Store::open(&url).is_err()); // not there yet
    /// let store = strongroom::Store::open_or_create(&url)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_or_create(url: &str) -> Result<Store> {
        Self::open_with(url, StoreOptions::default().create_if_missing())
    }

    /// The database engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The most connections the pool holds: [`StoreOptions::pool_size`]
    /// (at least 1), always 1 for `sqlite::memory:`.
    ///
    /// ```
    /// use strongroom::{Store, StoreOptions};
    /// # let dir = tempfile::tempdir()?;
    /// let url = format!("sqlite://{}", dir.path().join("s.db").display());
    /// let store = Store::open_with(&url, StoreOptions::default().pool_size(4).create_if_missing())?;
    /// assert_eq!(store.pool_size(), 4);
    /// assert_eq!(Store::open("sqlite::memory:")?.pool_size(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pool_size(&self) -> u32 {
        self.pool.max_size()
    }

    /// The database URL without its password.
    pub fn redacted_url(&self) -> String {
        self.url.redacted()
    }

    /// Whether clients keep rollback marks for this database in their
    /// profiles: not in memory (such a database ends with its process, and
    /// marks would only pile up in the profile).
    pub(crate) fn keeps_marks(&self) -> bool {
        !self.is_in_memory()
    }

    /// Whether this is a private in-memory SQLite database
    /// (`sqlite::memory:`), which ends with its process.
    pub fn is_in_memory(&self) -> bool {
        self.url == DatabaseUrl::SqliteMemory
    }

    /// This database's identity: the random id created with its schema
    /// (see [`crate::DatabaseId`]). A missing or malformed identity row is
    /// [`Error::DatabaseIdentityChanged`] with no id.
    pub fn database_id(&self) -> Result<crate::DatabaseId> {
        let mut conn = self.conn()?;
        match identity::read(&mut conn)? {
            identity::StoredIdentity::Id(id) => Ok(id),
            _ => Err(Error::DatabaseIdentityChanged { database: None }),
        }
    }

    /// Removes the stored file chunks that no file record's current
    /// version owns, and returns how many it removed. strongroom itself
    /// leaves none behind (an upload, an update and a delete are each one
    /// transaction, and an upload in progress is not seen); they appear
    /// when record rows are deleted or rolled back by SQL outside it.
    pub fn remove_orphan_file_chunks(&self) -> Result<usize> {
        let mut conn = self.conn()?;
        tx::write_transaction(&mut conn, files::delete_orphans)
    }

    /// A further pooled connection, for work beside the caller's own: one
    /// that is free, or a new one if the pool has room, waiting at most a
    /// moment; `None` if the pool holds a single connection or none comes.
    pub(crate) fn spare_conn(&self) -> Option<Conn> {
        if self.pool.max_size() < 2 {
            return None;
        }
        self.pool
            .try_get()
            .or_else(|| self.pool.get_timeout(SPARE_WAIT).ok())
    }

    /// A pooled connection.
    ///
    /// When none came in time and the pool's latest attempt to open one
    /// failed (none opened since) during the wait or just before it, the
    /// server is the problem, not the pool's size: [`Error::Connect`] with
    /// the driver's reason.
    pub(crate) fn conn(&self) -> Result<Conn> {
        let asked = std::time::Instant::now();
        self.pool.get().map_err(|err| {
            if !err.to_string().contains("timed out") {
                return connect_error(&self.url, &err);
            }
            let recent = asked
                .checked_sub(self.pool.connection_timeout())
                .unwrap_or(asked);
            match self.connect_failure.since(recent) {
                Some(reason) => Error::Connect {
                    target: self.url.redacted(),
                    reason,
                },
                None => Error::PoolTimeout {
                    target: self.url.redacted(),
                },
            }
        })
    }
}

/// A missing SQLite file is an error unless the caller asked to create it:
/// a typo in a path must not silently start an empty database.
fn check_sqlite_file(url: &DatabaseUrl, path: &std::path::Path, create: bool) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    if !create {
        return Err(Error::NoDatabase {
            target: url.redacted(),
        });
    }
    match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() && !folder.is_dir() => Err(Error::Connect {
            target: url.redacted(),
            reason: format!("the folder {} does not exist", folder.display()),
        }),
        _ => Ok(()),
    }
}

/// Pool errors (a connection lost and re-opened in the background) at
/// debug level: the caller gets the error that matters from the operation
/// that met it, once, not one log line per retry.
struct QuietErrors {
    /// Scrubbed from the driver's messages.
    secrets: Vec<Zeroizing<String>>,
    latest: ConnectFailure,
}

impl std::fmt::Debug for QuietErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QuietErrors")
    }
}

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for QuietErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        let reason = driver_reason(&error, &self.secrets);
        tracing::debug!(error = %reason, "pool could not open a connection");
        self.latest.set(Some(reason));
    }
}

/// The driver's reason the pool's latest attempt to open (or check) a
/// connection failed, until it opens one; shared by the pool's handlers
/// and the store.
#[derive(Debug, Clone, Default)]
struct ConnectFailure(std::sync::Arc<std::sync::Mutex<Option<(std::time::Instant, String)>>>);

impl ConnectFailure {
    /// Records a failure (`Some` reason) or a success (`None`).
    fn set(&self, reason: Option<String>) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            reason.map(|reason| (std::time::Instant::now(), reason));
    }

    /// The reason of the latest failure, if it came at or after `since`
    /// and no connection was opened after it.
    fn since(&self, since: std::time::Instant) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .filter(|(at, _)| *at >= since)
            .map(|(_, reason)| reason.clone())
    }
}

/// Forgets the latest connection failure when the pool opens a connection.
#[derive(Debug)]
struct ConnectSuccess {
    latest: ConnectFailure,
}

impl diesel::r2d2::HandleEvent for ConnectSuccess {
    fn handle_acquire(&self, _: diesel::r2d2::event::AcquireEvent) {
        self.latest.set(None);
    }
}

/// A connection that could not be opened: the redacted target and the
/// driver's reason.
fn connect_error(url: &DatabaseUrl, err: &dyn std::fmt::Display) -> Error {
    Error::Connect {
        target: url.redacted(),
        reason: driver_reason(err, &url.secrets()),
    }
}

/// The driver's message on one line, without the password.
fn driver_reason(err: &dyn std::fmt::Display, secrets: &[impl AsRef<str>]) -> String {
    one_line(&scrub(&err.to_string(), secrets))
}

/// A driver's message on one line (libpq ends lines with `\n`).
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A database URL with its password removed, for messages and logs: the
/// user information's password as libpq finds it (up to the first `@`),
/// and every `password`, `sslpassword` and `oauth_client_secret`
/// parameter or keyword. A URL libpq may read otherwise than it looks (an
/// `@` after the user information or inside the query, a port that is not
/// a number) is `<unprintable url>`.
pub fn redacted_url(url: &str) -> String {
    match DatabaseUrl::parse(url) {
        Ok(parsed) => parsed.redacted(),
        Err(_) => url::redact(url),
    }
}

/// A PostgreSQL connection string as strongroom's own pool connects with
/// it: `url` is a `postgres://` URL or a libpq keyword string (`host=…
/// dbname=…`), and gets libpq's `connect_timeout` (whole seconds, at
/// least 2) unless it sets its own, so a server that never answers fails
/// in that time instead of the operating system's minutes.
///
/// For connections of your own to a PostgreSQL database beside the store
/// (the CLI's import source is one); print the result only through
/// [`redacted_url`], and a driver's message about it only through
/// [`redacted_driver_message`].
///
/// ```
/// use std::time::Duration;
/// let conn = strongroom::postgres_connection_string(
///     "postgres://app:secret@db/app",
///     Duration::from_secs(5),
/// )?;
/// assert_eq!(conn, "postgres://app:secret@db/app?connect_timeout=5");
/// assert!(matches!(
///     strongroom::postgres_connection_string("sqlite://x.db", Duration::from_secs(5)),
///     Err(strongroom::Error::InvalidUrl { .. })
/// ));
/// # Ok::<(), strongroom::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidUrl`] for anything but a PostgreSQL URL or keyword
/// string.
pub fn postgres_connection_string(url: &str, connect_timeout: Duration) -> Result<String> {
    let parsed = DatabaseUrl::parse(url)?;
    parsed
        .postgres_with_timeout(connect_timeout)
        .ok_or_else(|| Error::InvalidUrl {
            url: parsed.redacted(),
            reason: "expected a PostgreSQL URL (postgres://…) or libpq keywords (host=… dbname=…)",
        })
}

/// A database driver's message about a connection to `url`, safe to print:
/// on one line, with `url` itself (which libpq quotes whole when it
/// cannot parse it) replaced by its redacted form and its password
/// removed wherever it still appears.
///
/// ```
/// let url = "postgres://app:hunter2@[::1/app";
/// let message = format!("invalid IPv6 host address in URI: \"{url}\"\n");
/// let safe = strongroom::redacted_driver_message(url, &message);
/// assert!(!safe.contains("hunter2"), "{safe}");
/// assert!(!safe.contains('\n'));
/// ```
pub fn redacted_driver_message(url: &str, message: &str) -> String {
    let whole = if url.is_empty() {
        message.to_owned()
    } else {
        message.replace(url, &redacted_url(url))
    };
    let secrets = DatabaseUrl::parse(url)
        .map(|parsed| parsed.secrets())
        .unwrap_or_default();
    one_line(&scrub(&whole, &secrets))
}

/// Removes every secret from a driver's message (drivers should never
/// echo a password, but an error path is no place to find out). `secrets`
/// come as [`DatabaseUrl::secrets`] gives them: none empty, the longest
/// first, so one that contains another goes whole.
fn scrub(message: &str, secrets: &[impl AsRef<str>]) -> String {
    let mut message = message.to_owned();
    for secret in secrets {
        message = message.replace(secret.as_ref(), "***");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_with_no_free_connection_times_out_with_its_own_error() {
        let options = StoreOptions {
            connection_timeout: Duration::from_millis(200),
            ..StoreOptions::default()
        };
        let store = Store::open_with("sqlite::memory:", options).unwrap();
        let _held = store.conn().unwrap();
        let Err(err) = store.conn() else {
            panic!("a second connection from a pool of one")
        };
        assert!(matches!(err, Error::PoolTimeout { .. }), "{err:?}");
    }

    #[test]
    fn a_pool_that_cannot_open_a_connection_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("gone");
        std::fs::create_dir(&folder).unwrap();
        let url = format!("sqlite://{}", folder.join("s.db").display());
        let options = StoreOptions {
            connection_timeout: Duration::from_millis(300),
            ..StoreOptions::default().pool_size(8).create_if_missing()
        };
        let store = Store::open_with(&url, options).unwrap();
        // The connections already open keep working; the pool, with room
        // for more, cannot open another.
        std::fs::remove_dir_all(&folder).unwrap();
        let mut held = Vec::new();
        let err = loop {
            match store.conn() {
                Ok(conn) => held.push(conn),
                Err(err) => break err,
            }
            assert!(held.len() < 8, "every connection of the pool opened");
        };
        match &err {
            Error::Connect { reason, .. } => {
                assert!(reason.contains("unable to open"), "{err}")
            }
            other => panic!("expected Error::Connect with the driver's reason, got {other:?}"),
        }
    }
}
