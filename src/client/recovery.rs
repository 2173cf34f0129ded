//! A recovery client: a second identity, kept offline, that every record
//! type of this client is shared with and authorised to — the types that
//! exist when it is set, and each new type in the same transaction as its
//! first key. Losing this client's profile then loses no data: the
//! recovery client reads it and shares it on (`share_on_behalf`) with the
//! client that replaces the lost one. No key is escrowed anywhere else.

use super::observe::op_span;
use super::Client;
use crate::error::{Error, Result};
use crate::identity::PublicIdentity;
use crate::ids::ClientId;
use crate::store::keys;

/// What [`Client::set_recovery_client`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryOutcome {
    /// The recovery client.
    pub recovery_client: ClientId,
    /// This client's record types it was shared with and authorised to,
    /// sorted.
    pub record_types: Vec<String>,
}

impl Client {
    /// Makes `recovery` this client's recovery client: pins its keys (they
    /// must match what the database serves for it), records it in the
    /// profile, and shares every record type this client writes with it and
    /// authorises it to share them on — all existing types now, in one
    /// transaction, and every type created later together with its first
    /// key. Rotations keep it, as they keep every valid grant.
    ///
    /// The recovery client's profile should be sealed under a passphrase
    /// and kept offline: it can read everything this client writes.
    ///
    /// ```
    /// # use strongroom::{Client, Fields, Plain, Profile, ProfileOptions, Store};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = Store::open("sqlite::memory:")?;
    /// let alice = Client::open_or_create(dir.path().join("alice.profile"), &store)?;
    /// alice.put("note", &Fields::new().with("body", "hello")?, &Plain::new())?;
    /// let offline = Profile::create(
    ///     dir.path().join("recovery.profile"),
    ///     ProfileOptions::named("recovery").passphrase("kept apart from the file"),
    /// )?;
    /// let recovery = Client::from_profile(offline, &store)?;
    /// let outcome = alice.set_recovery_client(recovery.public())?;
    /// assert_eq!(outcome.record_types, ["note"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_recovery_client(&self, recovery: &PublicIdentity) -> Result<RecoveryOutcome> {
        let span = op_span!(
            self,
            "set_recovery_client",
            recovery_client = %recovery.client_id,
            record_types = tracing::field::Empty
        );
        self.observe(span, |span| {
            let outcome = self.set_recovery_client_in(recovery)?;
            span.record("record_types", outcome.record_types.len());
            Ok(outcome)
        })
    }

    fn set_recovery_client_in(&self, recovery: &PublicIdentity) -> Result<RecoveryOutcome> {
        if recovery.client_id == self.id() {
            return Err(Error::InvalidInput(
                "a client cannot be its own recovery client",
            ));
        }
        // Pinned before anything is wrapped to it: its keys are the ones the
        // caller holds, and `peer` refuses a database serving others
        // (Error::KeyChanged).
        self.with_profile(|p| p.pin(recovery))?;
        {
            let mut conn = self.store.conn()?;
            self.peer(&mut conn, recovery.client_id)?;
        }
        // Recorded first: a type created by a concurrent write from now on
        // is authorised by that write; the ones that exist are done here,
        // under the lock a type's first key takes (so a type created
        // meanwhile is listed here or sees the setting). Again after a lost
        // race on a unique row (a concurrent share of the same key).
        self.with_profile(|p| p.set_recovery_client(Some(recovery.client_id)))?;
        let record_types = self.retrying(|conn| {
            keys::lock_type_set(conn, self.id(), true)?;
            let record_types = keys::self_wrapped_types(conn, self.id())?;
            for record_type in &record_types {
                let created = self.write_key(conn, record_type)?;
                self.authorize_in(conn, record_type, recovery.client_id, created.version)?;
            }
            Ok(record_types)
        })?;
        tracing::info!(recovery_client = %recovery.client_id, record_types = record_types.len(), "set recovery client");
        Ok(RecoveryOutcome {
            recovery_client: recovery.client_id,
            record_types,
        })
    }

    /// This client's recovery client, if one is set.
    pub fn recovery_client(&self) -> Option<ClientId> {
        self.with_profile(|p| p.recovery_client())
    }

    /// The recovery client as the profile file says now: another process
    /// of this client (the CLI's `recovery create` beside a server) may
    /// have set it since this one last read the file.
    pub(crate) fn fresh_recovery_client(&self) -> Result<Option<ClientId>> {
        self.with_profile(|p| p.refresh().map(|()| p.recovery_client()))
    }
}
