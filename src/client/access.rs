//! Access keys: finding the current version for a write (inside the write's
//! transaction), creating version 1 on a type's first write, and unwrapping
//! the key of a (writer, type, version) for a read, through the cache.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use diesel::prelude::*;

use super::Client;
use crate::cache::KeyId;
use crate::crypto::keys::{AccessKey, EncryptionPublicKey};
use crate::crypto::signature::{self, GrantKind, ShareGrant};
use crate::crypto::wrap::{self, WrapContext};
use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::store::rows::{
    int, now_micros, AccessKeyRow, KeyHeadRow, StoredAccessKey, StoredPolicy, Wide,
    ACCESS_KEY_COLUMNS, HEAD_VERSION, POLICY_COLUMNS,
};
use crate::store::schema::{access_keys, key_heads, policies};
use crate::store::tx::{db_err, on_backend};
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
    // The head row is the lock writes and rotations meet on; the database
    // may have deleted it, and locking a missing row locks nothing, so it
    // is (re)created first. Its value is only a hint.
    let placeholder = KeyHeadRow {
        writer_id: writer.to_string(),
        record_type: record_type.to_owned(),
        current_version: 0,
        updated_at: now_micros(),
    };
    on_backend!(&mut *conn, |c| diesel::insert_into(key_heads::table)
        .values(&placeholder)
        .on_conflict_do_nothing()
        .execute(c))
    .map_err(db_err)?;
    // Loaded as a nullable 64-bit value, so no stored value (NULL in a
    // relaxed schema, negative, huge) can fail the statement.
    let query = key_heads::table
        .filter(key_heads::writer_id.eq(writer.to_string()))
        .filter(key_heads::record_type.eq(record_type))
        .select(HEAD_VERSION);
    let version: Option<Option<i64>> = match conn {
        AnyConnection::Postgresql(pg) if exclusive => query.for_update().first(pg).optional(),
        AnyConnection::Postgresql(pg) => query.for_share().first(pg).optional(),
        AnyConnection::Sqlite(_) => query.first(conn).optional(),
    }
    .map_err(db_err)?;
    // Only a hint: a value that is not a key version is no version, never
    // an error that would block the writer.
    Ok(version.and_then(|v| {
        let parsed = int::<u32>(v);
        if parsed.is_none() {
            tracing::warn!(record_type, "ignoring a malformed key head row");
        }
        parsed
    }))
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
        // Two processes creating the first key meet on the primary key of
        // this row; the loser's transaction rolls back and it retries.
        let of = KeyId {
            writer_id: me,
            record_type: record_type.to_owned(),
            key_version: version,
        };
        self.store_wrapped_key(conn, &key, &of, me, &self.public().encryption_key, now)?;
        diesel::update(
            key_heads::table
                .filter(key_heads::writer_id.eq(me.to_string()))
                .filter(key_heads::record_type.eq(record_type)),
        )
        .set((
            key_heads::current_version.eq(version as i32),
            key_heads::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(db_err)?;
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
        let me = self.id();
        // Loaded widened and nullable, so a malformed version (NULL, out of
        // range, of another type) is passed over, never a failed write.
        let versions: Vec<Option<i64>> = access_keys::table
            .filter(access_keys::writer_id.eq(me.to_string()))
            .filter(access_keys::record_type.eq(record_type))
            .filter(access_keys::reader_id.eq(me.to_string()))
            .filter(access_keys::wrapper_id.eq(me.to_string()))
            .order(access_keys::key_version.desc())
            .select(Wide(access_keys::key_version))
            .load(conn)
            .map_err(db_err)?;
        // The newest version whose key really opens: the wrapper column is
        // only a claim, the HPKE auth tag is the proof.
        let mut newest = None;
        for version in versions {
            let Some(version) = version.and_then(|v| u32::try_from(v).ok()) else {
                continue;
            };
            match self.access_key(conn, me, record_type, version) {
                Ok(_) => {
                    newest = Some(version);
                    break;
                }
                Err(_) => {
                    tracing::warn!(
                        record_type,
                        version,
                        "ignoring an own access key row that does not open"
                    );
                }
            }
        }
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
        tracing::warn!(record_type, newest = ?newest, mark = ?mark, "access key version rolled back in the database");
        Err(Error::KeyRollback {
            record_type: record_type.to_owned(),
        })
    }

    /// Whether anything is stored for this client's `record_type` (records,
    /// wrapped keys or grants): a type that has them must not start a new
    /// key lineage.
    fn type_has_rows(&self, conn: &mut AnyConnection, record_type: &str) -> Result<bool> {
        let me = self.id().to_string();
        let keys: i64 = access_keys::table
            .filter(access_keys::writer_id.eq(&me))
            .filter(access_keys::record_type.eq(record_type))
            .count()
            .get_result(conn)
            .map_err(db_err)?;
        let grants: i64 = policies::table
            .filter(policies::writer_id.eq(&me))
            .filter(policies::record_type.eq(record_type))
            .count()
            .get_result(conn)
            .map_err(db_err)?;
        let records: i64 = crate::store::schema::records::table
            .filter(crate::store::schema::records::writer_id.eq(&me))
            .filter(crate::store::schema::records::record_type.eq(record_type))
            .count()
            .get_result(conn)
            .map_err(db_err)?;
        Ok(keys + grants + records > 0)
    }

    /// Wraps `key` to `reader` (this client is the wrapper) and stores it.
    pub(crate) fn store_wrapped_key(
        &self,
        conn: &mut AnyConnection,
        key: &AccessKey,
        of: &KeyId,
        reader_id: ClientId,
        reader_key: &EncryptionPublicKey,
        now: i64,
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
        diesel::insert_into(access_keys::table)
            .values(&AccessKeyRow {
                writer_id: writer.to_string(),
                record_type: record_type.to_owned(),
                key_version: i32::try_from(version)
                    .map_err(|_| Error::InvalidInput("key version overflow"))?,
                reader_id: reader_id.to_string(),
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
            if let Err(err) = self.raise_mark(record_type, write_key.version) {
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
        let row: Option<StoredAccessKey> = access_keys::table
            .filter(access_keys::writer_id.eq(writer.to_string()))
            .filter(access_keys::record_type.eq(record_type))
            .filter(
                access_keys::key_version.eq(i32::try_from(version).map_err(|_| Error::Decryption)?),
            )
            .filter(access_keys::reader_id.eq(self.id().to_string()))
            .select(ACCESS_KEY_COLUMNS)
            .first(conn)
            .optional()
            .map_err(db_err)?;
        let (wrapper, eak) = row
            .ok_or(KeyUnavailable::NotShared)?
            .parse()
            .ok_or(Error::Decryption)?;
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
            &eak,
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
        let stored: Option<StoredPolicy> = policies::table
            .filter(policies::writer_id.eq(writer.to_string()))
            .filter(policies::record_type.eq(record_type))
            .filter(policies::reader_id.eq(authorizer.to_string()))
            .filter(policies::kind.eq(KIND_AUTHORIZE))
            .filter(policies::granted_by.eq(writer.to_string()))
            .select(POLICY_COLUMNS)
            .first(conn)
            .optional()
            .map_err(db_err)?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        // A malformed row is no grant (as if absent).
        let parsed = stored.parse().and_then(|row| {
            let reader_key = EncryptionPublicKey::from_base64(&row.reader_key).ok()?;
            let via = match row.via.map(|v| v.parse::<ClientId>()) {
                None => None,
                Some(Ok(via)) => Some(via),
                Some(Err(_)) => return None,
            };
            let version = u32::try_from(row.key_version).ok()?;
            Some((version, row.signature, reader_key, via))
        });
        let Some((version, signature, reader_key, via)) = parsed else {
            tracing::warn!(record_type, "ignoring a malformed authoriser grant row");
            return Ok(None);
        };
        let writer_keys = self.peer(conn, writer)?;
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
