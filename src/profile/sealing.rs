//! Sealing a profile's secret keys under a passphrase: Argon2id derives
//! the key, XChaCha20-Poly1305 seals the secrets, every clear part of the
//! file is the AAD.

use super::*;

/// How to open the sealed part of a profile file.
pub(super) enum Unlock<'a> {
    /// With a passphrase (Argon2id runs).
    Passphrase(Option<&'a str>),
    /// With the key this process already derived for the same file.
    Known(&'a Sealing),
}

/// The passphrase-derived key and the parameters that derived it, kept so
/// that saving re-seals without asking for the passphrase again.
pub(super) struct Sealing {
    pub(super) key: PassphraseKey,
    pub(super) salt: [u8; SALT_LEN],
    pub(super) iterations: u32,
    pub(super) memory_kib: u32,
}

/// What follows the pins in a sealed profile's AAD, by format version.
pub(super) enum AadTail<'a> {
    /// Version 1: the marks by URL.
    Version1(&'a Marks),
    /// Version 2: the peer trust, the marks by database identity and, when
    /// one is set, the recovery client, then the verified pins, when the
    /// file lists them (each absent part: the AAD of a file written before
    /// it existed, unchanged).
    Version2(
        PeerTrust,
        &'a BTreeMap<DatabaseId, Marks>,
        Option<ClientId>,
        Option<&'a BTreeSet<ClientId>>,
    ),
}

/// The AAD of a sealed profile: every clear-text part of the file.
pub(super) fn sealed_aad(
    name: &Option<String>,
    public: &PublicIdentity,
    pinned: &BTreeMap<ClientId, PublicIdentity>,
    tail: AadTail<'_>,
    sealing: &Sealing,
) -> Result<Vec<u8>> {
    let version = match tail {
        AadTail::Version1(_) => 1,
        AadTail::Version2(..) => PROFILE_VERSION,
    };
    let mut aad = Canonical::new(AAD_LABEL)
        .u32(version)
        .uuid(public.client_id.as_uuid());
    aad = match name {
        None => aad.u32(0),
        Some(name) => aad.u32(1).str(name)?,
    };
    aad = aad
        .bytes(public.encryption_key.as_bytes())?
        .bytes(public.signing_key.as_bytes())?
        .str("argon2id")?
        .bytes(&sealing.salt)?
        .u32(sealing.iterations)
        .u32(sealing.memory_kib)
        .u32(
            u32::try_from(pinned.len())
                .map_err(|_| Error::InvalidInput("too many pinned peers"))?,
        );
    for peer in pinned.values() {
        aad = aad
            .uuid(peer.client_id.as_uuid())
            .bytes(peer.encryption_key.as_bytes())?
            .bytes(peer.signing_key.as_bytes())?;
    }
    let (peer_trust, databases, recovery, verified) = match tail {
        AadTail::Version1(marks) => return Ok(aad.pairs_u32(marks)?.finish()),
        AadTail::Version2(peer_trust, databases, recovery, verified) => {
            (peer_trust, databases, recovery, verified)
        }
    };
    aad = aad
        .u32(match peer_trust {
            PeerTrust::FirstUse => 0,
            PeerTrust::Verified => 1,
        })
        .u32(
            u32::try_from(databases.len())
                .map_err(|_| Error::InvalidInput("too many databases"))?,
        );
    for (database, marks) in databases {
        aad = aad.uuid(database.as_uuid()).pairs_u32(marks)?;
    }
    if let Some(recovery) = recovery {
        aad = aad.str("recovery_client")?.uuid(recovery.as_uuid());
    }
    if let Some(verified) = verified {
        aad = aad
            .str("verified_pins")?
            .u32(u32::try_from(verified.len()).map_err(|_| Error::InvalidInput("too many pins"))?);
        for id in verified {
            aad = aad.uuid(id.as_uuid());
        }
    }
    Ok(aad.finish())
}
