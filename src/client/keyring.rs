//! The client's memory of key work: unwrapped access keys (a bounded
//! cache, each key zeroized when its last user drops it, and the unwraps in
//! flight, so that concurrent first reads of one key unwrap it once) and
//! record batches whose signature verified, with the counters `ClientStats`
//! and `Counters` report. The rules for getting a key (unwrap, rollback marks) are in
//! `access.rs` and `marks.rs`; checking batches is `verify.rs`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::cache::{BatchCache, KeyCache, KeyId, DEFAULT_BATCHES, DEFAULT_CAPACITY};
use crate::crypto::batch::VerifiedBatch;
use crate::crypto::keys::AccessKey;
use crate::ids::{BatchId, ClientId};

/// Unwrapped access keys, the unwraps in flight, and how many keys were
/// unwrapped and looked up.
pub(super) struct Keyring {
    keys: KeyCache,
    unwraps: AtomicU64,
    /// The keys some thread of this client is unwrapping now.
    in_flight: Mutex<HashSet<KeyId>>,
    /// Signalled whenever a flight ends (its key cached, or not).
    landed: Condvar,
}

/// What [`Keyring::board`] found once no other thread was unwrapping the
/// key.
pub(super) enum Turn<'k> {
    /// Another thread unwrapped it meanwhile: here it is.
    Cached(Arc<AccessKey>),
    /// This thread unwraps it; others asking wait until the flight is
    /// dropped.
    Unwrap(Flight<'k>),
}

/// The one unwrap of a key in flight. Dropping it (after the key is cached,
/// or on failure, or in a panic's unwinding) lets the waiting threads go on:
/// they find the key in the cache, or one of them tries in turn.
pub(super) struct Flight<'k> {
    keyring: &'k Keyring,
    id: KeyId,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.keyring.flying().remove(&self.id);
        self.keyring.landed.notify_all();
    }
}

impl Keyring {
    pub(super) fn new() -> Self {
        Keyring {
            keys: KeyCache::new(DEFAULT_CAPACITY),
            unwraps: AtomicU64::new(0),
            in_flight: Mutex::new(HashSet::new()),
            landed: Condvar::new(),
        }
    }

    fn flying(&self) -> MutexGuard<'_, HashSet<KeyId>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached key, if any; counted as a hit or a miss.
    pub(super) fn get(&self, id: &KeyId) -> Option<Arc<AccessKey>> {
        self.keys.get(id)
    }

    /// After a miss: waits while another thread of this client unwraps
    /// `id`, then looks in the cache again (under the flight lock, so a
    /// flight that just landed is seen) and, if the key is still not there,
    /// makes this thread the one to unwrap it.
    ///
    /// The waiting holds no lock but the caller's own database connection
    /// and transaction; the unwrap it waits for only reads (no row locks),
    /// so it cannot wait on the waiter in turn.
    pub(super) fn board(&self, id: &KeyId) -> Turn<'_> {
        let mut flying = self.flying();
        while flying.contains(id) {
            flying = self
                .landed
                .wait(flying)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // Not a look-up of its own: not counted.
        if let Some(key) = self.keys.peek(id) {
            return Turn::Cached(key);
        }
        flying.insert(id.clone());
        Turn::Unwrap(Flight {
            keyring: self,
            id: id.clone(),
        })
    }

    /// Keeps a key (one this client made or already had).
    pub(super) fn keep(&self, id: KeyId, key: Arc<AccessKey>) -> Arc<AccessKey> {
        self.keys.insert(id, key)
    }

    /// Keeps a key this client just unwrapped, and counts the unwrap.
    /// Called before its [`Flight`] is dropped, so the threads waiting
    /// find it.
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
