//! The client's memory of key work: unwrapped access keys (a bounded
//! cache, each key zeroized when its last user drops it) and record
//! batches whose signature verified, with the counters `ClientStats`
//! and `Counters` report. The rules for getting a key (unwrap, rollback marks) are in
//! `access.rs` and `marks.rs`; checking batches is `verify.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::cache::{BatchCache, KeyCache, KeyId, DEFAULT_BATCHES, DEFAULT_CAPACITY};
use crate::crypto::batch::VerifiedBatch;
use crate::crypto::keys::AccessKey;
use crate::ids::{BatchId, ClientId};

/// Unwrapped access keys, and how many were unwrapped.
pub(super) struct Keyring {
    keys: KeyCache,
    unwraps: AtomicU64,
}

impl Keyring {
    pub(super) fn new() -> Self {
        Keyring {
            keys: KeyCache::new(DEFAULT_CAPACITY),
            unwraps: AtomicU64::new(0),
        }
    }

    /// The cached key, if any.
    pub(super) fn get(&self, id: &KeyId) -> Option<Arc<AccessKey>> {
        self.keys.get(id)
    }

    /// Keeps a key (one this client made or already had).
    pub(super) fn keep(&self, id: KeyId, key: Arc<AccessKey>) -> Arc<AccessKey> {
        self.keys.insert(id, key)
    }

    /// Keeps a key this client just unwrapped, and counts the unwrap.
    pub(super) fn keep_unwrapped(&self, id: KeyId, key: AccessKey) -> Arc<AccessKey> {
        self.unwraps.fetch_add(1, Ordering::Relaxed);
        self.keys.insert(id, Arc::new(key))
    }

    pub(super) fn unwraps(&self) -> u64 {
        self.unwraps.load(Ordering::Relaxed)
    }

    pub(super) fn hits(&self) -> u64 {
        self.keys.hits()
    }

    pub(super) fn misses(&self) -> u64 {
        self.keys.misses()
    }

    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(super) fn clear(&self) {
        self.keys.clear();
    }
}

/// Record batches whose signature verified, by (batch, writer), and how
/// many signatures were verified.
pub(super) struct VerifiedBatches {
    batches: BatchCache,
    verifications: AtomicU64,
}

impl VerifiedBatches {
    pub(super) fn new() -> Self {
        VerifiedBatches {
            batches: BatchCache::new(DEFAULT_BATCHES),
            verifications: AtomicU64::new(0),
        }
    }

    pub(super) fn get(&self, id: &(BatchId, ClientId)) -> Option<Arc<VerifiedBatch>> {
        self.batches.get(id)
    }

    pub(super) fn keep(&self, id: (BatchId, ClientId), batch: Arc<VerifiedBatch>) {
        self.batches.insert(id, batch);
    }

    /// Counts one signature verification.
    pub(super) fn count_verification(&self) {
        self.verifications.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    pub(super) fn hits(&self) -> u64 {
        self.batches.hits()
    }

    pub(super) fn misses(&self) -> u64 {
        self.batches.misses()
    }

    pub(super) fn clear(&self) {
        self.batches.clear();
    }
}
