//! Access keys: finding the current version for a write (inside the write's
//! transaction), creating version 1 on a type's first write, and unwrapping
//! the key of a (writer, type, version) for a read, through the cache.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use diesel::prelude::*;

use super::Client;
use crate::crypto::keys::AccessKey;
use crate::crypto::signature::{self, AuthorizerGrant};
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
        if let Some(version) = current_version(conn, me, record_type)? {
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
        if !self.accepts_wrapper(conn, writer, record_type, wrapper)? {
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

    /// Whether a key wrapped by `wrapper` is acceptable for `writer`'s
    /// type: the writer itself, or a client holding a grant the writer
    /// signed.
    fn accepts_wrapper(
        &self,
        conn: &mut AnyConnection,
        writer: ClientId,
        record_type: &str,
        wrapper: ClientId,
    ) -> Result<bool> {
        Ok(wrapper == writer || self.grant_holds(conn, writer, record_type, wrapper)?)
    }

    /// Whether `authorizer` holds an authoriser grant for `writer`'s type
    /// that verifies against the writer's pinned signing key (the database
    /// alone cannot make a client an authoriser).
    pub(crate) fn grant_holds(
        &self,
        conn: &mut AnyConnection,
        writer: ClientId,
        record_type: &str,
        authorizer: ClientId,
    ) -> Result<bool> {
        let signature: Option<Option<String>> = policies::table
            .filter(policies::writer_id.eq(writer.to_string()))
            .filter(policies::record_type.eq(record_type))
            .filter(policies::reader_id.eq(authorizer.to_string()))
            .filter(policies::kind.eq(KIND_AUTHORIZE))
            .select(policies::signature)
            .first(conn)
            .optional()
            .map_err(db_err)?;
        let Some(Some(signature)) = signature else {
            return Ok(false);
        };
        let writer_keys = self.peer(conn, writer)?;
        let grant = AuthorizerGrant {
            writer_id: writer,
            record_type,
            authorizer_id: authorizer,
        };
        Ok(signature::verify_grant(&writer_keys.signing_key, &grant, &signature).is_ok())
    }
}
