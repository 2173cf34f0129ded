//! One connection type over both backends (diesel's `MultiConnection`), so
//! every query is written once, and the pool's manager that opens it.
#![allow(missing_docs)]

use std::time::Duration;

use diesel::r2d2::{Error as PoolError, ManageConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};

use super::url::DatabaseUrl;
use super::Backend;

/// A connection to SQLite or PostgreSQL.
#[derive(diesel::MultiConnection)]
pub(crate) enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Opens connections of the one backend the URL names.
///
/// diesel's own `ConnectionManager<AnyConnection>` tries every backend in
/// turn and, when all fail, reports "Invalid connection url for
/// multiconnection": libpq's reason (a refused TLS handshake, a certificate
/// that does not verify, an unknown host) would be lost. This manager asks
/// only the backend the URL names, so its error is the driver's own.
pub(crate) struct Manager {
    backend: Backend,
    /// What the driver is given; for PostgreSQL it may hold a password, so
    /// it is never printed.
    target: String,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager for `url`. PostgreSQL connections give up after
    /// `connect_timeout` (libpq's `connect_timeout`, unless the URL sets its
    /// own): an unanswered host is an error, not minutes of waiting.
    pub(crate) fn new(url: &DatabaseUrl, connect_timeout: Duration) -> Self {
        match url.postgres_with_timeout(connect_timeout) {
            Some(target) => {
                init_openssl();
                Manager {
                    backend: Backend::Postgres,
                    target,
                }
            }
            None => Manager {
                backend: Backend::Sqlite,
                target: url.connection_string().to_owned(),
            },
        }
    }
}

/// Initialises the OpenSSL that the bundled libpq links, without its exit
/// handler, before libpq's first connection.
///
/// OpenSSL 3 registers `OPENSSL_cleanup` with `atexit` on first use. A
/// program that returns from `main` while a pool thread is still opening a
/// TLS connection (r2d2 keeps idle connections topped up in the background)
/// would have OpenSSL's state freed under that thread: a segmentation fault
/// at exit, seen here about once in fifteen runs of a short-lived process.
/// `openssl_sys::init` asks for `OPENSSL_INIT_NO_ATEXIT`, as rust-openssl
/// does for the same reason; the operating system reclaims the memory.
///
/// With a system libpq (`default-features = false`) its OpenSSL is not ours
/// to configure: see the README's Building section.
fn init_openssl() {
    #[cfg(feature = "bundled-libpq")]
    openssl_sys::init();
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = PoolError;

    fn connect(&self) -> Result<AnyConnection, PoolError> {
        let conn = match self.backend {
            Backend::Postgres => {
                PgConnection::establish(&self.target).map(AnyConnection::Postgresql)
            }
            Backend::Sqlite => SqliteConnection::establish(&self.target).map(AnyConnection::Sqlite),
        };
        conn.map_err(PoolError::ConnectionError)
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), PoolError> {
        conn.ping().map_err(PoolError::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}
