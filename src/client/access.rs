//! Access keys: finding the current version for a write (inside the write's
//! transaction), creating version 1 on a type's first write, and unwrapping
//! the key of a (writer, type, version) for a read, through the cache.

use std::sync::Arc;

use super::keyring::Turn;
use super::Client;
use crate::cache::KeyId;
use crate::crypto::keys::{AccessKey, EncryptionPublicKey};
use crate::crypto::signature::{self, GrantKind, ShareGrant};
use crate::crypto::wrap::{self, WrapContext};
use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::store::grants::{self, KIND_AUTHORIZE};
use crate::store::keys::{self, HeadLock, Wrapped, WrappedKeySlot};
use crate::store::AnyConnection;

/// The key a write uses.
pub(crate) struct WriteKey {
    pub(crate) version: u32,
    pub(crate) key: Arc<AccessKey>,
    /// Set when this write creates the key: cache it only after commit.
    pub(crate) created: bool,
}

/// Why an access key could not be had.
pub(crate) enum KeyUnavailable {
    /// No wrapped key for this reader: not shared with it (or revoked).
    NotShared,
    /// The key was wrapped by a client this one cannot trust: not
    /// registered (and not pinned), or not verified while the profile
    /// trusts only verified peers. Holds that error
    /// ([`Error::UnknownClient`], [`Error::PeerNotVerified`]).
    UntrustedWrapper(Error),
    /// Something else failed (database, tampering, unknown wrapper).
    Failed(Error),
}

impl From<Error> for KeyUnavailable {
    fn from(err: Error) -> Self {
        KeyUnavailable::Failed(err)
    }
}

/// The current key version of (writer, type), read so that a concurrent
/// rotation waits for this transaction (PostgreSQL: `FOR SHARE`; SQLite's
/// write transactions are already exclusive).
pub(crate) fn current_version(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
) -> Result<Option<u32>> {
    keys::lock_head(conn, writer, record_type, HeadLock::Write)
}

/// The current key version of (writer, type), locked for a rotation
/// (PostgreSQL: `FOR UPDATE`, so two rotations queue instead of
/// deadlocking on a lock upgrade).
pub(crate) fn current_version_for_rotation(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
) -> Result<Option<u32>> {
    keys::lock_head(conn, writer, record_type, HeadLock::Rotation)
}

impl Client {
    /// The access key a write of `record_type` must use now. Called inside
    /// the write's transaction. On the type's first write this creates
    /// version 1 and its wrapped copy for the writer; two writers racing
    /// there meet on the primary key and the loser retries.
    pub(crate) fn write_key(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
    ) -> Result<WriteKey> {
        let me = self.id();
        // The head row is the lock that orders this write after a rotation;
        // the version itself comes from this client's own wrapped keys,
        // checked against its profile.
        current_version(conn, me, record_type)?;
        if let Some(version) = self.own_current_version(conn, record_type)? {
            let key = self
                .access_key(conn, me, record_type, version)
                .map_err(|e| match e {
                    KeyUnavailable::NotShared => Error::Decryption,
                    KeyUnavailable::UntrustedWrapper(err) | KeyUnavailable::Failed(err) => err,
                })?;
            return Ok(WriteKey {
                version,
                key,
                created: false,
            });
        }
        let key = AccessKey::generate();
        let version = 1;
        // Two processes creating the first key meet on the primary key of
        // this row; the loser's transaction rolls back and it retries.
        let of = KeyId {
            writer_id: me,
            record_type: record_type.to_owned(),
            key_version: version,
        };
        self.store_wrapped_key(conn, &key, &of, me, &self.public().encryption_key)?;
        keys::set_head(conn, me, record_type, version)?;
        tracing::info!(record_type, version, "created access key");
        // A new type reaches the recovery client in the same transaction as
        // its first key: no record of it is ever out of recovery's reach.
        // The profile is read under the lock that setting a recovery client
        // holds while it authorises every type: one set meanwhile either
        // sees this type or is seen here.
        keys::lock_type_set(conn, me, false)?;
        if let Some(recovery) = self.fresh_recovery_client()? {
            self.authorize_in(conn, record_type, recovery, version)?;
        }
        Ok(WriteKey {
            version,
            key: Arc::new(key),
            created: true,
        })
    }

    /// The newest version of `record_type` whose self-wrapped key row
    /// really opens: the wrapper column is only a claim, the HPKE auth tag
    /// is the proof. Rows that do not open (made up by the database, at any
    /// version) and malformed versions are passed over, never an error.
    pub(crate) fn newest_opening_own_version(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
    ) -> Result<Option<u32>> {
        let me = self.id();
        for version in keys::self_wrapped_versions(conn, me, record_type)? {
            match self.access_key(conn, me, record_type, version) {
                Ok(_) => return Ok(Some(version)),
                Err(_) => {
                    tracing::warn!(
                        record_type,
                        version,
                        "ignoring an own access key row that does not open"
                    );
                }
            }
        }
        Ok(None)
    }

    /// The newest version of this client's own access key for
    /// `record_type`: the highest version it wrapped to itself (rows only it
    /// can make), never below the mark in its profile. A database that
    /// lost or hid the newest version is [`Error::KeyRollback`].
    pub(crate) fn own_current_version(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
    ) -> Result<Option<u32>> {
        let newest = self.newest_opening_own_version(conn, record_type)?;
        // The database's identity first (it may refuse), then the mark,
        // re-read from the profile file: another process of this client may
        // have rotated since this one last looked.
        let database = self.marked_database(conn)?;
        let mark = match database {
            Some(database) => self.current_mark(database, record_type)?,
            None => None,
        };
        match (newest, mark) {
            (Some(v), Some(m)) if v < m => {}
            (None, Some(_)) => {}
            (Some(v), _) => {
                if mark.is_none_or(|m| v > m) {
                    // Another process of this client rotated: remember it.
                    self.raise_mark(record_type, v)?;
                }
                return Ok(Some(v));
            }
            (None, None) => {
                if self.type_has_rows(conn, record_type)? {
                    tracing::warn!(
                        record_type,
                        "rows exist for this type but none of this client's own keys open"
                    );
                    return Err(Error::KeyRollback {
                        record_type: record_type.to_owned(),
                    });
                }
                return Ok(None);
            }
        }
        tracing::warn!(record_type, newest = %super::observe::shown(newest), mark = %super::observe::shown(mark), "access key version rolled back in the database");
        Err(Error::KeyRollback {
            record_type: record_type.to_owned(),
        })
    }

    /// Whether anything is stored for this client's `record_type` (records,
    /// wrapped keys or grants): a type that has them must not start a new
    /// key lineage.
    fn type_has_rows(&self, conn: &mut AnyConnection, record_type: &str) -> Result<bool> {
        keys::type_has_rows(conn, self.id(), record_type)
    }

    /// Wraps `key` to `reader` (this client is the wrapper) and stores it.
    pub(crate) fn store_wrapped_key(
        &self,
        conn: &mut AnyConnection,
        key: &AccessKey,
        of: &KeyId,
        reader_id: ClientId,
        reader_key: &EncryptionPublicKey,
    ) -> Result<()> {
        let (writer, record_type, version) =
            (of.writer_id, of.record_type.as_str(), of.key_version);
        let ctx = WrapContext {
            writer_id: writer,
            record_type,
            key_version: version,
            reader_id,
            wrapper_id: self.id(),
        };
        let wrapped =
            wrap::wrap_access_key(key, &ctx, reader_key, self.identity.encryption_secret())?;
        let slot = WrappedKeySlot {
            writer_id: writer,
            record_type,
            key_version: version,
            reader_id,
        };
        keys::insert_wrapped(conn, slot, self.id(), wrapped.into_string())
    }

    /// Puts a key this client created into the cache (after its commit).
    pub(crate) fn cache_created_key(&self, record_type: &str, write_key: &WriteKey) {
        if write_key.created {
            if let Err(err) = self.raise_mark(record_type, write_key.version) {
                tracing::warn!(record_type, error = %err, "could not record the new key version in the profile");
            }
            let id = KeyId {
                writer_id: self.id(),
                record_type: record_type.to_owned(),
                key_version: write_key.version,
            };
            self.keyring.keep(id, write_key.key.clone());
        }
    }

    /// The access key of (writer, type, version) for this client: from the
    /// cache, or unwrapped from this client's wrapped copy, checked against
    /// the wrapper's pinned key — once, however many threads of this client
    /// ask for it at the same time.
    pub(crate) fn access_key(
        &self,
        conn: &mut AnyConnection,
        writer: ClientId,
        record_type: &str,
        version: u32,
    ) -> std::result::Result<Arc<AccessKey>, KeyUnavailable> {
        let id = KeyId {
            writer_id: writer,
            record_type: record_type.to_owned(),
            key_version: version,
        };
        if let Some(key) = self.keyring.get(&id) {
            return Ok(key);
        }
        // Single flight: of the threads of this client missing this key at
        // once, one unwraps it; the others wait, then take it from the cache
        // (or, if the one failed, try in turn). Held until this function
        // returns, after the key is cached.
        let _flight = match self.keyring.board(&id) {
            Turn::Cached(key) => return Ok(key),
            Turn::Unwrap(flight) => flight,
        };
        let slot = WrappedKeySlot {
            writer_id: writer,
            record_type,
            key_version: version,
            reader_id: self.id(),
        };
        let (wrapper, eak) = match keys::find_wrapped(conn, slot)? {
            Wrapped::Absent => return Err(KeyUnavailable::NotShared),
            Wrapped::Malformed => return Err(KeyUnavailable::Failed(Error::Decryption)),
            Wrapped::Found(wrapper, eak) => (wrapper, eak),
        };
        if !self.accepts_wrapper(conn, writer, record_type, wrapper, version)? {
            tracing::warn!(%writer, record_type, %wrapper, "wrapped key by a client the writer did not authorise");
            return Err(KeyUnavailable::Failed(Error::Decryption));
        }
        let wrapper_keys = match self.peer(conn, wrapper) {
            Ok(keys) => keys,
            Err(err @ (Error::UnknownClient { .. } | Error::PeerNotVerified { .. })) => {
                tracing::warn!(%writer, record_type, %wrapper, "a key wrapped by a client this one cannot trust");
                return Err(KeyUnavailable::UntrustedWrapper(err));
            }
            Err(err) => return Err(KeyUnavailable::Failed(super::peers::opaque_bad_keys(err))),
        };
        let ctx = WrapContext {
            writer_id: writer,
            record_type,
            key_version: version,
            reader_id: self.id(),
            wrapper_id: wrapper,
        };
        let key = wrap::unwrap_access_key(
            &eak,
            &ctx,
            self.identity.encryption_secret(),
            &wrapper_keys.encryption_key,
        )?;
        tracing::debug!(%writer, record_type, version, "unwrapped access key");
        Ok(self.keyring.keep_unwrapped(id, key))
    }

    /// Whether a key of `version` wrapped by `wrapper` is acceptable for
    /// `writer`'s type: this client's own keys only from itself; another
    /// writer's from that writer, or from a client holding an authoriser
    /// grant the writer signed that covers the version.
    fn accepts_wrapper(
        &self,
        conn: &mut AnyConnection,
        writer: ClientId,
        record_type: &str,
        wrapper: ClientId,
        version: u32,
    ) -> Result<bool> {
        if writer == self.id() || wrapper == writer {
            return Ok(wrapper == writer);
        }
        Ok(self
            .authorizer_grant(conn, writer, record_type, wrapper)?
            .is_some_and(|covers| covers >= version))
    }

    /// The key version up to which `authorizer` may share `writer`'s type:
    /// from its `authorize` row, if the grant there verifies against the
    /// writer's pinned signing key (the database alone cannot make a client
    /// an authoriser, nor extend an old grant past a rotation).
    pub(crate) fn authorizer_grant(
        &self,
        conn: &mut AnyConnection,
        writer: ClientId,
        record_type: &str,
        authorizer: ClientId,
    ) -> Result<Option<u32>> {
        let found = grants::find(
            conn,
            writer,
            record_type,
            authorizer,
            KIND_AUTHORIZE,
            Some(writer),
        )?;
        // A malformed row is no grant (as if absent).
        let row = match found {
            grants::Found::Absent => return Ok(None),
            grants::Found::Row(row) => Some(*row),
            grants::Found::Malformed => None,
        };
        let parsed = row.and_then(|row| {
            let reader_key = row.reader_key;
            let via = row.via;
            let version = u32::try_from(row.key_version).ok()?;
            Some((version, row.signature, reader_key, via))
        });
        let Some((version, signature, reader_key, via)) = parsed else {
            tracing::warn!(record_type, "ignoring a malformed authoriser grant row");
            return Ok(None);
        };
        let writer_keys = self
            .peer(conn, writer)
            .map_err(super::peers::opaque_bad_keys)?;
        let grant = ShareGrant {
            writer_id: writer,
            record_type,
            reader_id: authorizer,
            reader_key,
            kind: GrantKind::Authorize,
            key_version: version,
            granted_by: writer,
            via,
        };
        Ok(
            signature::verify_grant(&writer_keys.signing_key, &grant, &signature)
                .is_ok()
                .then_some(version),
        )
    }
}
