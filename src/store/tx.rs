//! Transactions and database error mapping.
//!
//! SQLite write transactions start with `BEGIN IMMEDIATE`, so two writers
//! never both read and then fail to upgrade their lock; PostgreSQL writes
//! run at READ COMMITTED with row locks taken by the statements themselves.
//! Reads that need a record and the batch that signs it run in one
//! snapshot: a deferred transaction on SQLite (WAL), REPEATABLE READ READ
//! ONLY on PostgreSQL, so a concurrent update cannot remove the batch
//! between the two.

use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::AnyConnection;
use crate::error::{Error, Result};

/// Runs `$body` with `$c` bound to the concrete connection of whichever
/// backend `$conn` is; for statements diesel's multi-backend does not
/// support (batch inserts, locking clauses).
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::AnyConnection::Sqlite($c) => $body,
            $crate::store::AnyConnection::Postgresql($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Maps a diesel error to the library's error, keeping only diesel's
/// message (never the row values a driver may put in its details).
///
/// The source kept is diesel's error rebuilt from its kind and message
/// alone: the details, hint, table, column and constraint names are dropped.
pub(crate) fn db_err(err: DieselError) -> Error {
    match err {
        DieselError::DatabaseError(kind, info) => {
            let constraint = matches!(
                kind,
                DatabaseErrorKind::UniqueViolation
                    | DatabaseErrorKind::ForeignKeyViolation
                    | DatabaseErrorKind::NotNullViolation
                    | DatabaseErrorKind::CheckViolation
            );
            if info
                .message()
                .starts_with("canceling statement due to statement timeout")
            {
                return Error::StatementTimeout;
            }
            if matches!(kind, DatabaseErrorKind::SerializationFailure) {
                return Error::Conflict {
                    record_id: None,
                    expected: None,
                    found: None,
                };
            }
            let message_only =
                DieselError::DatabaseError(kind, Box::new(info.message().to_owned()));
            if constraint {
                Error::Constraint(Box::new(message_only))
            } else {
                Error::Database(Box::new(message_only))
            }
        }
        other => Error::Database(Box::new(other)),
    }
}

/// Runs `f` in a write transaction: committed when `f` returns `Ok`, rolled
/// back otherwise (nothing half-written).
pub(crate) fn write_transaction<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T>,
) -> Result<T> {
    transaction(conn, "BEGIN IMMEDIATE", "BEGIN", f)
}

/// Runs `f` in a read-only snapshot (see the module docs).
pub(crate) fn read_transaction<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T>,
) -> Result<T> {
    transaction(
        conn,
        "BEGIN DEFERRED",
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        f,
    )
}

fn transaction<T>(
    conn: &mut AnyConnection,
    sqlite_begin: &str,
    postgres_begin: &str,
    f: impl FnOnce(&mut AnyConnection) -> Result<T>,
) -> Result<T> {
    match conn {
        AnyConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, sqlite_begin),
        AnyConnection::Postgresql(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, postgres_begin)
        }
    }
    .map_err(db_err)?;
    // A panic inside `f` (the caller's `Read` source of a file upload, or
    // a bug) rolls the transaction back before it goes on: a connection
    // left inside a transaction is dropped by the pool as broken, and for
    // `sqlite::memory:` that connection is the whole database.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)));
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(panic) => {
            if <AnyConnection as Connection>::TransactionManager::rollback_transaction(conn)
                .is_err()
            {
                tracing::warn!("rollback after a panic failed");
            }
            std::panic::resume_unwind(panic)
        }
    };
    match outcome {
        Ok(value) => {
            match <AnyConnection as Connection>::TransactionManager::commit_transaction(conn) {
                Ok(()) => Ok(value),
                Err(err) => {
                    let _ = <AnyConnection as Connection>::TransactionManager::rollback_transaction(
                        conn,
                    );
                    Err(db_err(err))
                }
            }
        }
        Err(err) => {
            if let Err(rollback) =
                <AnyConnection as Connection>::TransactionManager::rollback_transaction(conn)
            {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(err)
        }
    }
}

/// Whether `err` is a unique-constraint violation (a lost race on insert).
pub(crate) fn is_unique_violation(err: &Error) -> bool {
    matches!(err, Error::Constraint(_))
}
