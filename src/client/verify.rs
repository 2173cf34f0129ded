//! Checking stored records before anything in them is decrypted.
//!
//! A record signed in a batch is checked against that batch, and each batch
//! is verified once against its writer's key — this client's own key for its
//! own records, a peer's pinned key otherwise — then kept in the client's
//! bounded batch cache, so later reads of its records neither fetch nor
//! verify it again. Every record is signed in a batch; a record that names
//! no batch is invalid.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::query::SkipReason;
use super::Client;
use crate::crypto::batch::VerifiedBatch;
use crate::crypto::keys::SigningPublicKey;
use crate::error::{Error, Result};
use crate::ids::{BatchId, ClientId};
use crate::record::SealedRecord;
use crate::store::batches;
use crate::store::rows::RowHead;
use crate::store::AnyConnection;

/// Batch ids per `IN (…)` query.
const BATCHES_PER_QUERY: usize = 500;
/// The largest batch kept in the client's cache.
const MAX_CACHED_DIGESTS: usize = super::write::RECORDS_PER_BATCH;

/// How one record is checked (cheap to clone: the batch is shared).
#[derive(Clone)]
pub(super) enum Check {
    /// Its digest must sit at its place in this batch, already verified
    /// against the writer's key.
    InBatch(Arc<VerifiedBatch>),
}

/// What a record claims about who vouches for it: its writer and, for a
/// record signed in a batch, the batch. Enough to pick the check; the check
/// itself runs on the whole record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Claim {
    pub writer_id: ClientId,
    /// The batch the record names.
    pub batch_id: BatchId,
}

impl From<RowHead> for Claim {
    fn from(head: RowHead) -> Self {
        Claim {
            writer_id: head.writer_id,
            batch_id: head.batch_id,
        }
    }
}

impl From<&SealedRecord> for Claim {
    fn from(record: &SealedRecord) -> Self {
        Claim {
            writer_id: record.writer_id,
            batch_id: record.proof_batch(),
        }
    }
}

/// Resolves checks for the records of one read, loading and verifying
/// each batch and each writer's key once.
#[derive(Default)]
pub(super) struct Checks {
    writers: HashMap<ClientId, Option<SigningPublicKey>>,
    /// By (batch, the writer a record claims): `None` where that writer's
    /// batch is missing or failed verification.
    batches: HashMap<(BatchId, ClientId), Option<Arc<VerifiedBatch>>>,
}

impl Checks {
    /// Loads and verifies every batch the `claims` name that is not loaded
    /// yet. A batch row is only looked at if it names a writer that one of
    /// the records naming it claims: the database cannot make this client
    /// pin or verify keys for writers no record is about.
    pub(super) fn load(
        &mut self,
        client: &Client,
        conn: &mut AnyConnection,
        claims: &[Claim],
    ) -> Result<()> {
        // Batches this client verified before need no query and no
        // verification: a batch never changes once written.
        let mut wanted: BTreeMap<BatchId, BTreeSet<ClientId>> = BTreeMap::new();
        for record in claims {
            let claim = (record.batch_id, record.writer_id);
            // Looked up once per read: records of one batch share it.
            let wanted_already = wanted
                .get(&record.batch_id)
                .is_some_and(|writers| writers.contains(&record.writer_id));
            if wanted_already || self.batches.contains_key(&claim) {
                continue;
            }
            match client.batches.get(&claim) {
                Some(batch) => {
                    self.batches.insert(claim, Some(batch));
                }
                None => {
                    wanted
                        .entry(record.batch_id)
                        .or_default()
                        .insert(record.writer_id);
                }
            }
        }
        let ids: Vec<BatchId> = wanted.keys().copied().collect();
        for chunk in ids.chunks(BATCHES_PER_QUERY) {
            // A malformed batch row is left out: it fails only the
            // records that name it.
            let loaded = batches::load(conn, chunk)?;
            for id in chunk {
                for writer in &wanted[id] {
                    self.batches.insert((*id, *writer), None);
                }
            }
            for signed in loaded {
                let (id, writer) = (signed.batch_id(), signed.writer_id());
                if !wanted.get(&id).is_some_and(|w| w.contains(&writer)) {
                    continue;
                }
                let Some(key) = self.writer_key(client, conn, writer)? else {
                    continue;
                };
                client.batches.count_verification();
                match signed.verify(writer, &key) {
                    Ok(verified) => {
                        let verified = Arc::new(verified);
                        // Batches this client signs hold at most 200
                        // digests; a larger one (up to 4096 is valid) is
                        // used for this read but not kept, which bounds the
                        // cache at 1,024 × 6.4 KB.
                        if verified.len() <= MAX_CACHED_DIGESTS {
                            client.batches.keep((id, writer), Arc::clone(&verified));
                        }
                        self.batches.insert((id, writer), Some(verified));
                    }
                    Err(_) => tracing::warn!(batch_id = %id, "a record batch failed verification"),
                }
            }
        }
        Ok(())
    }

    /// How to check a record that makes `claim` (after [`Checks::load`]),
    /// or why it cannot be checked.
    pub(super) fn check_for(
        &mut self,
        client: &Client,
        conn: &mut AnyConnection,
        claim: Claim,
    ) -> Result<std::result::Result<Check, SkipReason>> {
        if self.writer_key(client, conn, claim.writer_id)?.is_none() {
            return Ok(Err(SkipReason::UnknownWriter));
        }
        Ok(match self.batches.get(&(claim.batch_id, claim.writer_id)) {
            Some(Some(batch)) => Ok(Check::InBatch(Arc::clone(batch))),
            _ => Err(SkipReason::Invalid),
        })
    }

    /// The signing key of `writer`: this client's own, or the peer's pinned
    /// key; `None` for a writer that is unknown or not trusted.
    fn writer_key(
        &mut self,
        client: &Client,
        conn: &mut AnyConnection,
        writer: ClientId,
    ) -> Result<Option<SigningPublicKey>> {
        if let Some(known) = self.writers.get(&writer) {
            return Ok(*known);
        }
        let key = if writer == client.id() {
            Some(client.public().signing_key)
        } else {
            match client.peer(conn, writer) {
                Ok(peer) => Some(peer.signing_key),
                // A writer the database does not name, names badly, or
                // that this profile does not trust yet: its records are
                // skipped. A key that differs from the pin is an attack on
                // this client's trust and fails the whole operation
                // (`Error::KeyChanged`).
                Err(
                    Error::UnknownClient { .. }
                    | Error::PeerNotVerified { .. }
                    | Error::BadPeerKeys { .. }
                    | Error::Decryption,
                ) => None,
                Err(other) => return Err(other),
            }
        };
        self.writers.insert(writer, key);
        Ok(key)
    }
}

impl Client {
    /// Runs a resolved check on `record`. Every failure is
    /// [`Error::Decryption`].
    pub(super) fn run_check(&self, record: &SealedRecord, check: &Check) -> Result<()> {
        let Check::InBatch(batch) = check;
        record.verify_in(batch)
    }

    /// How to check one record on the calling thread. An unknown writer or
    /// one whose keys changed is that error; a batch that is missing or
    /// fails verification is [`Error::Decryption`].
    pub(super) fn record_check(
        &self,
        conn: &mut AnyConnection,
        record: &SealedRecord,
    ) -> Result<Check> {
        let mut checks = Checks::default();
        if record.writer_id != self.id() {
            // The precise error for a writer this client cannot trust; the
            // key found is the one the checks use (not looked up again).
            // Unusable keys served for the writer: a bad row on a read
            // path, the opaque error.
            let peer = self
                .peer(conn, record.writer_id)
                .map_err(super::peers::opaque_bad_keys)?;
            checks
                .writers
                .insert(record.writer_id, Some(peer.signing_key));
        }
        checks.load(self, conn, &[Claim::from(record)])?;
        checks
            .check_for(self, conn, Claim::from(record))?
            .map_err(|_| Error::Decryption)
    }

    /// Checks one record on the calling thread (see
    /// [`Client::record_check`]).
    pub(super) fn check_record(
        &self,
        conn: &mut AnyConnection,
        record: &SealedRecord,
    ) -> Result<()> {
        let check = self.record_check(conn, record)?;
        self.run_check(record, &check)
    }
}
