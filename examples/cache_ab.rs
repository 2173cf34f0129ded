//! The A/B behind issue 13's cache decision: strongroom's former
//! hand-written LRU (src/cache.rs up to commit 45d7555, reproduced here in
//! behaviour: a Mutex<HashMap> with a use clock, evicting by a scan for the
//! oldest entry) against the `lru` crate behind the same Mutex, which
//! `src/cache.rs` now uses. Workloads as strongroom uses its caches: keys
//! (capacity 1024) and verified batches (capacity 256), looked up per
//! record read and inserted on a miss. Each figure: median of 7 runs
//! (alternating which goes first), ns per operation.
//!
//! `cargo run --release --example cache_ab`
use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

struct Entry<V> {
    value: Arc<V>,
    last_used: u64,
}
struct HandWritten<K, V> {
    capacity: usize,
    entries: Mutex<(HashMap<K, Entry<V>>, u64)>,
}
impl<K: Eq + Hash + Clone, V> HandWritten<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new((HashMap::new(), 0)),
        }
    }
    fn get(&self, id: &K) -> Option<Arc<V>> {
        let mut g = self.entries.lock().unwrap();
        let (map, clock) = &mut *g;
        *clock += 1;
        let e = map.get_mut(id)?;
        e.last_used = *clock;
        Some(e.value.clone())
    }
    fn insert(&self, id: K, value: Arc<V>) {
        let mut g = self.entries.lock().unwrap();
        let (map, clock) = &mut *g;
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
                value,
                last_used: *clock,
            },
        );
    }
}

struct Crate<K: Hash + Eq, V> {
    entries: Mutex<lru::LruCache<K, Arc<V>>>,
}
impl<K: Eq + Hash + Clone, V> Crate<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(lru::LruCache::new(NonZeroUsize::new(capacity).unwrap())),
        }
    }
    fn get(&self, id: &K) -> Option<Arc<V>> {
        self.entries.lock().unwrap().get(id).cloned()
    }
    fn insert(&self, id: K, value: Arc<V>) {
        self.entries.lock().unwrap().put(id, value);
    }
}

/// A key like strongroom's KeyId: (16-byte writer, type string, version).
type Key = ([u8; 16], String, u32);
fn key(n: u64) -> Key {
    let mut w = [0u8; 16];
    w[..8].copy_from_slice(&n.to_le_bytes());
    (w, "patient".to_owned(), (n % 7) as u32)
}

/// `ops` look-ups over `distinct` keys (a cycle, so a cache smaller than
/// `distinct` misses and evicts), inserting on a miss.
macro_rules! run {
    ($cache:expr, $keys:expr, $ops:expr) => {{
        let cache = $cache;
        let keys = $keys;
        let t = Instant::now();
        for i in 0..$ops {
            let k = &keys[i % keys.len()];
            if cache.get(k).is_none() {
                cache.insert(k.clone(), Arc::new([0u8; 32]));
            }
        }
        t.elapsed().as_nanos() as f64 / $ops as f64
    }};
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let ops = 2_000_000usize;
    println!("workload (capacity, distinct keys)            hand-written ns/op   lru crate ns/op   hand/crate");
    for (what, capacity, distinct) in [
        ("hits only: keys (1024, 16)", 1024, 16),
        ("hits only: batches (256, 200)", 256, 200),
        ("full and churning: keys (1024, 1100)", 1024, 1100),
        ("full and churning: batches (256, 300)", 256, 300),
    ] {
        let keys: Vec<Key> = (0..distinct as u64).map(key).collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for round in 0..7 {
            if round % 2 == 0 {
                a.push(run!(
                    HandWritten::<Key, [u8; 32]>::new(capacity),
                    &keys,
                    ops
                ));
                b.push(run!(Crate::<Key, [u8; 32]>::new(capacity), &keys, ops));
            } else {
                b.push(run!(Crate::<Key, [u8; 32]>::new(capacity), &keys, ops));
                a.push(run!(
                    HandWritten::<Key, [u8; 32]>::new(capacity),
                    &keys,
                    ops
                ));
            }
        }
        let (a, b) = (median(a), median(b));
        println!("{what:<46} {a:>12.1} {b:>17.1} {:>12.2}", a / b);
    }
}
