//! The embedded migrations, one folder per backend (`migrations/sqlite`,
//! `migrations/postgres`); diesel's CLI applies the same folders with the
//! same result.

use diesel::migration::MigrationSource;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{AnyConnection, Store};
use crate::error::{Error, Result};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The PostgreSQL advisory lock migrations hold ("strongroom" in ASCII,
/// as a number).
const MIGRATION_LOCK: i64 = 0x7374_726f_6e67_726f;

/// Applied and pending migrations of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationStatus {
    /// Versions already applied, oldest first.
    pub applied: Vec<String>,
    /// Versions embedded in this build and not yet applied.
    pub pending: Vec<String>,
}

/// Whether the database holds a strongroom schema (diesel's migrations
/// table); only reads.
pub(super) fn schema_present(conn: &mut AnyConnection) -> diesel::QueryResult<bool> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let found: Vec<Found> = match &mut *conn {
        AnyConnection::Sqlite(c) => diesel::sql_query(
            "SELECT COUNT(*) AS n FROM sqlite_master \
             WHERE type = 'table' AND name = '__diesel_schema_migrations'",
        )
        .load(c)?,
        // The catalog, not information_schema: that view hides a table the
        // role holds no privilege on, and a role without one on diesel's
        // table would be told the database is empty.
        AnyConnection::Postgresql(c) => diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace \
             WHERE s.nspname = current_schema() AND c.relname = '__diesel_schema_migrations'",
        )
        .load(c)?,
    };
    if found.first().is_none_or(|f| f.n <= 0) {
        return Ok(false);
    }
    // diesel's table alone may be another application's: strongroom's own
    // first migration must be among its rows.
    let ours: Vec<Found> = match conn {
        AnyConnection::Sqlite(c) => diesel::sql_query(
            "SELECT COUNT(*) AS n FROM __diesel_schema_migrations WHERE version = $1",
        )
        .bind::<diesel::sql_types::Text, _>(INITIAL_MIGRATION)
        .load(c)?,
        AnyConnection::Postgresql(c) => diesel::sql_query(
            "SELECT COUNT(*) AS n FROM __diesel_schema_migrations WHERE version = $1",
        )
        .bind::<diesel::sql_types::Text, _>(INITIAL_MIGRATION)
        .load(c)?,
    };
    Ok(ours.first().is_some_and(|f| f.n > 0))
}

/// The versions diesel's migrations table lists, read with a plain
/// `SELECT`: diesel's own listing first creates the table if it is
/// missing, which a role without `CREATE` on the schema may not do, even
/// when nothing is pending.
fn applied_versions(conn: &mut AnyConnection) -> diesel::QueryResult<Vec<String>> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Applied {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let rows: Vec<Applied> = match conn {
        AnyConnection::Sqlite(c) => {
            diesel::sql_query("SELECT version FROM __diesel_schema_migrations").load(c)?
        }
        AnyConnection::Postgresql(c) => {
            diesel::sql_query("SELECT version FROM __diesel_schema_migrations").load(c)?
        }
    };
    Ok(rows.into_iter().map(|r| r.version).collect())
}

/// The version of strongroom's first migration on both backends (checked
/// against the embedded ones by a test): its row in diesel's table marks a
/// strongroom database.
const INITIAL_MIGRATION: &str = "20261127000001";

/// SQLite: puts the database in WAL mode (kept in the file; readers then
/// never wait for the writer). A no-op on PostgreSQL, and on a database
/// already in WAL mode.
///
/// The switch reads the file's header, then writes it: SQLite's busy
/// handler is not called when a read turns into a write, so when two
/// connections switch one database at once (the pool opening a
/// connection on a database whose migrations just committed while they
/// switch it; two processes opening a database together) one of them
/// fails at once with "database is locked". It tries again, for at most
/// `wait` (the busy timeout): the next try waits for the other's switch
/// and finds the database in WAL mode.
pub(super) fn use_wal(conn: &mut AnyConnection, wait: Duration) -> diesel::QueryResult<()> {
    use diesel::connection::SimpleConnection;
    let AnyConnection::Sqlite(c) = conn else {
        return Ok(());
    };
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(1);
    loop {
        match c.batch_execute("PRAGMA journal_mode = WAL") {
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message() == "database is locked" && Instant::now() < deadline =>
            {
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            done => return done,
        }
    }
}

/// The versions of `migrations`, in their order.
fn versions<DB: diesel::backend::Backend>(
    migrations: &[Box<dyn diesel::migration::Migration<DB>>],
) -> Vec<String> {
    migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .collect()
}

fn migration_error(err: impl Into<crate::error::BoxError>) -> Error {
    Error::Migration(err.into())
}

impl Store {
    /// Applies every pending embedded migration; returns the versions
    /// applied.
    ///
    /// Processes that migrate one database at once (replicas starting
    /// together) take turns: every pending migration runs in one
    /// transaction that first takes the database's write lock (SQLite: an
    /// immediate transaction; PostgreSQL: a transaction-scoped advisory
    /// lock), so the others wait, then find nothing pending. A database
    /// with nothing pending is only read.
    pub fn run_migrations(&self) -> Result<Vec<String>> {
        use diesel::connection::Connection;
        use diesel::RunQueryDsl;
        type Failure = crate::error::BoxError;
        // Nothing pending (every open of a migrated database): no lock.
        if self.migration_status()?.pending.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn()?;
        let versions: Vec<String> = match &mut *conn {
            AnyConnection::Sqlite(c) => c
                .immediate_transaction::<_, Failure, _>(|c| {
                    Ok(c.run_pending_migrations(SQLITE)?
                        .iter()
                        .map(ToString::to_string)
                        .collect())
                })
                .map_err(migration_error)?,
            AnyConnection::Postgresql(c) => c
                .transaction::<_, Failure, _>(|c| {
                    // A migration may take longer than the store's
                    // statement timeout allows a statement of its own.
                    diesel::sql_query("SET LOCAL statement_timeout = 0").execute(c)?;
                    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
                        .execute(c)?;
                    Ok(c.run_pending_migrations(POSTGRES)?
                        .iter()
                        .map(ToString::to_string)
                        .collect())
                })
                .map_err(migration_error)?,
        };
        // Outside the transaction (SQLite changes the journal mode only
        // there): the database now holds the schema, and works in WAL mode.
        use_wal(&mut conn, self.sqlite_busy_timeout).map_err(crate::store::tx::db_err)?;
        self.schema_current.store(true, Ordering::Relaxed);
        Ok(versions)
    }

    /// Whether the database holds a strongroom schema (diesel's migrations
    /// table), read without creating or changing anything: for tools that
    /// must not start a new database on a mistyped URL (the CLI runs its
    /// migrations only on a database that has one).
    pub fn has_schema(&self) -> Result<bool> {
        let mut conn = self.conn()?;
        schema_present(&mut conn).map_err(crate::store::tx::db_err)
    }

    /// Every migration this build embeds for the store's backend, in order.
    fn embedded_versions(&self) -> Result<Vec<String>> {
        Ok(match self.backend() {
            super::Backend::Sqlite => versions(
                &MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE)
                    .map_err(migration_error)?,
            ),
            super::Backend::Postgres => versions(
                &MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES)
                    .map_err(migration_error)?,
            ),
        })
    }

    /// Lists applied and pending migrations, changing nothing (only
    /// `SELECT`s: a role that may only read and write strongroom's tables
    /// can ask): a database without strongroom's schema lists every
    /// migration as pending (and is not given diesel's migrations table,
    /// which would make it look like a strongroom database).
    pub fn migration_status(&self) -> Result<MigrationStatus> {
        use crate::store::tx::db_err;
        let ours = self.embedded_versions()?;
        let mut conn = self.conn()?;
        let listed = if schema_present(&mut conn).map_err(db_err)? {
            applied_versions(&mut conn).map_err(db_err)?
        } else {
            Vec::new()
        };
        // Only strongroom's own: diesel's table may list another
        // application's migrations too.
        let (mut applied, pending): (Vec<String>, Vec<String>) = ours
            .into_iter()
            .partition(|version| listed.contains(version));
        applied.sort();
        if pending.is_empty() {
            self.schema_current.store(true, Ordering::Relaxed);
        }
        Ok(MigrationStatus { applied, pending })
    }

    /// [`Error::MigrationsPending`] if this build's migrations are not all
    /// applied; asks the database only until this store has seen them all
    /// applied once (opening it with migrations did).
    pub(crate) fn ensure_schema_current(&self) -> Result<()> {
        if self.schema_current.load(Ordering::Relaxed) {
            return Ok(());
        }
        match self.migration_status()?.pending.len() {
            0 => Ok(()),
            pending => Err(Error::MigrationsPending { pending }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_migration_is_the_first_embedded_one_on_both_backends() {
        let sqlite =
            versions(&MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE).unwrap());
        let postgres = versions(&MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES).unwrap());
        assert_eq!(sqlite.first().map(String::as_str), Some(INITIAL_MIGRATION));
        assert_eq!(
            postgres.first().map(String::as_str),
            Some(INITIAL_MIGRATION)
        );
    }
}
