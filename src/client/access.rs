//! Access keys: finding the current version for a write (inside the write's
//! transaction), creating version 1 on a type's first write, and unwrapping
//! the key of a (writer, type, version) for a read, through the cache.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use diesel::prelude::*;

use super::Client;
use crate::crypto::keys::AccessKey;
use crate::crypto::signature::{self, GrantKind, ShareGrant};
use crate::crypto::wrap::{self, WrapContext};
use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::keycache::KeyId;
use crate::store::rows::{now_micros, AccessKeyRow, KeyHeadRow};
use crate::store::schema::{access_keys, key_heads, policies};
use crate::store::tx::db_err;
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
    /// Something else failed (database, tampering, unknown wrapper).
    Failed(Error),
}

impl From<Error> for KeyUnavailable {
    fn from(err: Error) -> Self {
        KeyUnavailable::Failed(err)
    }
}

/// `policies.kind` of a read share.
pub(crate) const KIND_READ: &str = "read";
/// `policies.kind` of an authoriser grant.
pub(crate) const KIND_AUTHORIZE: &str = "authorize";

/// The current key version of (writer, type), read so that a concurrent
/// rotation waits for this transaction (PostgreSQL: `FOR SHARE`; SQLite's
/// write transactions are already exclusive).
pub(crate) fn current_version(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
) -> Result<Option<u32>> {
    read_head(conn, writer, record_type, false)
}

/// The current key version of (writer, type), locked for a rotation
/// (PostgreSQL: `FOR UPDATE`, so two rotations queue instead of
/// deadlocking on a lock upgrade).
pub(crate) fn current_version_for_rotation(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
) -> Result<Option<u32>> {
    read_head(conn, writer, record_type, true)
}

fn read_head(
    conn: &mut AnyConnection,
    writer: ClientId,
    record_type: &str,
    exclusive: bool,
) -> Result<Option<u32>> {
    let query = key_heads::table
        .filter(key_heads::writer_id.eq(writer.to_string()))
        .filter(key_heads::record_type.eq(record_type))
        .select(key_heads::current_version);
    let version: Option<i32> = match conn {
        AnyConnection::Postgresql(pg) if exclusive => query.for_update().first(pg).optional(),
        AnyConnection::Postgresql(pg) => query.for_share().first(pg).optional(),
        AnyConnection::Sqlite(_) => query.first(conn).optional(),
    }
    .map_err(db_err)?;
    version
        .map(|v| u32::try_from(v).map_err(|_| Error::Decryption))
        .transpose()
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
                    KeyUnavailable::Failed(err) => err,
                })?;
            return Ok(WriteKey {
                version,
                key,
                created: false,
            });
        }
        let key = AccessKey::generate();
        let version = 1;
        let now = now_micros();
        diesel::insert_into(key_heads::table)
            .values(&KeyHeadRow {
                writer_id: me.to_string(),
                record_type: record_type.to_owned(),
                current_version: version as i32,
                updated_at: now,
            })
            .execute(conn)
            .map_err(db_err)?;
        let of = KeyId {
            writer_id: me,
            record_type: record_type.to_owned(),
            key_version: version,
        };
        self.store_wrapped_key(conn, &key, &of, *self.public(), now)?;
        tracing::info!(record_type, version, "created access key");
        Ok(WriteKey {
            version,
            key: Arc::new(key),
            created: true,
        })
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
        let me = self.id().to_string();
        let newest: Option<i32> = access_keys::table
            .filter(access_keys::writer_id.eq(&me))
            .filter(access_keys::record_type.eq(record_type))
            .filter(access_keys::reader_id.eq(&me))
            .filter(access_keys::wrapper_id.eq(&me))
            .select(diesel::dsl::max(access_keys::key_version))
            .first(conn)
            .map_err(db_err)?;
        let newest = newest
            .map(|v| u32::try_from(v).map_err(|_| Error::Decryption))
            .transpose()?;
        let mark = self.with_profile(|p| p.key_version_mark(record_type));
        match (newest, mark) {
            (Some(v), Some(m)) if v < m => {}
            (None, Some(_)) => {}
            (Some(v), _) => {
                if mark.is_none_or(|m| v > m) {
                    // Another process of this client rotated: remember it.
                    self.with_profile(|p| p.raise_key_version_mark(record_type, v))?;
                }
                return Ok(Some(v));
            }
            (None, None) => return Ok(None),
        }
        tracing::warn!(record_type, newest = ?newest, mark = ?mark, "access key version rolled back in the database");
        Err(Error::KeyRollback {
            record_type: record_type.to_owned(),
        })
    }

    /// Wraps `key` to `reader` (this client is the wrapper) and stores it.
    pub(crate) fn store_wrapped_key(
        &self,
        conn: &mut AnyConnection,
        key: &AccessKey,
        of: &KeyId,
        reader: crate::identity::PublicIdentity,
        now: i64,
    ) -> Result<()> {
        let (writer, record_type, version) =
            (of.writer_id, of.record_type.as_str(), of.key_version);
        let ctx = WrapContext {
            writer_id: writer,
            record_type,
            key_version: version,
            reader_id: reader.client_id,
            wrapper_id: self.id(),
        };
        let wrapped = wrap::wrap_access_key(
            key,
            &ctx,
            &reader.encryption_key,
            self.identity.encryption_secret(),
        )?;
        diesel::insert_into(access_keys::table)
            .values(&AccessKeyRow {
                writer_id: writer.to_string(),
                record_type: record_type.to_owned(),
                key_version: i32::try_from(version)
                    .map_err(|_| Error::InvalidInput("key version overflow"))?,
                reader_id: reader.client_id.to_string(),
                wrapper_id: self.id().to_string(),
                eak: wrapped.into_string(),
                created_at: now,
            })
            .execute(conn)
            .map_err(db_err)?;
        Ok(())
    }

    /// Puts a key this client created into the cache (after its commit).
    pub(crate) fn cache_created_key(&self, record_type: &str, write_key: &WriteKey) {
        if write_key.created {
            if let Err(err) =
                self.with_profile(|p| p.raise_key_version_mark(record_type, write_key.version))
            {
                tracing::warn!(record_type, error = %err, "could not record the new key version in the profile");
            }
            let id = KeyId {
                writer_id: self.id(),
                record_type: record_type.to_owned(),
                key_version: write_key.version,
            };
            self.keys.insert(id, write_key.key.clone());
        }
    }

    /// The access key of (writer, type, version) for this client: from the
    /// cache, or unwrapped from this client's wrapped copy, checked against
    /// the wrapper's pinned key.
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
        if let Some(key) = self.keys.get(&id) {
            return Ok(key);
        }
        let row: Option<AccessKeyRow> = access_keys::table
            .filter(access_keys::writer_id.eq(writer.to_string()))
            .filter(access_keys::record_type.eq(record_type))
            .filter(
                access_keys::key_version.eq(i32::try_from(version).map_err(|_| Error::Decryption)?),
            )
            .filter(access_keys::reader_id.eq(self.id().to_string()))
            .select(AccessKeyRow::as_select())
            .first(conn)
            .optional()
            .map_err(db_err)?;
        let row = row.ok_or(KeyUnavailable::NotShared)?;
        let wrapper: ClientId = row.wrapper_id.parse().map_err(|_| Error::Decryption)?;
        if !self.accepts_wrapper(conn, writer, record_type, wrapper, version)? {
            tracing::warn!(%writer, record_type, %wrapper, "wrapped key by a client the writer did not authorise");
            return Err(KeyUnavailable::Failed(Error::Decryption));
        }
        let wrapper_keys = self.peer(conn, wrapper)?;
        let ctx = WrapContext {
            writer_id: writer,
            record_type,
            key_version: version,
            reader_id: self.id(),
            wrapper_id: wrapper,
        };
        let key = wrap::unwrap_access_key(
            &row.eak,
            &ctx,
            self.identity.encryption_secret(),
            &wrapper_keys.encryption_key,
        )?;
        self.unwraps.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%writer, record_type, version, "unwrapped access key");
        Ok(self.keys.insert(id, Arc::new(key)))
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
        let row: Option<(i32, String)> = policies::table
            .filter(policies::writer_id.eq(writer.to_string()))
            .filter(policies::record_type.eq(record_type))
            .filter(policies::reader_id.eq(authorizer.to_string()))
            .filter(policies::kind.eq(KIND_AUTHORIZE))
            .filter(policies::granted_by.eq(writer.to_string()))
            .select((policies::key_version, policies::signature))
            .first(conn)
            .optional()
            .map_err(db_err)?;
        let Some((version, signature)) = row else {
            return Ok(None);
        };
        let Ok(version) = u32::try_from(version) else {
            return Ok(None);
        };
        let writer_keys = self.peer(conn, writer)?;
        let grant = ShareGrant {
            writer_id: writer,
            record_type,
            reader_id: authorizer,
            kind: GrantKind::Authorize,
            key_version: version,
            granted_by: writer,
        };
        Ok(
            signature::verify_grant(&writer_keys.signing_key, &grant, &signature)
                .is_ok()
                .then_some(version),
        )
    }
}
