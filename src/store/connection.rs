//! One connection type over both backends (diesel's `MultiConnection`), so
//! every query is written once, and the pool's manager that opens it.
#![allow(missing_docs)]

use diesel::r2d2::{Error as PoolError, ManageConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};

use super::url::DatabaseUrl;

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
#[derive(Debug)]
pub(crate) struct Manager {
    url: DatabaseUrl,
}

impl Manager {
    pub(crate) fn new(url: DatabaseUrl) -> Self {
        if matches!(url, DatabaseUrl::Postgres(_)) {
            init_openssl();
        }
        Manager { url }
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
        let target = self.url.connection_string();
        let conn = match self.url {
            DatabaseUrl::Postgres(_) => {
                PgConnection::establish(target).map(AnyConnection::Postgresql)
            }
            DatabaseUrl::SqliteFile(_) | DatabaseUrl::SqliteMemory => {
                SqliteConnection::establish(target).map(AnyConnection::Sqlite)
            }
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
