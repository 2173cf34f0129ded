//! Bounded caches, least recently used out first: unwrapped access keys by
//! (writer, record type, key version) — an evicted key is zeroized when its
//! last user drops it — and record batches whose signature verified, by
//! (batch, writer) (a batch is never changed once written, so a verified
//! copy stays good evidence of what its writer signed).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

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
/// each: larger ones are not kept).
pub(crate) const DEFAULT_BATCHES: usize = 256;

struct Entry<V> {
    value: Arc<V>,
    last_used: u64,
}

/// A bounded map of shared values; the least recently used entry goes
/// when it is full.
pub(crate) struct Cache<K, V> {
    capacity: usize,
    entries: Mutex<(HashMap<K, Entry<V>>, u64)>,
    hits: AtomicU64,
}

impl<K: Eq + Hash + Clone, V> Cache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Cache {
            capacity: capacity.max(1),
            entries: Mutex::new((HashMap::new(), 0)),
            hits: AtomicU64::new(0),
        }
    }

    pub(crate) fn get(&self, id: &K) -> Option<Arc<V>> {
        let mut guard = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (map, clock) = &mut *guard;
        *clock += 1;
        let entry = map.get_mut(id)?;
        entry.last_used = *clock;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(entry.value.clone())
    }

    pub(crate) fn insert(&self, id: K, value: Arc<V>) -> Arc<V> {
        let mut guard = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (map, clock) = &mut *guard;
        *clock += 1;
        if map.len() >= self.capacity && !map.contains_key(&id) {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id,
            Entry {
                value: value.clone(),
                last_used: *clock,
            },
        );
        value
    }

    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .len()
    }

    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
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
