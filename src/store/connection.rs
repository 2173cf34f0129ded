//! One connection type over both backends (diesel's `MultiConnection`), so
//! every query is written once.
#![allow(missing_docs)]

use diesel::{PgConnection, SqliteConnection};

/// A connection to SQLite or PostgreSQL.
#[derive(diesel::MultiConnection)]
pub(crate) enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}
