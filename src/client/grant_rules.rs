//! Which grants a rotation honours: the rules, apart from the database.
//!
//! A writer rotating its type wraps the new key only to readers whose read
//! grant verifies and is for exactly the current version — signed by the
//! writer, or by an authoriser whose own grant (signed by the writer) is
//! for it too — and to the reader key recorded in that grant, never one the
//! database serves. Rows the database made up, replayed from before a
//! rotation, or carrying a version above the current one (copied from
//! another database) do not count. These rules take the policy rows and a way to find a
//! grantor's signing key, and need no database, so they are tested here
//! directly.

use crate::crypto::keys::{EncryptionPublicKey, SigningPublicKey};
use crate::crypto::signature::{self, GrantKind, ShareGrant};
use crate::ids::ClientId;
use crate::store::grants::{KIND_AUTHORIZE, KIND_READ};
use crate::store::rows::PolicyRow;

/// A client a grant is made to: its id, the X25519 key its grantor pinned,
/// and the authoriser the share came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Grantee {
    pub(super) id: ClientId,
    pub(super) key: EncryptionPublicKey,
    pub(super) via: Option<ClientId>,
    /// When the share was made (its grant row's time, unsigned): kept when
    /// a rotation signs the grant again; `None` for a share made now.
    pub(super) since: Option<i64>,
}

/// A policy row read as the grant it claims to be (not verified yet).
struct Claimed<'a> {
    row: &'a PolicyRow,
    grant: ShareGrant<'a>,
}

/// The grant a row claims, for `writer`'s `record_type`; `None` for a row
/// of an unknown kind or with a malformed part.
fn claimed<'a>(row: &'a PolicyRow, writer: ClientId, record_type: &'a str) -> Option<Claimed<'a>> {
    let kind = match row.kind.as_str() {
        KIND_READ => GrantKind::Read,
        KIND_AUTHORIZE => GrantKind::Authorize,
        _ => return None,
    };
    Some(Claimed {
        row,
        grant: ShareGrant {
            writer_id: writer,
            record_type,
            reader_id: row.reader_id,
            reader_key: row.reader_key,
            kind,
            key_version: u32::try_from(row.key_version).ok()?,
            granted_by: row.granted_by,
            via: row.via,
        },
    })
}

/// The readers and authorisers of `writer`'s `record_type` (whose signing
/// key is `writer_key`) with valid grants for version `current`, from
/// `rows`; `signer_key` finds an authoriser's signing key (`None`: unknown
/// or not trusted).
pub(super) fn valid_grantees(
    rows: &[PolicyRow],
    writer: ClientId,
    writer_key: &SigningPublicKey,
    record_type: &str,
    current: u32,
    mut signer_key: impl FnMut(ClientId) -> Option<SigningPublicKey>,
) -> (Vec<Grantee>, Vec<Grantee>) {
    let claims: Vec<Claimed<'_>> = rows
        .iter()
        .filter_map(|row| claimed(row, writer, record_type))
        // Exactly the current version: a rotation replaces every grant of
        // the type with one for its new version, so a genuine grant is
        // never above it; a higher one was copied in (from another
        // database this writer uses, where the type went further).
        .filter(|c| c.grant.key_version == current && c.grant.reader_id != writer)
        .collect();
    let authorizers: Vec<Grantee> = claims
        .iter()
        .filter(|c| c.grant.kind == GrantKind::Authorize && c.grant.granted_by == writer)
        .filter(|c| signature::verify_grant(writer_key, &c.grant, &c.row.signature).is_ok())
        .map(|c| Grantee {
            id: c.grant.reader_id,
            key: c.grant.reader_key,
            via: None,
            since: Some(c.row.created_at),
        })
        .collect();
    let mut readers = Vec::new();
    for c in claims.iter().filter(|c| c.grant.kind == GrantKind::Read) {
        let by = c.grant.granted_by;
        let key = if by == writer {
            Some(*writer_key)
        } else if authorizers.iter().any(|a| a.id == by) {
            signer_key(by)
        } else {
            None
        };
        let Some(key) = key else {
            continue;
        };
        if signature::verify_grant(&key, &c.grant, &c.row.signature).is_ok() {
            // Remember which authoriser the share came through.
            let via = if by == writer { c.grant.via } else { Some(by) };
            readers.push(Grantee {
                id: c.grant.reader_id,
                key: c.grant.reader_key,
                via,
                since: Some(c.row.created_at),
            });
        } else {
            tracing::warn!(record_type, reader = %c.grant.reader_id, "ignoring a read grant that does not verify");
        }
    }
    (once_each(readers), once_each(authorizers))
}

/// One grantee per client: a grant copied in twice (where the schema's
/// uniqueness is gone) must not make a rotation wrap twice into one slot.
/// The writer's own grant is kept before one that came through an
/// authoriser.
fn once_each(mut grantees: Vec<Grantee>) -> Vec<Grantee> {
    grantees.sort_by_key(|g| (g.id, g.via.is_some()));
    grantees.dedup_by_key(|g| g.id);
    grantees
}

/// A grantee as (id, the key its grantor pinned, the authoriser it came
/// through).
pub(crate) type GranteeParts = (ClientId, EncryptionPublicKey, Option<ClientId>);

/// [`valid_grantees`] for the hostile-input entry points
/// (`crate::__fuzz`), which cannot name [`Grantee`]: the readers, then the
/// authorisers.
pub(crate) fn valid_grantee_parts(
    rows: &[PolicyRow],
    writer: ClientId,
    writer_key: &SigningPublicKey,
    record_type: &str,
    current: u32,
    signer_key: impl FnMut(ClientId) -> Option<SigningPublicKey>,
) -> (Vec<GranteeParts>, Vec<GranteeParts>) {
    let (readers, authorizers) =
        valid_grantees(rows, writer, writer_key, record_type, current, signer_key);
    let parts = |g: &Grantee| (g.id, g.key, g.via);
    (
        readers.iter().map(parts).collect(),
        authorizers.iter().map(parts).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    const TYPE: &str = "patient";

    /// A policy row holding a grant `by` signs.
    fn row(
        writer: &Identity,
        reader: &Identity,
        kind: GrantKind,
        version: u32,
        by: &Identity,
        via: Option<ClientId>,
    ) -> PolicyRow {
        let grant = ShareGrant {
            writer_id: writer.client_id(),
            record_type: TYPE,
            reader_id: reader.client_id(),
            reader_key: reader.public().encryption_key,
            kind,
            key_version: version,
            granted_by: by.client_id(),
            via,
        };
        PolicyRow {
            writer_id: writer.client_id(),
            record_type: TYPE.to_owned(),
            reader_id: reader.client_id(),
            kind: match kind {
                GrantKind::Read => KIND_READ,
                _ => KIND_AUTHORIZE,
            }
            .to_owned(),
            granted_by: by.client_id(),
            via,
            reader_key: reader.public().encryption_key,
            key_version: version as i32,
            signature: by.signer().sign_grant(&grant).unwrap(),
            created_at: 0,
        }
    }

    fn ids(grantees: &[Grantee]) -> Vec<ClientId> {
        grantees.iter().map(|g| g.id).collect()
    }

    struct People {
        writer: Identity,
        bob: Identity,
        clinic: Identity,
        doctor: Identity,
    }

    fn people() -> People {
        People {
            writer: Identity::generate().unwrap(),
            bob: Identity::generate().unwrap(),
            clinic: Identity::generate().unwrap(),
            doctor: Identity::generate().unwrap(),
        }
    }

    fn grantees(p: &People, rows: &[PolicyRow], current: u32) -> (Vec<Grantee>, Vec<Grantee>) {
        let clinic = (p.clinic.client_id(), p.clinic.public().signing_key);
        valid_grantees(
            rows,
            p.writer.client_id(),
            &p.writer.public().signing_key,
            TYPE,
            current,
            |id| (id == clinic.0).then_some(clinic.1),
        )
    }

    #[test]
    fn a_read_grant_the_writer_signed_for_the_current_version_counts() {
        let p = people();
        let rows = [row(&p.writer, &p.bob, GrantKind::Read, 3, &p.writer, None)];
        let (readers, authorizers) = grantees(&p, &rows, 3);
        assert_eq!(ids(&readers), [p.bob.client_id()]);
        assert_eq!(readers[0].key, p.bob.public().encryption_key);
        assert!(authorizers.is_empty());
    }

    #[test]
    fn a_grant_replayed_from_before_a_rotation_does_not() {
        let p = people();
        let rows = [row(&p.writer, &p.bob, GrantKind::Read, 2, &p.writer, None)];
        assert!(grantees(&p, &rows, 3).0.is_empty());
    }

    #[test]
    fn a_grant_for_a_version_above_the_current_one_does_not() {
        // Genuine grants are re-signed at each rotation, so none is ever
        // above the current version; one that is was copied in, such as
        // from another database where the writer's type went further.
        let p = people();
        let authorize = row(
            &p.writer,
            &p.clinic,
            GrantKind::Authorize,
            4,
            &p.writer,
            None,
        );
        let read = row(&p.writer, &p.bob, GrantKind::Read, 4, &p.writer, None);
        let (readers, authorizers) = grantees(&p, &[authorize, read], 3);
        assert!(readers.is_empty());
        assert!(authorizers.is_empty());
    }

    #[test]
    fn a_grant_the_database_edited_or_made_up_does_not() {
        let p = people();
        let mut edited = row(&p.writer, &p.bob, GrantKind::Read, 3, &p.writer, None);
        // The database points the grant at Mallory's key.
        edited.reader_key = p.doctor.public().encryption_key;
        // Or has Bob sign his own grant.
        let self_signed = row(&p.writer, &p.bob, GrantKind::Read, 3, &p.bob, None);
        // Or a row of no known kind, or Bob's grant moved to another reader
        // (rows that do not parse at all never get here: the store skips
        // them, see tests/hostile_rows.rs).
        let mut other_kind = row(&p.writer, &p.bob, GrantKind::Read, 3, &p.writer, None);
        other_kind.kind = "write".to_owned();
        let mut moved = row(&p.writer, &p.bob, GrantKind::Read, 3, &p.writer, None);
        moved.reader_id = p.doctor.client_id();
        for rows in [[edited], [self_signed], [other_kind], [moved]] {
            assert!(grantees(&p, &rows, 3).0.is_empty());
        }
    }

    #[test]
    fn an_authorisers_shares_count_only_under_its_own_valid_grant() {
        let p = people();
        let authorize = row(
            &p.writer,
            &p.clinic,
            GrantKind::Authorize,
            3,
            &p.writer,
            None,
        );
        let via_clinic = row(&p.writer, &p.doctor, GrantKind::Read, 3, &p.clinic, None);
        let (readers, authorizers) = grantees(&p, &[authorize.clone(), via_clinic.clone()], 3);
        assert_eq!(ids(&authorizers), [p.clinic.client_id()]);
        assert_eq!(ids(&readers), [p.doctor.client_id()]);
        assert_eq!(
            readers[0].via,
            Some(p.clinic.client_id()),
            "the share came through the clinic"
        );
        // Without the authoriser grant, or with one replayed from an older
        // version, the clinic's share does not count.
        assert!(grantees(&p, std::slice::from_ref(&via_clinic), 3)
            .0
            .is_empty());
        let old = row(
            &p.writer,
            &p.clinic,
            GrantKind::Authorize,
            2,
            &p.writer,
            None,
        );
        assert!(grantees(&p, &[old, via_clinic.clone()], 3).0.is_empty());
        // An authoriser grant the clinic signed itself is no grant.
        let forged = row(
            &p.writer,
            &p.clinic,
            GrantKind::Authorize,
            3,
            &p.clinic,
            None,
        );
        assert!(grantees(&p, &[forged, via_clinic], 3).0.is_empty());
    }

    #[test]
    fn a_share_the_writer_re_signed_keeps_the_authoriser_it_came_through() {
        let p = people();
        let rows = [row(
            &p.writer,
            &p.doctor,
            GrantKind::Read,
            4,
            &p.writer,
            Some(p.clinic.client_id()),
        )];
        let (readers, _) = grantees(&p, &rows, 4);
        assert_eq!(readers[0].via, Some(p.clinic.client_id()));
    }

    #[test]
    fn the_writer_is_never_its_own_grantee() {
        let p = people();
        let rows = [row(
            &p.writer,
            &p.writer,
            GrantKind::Read,
            3,
            &p.writer,
            None,
        )];
        assert!(grantees(&p, &rows, 3).0.is_empty());
    }
}
