//! Registering this client's public keys, and reading peers' keys through
//! the profile's pins: trust on first use (or only peers pinned from a
//! fingerprint, with [`PeerTrust::Verified`]); a key the database serves
//! that differs from the pin is reported as [`Error::KeyChanged`].

use super::observe::op_span;
use super::Client;
use crate::crypto::fingerprint::Fingerprint;
use crate::error::{Error, Result};
use crate::identity::PublicIdentity;
use crate::ids::ClientId;
use crate::profile::PeerTrust;
use crate::store::clients::{self, Served};
use crate::store::tx::is_unique_violation;
use crate::store::AnyConnection;

impl Client {
    /// Inserts this client's public keys, or checks the registered ones
    /// are exactly its own.
    pub(super) fn register(&self) -> Result<()> {
        let mut conn = self.store.conn()?;
        let me = *self.public();
        let name = self.with_profile(|p| p.name().map(str::to_owned));
        for _attempt in 0..2 {
            let served = clients::find(&mut conn, me.client_id)?;
            if !matches!(served, Served::Nothing) {
                return if matches!(served, Served::Keys(keys) if keys == me) {
                    Ok(())
                } else {
                    tracing::warn!(client_id = %me.client_id, "registered public keys differ from the profile's");
                    Err(Error::KeyChanged {
                        client_id: me.client_id,
                    })
                };
            }
            match clients::insert(&mut conn, &me, name.as_deref()) {
                Ok(_) => {
                    tracing::info!(client_id = %me.client_id, "registered client");
                    return Ok(());
                }
                Err(err) if is_unique_violation(&err) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(Error::Database("client registration raced twice".into()))
    }

    /// The public keys of `client_id`: this client's own, or the pinned
    /// ones — checked against what the database serves now, a difference
    /// being [`Error::KeyChanged`] (the pin is used, never replaced) — or,
    /// for a peer not pinned yet, the registered ones, pinned now (first
    /// use). Under [`PeerTrust::Verified`] a peer not pinned, or pinned on
    /// first use, is [`Error::PeerNotVerified`] before anything is
    /// compared.
    pub(crate) fn peer(
        &self,
        conn: &mut AnyConnection,
        client_id: ClientId,
    ) -> Result<PublicIdentity> {
        if client_id == self.id() {
            return Ok(*self.public());
        }
        let (pinned, trust, verified) = self.with_profile(|p| {
            (
                p.pinned(client_id).copied(),
                p.peer_trust(),
                p.is_pin_verified(client_id),
            )
        });
        // Under verified trust only a pin checked against a fingerprint
        // counts, not one taken on first use before the switch.
        if trust == PeerTrust::Verified && !verified {
            return Err(Error::PeerNotVerified { client_id });
        }
        let served = clients::find(conn, client_id)?;
        if let Some(pinned) = pinned {
            return match served {
                Served::Keys(keys) if keys == pinned => Ok(pinned),
                Served::Nothing => {
                    tracing::warn!(%client_id, "a pinned peer is no longer registered; using its pinned keys");
                    Ok(pinned)
                }
                Served::Keys(_) | Served::Malformed => {
                    tracing::warn!(%client_id, "the database serves public keys for a pinned peer that differ from the pin");
                    Err(Error::KeyChanged { client_id })
                }
            };
        }
        let peer = match served {
            Served::Nothing => return Err(Error::UnknownClient { client_id }),
            Served::Keys(keys) if keys.encryption_key.is_usable() => keys,
            // Never pinned: once the real keys are served again they are
            // taken, instead of every use failing as a changed key.
            Served::Malformed | Served::Keys(_) => {
                tracing::warn!(%client_id, "the database serves unusable public keys for a peer; refusing them");
                return Err(Error::BadPeerKeys { client_id });
            }
        };
        self.with_profile(|p| p.pin_on_first_use(&peer))?;
        Ok(peer)
    }

    /// Pins `client_id`'s public keys after checking them against
    /// `expected`, a fingerprint obtained out of band (read to you by the
    /// peer, shown by its `strongroom whoami`). The keys checked are the
    /// pinned ones if the peer is pinned already (and then the database's
    /// must still equal them), else the ones the database serves.
    /// A mismatch is [`Error::FingerprintMismatch`] and pins nothing.
    ///
    /// This is how trust on first use is closed: pin every peer this way
    /// before first use, and set [`PeerTrust::Verified`] so that no other
    /// peer is ever pinned ([`Client::set_peer_trust`]).
    pub fn pin_peer(&self, client_id: ClientId, expected: &Fingerprint) -> Result<PublicIdentity> {
        let span = op_span!(self, "pin_peer", peer = %client_id);
        self.observe(span, |_| self.pin_peer_in(client_id, expected))
    }

    fn pin_peer_in(&self, client_id: ClientId, expected: &Fingerprint) -> Result<PublicIdentity> {
        if client_id == self.id() {
            return if self.public().fingerprint()? == *expected {
                Ok(*self.public())
            } else {
                Err(Error::FingerprintMismatch { client_id })
            };
        }
        let mut conn = self.store.conn()?;
        let pinned = self.with_profile(|p| p.pinned(client_id).copied());
        let keys = match (pinned, clients::find(&mut conn, client_id)?) {
            (Some(pinned), Served::Keys(keys)) if keys != pinned => {
                return Err(Error::KeyChanged { client_id })
            }
            (Some(_), Served::Malformed) => return Err(Error::KeyChanged { client_id }),
            (Some(pinned), _) => pinned,
            (None, Served::Keys(keys)) => keys,
            (None, Served::Nothing) => return Err(Error::UnknownClient { client_id }),
            (None, Served::Malformed) => return Err(Error::BadPeerKeys { client_id }),
        };
        if keys.fingerprint()? != *expected {
            tracing::warn!(%client_id, "peer keys do not match the expected fingerprint; not pinned");
            return Err(Error::FingerprintMismatch { client_id });
        }
        self.with_profile(|p| p.pin(&keys))?;
        Ok(keys)
    }

    /// [`Client::share`], after checking the reader's keys against
    /// `expected`, its fingerprint obtained out of band (see
    /// [`Client::pin_peer`], which this pins with). A mismatch is
    /// [`Error::FingerprintMismatch`]: nothing is pinned or shared.
    pub fn share_verified(
        &self,
        record_type: &str,
        reader: ClientId,
        expected: &Fingerprint,
    ) -> Result<crate::ShareOutcome> {
        let span = op_span!(self, "share_verified", record_type, reader = %reader);
        self.observe(span, |_| {
            self.pin_peer(reader, expected)?;
            self.share(record_type, reader)
        })
    }

    /// This client's fingerprint, for peers to check out of band.
    pub fn fingerprint(&self) -> Result<Fingerprint> {
        self.public().fingerprint()
    }

    /// Every peer pinned in this client's profile.
    pub fn pinned_peers(&self) -> Vec<PublicIdentity> {
        self.with_profile(|p| p.pinned_peers().copied().collect())
    }

    /// Whether `client_id`'s pin was checked against a fingerprint (or
    /// given by this profile's owner), not taken on first use: under
    /// [`PeerTrust::Verified`] only such pins are used.
    pub fn is_pin_verified(&self, client_id: ClientId) -> bool {
        self.with_profile(|p| p.is_pin_verified(client_id))
    }

    /// Which peers this client trusts the database to name (saved in the
    /// profile).
    pub fn peer_trust(&self) -> PeerTrust {
        self.with_profile(|p| p.peer_trust())
    }

    /// Sets which peers this client trusts; [`PeerTrust::Verified`] closes
    /// trust on first use. Saved in the profile at once.
    pub fn set_peer_trust(&self, trust: PeerTrust) -> Result<()> {
        self.with_profile(|p| p.set_peer_trust(trust))
    }

    /// Looks up a registered client's public keys (pinning them), for
    /// callers that share with it.
    pub fn lookup_client(&self, client_id: ClientId) -> Result<PublicIdentity> {
        self.observe(op_span!(self, "lookup_client", peer = %client_id), |_| {
            let mut conn = self.store.conn()?;
            self.peer(&mut conn, client_id)
        })
    }
}

/// On a read path, unusable keys the database serves for a peer are a bad
/// row like any other: the opaque [`Error::Decryption`]. Sharing and
/// pinning name the peer instead ([`Error::BadPeerKeys`]).
pub(super) fn opaque_bad_keys(err: Error) -> Error {
    match err {
        Error::BadPeerKeys { .. } => Error::Decryption,
        other => other,
    }
}
