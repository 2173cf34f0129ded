//! Rotating a record type's access key: a new version wrapped to the
//! writer and to every reader whose grant verifies (to the key in that
//! grant), every grant re-signed for it. Revocation rotates too (see
//! `share.rs`); re-wrapping existing records is `rewrap.rs`.

use std::sync::Arc;

use super::access::current_version_for_rotation;
use super::observe::op_span;
use super::share::{record_revoke, rotation_span, RevokeOutcome};
use super::{validate, Client};
use crate::cache::KeyId;
use crate::crypto::keys::AccessKey;
use crate::crypto::signature::GrantKind;
use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::store::{grants, keys, AnyConnection};

impl Client {
    /// Starts a new access key version for this client's `record_type`,
    /// wrapped to this client and every reader with a valid grant; new
    /// writes use it.
    pub fn rotate(&self, record_type: &str) -> Result<RevokeOutcome> {
        self.observe(rotation_span!(self, "rotate", record_type), |span| {
            let outcome = self.rotate_own(record_type)?;
            record_revoke(span, &outcome);
            Ok(outcome)
        })
    }

    fn rotate_own(&self, record_type: &str) -> Result<RevokeOutcome> {
        validate::record_type(record_type)?;
        let mut conn = self.store.conn()?;
        let (outcome, key) = self.write_tx(&mut conn, |conn| {
            self.rotate_in(conn, record_type, None, None)
        })?;
        self.after_rotation(record_type, &outcome, key)?;
        Ok(outcome)
    }

    /// Inside a write transaction: a new key version, wrapped to this
    /// client and to every reader with a valid grant for the current
    /// version — to the key in that grant, never one the database serves —
    /// less `exclude_reader` and the shares that came through
    /// `exclude_grantor`; their grants, and the authorisers', are re-signed
    /// for the new version.
    pub(super) fn rotate_in(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        exclude_reader: Option<ClientId>,
        exclude_grantor: Option<ClientId>,
    ) -> Result<(RevokeOutcome, Option<AccessKey>)> {
        let me = self.id();
        current_version_for_rotation(conn, me, record_type)?;
        let Some(current) = self.own_current_version(conn, record_type)? else {
            return Ok((
                RevokeOutcome {
                    new_version: None,
                    rows_deleted: 0,
                    wrapped_keys: 0,
                    removed_readers: Vec::new(),
                    rewrap: None,
                },
                None,
            ));
        };
        let next = current
            .checked_add(1)
            .ok_or(Error::InvalidInput("key version overflow"))?;
        let (mut readers, mut authorizers) = self.valid_grants(conn, record_type, current)?;
        readers.retain(|r| {
            Some(r.id) != exclude_reader && (exclude_grantor.is_none() || r.via != exclude_grantor)
        });
        authorizers.retain(|a| Some(a.id) != exclude_reader && Some(a.id) != exclude_grantor);
        // The recovery client comes from the profile, never from the
        // rows, and so do its keys (the pin): it is carried on, reader and
        // authoriser, whatever its grants say (dropped, or an authoriser's
        // naming another key) and whatever the database serves as its keys.
        let recovery = self
            .with_profile(|p| p.recovery_client())
            .filter(|r| Some(*r) != exclude_reader && Some(*r) != exclude_grantor);
        if let Some(recovery) = recovery {
            let granted = readers.iter().any(|g| g.id == recovery && g.via.is_none())
                && authorizers.iter().any(|a| a.id == recovery);
            if !granted {
                tracing::warn!(
                    record_type,
                    %recovery,
                    "the store held no valid grant of this client's own for the profile's recovery client: wrapping the new version to it again"
                );
            }
            readers.retain(|g| g.id != recovery);
            authorizers.retain(|a| a.id != recovery);
        }
        let (key, of) = self.new_own_key(conn, record_type, next)?;
        let mut wrapped = 1;
        // Every grant is replaced by one for the new version.
        grants::delete_of_type(conn, me, record_type)?;
        for reader in readers {
            // A key no wrap can be made to (a grant's key that is no
            // usable X25519 point) leaves that reader out, named, instead
            // of blocking the rotation (and any revocation) of the type.
            match self.store_wrapped_key(conn, &key, &of, reader.id, &reader.key) {
                Ok(()) => {}
                Err(Error::Crypto(_)) => {
                    tracing::warn!(
                        record_type,
                        reader = %reader.id,
                        "a grant names a public key no access key can be wrapped to: this reader is left out of the new version"
                    );
                    continue;
                }
                Err(err) => return Err(err),
            }
            self.put_grant(conn, record_type, reader, GrantKind::Read, next)?;
            wrapped += 1;
        }
        for authorizer in authorizers {
            self.put_grant(conn, record_type, authorizer, GrantKind::Authorize, next)?;
        }
        let moved = keys::set_head(conn, me, record_type, next)?;
        if moved != 1 {
            return Err(Error::Conflict {
                record_id: None,
                expected: None,
                found: None,
            });
        }
        if let Some(recovery) = recovery {
            wrapped += self
                .authorize_pinned_in(conn, record_type, recovery, next)?
                .wrapped_keys;
        }
        tracing::info!(
            record_type,
            version = next,
            readers = wrapped - 1,
            "rotated access key"
        );
        Ok((
            RevokeOutcome {
                new_version: Some(next),
                rows_deleted: 0,
                wrapped_keys: wrapped,
                removed_readers: Vec::new(),
                rewrap: None,
            },
            Some(key),
        ))
    }

    /// A fresh access key for version `version` of this client's
    /// `record_type`, wrapped to this client and stored. Called under the
    /// head lock with `version` above every own key that opens: rows
    /// already at `version` or above are made up, and go first (they would
    /// stand in the new version's slots and block every rotation).
    pub(super) fn new_own_key(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        version: u32,
    ) -> Result<(AccessKey, KeyId)> {
        let planted = keys::delete_from_version(conn, self.id(), record_type, version)?;
        if planted > 0 {
            tracing::warn!(
                record_type,
                version,
                rows = planted,
                "removed wrapped-key rows at or above the new key version that no own key backs"
            );
        }
        let key = AccessKey::generate();
        let of = KeyId {
            writer_id: self.id(),
            record_type: record_type.to_owned(),
            key_version: version,
        };
        self.store_wrapped_key(conn, &key, &of, self.id(), &self.public().encryption_key)?;
        Ok((key, of))
    }

    /// After a rotation's commit: the new key into the cache, its version
    /// into the profile.
    pub(super) fn after_rotation(
        &self,
        record_type: &str,
        outcome: &RevokeOutcome,
        key: Option<AccessKey>,
    ) -> Result<()> {
        if let (Some(version), Some(key)) = (outcome.new_version, key) {
            let id = KeyId {
                writer_id: self.id(),
                record_type: record_type.to_owned(),
                key_version: version,
            };
            self.keyring.keep(id, Arc::new(key));
            // The rotation stands; but until the profile records it, a
            // restored key table would not be refused: an error, not a
            // warning (the next write that can save the profile records
            // it).
            if let Err(err) = self.raise_mark(record_type, version) {
                tracing::error!(record_type, error = %err, "the rotation committed, but the profile could not record the new key version");
                return Err(err);
            }
        }
        Ok(())
    }
}
