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
