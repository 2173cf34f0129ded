//! Share grants as this client signs and checks them: a policy row is a
//! grant signed by its grantor over (writer, type, reader, reader key,
//! kind, key version, via); which rows count is decided by the pure rules
//! of `grant_rules.rs`.

use super::grant_rules::{self, Grantee};
use super::Client;
use crate::crypto::signature::{GrantKind, ShareGrant};
use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::store::grants::{self, KIND_AUTHORIZE, KIND_READ};
use crate::store::rows::{now_micros, PolicyRow};
use crate::store::AnyConnection;

impl Client {
    /// Stores a grant this client signs on its own type.
    pub(super) fn put_grant(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        grantee: Grantee,
        kind: GrantKind,
        version: u32,
    ) -> Result<usize> {
        self.put_grant_for(conn, self.id(), record_type, grantee, kind, version)
    }

    /// Stores (or replaces) the policy row for (writer, type, grantee,
    /// kind) with a grant signed by this client; `0` if the same grant is
    /// there.
    pub(super) fn put_grant_for(
        &self,
        conn: &mut AnyConnection,
        writer: ClientId,
        record_type: &str,
        grantee: Grantee,
        kind: GrantKind,
        version: u32,
    ) -> Result<usize> {
        let kind_text = match kind {
            GrantKind::Read => KIND_READ,
            _ => KIND_AUTHORIZE,
        };
        // A malformed row is not the same grant, and is replaced.
        let same = match grants::find(conn, writer, record_type, grantee.id, kind_text, None)? {
            grants::Found::Row(p) => {
                // `via` too: a writer's direct share must replace a grant
                // the writer re-signed for an authoriser's share (after a
                // rotation), or the reader's access would stay tied to
                // that authoriser.
                p.granted_by == self.id()
                    && i64::from(p.key_version) == i64::from(version)
                    && p.reader_key == grantee.key
                    && p.via == grantee.via
            }
            grants::Found::Absent | grants::Found::Malformed => false,
        };
        if same {
            return Ok(0);
        }
        let grant = ShareGrant {
            writer_id: writer,
            record_type,
            reader_id: grantee.id,
            reader_key: grantee.key,
            kind,
            key_version: version,
            granted_by: self.id(),
            via: grantee.via,
        };
        grants::replace(
            conn,
            &PolicyRow {
                writer_id: writer,
                record_type: record_type.to_owned(),
                reader_id: grantee.id,
                kind: kind_text.to_owned(),
                granted_by: self.id(),
                via: grantee.via,
                reader_key: grantee.key,
                key_version: version as i32,
                signature: self.identity.signer().sign_grant(&grant)?,
                created_at: grantee.since.unwrap_or_else(now_micros),
            },
        )
    }

    /// The readers and authorisers of this client's type whose grants for
    /// exactly `current` verify: read grants signed by this client, or by
    /// an authoriser whose own grant (signed by this client) is for
    /// `current` too. Rows the database made up, replayed from before a
    /// rotation, or above `current` do not count. Each comes with the public key its grantor pinned.
    pub(super) fn valid_grants(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        current: u32,
    ) -> Result<(Vec<Grantee>, Vec<Grantee>)> {
        let me = self.id();
        // Loaded in a form that cannot fail as a whole; a row that does not
        // parse is ignored, as if absent.
        let rows = grants::of_type(conn, me, record_type)?;
        // An authoriser whose keys the database now serves differently
        // from the pin fails the operation (as every use of a pinned
        // peer's keys does), instead of its shares silently not counting.
        let mut key_changed = None;
        let (readers, authorizers) = grant_rules::valid_grantees(
            &rows,
            me,
            &self.public().signing_key,
            record_type,
            current,
            |signer| match self.peer(conn, signer) {
                Ok(keys) => Some(keys.signing_key),
                Err(err @ Error::KeyChanged { .. }) => {
                    key_changed.get_or_insert(err);
                    None
                }
                Err(_) => None,
            },
        );
        if let Some(err) = key_changed {
            return Err(err);
        }
        // A grantee this client pinned gets its key from the pin: a grant
        // an authoriser signed naming another key (the database fooled
        // it, or it lies) does not redirect this client's wraps. Only a pin
        // this client would use itself: under verified trust, one taken on
        // first use is not (the operator may have served it).
        let usable_pin = |id: ClientId| {
            self.with_profile(|p| {
                let usable = p.peer_trust() != crate::PeerTrust::Verified || p.is_pin_verified(id);
                p.pinned(id).copied().filter(|_| usable)
            })
        };
        let pinned = |grantees: Vec<Grantee>| -> Vec<Grantee> {
            grantees
                .into_iter()
                .map(|mut g| {
                    if let Some(pin) = usable_pin(g.id) {
                        if pin.encryption_key != g.key {
                            tracing::warn!(
                                record_type,
                                grantee = %g.id,
                                "a grant names another public key than this client's pin: the pinned key is used"
                            );
                            g.key = pin.encryption_key;
                        }
                    }
                    g
                })
                .collect()
        };
        Ok((pinned(readers), pinned(authorizers)))
    }
}
