//! The way out of a restored older database: a writer whose profile marks
//! a newer access key version than the database holds refuses to write
//! ([`Error::KeyRollback`]), because that is exactly what a database
//! replaying old keys looks like. After a restore the operator knows why;
//! [`Client::restart_key_lineage`] is the explicit, logged step that moves
//! the writer on. It is never taken automatically.

use std::collections::BTreeSet;

use super::observe::op_span;
use super::share::{record_revoke, rotation_span, RevokeOutcome};
use super::{validate, Client};
use crate::crypto::keys::AccessKey;
use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::store::{grants, keys, AnyConnection};

impl Client {
    /// Starts a new access key version for this client's `record_type`
    /// above both the newest version the database holds and the mark in
    /// this client's profile, wrapped to this client, to each of
    /// `confirmed_readers` (shared with again, as by [`Client::share`]) and
    /// to the recovery client if one is set (authorised again); every
    /// other grant of the type is dropped. Use it only after restoring a
    /// database backup older than the profile, when writes fail with
    /// [`Error::KeyRollback`]: confirm each reader anew, since the restored
    /// policy rows are as old as the backup.
    ///
    /// Records already in the database keep their key versions and stay
    /// readable by whoever holds those keys; the readers not confirmed
    /// lose only the versions from this one on (their ids are in
    /// `removed_readers`). Logged at warning level. A type of which this
    /// client holds no key in the database and its profile no mark (a
    /// mistyped type) is [`Error::InvalidInput`], and nothing changes.
    pub fn restart_key_lineage(
        &self,
        record_type: &str,
        confirmed_readers: &[ClientId],
    ) -> Result<RevokeOutcome> {
        let span = rotation_span!(
            self,
            "restart_key_lineage",
            record_type,
            confirmed_readers = confirmed_readers.len()
        );
        self.observe(span, |span| {
            let outcome = self.restart_own_lineage(record_type, confirmed_readers)?;
            record_revoke(span, &outcome);
            Ok(outcome)
        })
    }

    fn restart_own_lineage(
        &self,
        record_type: &str,
        confirmed_readers: &[ClientId],
    ) -> Result<RevokeOutcome> {
        validate::record_type(record_type)?;
        if confirmed_readers.contains(&self.id()) {
            return Err(Error::InvalidInput(
                "a writer is not one of its own confirmed readers",
            ));
        }
        let mut conn = self.store.conn()?;
        let (outcome, key) = self.write_tx(&mut conn, |conn| {
            self.restart_lineage_in(conn, record_type, confirmed_readers)
        })?;
        self.after_rotation(record_type, &outcome, Some(key))?;
        Ok(outcome)
    }

    fn restart_lineage_in(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        confirmed: &[ClientId],
    ) -> Result<(RevokeOutcome, AccessKey)> {
        let me = self.id();
        // Locks the head as a rotation does.
        super::access::current_version_for_rotation(conn, me, record_type)?;
        // Only a row that opens counts: one the database made up at a high
        // version would otherwise push the new lineage to the end of the
        // version range, where no rotation or revocation could follow.
        let in_database = self.newest_opening_own_version(conn, record_type)?;
        let database = self.marked_database(conn)?;
        let mark = match database {
            Some(database) => self.current_mark(database, record_type)?,
            None => None,
        };
        if in_database.is_none() && mark.is_none() {
            // Nothing to restart: a mistyped type would otherwise pass for
            // a restart (and start a new type), leaving the real one refused.
            return Err(Error::InvalidInput(
                "this client holds no key of this record type in this database, and its profile has no mark for it: nothing to restart (a mistyped type?)",
            ));
        }
        let next = in_database
            .unwrap_or(0)
            .max(mark.unwrap_or(0))
            .checked_add(1)
            .ok_or(Error::InvalidInput("key version overflow"))?;
        let confirmed: BTreeSet<ClientId> = confirmed.iter().copied().collect();
        let recovery = self.fresh_recovery_client()?;
        let mut removed: BTreeSet<ClientId> = BTreeSet::new();
        for row in grants::of_type(conn, me, record_type)? {
            if !confirmed.contains(&row.reader_id) && Some(row.reader_id) != recovery {
                removed.insert(row.reader_id);
            }
        }
        let (key, _) = self.new_own_key(conn, record_type, next)?;
        grants::delete_of_type(conn, me, record_type)?;
        if keys::set_head(conn, me, record_type, next)? != 1 {
            return Err(Error::Conflict {
                record_id: None,
                expected: None,
                found: None,
            });
        }
        let mut wrapped_keys = 1;
        for reader in &confirmed {
            wrapped_keys += self
                .share_in(conn, me, record_type, *reader, next)?
                .wrapped_keys;
        }
        if let Some(recovery) = recovery {
            wrapped_keys += self
                .authorize_in(conn, record_type, recovery, next)?
                .wrapped_keys;
        }
        tracing::warn!(
            record_type,
            database_version = %super::observe::shown(in_database),
            profile_mark = %super::observe::shown(mark),
            new_version = next,
            confirmed_readers = confirmed.len(),
            dropped_grants = removed.len(),
            "restarted the key lineage above the profile's mark (after a database restore)"
        );
        Ok((
            RevokeOutcome {
                new_version: Some(next),
                rows_deleted: 0,
                wrapped_keys,
                removed_readers: removed.into_iter().collect(),
                rewrap: None,
            },
            key,
        ))
    }
}
