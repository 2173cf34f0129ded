//! Rollback protection: the database's identity and this client's
//! key-version marks in its profile.
//!
//! A writer never uses an older access key version than the newest it has
//! used in a database. The marks live in the profile, keyed by the
//! database's identity (a random id created with the schema), never by the
//! URL or path it is reached at; the profile file is re-read under its lock
//! before every decision that depends on them, so two processes (or two
//! `Client`s) on one profile see each other's rotations.

use std::sync::{Mutex, PoisonError};

use super::observe::op_span;
use super::Client;
use crate::error::{Error, Result};
use crate::ids::DatabaseId;
use crate::store::identity::{self, StoredIdentity};
use crate::store::keys;
use crate::store::AnyConnection;

/// The database this client checked on its first key decision, kept for
/// the client's life (see [`Client::marked_database`]).
#[derive(Debug, Default)]
pub(super) struct DatabaseMark(Mutex<Option<DatabaseId>>);

impl DatabaseMark {
    /// The checked database, if any decision checked one yet.
    pub(super) fn get(&self) -> Option<DatabaseId> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `id` as the checked database.
    pub(super) fn set(&self, id: DatabaseId) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(id);
    }
}

/// What a client's first key decision does with the database it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Use this identity (known to the profile, or new to it and the
    /// database holds no row this client wrote).
    Use(DatabaseId),
    /// The database has no well-formed identity and no row this client
    /// wrote: give it one.
    GiveIdentity,
    /// The profile does not know this database, yet it holds rows this
    /// client wrote: a copy or restore whose identity changed (or an
    /// operator who gave it a new one).
    Refuse {
        /// The identity it carries, if well formed.
        database: Option<DatabaseId>,
    },
}

/// The rollback rule for a first key decision, without a database:
/// `stored` is the identity row, `knows` asks the (re-read) profile
/// whether it knows an identity, `holds_own_rows` asks the database
/// whether it holds any row this client wrote as a writer (an access key,
/// a key head, a record, a batch or a grant of its own). Each
/// question is asked only when the answer matters, and `knows` again after
/// `holds_own_rows` (another process may have remembered the database
/// meanwhile, before storing its first key).
pub(super) fn decide(
    stored: StoredIdentity,
    mut knows: impl FnMut(DatabaseId) -> Result<bool>,
    mut holds_own_rows: impl FnMut() -> Result<bool>,
) -> Result<Decision> {
    if let StoredIdentity::Id(id) = stored {
        if knows(id)? {
            return Ok(Decision::Use(id));
        }
    }
    if holds_own_rows()? {
        return match stored {
            StoredIdentity::Id(id) if knows(id)? => Ok(Decision::Use(id)),
            StoredIdentity::Id(id) => Ok(Decision::Refuse { database: Some(id) }),
            StoredIdentity::Missing | StoredIdentity::Malformed => {
                Ok(Decision::Refuse { database: None })
            }
        };
    }
    Ok(match stored {
        StoredIdentity::Id(id) => Decision::Use(id),
        StoredIdentity::Missing | StoredIdentity::Malformed => Decision::GiveIdentity,
    })
}

impl Client {
    /// The database whose marks govern this client's key decisions, checked
    /// (inside the caller's transaction): `None` for an in-memory store.
    ///
    /// The first decision of a client reads the database's identity. One
    /// the profile knows is used; an unknown one is remembered (this is the
    /// client's first write there) unless the database already holds rows
    /// this client wrote as a writer (keys, key heads, records, batches,
    /// grants on its types) — then it is a copy or restore whose identity
    /// changed, and [`Error::DatabaseIdentityChanged`]
    /// until [`Client::adopt_database`]. The checked id is kept for the
    /// client's life.
    pub(crate) fn marked_database(&self, conn: &mut AnyConnection) -> Result<Option<DatabaseId>> {
        if !self.store.keeps_marks() {
            return Ok(None);
        }
        if let Some(known) = self.database.get() {
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
        let id = match decide(stored, knows, || self.holds_own_rows(conn))? {
            Decision::Use(id) => id,
            Decision::Refuse { database } => {
                tracing::warn!(database = %super::observe::shown(database), "refusing a database whose identity this profile does not know but which holds rows this client wrote");
                return Err(Error::DatabaseIdentityChanged { database });
            }
            // A database without (a well-formed) identity and without any
            // key of this client: give it one now.
            Decision::GiveIdentity => identity::replace(conn)?,
        };
        // Remembered before the first key is stored, so a crash after the
        // commit cannot leave keys in a database the profile does not know.
        self.with_profile(|p| p.remember_database(id))?;
        self.database.set(id);
        Ok(Some(id))
    }

    /// Whether the database holds any row this client wrote as a writer
    /// (any record type). Its own access keys alone would not do: an
    /// operator could hide them for one decision, with a new identity,
    /// and bring them back once the profile had learnt it.
    fn holds_own_rows(&self, conn: &mut AnyConnection) -> Result<bool> {
        keys::holds_rows_of(conn, self.id())
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
        match self.database.get() {
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
    /// other databases are untouched, and so are those of a database whose
    /// identity it knows already: adopting that one changes nothing (after
    /// restoring an older backup of it, [`Client::restart_key_lineage`] is
    /// the way past [`Error::KeyRollback`](crate::Error::KeyRollback)).
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
        if !self.store.keeps_marks() {
            return Ok(id);
        }
        if self.with_profile(|p| p.knows_database(id)) {
            tracing::info!(database = %id, "adopting a database this profile knows already: its key version marks are kept");
        } else {
            self.with_profile(|p| p.remember_database(id))?;
            tracing::warn!(database = %id, "adopted database: rollback protection for it restarts from the key versions it holds now");
        }
        self.database.set(id);
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Runs [`decide`] with fixed answers, counting the questions asked.
    fn run(stored: StoredIdentity, knows: &[bool], holds: bool) -> (Decision, usize, usize) {
        let asked_knows = Cell::new(0);
        let asked_holds = Cell::new(0);
        let decision = decide(
            stored,
            |_| {
                let i = asked_knows.get();
                asked_knows.set(i + 1);
                Ok(knows[i.min(knows.len() - 1)])
            },
            || {
                asked_holds.set(asked_holds.get() + 1);
                Ok(holds)
            },
        )
        .unwrap();
        (decision, asked_knows.get(), asked_holds.get())
    }

    #[test]
    fn a_known_database_is_used_without_asking_for_keys() {
        let id = DatabaseId::random();
        assert_eq!(
            run(StoredIdentity::Id(id), &[true], true),
            (Decision::Use(id), 1, 0)
        );
    }

    #[test]
    fn an_unknown_database_without_own_keys_is_a_first_write_there() {
        let id = DatabaseId::random();
        assert_eq!(
            run(StoredIdentity::Id(id), &[false], false),
            (Decision::Use(id), 1, 1)
        );
    }

    #[test]
    fn an_unknown_database_holding_own_keys_is_refused() {
        let id = DatabaseId::random();
        assert_eq!(
            run(StoredIdentity::Id(id), &[false, false], true),
            (Decision::Refuse { database: Some(id) }, 2, 1)
        );
    }

    #[test]
    fn a_database_another_process_remembered_meanwhile_is_used() {
        // Unknown at first; after seeing own keys, the re-read profile
        // knows it (another process wrote there first).
        let id = DatabaseId::random();
        assert_eq!(
            run(StoredIdentity::Id(id), &[false, true], true),
            (Decision::Use(id), 2, 1)
        );
    }

    #[test]
    fn a_database_without_identity_is_given_one_unless_it_holds_own_keys() {
        for stored in [StoredIdentity::Missing, StoredIdentity::Malformed] {
            assert_eq!(run(stored, &[true], false), (Decision::GiveIdentity, 0, 1));
            assert_eq!(
                run(stored, &[true], true),
                (Decision::Refuse { database: None }, 0, 1)
            );
        }
    }

    #[test]
    fn an_error_from_either_question_is_returned() {
        let id = DatabaseId::random();
        let failed = decide(
            StoredIdentity::Id(id),
            |_| Err(Error::InvalidInput("profile unreadable")),
            || Ok(false),
        );
        assert!(matches!(failed, Err(Error::InvalidInput(_))));
        let failed = decide(
            StoredIdentity::Missing,
            |_| Ok(false),
            || Err(Error::InvalidInput("database unreachable")),
        );
        assert!(matches!(failed, Err(Error::InvalidInput(_))));
    }

    #[test]
    fn the_mark_keeps_the_last_checked_database() {
        let mark = DatabaseMark::default();
        assert_eq!(mark.get(), None);
        let id = DatabaseId::random();
        mark.set(id);
        assert_eq!(mark.get(), Some(id));
    }
}
