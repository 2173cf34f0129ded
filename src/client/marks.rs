//! Rollback protection: the database's identity and this client's
//! key-version marks in its profile.
//!
//! A writer never uses an older access key version than the newest it has
//! used in a database. The marks live in the profile, keyed by the
//! database's identity (a random id created with the schema), never by the
//! URL or path it is reached at; the profile file is re-read under its lock
//! before every decision that depends on them, so two processes (or two
//! `Client`s) on one profile see each other's rotations.

use std::sync::PoisonError;

use super::observe::op_span;
use super::Client;
use crate::error::{Error, Result};
use crate::ids::DatabaseId;
use crate::store::identity::{self, StoredIdentity};
use crate::store::keys;
use crate::store::AnyConnection;

impl Client {
    /// The database whose marks govern this client's key decisions, checked
    /// (inside the caller's transaction): `None` for an in-memory store.
    ///
    /// The first decision of a client reads the database's identity. One
    /// the profile knows is used; an unknown one is remembered (this is the
    /// client's first write there) unless the database already holds
    /// access keys this client wrapped for itself — then it is a copy or
    /// restore whose identity changed, and [`Error::DatabaseIdentityChanged`]
    /// until [`Client::adopt_database`]. The checked id is kept for the
    /// client's life.
    pub(crate) fn marked_database(&self, conn: &mut AnyConnection) -> Result<Option<DatabaseId>> {
        if !self.store.keeps_marks() {
            return Ok(None);
        }
        if let Some(known) = *self.database.lock().unwrap_or_else(PoisonError::into_inner) {
            return Ok(Some(known));
        }
        let stored = identity::read(conn)?;
        // Another process of this client may have remembered the database
        // since this one loaded the profile; it does so before storing its
        // first key there, so a re-read after seeing such a key tells.
        let knows = |id| {
            self.with_profile(|p| {
                p.refresh()?;
                Ok::<_, Error>(p.knows_database(id))
            })
        };
        let id = match stored {
            StoredIdentity::Id(id) if knows(id)? => id,
            StoredIdentity::Id(id) if self.holds_own_keys(conn)? && knows(id)? => id,
            _ if self.holds_own_keys(conn)? => {
                let database = match stored {
                    StoredIdentity::Id(id) => Some(id),
                    _ => None,
                };
                tracing::warn!(database = ?database, "refusing a database whose identity this profile does not know but which holds this client's own access keys");
                return Err(Error::DatabaseIdentityChanged { database });
            }
            StoredIdentity::Id(id) => id,
            // A database without (a well-formed) identity and without any
            // key of this client: give it one now.
            StoredIdentity::Missing | StoredIdentity::Malformed => identity::replace(conn)?,
        };
        // Remembered before the first key is stored, so a crash after the
        // commit cannot leave keys in a database the profile does not know.
        self.with_profile(|p| p.remember_database(id))?;
        *self.database.lock().unwrap_or_else(PoisonError::into_inner) = Some(id);
        Ok(Some(id))
    }

    /// Whether the database holds any access key this client wrapped for
    /// itself (any record type).
    fn holds_own_keys(&self, conn: &mut AnyConnection) -> Result<bool> {
        keys::holds_self_wrapped_keys(conn, self.id())
    }

    /// This client's mark for `record_type` in `database`, re-read from the
    /// profile file (under its lock) first.
    pub(crate) fn current_mark(
        &self,
        database: DatabaseId,
        record_type: &str,
    ) -> Result<Option<u32>> {
        self.with_profile(|p| {
            p.refresh()?;
            Ok(p.key_version_mark(database, record_type))
        })
    }

    /// Raises the mark of `record_type` to `version` in the database this
    /// client checked (nothing for an in-memory store).
    pub(crate) fn raise_mark(&self, record_type: &str, version: u32) -> Result<()> {
        let database = *self.database.lock().unwrap_or_else(PoisonError::into_inner);
        match database {
            Some(database) => {
                self.with_profile(|p| p.raise_key_version_mark(database, record_type, version))
            }
            None => Ok(()),
        }
    }

    /// Adopts this store's database as one this client writes to, whatever
    /// identity it carries, and returns that identity (a database with a
    /// missing or malformed identity row is given a new one).
    ///
    /// Adopting is how a client goes on after
    /// [`Error::DatabaseIdentityChanged`]: rollback protection for this
    /// database restarts from the key versions it holds now, so do it only
    /// when you know why the identity changed (you rebuilt the database, or
    /// moved its tables into a new schema). Marks the profile holds for
    /// other databases are untouched.
    pub fn adopt_database(&self) -> Result<DatabaseId> {
        let span = op_span!(self, "adopt_database", database = tracing::field::Empty);
        self.observe(span, |span| {
            let id = self.adopt_database_in()?;
            span.record("database", tracing::field::display(id));
            Ok(id)
        })
    }

    fn adopt_database_in(&self) -> Result<DatabaseId> {
        let mut conn = self.store.conn()?;
        let id = self.write_tx(&mut conn, |conn| match identity::read(conn)? {
            StoredIdentity::Id(id) => Ok(id),
            StoredIdentity::Missing | StoredIdentity::Malformed => identity::replace(conn),
        })?;
        if self.store.keeps_marks() {
            self.with_profile(|p| p.remember_database(id))?;
            *self.database.lock().unwrap_or_else(PoisonError::into_inner) = Some(id);
        }
        tracing::warn!(database = %id, "adopted database: rollback protection for it restarts from the key versions it holds now");
        Ok(id)
    }
}
