//! The primary database: the service's ordinary, plaintext data in SQLite
//! through diesel. Each patient row keeps the id of its sensitive part in
//! strongroom as a `RecordId` column (a 16-byte BLOB), with no conversion.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use strongroom::RecordId;

diesel::table! {
    patients (id) {
        id -> BigInt,
        clinic -> Text,
        ward -> Integer,
        secret -> Binary,
        secret_version -> BigInt,
        created_at -> BigInt,
    }
}

/// A patient's row as the service reads it: plain data, and the strongroom
/// record that holds the rest. (The table also keeps `created_at`, in
/// microseconds since the Unix epoch.)
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = patients)]
pub struct PatientRow {
    pub id: i64,
    pub clinic: String,
    pub ward: i32,
    /// The strongroom record id, stored natively.
    pub secret: RecordId,
    /// The record version the plain columns are from.
    pub secret_version: i64,
}

#[derive(Insertable)]
#[diesel(table_name = patients)]
struct NewPatientRow<'a> {
    clinic: &'a str,
    ward: i32,
    secret: RecordId,
    secret_version: i64,
    created_at: i64,
}

/// An error of the primary database (connection pool or query). Its text
/// is the driver's message, never a row value.
#[derive(Debug)]
pub enum PrimaryError {
    Pool(diesel::r2d2::PoolError),
    Query(diesel::result::Error),
}

impl std::fmt::Display for PrimaryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrimaryError::Pool(e) => write!(f, "primary database pool: {e}"),
            PrimaryError::Query(e) => write!(f, "primary database: {e}"),
        }
    }
}

impl std::error::Error for PrimaryError {}

impl From<diesel::result::Error> for PrimaryError {
    fn from(e: diesel::result::Error) -> Self {
        PrimaryError::Query(e)
    }
}

pub type PrimaryResult<T> = Result<T, PrimaryError>;
pub type Conn = PooledConnection<ConnectionManager<SqliteConnection>>;

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The primary database: a pool of SQLite connections to one file.
#[derive(Clone)]
pub struct Primary {
    pool: Pool<ConnectionManager<SqliteConnection>>,
}

impl Primary {
    /// Opens (creating it if missing) the SQLite file at `path` and its
    /// table. Blocking.
    pub fn open(path: &Path, connections: u32) -> PrimaryResult<Self> {
        let manager = ConnectionManager::<SqliteConnection>::new(path.to_string_lossy());
        let pool = Pool::builder()
            .max_size(connections.max(1))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(Pragmas))
            .build(manager)
            .map_err(PrimaryError::Pool)?;
        let primary = Primary { pool };
        primary.conn()?.batch_execute(
            "CREATE TABLE IF NOT EXISTS patients (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 clinic TEXT NOT NULL,
                 ward INTEGER NOT NULL,
                 secret BLOB NOT NULL UNIQUE,
                 secret_version INTEGER NOT NULL,
                 created_at INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS patients_by_clinic ON patients (clinic, id);",
        )?;
        Ok(primary)
    }

    /// A pooled connection. Blocking.
    pub fn conn(&self) -> PrimaryResult<Conn> {
        self.pool.get().map_err(PrimaryError::Pool)
    }

    /// Inserts a patient row pointing at `secret` (at version 1).
    pub fn insert(&self, clinic: &str, ward: i32, secret: RecordId) -> PrimaryResult<PatientRow> {
        let mut conn = self.conn()?;
        let created_at = chrono::Utc::now().timestamp_micros();
        let id = conn.immediate_transaction(|conn| {
            diesel::insert_into(patients::table)
                .values(NewPatientRow {
                    clinic,
                    ward,
                    secret,
                    secret_version: 1,
                    created_at,
                })
                .execute(conn)?;
            diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "last_insert_rowid()",
            ))
            .get_result::<i64>(conn)
        })?;
        Ok(PatientRow {
            id,
            clinic: clinic.to_owned(),
            ward,
            secret,
            secret_version: 1,
        })
    }

    /// One row by id.
    pub fn find(&self, id: i64) -> PrimaryResult<Option<PatientRow>> {
        Ok(patients::table
            .find(id)
            .select(PatientRow::as_select())
            .first(&mut self.conn()?)
            .optional()?)
    }

    /// A page of rows in id order, after `after`, of one clinic if given:
    /// up to `limit` rows and whether more follow.
    pub fn list(
        &self,
        clinic: Option<&str>,
        after: Option<i64>,
        limit: i64,
    ) -> PrimaryResult<(Vec<PatientRow>, bool)> {
        let mut query = patients::table
            .select(PatientRow::as_select())
            .order(patients::id.asc())
            .limit(limit + 1)
            .into_boxed();
        if let Some(clinic) = clinic {
            query = query.filter(patients::clinic.eq(clinic.to_owned()));
        }
        if let Some(after) = after {
            query = query.filter(patients::id.gt(after));
        }
        let mut rows = query.load(&mut self.conn()?)?;
        let more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        Ok((rows, more))
    }

    /// Sets row `id`'s plain columns as of record version `version`
    /// (unless the row already holds a later version's) in a transaction
    /// that commits only if `then` (given the row as it was) succeeds: a
    /// row that cannot be written fails before `then` runs, and a `then`
    /// that fails leaves the row as it was. `None` if there is no such
    /// row.
    pub fn update_then<T, E>(
        &self,
        id: i64,
        clinic: &str,
        ward: i32,
        version: u64,
        then: impl FnOnce(&PatientRow) -> Result<T, E>,
    ) -> Result<Option<T>, E>
    where
        E: From<diesel::result::Error> + From<PrimaryError>,
    {
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        let mut conn = self.conn()?;
        conn.immediate_transaction(|conn| {
            let Some(row) = patients::table
                .find(id)
                .select(PatientRow::as_select())
                .first(conn)
                .optional()?
            else {
                return Ok(None);
            };
            diesel::update(
                patients::table
                    .find(id)
                    .filter(patients::secret_version.lt(version)),
            )
            .set((
                patients::clinic.eq(clinic),
                patients::ward.eq(ward),
                patients::secret_version.eq(version),
            ))
            .execute(conn)?;
            then(&row).map(Some)
        })
    }

    /// Deletes row `id` in a transaction that commits only if `then` (given
    /// the row) succeeds; `false` if there is no such row.
    pub fn delete_then<E>(
        &self,
        id: i64,
        then: impl FnOnce(&PatientRow) -> Result<(), E>,
    ) -> Result<bool, E>
    where
        E: From<diesel::result::Error> + From<PrimaryError>,
    {
        let mut conn = self.conn()?;
        conn.immediate_transaction(|conn| {
            let Some(row) = patients::table
                .find(id)
                .select(PatientRow::as_select())
                .first(conn)
                .optional()?
            else {
                return Ok(false);
            };
            diesel::delete(patients::table.find(id)).execute(conn)?;
            then(&row)?;
            Ok(true)
        })
    }

    /// Which of `ids` some row references.
    pub fn referenced(&self, ids: &[RecordId]) -> PrimaryResult<HashSet<RecordId>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let mut conn = self.conn()?;
        let found: Vec<RecordId> = patients::table
            .select(patients::secret)
            .filter(patients::secret.eq_any(ids.to_vec()))
            .load(&mut conn)?;
        Ok(found.into_iter().collect())
    }
}
