//! Bounded caches, least recently used out first: unwrapped access keys by
//! (writer, record type, key version) — an evicted key is zeroized when its
//! last user drops it — and record batches whose signature verified, by
//! (batch, writer) (a batch is never changed once written, so a verified
//! copy stays good evidence of what its writer signed).

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use lru::LruCache;

use crate::crypto::batch::VerifiedBatch;
use crate::crypto::keys::AccessKey;
use crate::ids::{BatchId, ClientId};

/// Names one access key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct KeyId {
    pub(crate) writer_id: ClientId,
    pub(crate) record_type: String,
    pub(crate) key_version: u32,
}

/// Unwrapped access keys.
pub(crate) type KeyCache = Cache<KeyId, AccessKey>;
/// Record batches whose signature verified, by (batch, writer).
pub(crate) type BatchCache = Cache<(BatchId, ClientId), VerifiedBatch>;

/// Default number of keys kept.
pub(crate) const DEFAULT_CAPACITY: usize = 1024;
/// Default number of verified batches kept (at most 200 digests, 6.4 KB,
/// each: larger ones are not kept), about 6.6 MB at most. A page filtered
/// by a plain value that 1 % of the records hold spans about 500 batches
/// (one record in 100, 200 a batch); with fewer kept, paging through it
/// again verifies every batch signature again.
pub(crate) const DEFAULT_BATCHES: usize = 1024;

/// A bounded map of shared values; the least recently used entry goes
/// when it is full (the `lru` crate's list, behind one lock).
pub(crate) struct Cache<K: Hash + Eq, V> {
    entries: Mutex<LruCache<K, Arc<V>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K: Eq + Hash + Clone, V> Cache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Cache {
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            )),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<K, Arc<V>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry of `id`, counted as a hit or a miss.
    pub(crate) fn get(&self, id: &K) -> Option<Arc<V>> {
        let value = self.lock().get(id).cloned();
        let counter = if value.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        value
    }

    /// The entry of `id`, not counted (a second look within one look-up).
    pub(crate) fn peek(&self, id: &K) -> Option<Arc<V>> {
        self.lock().get(id).cloned()
    }

    pub(crate) fn insert(&self, id: K, value: Arc<V>) -> Arc<V> {
        self.lock().put(id, value.clone());
        value
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub(crate) fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> KeyId {
        KeyId {
            writer_id: ClientId::from_uuid(uuid::Uuid::nil()),
            record_type: "t".into(),
            key_version: n,
        }
    }

    #[test]
    fn a_capacity_of_zero_keeps_one() {
        let cache = KeyCache::new(0);
        cache.insert(id(1), Arc::new(AccessKey::generate()));
        assert_eq!(cache.len(), 1);
        cache.insert(id(2), Arc::new(AccessKey::generate()));
        assert!(cache.get(&id(1)).is_none() && cache.get(&id(2)).is_some());
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let cache = KeyCache::new(2);
        cache.insert(id(1), Arc::new(AccessKey::generate()));
        cache.insert(id(2), Arc::new(AccessKey::generate()));
        assert!(cache.get(&id(1)).is_some());
        cache.insert(id(3), Arc::new(AccessKey::generate()));
        assert!(cache.get(&id(2)).is_none(), "2 was least recently used");
        assert!(cache.get(&id(1)).is_some() && cache.get(&id(3)).is_some());
        assert_eq!(cache.len(), 2);
    }
}
