//! Sharing a record type with another client, revoking it, and authorisers
//! (clients allowed to share on the writer's behalf). Rotation lives in
//! `rotation.rs`, signing and checking the grants in `grants.rs`.
//!
//! No data is moved or re-encrypted to share: a share is one wrapped access
//! key per live key version plus a policy row, whatever the number of
//! records. Revoking deletes them and rotates to a new key version wrapped
//! to the writer and every remaining reader; records written after that are
//! out of the revoked reader's reach, even with the old key in its memory.

use std::sync::Arc;

use tracing::field::Empty;
use tracing::Span;

use super::access::{current_version_for_rotation, KeyUnavailable};
use super::grant_rules::Grantee;
use super::observe::op_span;
use super::rewrap::{RewrapReport, DEFAULT_REWRAP_BATCH};
use super::{validate, Client};
use crate::cache::KeyId;
use crate::crypto::keys::AccessKey;
use crate::crypto::signature::GrantKind;
use crate::error::{Error, Result};
use crate::identity::PublicIdentity;
use crate::ids::ClientId;
use crate::store::grants::{self, KIND_AUTHORIZE, KIND_READ};
use crate::store::keys::{self, WrappedKeySlot};
use crate::store::rows::from_micros;
use crate::store::AnyConnection;
use chrono::{DateTime, Utc};

/// What a share grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShareKind {
    /// The reader may read the writer's records of the type.
    Read,
    /// The client may share the writer's type with others on its behalf.
    Authorize,
}

/// One share, as listed by [`Client::outgoing_shares`] and
/// [`Client::incoming_shares`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Share {
    /// The owner of the records.
    pub writer_id: ClientId,
    /// The record type shared.
    pub record_type: String,
    /// The client it is shared with.
    pub reader_id: ClientId,
    /// Read access or authoriser.
    pub kind: ShareKind,
    /// Who made the share: the writer, or an authoriser (also after a
    /// rotation re-signed the authoriser's grant as the writer's).
    pub granted_by: ClientId,
    /// When it was made, as the database says (rotations keep it; the
    /// time is not signed; one out of range shows as the Unix epoch, and
    /// the share is listed all the same).
    pub since: DateTime<Utc>,
}

/// The rows a share wrote (0 when it already existed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShareOutcome {
    /// Wrapped access keys written (one per live key version).
    pub wrapped_keys: usize,
    /// Policy rows written.
    pub policies: usize,
}

/// What a revocation (or rotation) did. Returned only once the
/// revocation (or rotation) is committed: whatever [`RevokeOutcome::rewrap`]
/// says, the revoked readers' keys and grants are gone and new writes use
/// the new key version.
#[derive(Debug)]
#[non_exhaustive]
pub struct RevokeOutcome {
    /// The new current key version (`None` if the type had no key yet).
    pub new_version: Option<u32>,
    /// Rows deleted (the reader's wrapped keys and policies).
    pub rows_deleted: usize,
    /// Wrapped keys written for the new version (writer and remaining
    /// readers).
    pub wrapped_keys: usize,
    /// The readers whose access was removed: for a revocation the revoked
    /// client and every reader whose share it had made as an authoriser
    /// (withdrawn with it); for [`Client::remove_authorizer`] the readers
    /// whose shares it had made (it keeps its own); for
    /// [`Client::restart_key_lineage`] the readers dropped. Empty for a
    /// rotation.
    pub removed_readers: Vec<ClientId>,
    /// How re-wrapping the existing records went, when it was asked for
    /// (and there was a key to re-wrap under): records re-wrapped, left as
    /// invalid and remaining under older versions, and the error that
    /// interrupted it, if one did. A later [`Client::rewrap_existing`]
    /// finishes the work.
    pub rewrap: Option<RewrapReport>,
}

/// The span of a rotation, or of a revocation (which rotates), with what
/// it did to record ([`record_revoke`]).
macro_rules! rotation_span {
    ($client:expr, $name:literal, $record_type:expr $(, $($field:tt)+)?) => {
        op_span!(
            $client,
            $name,
            record_type = $record_type,
            $($($field)+ ,)?
            new_version = tracing::field::Empty,
            rows_deleted = tracing::field::Empty,
            wrapped_keys = tracing::field::Empty,
            removed_readers = tracing::field::Empty,
            rewrapped = tracing::field::Empty
        )
    };
}
pub(super) use rotation_span;

/// What a revocation (or rotation) did, on its span.
pub(super) fn record_revoke(span: &Span, outcome: &RevokeOutcome) {
    if let Some(version) = outcome.new_version {
        span.record("new_version", version);
    }
    span.record("rows_deleted", outcome.rows_deleted);
    span.record("wrapped_keys", outcome.wrapped_keys);
    span.record("removed_readers", outcome.removed_readers.len());
    if let Some(report) = &outcome.rewrap {
        span.record("rewrapped", report.done.rewrapped);
    }
}

fn parse_kind(kind: &str) -> Option<ShareKind> {
    match kind {
        KIND_READ => Some(ShareKind::Read),
        KIND_AUTHORIZE => Some(ShareKind::Authorize),
        _ => None,
    }
}

impl Client {
    /// Shares this client's records of `record_type` with `reader`: wraps
    /// every live access key version to the reader's pinned public key and
    /// writes a `read` policy carrying a grant this client signs, in one
    /// transaction — O(1) rows whatever the number of records. Sharing
    /// again is a no-op. An unregistered reader is [`Error::UnknownClient`];
    /// one not pinned yet whose registered keys are unusable (malformed,
    /// or a low-order X25519 point) is [`Error::BadPeerKeys`], and is not
    /// pinned.
    pub fn share(&self, record_type: &str, reader: ClientId) -> Result<ShareOutcome> {
        let span = op_span!(self, "share", record_type, reader = %reader, wrapped_keys = Empty);
        self.observe(span, |span| {
            let outcome = self.share_own(record_type, reader)?;
            span.record("wrapped_keys", outcome.wrapped_keys);
            Ok(outcome)
        })
    }

    fn share_own(&self, record_type: &str, reader: ClientId) -> Result<ShareOutcome> {
        validate::record_type(record_type)?;
        if reader == self.id() {
            return Err(Error::InvalidInput("a client cannot share with itself"));
        }
        // Again after a lost race on a unique row (the same share made
        // concurrently): the second attempt finds it made.
        let (outcome, created) = self.retrying(|conn| {
            // Sharing a type before its first record creates its key.
            let created = self.write_key(conn, record_type)?;
            let outcome = self.share_in(conn, self.id(), record_type, reader, created.version)?;
            Ok((outcome, created))
        })?;
        self.cache_created_key(record_type, &created);
        tracing::info!(record_type, %reader, wrapped = outcome.wrapped_keys, "shared record type");
        Ok(outcome)
    }

    /// As an authoriser of `writer`'s `record_type`, shares it with
    /// `reader`: wraps (with this client's key) every key version this
    /// client holds up to the one its grant covers. Needs a grant from the
    /// writer ([`Client::add_authorizer`]).
    pub fn share_on_behalf(
        &self,
        writer: ClientId,
        record_type: &str,
        reader: ClientId,
    ) -> Result<ShareOutcome> {
        let span = op_span!(
            self,
            "share_on_behalf",
            record_type,
            writer = %writer,
            reader = %reader,
            wrapped_keys = Empty
        );
        self.observe(span, |span| {
            let outcome = self.share_on_behalf_in(writer, record_type, reader)?;
            span.record("wrapped_keys", outcome.wrapped_keys);
            Ok(outcome)
        })
    }

    fn share_on_behalf_in(
        &self,
        writer: ClientId,
        record_type: &str,
        reader: ClientId,
    ) -> Result<ShareOutcome> {
        validate::record_type(record_type)?;
        if writer == self.id() {
            return self.share_own(record_type, reader);
        }
        if reader == self.id() {
            return Err(Error::InvalidInput("a client cannot share with itself"));
        }
        if reader == writer {
            return Err(Error::InvalidInput(
                "an authoriser cannot share the writer's records with the writer",
            ));
        }
        self.retrying(|conn| {
            // The writer's key head, as its own share takes it: a rotation
            // waits for this share, or this share for the rotation (which
            // then carries its grant on).
            super::access::current_version(conn, writer, record_type)?;
            let Some(covers) = self.authorizer_grant(conn, writer, record_type, self.id())? else {
                return Err(Error::NotPermitted(
                    "this client holds no authoriser grant from the writer for this record type",
                ));
            };
            // A share the writer made itself stays the writer's: replacing
            // its grant would tie the reader's access to this authoriser.
            if self.writer_shared_directly(conn, writer, record_type, reader, covers)? {
                return Ok(ShareOutcome {
                    wrapped_keys: 0,
                    policies: 0,
                });
            }
            let outcome = self.share_in(conn, writer, record_type, reader, covers)?;
            tracing::info!(%writer, record_type, %reader, "shared record type on the writer's behalf");
            Ok(outcome)
        })
    }

    /// Lets `authorizer` share this client's `record_type` on its behalf,
    /// in one transaction: shares the type with it (it needs the key) and
    /// stores a grant signed by this client for the current key version,
    /// which readers check before accepting a key it wrapped.
    pub fn add_authorizer(&self, record_type: &str, authorizer: ClientId) -> Result<ShareOutcome> {
        let span = op_span!(
            self,
            "add_authorizer",
            record_type,
            authorizer = %authorizer,
            wrapped_keys = Empty
        );
        self.observe(span, |span| {
            let outcome = self.add_authorizer_in(record_type, authorizer)?;
            span.record("wrapped_keys", outcome.wrapped_keys);
            Ok(outcome)
        })
    }

    fn add_authorizer_in(&self, record_type: &str, authorizer: ClientId) -> Result<ShareOutcome> {
        validate::record_type(record_type)?;
        if authorizer == self.id() {
            return Err(Error::InvalidInput("a client cannot authorise itself"));
        }
        let (outcome, created) = self.retrying(|conn| {
            let created = self.write_key(conn, record_type)?;
            let outcome = self.authorize_in(conn, record_type, authorizer, created.version)?;
            Ok((outcome, created))
        })?;
        self.cache_created_key(record_type, &created);
        tracing::info!(record_type, %authorizer, "added authoriser");
        Ok(outcome)
    }

    /// Withdraws `authorizer`'s grant: the shares it made are withdrawn
    /// (their wrapped keys and policies deleted) and the key rotates, so
    /// keys it wraps from then on — of the new version — are refused by
    /// readers, even if its old grant is replayed. It keeps its own read
    /// access; readers it shared with keep only what they already decrypted
    /// (and, while a process of theirs runs, the keys it has unwrapped):
    /// their wrapped keys of every version are deleted. A client that
    /// is not an authoriser of the type (never was, already removed, a
    /// mistyped id) is [`Error::NotShared`], and nothing changes; the
    /// profile's recovery client is [`Error::InvalidInput`] (see
    /// [`Client::set_recovery_client`]). The outcome names the readers
    /// whose shares were withdrawn ([`RevokeOutcome::removed_readers`]),
    /// the rows deleted and the new key version.
    pub fn remove_authorizer(
        &self,
        record_type: &str,
        authorizer: ClientId,
    ) -> Result<RevokeOutcome> {
        let span = op_span!(
            self,
            "remove_authorizer",
            record_type,
            authorizer = %authorizer,
            rows_deleted = Empty
        );
        self.observe(span, |span| {
            let outcome = self.remove_authorizer_in(record_type, authorizer)?;
            span.record("rows_deleted", outcome.rows_deleted);
            Ok(outcome)
        })
    }

    fn remove_authorizer_in(
        &self,
        record_type: &str,
        authorizer: ClientId,
    ) -> Result<RevokeOutcome> {
        validate::record_type(record_type)?;
        if authorizer == self.id() {
            return Err(Error::InvalidInput(
                "a client cannot remove itself as authoriser",
            ));
        }
        if self.fresh_recovery_client()? == Some(authorizer) {
            // Every rotation authorises the recovery client again, and a
            // recovery needs it to authorise for the lost client.
            return Err(Error::InvalidInput(
                "this client is the profile's recovery client, which every type authorises so that a recovery can share on the lost client's behalf; removing it for one type would break that recovery",
            ));
        }
        let mut conn = self.store.conn()?;
        let (outcome, key) = self.write_tx(&mut conn, |conn| {
            current_version_for_rotation(conn, self.id(), record_type)?;
            // Not an authoriser of the type (never, already removed, a
            // mistyped id): nothing to withdraw, and no rotation. Judged by
            // every row its authority left (its authorise grant, shares
            // signed by or through it, keys it wrapped), so a hidden
            // authorise grant does not keep its readers in.
            if !grants::holds_authority(conn, self.id(), record_type, authorizer)? {
                return Err(Error::NotShared {
                    record_type: record_type.to_owned(),
                    reader: authorizer,
                });
            }
            let withdrawn = grants::withdraw(conn, self.id(), record_type, authorizer, false)?;
            let (mut outcome, key) = self.rotate_in(conn, record_type, None, Some(authorizer))?;
            outcome.rows_deleted = withdrawn.rows;
            outcome.removed_readers = withdrawn.readers;
            Ok((outcome, key))
        })?;
        self.after_rotation(record_type, &outcome, key)?;
        tracing::info!(record_type, %authorizer, deleted = outcome.rows_deleted, "removed authoriser");
        Ok(outcome)
    }

    /// Revokes `reader`'s access to this client's `record_type`: deletes its
    /// wrapped keys and policies (and, if it was an authoriser, the shares
    /// it made), then rotates to a new key version wrapped to this client
    /// and every remaining reader — those with a valid signed grant for the
    /// current version; new writes use it. [`RevokeOutcome::removed_readers`]
    /// names every reader whose access went.
    ///
    /// Existing records keep their key version (the revoked reader may have
    /// read them already); [`Client::revoke_and_rewrap`] also moves them to
    /// the new one.
    ///
    /// A `reader` that holds nothing of the type here — no policy row and
    /// no wrapped key (never shared with, already revoked, or a mistyped
    /// id) — is [`Error::NotShared`], and nothing changes; to start a new
    /// key version anyway, call [`Client::rotate`]. The profile's recovery
    /// client cannot be revoked ([`Error::InvalidInput`]: every rotation
    /// wraps to it again). If the profile cannot record the new key
    /// version after the rotation committed, that error is returned: the
    /// revocation stands, and the next write that can save the profile
    /// records the version.
    pub fn revoke(&self, record_type: &str, reader: ClientId) -> Result<RevokeOutcome> {
        let span = rotation_span!(self, "revoke", record_type, reader = %reader);
        self.observe(span, |span| {
            let outcome = self.revoke_then(record_type, reader, AfterRevoke::KeepRecords)?;
            record_revoke(span, &outcome);
            Ok(outcome)
        })
    }

    /// [`Client::revoke`], then re-wraps the data keys of existing records
    /// under the new version (see [`Client::rewrap_existing`]). The re-wrap
    /// runs after the revocation has committed, so it never turns the call
    /// into an error: how it went, an interruption included, is in
    /// [`RevokeOutcome::rewrap`].
    pub fn revoke_and_rewrap(&self, record_type: &str, reader: ClientId) -> Result<RevokeOutcome> {
        let span = rotation_span!(self, "revoke_and_rewrap", record_type, reader = %reader);
        self.observe(span, |span| {
            let outcome = self.revoke_then(record_type, reader, AfterRevoke::RewrapRecords)?;
            record_revoke(span, &outcome);
            Ok(outcome)
        })
    }

    fn revoke_then(
        &self,
        record_type: &str,
        reader: ClientId,
        after: AfterRevoke,
    ) -> Result<RevokeOutcome> {
        validate::record_type(record_type)?;
        if reader == self.id() {
            return Err(Error::InvalidInput("a client cannot revoke itself"));
        }
        if self.fresh_recovery_client()? == Some(reader) {
            // Every rotation wraps the new version to the recovery client
            // again, so a revocation would last until the next one.
            return Err(Error::InvalidInput(
                "this client is the profile's recovery client, which every new key version of every type is wrapped to; revoking it for one type would be undone by the next rotation",
            ));
        }
        let mut conn = self.store.conn()?;
        let (mut outcome, key) = self.write_tx(&mut conn, |conn| {
            // Lock the key head first, so a concurrent revocation of another
            // reader cannot wrap its new version to this one in between.
            current_version_for_rotation(conn, self.id(), record_type)?;
            if !self.holds_share(conn, record_type, reader)? {
                return Err(Error::NotShared {
                    record_type: record_type.to_owned(),
                    reader,
                });
            }
            let mut deleted = keys::delete_for_reader(conn, self.id(), record_type, reader)?;
            let withdrawn = grants::withdraw(conn, self.id(), record_type, reader, true)?;
            deleted += withdrawn.rows;
            let (mut outcome, key) =
                self.rotate_in(conn, record_type, Some(reader), Some(reader))?;
            outcome.rows_deleted += deleted;
            outcome.removed_readers = std::iter::once(reader)
                .chain(withdrawn.readers.into_iter().filter(|r| *r != reader))
                .collect();
            Ok((outcome, key))
        })?;
        // Back to the pool before the re-wrap takes one (a pool of one).
        drop(conn);
        self.after_rotation(record_type, &outcome, key)?;
        tracing::info!(record_type, %reader, new_version = %super::observe::shown(outcome.new_version), removed = outcome.removed_readers.len(), "revoked reader");
        if after == AfterRevoke::RewrapRecords && outcome.new_version.is_some() {
            let report = self.rewrap_existing_report(record_type, DEFAULT_REWRAP_BATCH, |_| {});
            if let Some(err) = &report.interrupted {
                // Held in the outcome, where a caller may not look.
                tracing::warn!(record_type, rewrapped = report.done.rewrapped, error = %err, "the revocation is committed, but re-wrapping existing records was interrupted");
            }
            outcome.rewrap = Some(report);
        }
        Ok(outcome)
    }

    /// Whether `reader` holds anything of this client's `record_type`: a
    /// policy row (of any kind, well-formed or not: revoking deletes it)
    /// or a wrapped key.
    fn holds_share(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        reader: ClientId,
    ) -> Result<bool> {
        grants::holds_share(conn, self.id(), record_type, reader)
    }

    /// Shares where this client is the writer.
    pub fn outgoing_shares(&self) -> Result<Vec<Share>> {
        let span = op_span!(self, "outgoing_shares", shares = Empty);
        self.observe(span, |span| self.list_shares(span, true))
    }

    /// Shares where this client is the reader (or authoriser): which
    /// writers share which types with it.
    pub fn incoming_shares(&self) -> Result<Vec<Share>> {
        let span = op_span!(self, "incoming_shares", shares = Empty);
        self.observe(span, |span| self.list_shares(span, false))
    }

    fn list_shares(&self, span: &Span, outgoing: bool) -> Result<Vec<Share>> {
        let mut conn = self.store.conn()?;
        let rows = grants::listed(&mut conn, self.id(), outgoing)?;
        let shares: Vec<Share> = rows
            .into_iter()
            .filter_map(|row| {
                Some(Share {
                    writer_id: row.writer_id,
                    record_type: row.record_type,
                    reader_id: row.reader_id,
                    kind: parse_kind(&row.kind)?,
                    // A share an authoriser made stays its own after a
                    // rotation re-signs the grant as the writer's.
                    granted_by: row.via.unwrap_or(row.granted_by),
                    // Unsigned, and never a reason to hide a share in force:
                    // a time out of range shows as the epoch.
                    since: from_micros(row.created_at).unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
                })
            })
            .collect();
        span.record("shares", shares.len());
        Ok(shares)
    }

    /// Shares this client's `record_type` with `authorizer` and grants it
    /// the right to share on this client's behalf, up to `version`, inside
    /// the caller's transaction.
    pub(super) fn authorize_in(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        authorizer: ClientId,
        version: u32,
    ) -> Result<ShareOutcome> {
        let keys = self.peer(conn, authorizer)?;
        self.authorize_to(conn, record_type, authorizer, &keys, version)
    }

    /// [`Client::authorize_in`] to the keys this profile pinned for
    /// `authorizer` (the recovery client), whatever the database serves
    /// for it now; to the database's, checked as every peer's are, if it
    /// has no pin.
    pub(super) fn authorize_pinned_in(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        authorizer: ClientId,
        version: u32,
    ) -> Result<ShareOutcome> {
        match self.with_profile(|p| p.pinned(authorizer).copied()) {
            Some(keys) => self.authorize_to(conn, record_type, authorizer, &keys, version),
            None => self.authorize_in(conn, record_type, authorizer, version),
        }
    }

    fn authorize_to(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        authorizer: ClientId,
        authorizer_keys: &PublicIdentity,
        version: u32,
    ) -> Result<ShareOutcome> {
        let mut outcome = self.share_to(
            conn,
            self.id(),
            record_type,
            authorizer,
            authorizer_keys,
            version,
        )?;
        outcome.policies += self.put_grant(
            conn,
            record_type,
            Grantee {
                id: authorizer,
                key: authorizer_keys.encryption_key,
                via: None,
                since: None,
            },
            GrantKind::Authorize,
            version,
        )?;
        Ok(outcome)
    }

    /// Inside a write transaction: wraps every key version of (writer,
    /// type) this client holds, up to `up_to`, to `reader` (where it has
    /// none yet) and stores this client's signed read grant for `up_to`.
    pub(super) fn share_in(
        &self,
        conn: &mut AnyConnection,
        writer: ClientId,
        record_type: &str,
        reader: ClientId,
        up_to: u32,
    ) -> Result<ShareOutcome> {
        let reader_keys = self.peer(conn, reader)?;
        self.share_to(conn, writer, record_type, reader, &reader_keys, up_to)
    }

    /// [`Client::share_in`] to `reader_keys`.
    fn share_to(
        &self,
        conn: &mut AnyConnection,
        writer: ClientId,
        record_type: &str,
        reader: ClientId,
        reader_keys: &PublicIdentity,
        up_to: u32,
    ) -> Result<ShareOutcome> {
        let mut outcome = ShareOutcome {
            wrapped_keys: 0,
            policies: 0,
        };
        let versions = self.held_versions(conn, writer, record_type, self.id())?;
        // Versions start at 1: a row below is made up.
        for version in versions.into_iter().filter(|v| (1..=up_to).contains(v)) {
            let slot = WrappedKeySlot {
                writer_id: writer,
                record_type,
                key_version: version,
                reader_id: reader,
            };
            // A share leaves the reader's key of a version to a wrapper
            // whose removal does not take it: the writer's own share wraps
            // every version itself, an authoriser's keeps what the writer
            // or it wrapped. A key another authoriser wrapped would go when
            // that authoriser is removed or revoked (its shares withdrawn),
            // though the reader's grant is now this share's: it is replaced.
            let own_share = writer == self.id();
            let existing = keys::find_wrapped(conn, slot)?;
            let wrapped = matches!(&existing,
                keys::Wrapped::Found(wrapper, _)
                    if *wrapper == self.id() || (!own_share && *wrapper == writer));
            if !wrapped {
                // A version whose key this client cannot open (a row the
                // database made up) is passed over, as writes pass it over.
                let key = match self.access_key(conn, writer, record_type, version) {
                    Ok(key) => key,
                    Err(
                        KeyUnavailable::NotShared
                        | KeyUnavailable::UntrustedWrapper(_)
                        | KeyUnavailable::Failed(Error::Decryption),
                    ) => {
                        tracing::warn!(
                            record_type,
                            version,
                            "passing over a key version this client cannot open"
                        );
                        continue;
                    }
                    Err(KeyUnavailable::Failed(err)) => return Err(err),
                };
                if !matches!(existing, keys::Wrapped::Absent) {
                    keys::delete_wrapped(conn, slot)?;
                }
                let of = KeyId {
                    writer_id: writer,
                    record_type: record_type.to_owned(),
                    key_version: version,
                };
                self.store_wrapped_key(conn, &key, &of, reader, &reader_keys.encryption_key)?;
                outcome.wrapped_keys += 1;
            }
        }
        outcome.policies += self.put_grant_for(
            conn,
            writer,
            record_type,
            Grantee {
                id: reader,
                key: reader_keys.encryption_key,
                via: None,
                since: None,
            },
            GrantKind::Read,
            up_to,
        )?;
        Ok(outcome)
    }

    /// Whether `reader` holds a read grant of `writer`'s `record_type` that
    /// the writer signed itself (directly, not through an authoriser), that
    /// verifies under the writer's pinned key, for `current` (the version
    /// this authoriser's own grant covers: a rotation signs every grant
    /// again): a revoked reader's old grant, replayed, is no share.
    fn writer_shared_directly(
        &self,
        conn: &mut AnyConnection,
        writer: ClientId,
        record_type: &str,
        reader: ClientId,
        current: u32,
    ) -> Result<bool> {
        let grants::Found::Row(row) = grants::find(
            conn,
            writer,
            record_type,
            reader,
            grants::KIND_READ,
            Some(writer),
        )?
        else {
            return Ok(false);
        };
        if row.via.is_some() {
            return Ok(false);
        }
        let writer_key = self.peer(conn, writer)?.signing_key;
        let (readers, _) = super::grant_rules::valid_grantees(
            std::slice::from_ref(&*row),
            writer,
            &writer_key,
            record_type,
            current,
            |_| None,
        );
        Ok(readers.iter().any(|g| g.id == reader && g.via.is_none()))
    }

    /// The key versions of (writer, type) for which `holder` has a wrapped
    /// key.
    fn held_versions(
        &self,
        conn: &mut AnyConnection,
        writer: ClientId,
        record_type: &str,
        holder: ClientId,
    ) -> Result<Vec<u32>> {
        keys::held_versions(conn, writer, record_type, holder)
    }

    /// The access key of (writer, type, version), or an error if this
    /// client cannot have it.
    pub(super) fn key_or_err(
        &self,
        conn: &mut AnyConnection,
        writer: ClientId,
        record_type: &str,
        version: u32,
    ) -> Result<Arc<AccessKey>> {
        self.access_key(conn, writer, record_type, version)
            .map_err(|e| match e {
                KeyUnavailable::NotShared => {
                    Error::NotPermitted("this client holds no access key for this record type")
                }
                KeyUnavailable::UntrustedWrapper(err) | KeyUnavailable::Failed(err) => err,
            })
    }
}

/// What a revocation does to the records already written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AfterRevoke {
    KeepRecords,
    RewrapRecords,
}
