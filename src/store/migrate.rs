//! The embedded migrations, one folder per backend (`migrations/sqlite`,
//! `migrations/postgres`); diesel's CLI applies the same folders with the
//! same result.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{AnyConnection, Store};
use crate::error::{Error, Result};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Applied and pending migrations of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationStatus {
    /// Versions already applied, oldest first.
    pub applied: Vec<String>,
    /// Versions embedded in this build and not yet applied.
    pub pending: Vec<String>,
}

fn migration_error(err: impl Into<crate::error::BoxError>) -> Error {
    Error::Migration(err.into())
}

impl Store {
    /// Applies every pending embedded migration; returns the versions
    /// applied.
    pub fn run_migrations(&self) -> Result<Vec<String>> {
        let mut conn = self.conn()?;
        let versions = match &mut *conn {
            AnyConnection::Sqlite(c) => {
                c.run_pending_migrations(SQLITE).map_err(migration_error)?
            }
            AnyConnection::Postgresql(c) => c
                .run_pending_migrations(POSTGRES)
                .map_err(migration_error)?,
        };
        Ok(versions.iter().map(ToString::to_string).collect())
    }

    /// Whether the database holds a strongroom schema (diesel's migrations
    /// table), read without creating or changing anything: for tools that
    /// must not start a new database on a mistyped URL (the CLI runs its
    /// migrations only on a database that has one).
    pub fn has_schema(&self) -> Result<bool> {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Found {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.conn()?;
        let found: Vec<Found> = match &mut *conn {
            AnyConnection::Sqlite(c) => diesel::sql_query(
                "SELECT COUNT(*) AS n FROM sqlite_master \
                 WHERE type = 'table' AND name = '__diesel_schema_migrations'",
            )
            .load(c),
            AnyConnection::Postgresql(c) => diesel::sql_query(
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '__diesel_schema_migrations'",
            )
            .load(c),
        }
        .map_err(crate::store::tx::db_err)?;
        Ok(found.first().is_some_and(|f| f.n > 0))
    }

    /// Lists applied and pending migrations.
    pub fn migration_status(&self) -> Result<MigrationStatus> {
        let mut conn = self.conn()?;
        let (applied, pending) = match &mut *conn {
            AnyConnection::Sqlite(c) => (
                c.applied_migrations().map_err(migration_error)?,
                c.pending_migrations(SQLITE)
                    .map_err(migration_error)?
                    .iter()
                    .map(|m| m.name().version().as_owned())
                    .collect::<Vec<_>>(),
            ),
            AnyConnection::Postgresql(c) => (
                c.applied_migrations().map_err(migration_error)?,
                c.pending_migrations(POSTGRES)
                    .map_err(migration_error)?
                    .iter()
                    .map(|m| m.name().version().as_owned())
                    .collect::<Vec<_>>(),
            ),
        };
        let mut applied: Vec<String> = applied.iter().map(ToString::to_string).collect();
        applied.sort();
        Ok(MigrationStatus {
            applied,
            pending: pending.iter().map(ToString::to_string).collect(),
        })
    }
}
