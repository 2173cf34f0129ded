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
    /// Types the database lists for this client that were passed over,
    /// sorted: no own key of the type opens (rows the database made up, or
    /// not valid as a type), or the database holds an older key than the
    /// profile's mark ([`Error::KeyRollback`]; see
    /// [`Client::restart_key_lineage`], which authorises the recovery
    /// client again). Each is logged at warning level.
    pub skipped: Vec<String>,
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
        let previous = self.fresh_recovery_client()?;
        self.with_profile(|p| p.set_recovery_client(Some(recovery.client_id)))?;
        let done = self.retrying(|conn| {
            keys::lock_type_set(conn, self.id(), true)?;
            let (mut record_types, mut skipped) = (Vec::new(), Vec::new());
            for record_type in keys::self_wrapped_types(conn, self.id())? {
                let usable = match super::validate::record_type(&record_type) {
                    Ok(()) => match self.own_current_version(conn, &record_type) {
                        Ok(version) => version.is_some(),
                        Err(Error::KeyRollback { .. }) => false,
                        Err(other) => return Err(other),
                    },
                    Err(_) => false,
                };
                if !usable {
                    tracing::warn!(
                        record_type,
                        "not authorising the recovery client on a type with no usable own key"
                    );
                    skipped.push(record_type);
                    continue;
                }
                let created = self.write_key(conn, &record_type)?;
                self.authorize_in(conn, &record_type, recovery.client_id, created.version)?;
                record_types.push(record_type);
            }
            Ok((record_types, skipped))
        });
        let (record_types, skipped) = match done {
            Ok(done) => done,
            Err(err) => {
                // Nothing was authorised: the profile goes back to what it
                // said, so that it does not name a recovery client that
                // cannot read this client's types.
                if let Err(undo) = self.with_profile(|p| p.set_recovery_client(previous)) {
                    tracing::error!(error = %undo, "could not take the recovery client out of the profile again");
                }
                return Err(err);
            }
        };
        tracing::info!(recovery_client = %recovery.client_id, record_types = record_types.len(), skipped = skipped.len(), "set recovery client");
        Ok(RecoveryOutcome {
            recovery_client: recovery.client_id,
            record_types,
            skipped,
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
