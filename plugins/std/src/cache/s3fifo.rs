//! S3-FIFO eviction (Yang et al., "FIFO queues are all you need for cache eviction", SOSP
//! 2023): a small FIFO that new entries enter (a tenth of the bytes), a main FIFO for entries
//! read again while in the small one, and a ghost FIFO of keys recently dropped from the small
//! one, whose return goes straight to main. Reads only bump a 2-bit counter (no list moves,
//! unlike LRU), and one-hit wonders leave through the small FIFO without disturbing main, which
//! is why it keeps more of a skewed workload than LRU (bench/examples/cache_zipf.rs).
//!
//! Queues hold keys with the generation of the entry they were pushed for; an entry removed or
//! replaced leaves a stale queue item that eviction skips.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Reads after which an entry in the small FIFO moves to main when it reaches the head.
const PROMOTE_AT: u8 = 1;
/// The counter's ceiling (2 bits).
const MAX_FREQ: u8 = 3;

struct Slot<V> {
    value: V,
    size: usize,
    freq: u8,
    main: bool,
    generation: u64,
}

/// A cache of at most `capacity` bytes (as each insert declares its size).
pub struct S3Fifo<K, V> {
    map: HashMap<K, Slot<V>>,
    small: VecDeque<(K, u64)>,
    main: VecDeque<(K, u64)>,
    ghost: VecDeque<(K, u64)>,
    ghosts: HashMap<K, u64>,
    small_bytes: usize,
    main_bytes: usize,
    capacity: usize,
    generation: u64,
}

impl<K: Hash + Eq + Clone, V> S3Fifo<K, V> {
    /// An empty cache holding up to `capacity` bytes.
    pub fn new(capacity: usize) -> S3Fifo<K, V> {
        S3Fifo {
            map: HashMap::new(),
            small: VecDeque::new(),
            main: VecDeque::new(),
            ghost: VecDeque::new(),
            ghosts: HashMap::new(),
            small_bytes: 0,
            main_bytes: 0,
            capacity,
            generation: 0,
        }
    }

    /// The entry of `key`, counted as a read.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        let slot = self.map.get_mut(key)?;
        slot.freq = (slot.freq + 1).min(MAX_FREQ);
        Some(&slot.value)
    }

    /// The entry of `key`, not counted as a read.
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|s| &s.value)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes held, as declared.
    pub fn bytes(&self) -> usize {
        self.small_bytes + self.main_bytes
    }

    /// Add or replace `key`'s entry of `size` bytes, evicting others to make room; an entry
    /// larger than the whole cache is not kept.
    pub fn insert(&mut self, key: K, value: V, size: usize) {
        self.remove(&key);
        if size > self.capacity {
            return;
        }
        self.generation += 1;
        let main = self.ghosts.remove(&key).is_some();
        let slot = Slot {
            value,
            size,
            freq: 0,
            main,
            generation: self.generation,
        };
        if main {
            self.main.push_back((key.clone(), self.generation));
            self.main_bytes += size;
        } else {
            self.small.push_back((key.clone(), self.generation));
            self.small_bytes += size;
        }
        self.map.insert(key, slot);
        while self.bytes() > self.capacity {
            if !self.evict() {
                break;
            }
        }
    }

    /// Remove `key`'s entry.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.map.remove(key)?;
        if slot.main {
            self.main_bytes -= slot.size;
        } else {
            self.small_bytes -= slot.size;
        }
        Some(slot.value)
    }

    /// Remove every entry for which `drop` is true.
    pub fn remove_if(&mut self, mut drop: impl FnMut(&K, &V) -> bool) {
        let gone: Vec<K> = self
            .map
            .iter()
            .filter(|(k, s)| drop(k, &s.value))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.remove(&k);
        }
    }

    /// Evict one entry (or move one from small to main); false when nothing is left.
    fn evict(&mut self) -> bool {
        if self.small_bytes > self.capacity / 10 || self.main.is_empty() {
            self.evict_small()
        } else {
            self.evict_main()
        }
    }

    fn live(&self, key: &K, generation: u64) -> Option<&Slot<V>> {
        self.map.get(key).filter(|s| s.generation == generation)
    }

    fn evict_small(&mut self) -> bool {
        while let Some((key, generation)) = self.small.pop_front() {
            let Some(slot) = self.live(&key, generation) else {
                continue;
            };
            if slot.main {
                continue;
            }
            let (size, freq) = (slot.size, slot.freq);
            if freq >= PROMOTE_AT {
                if let Some(s) = self.map.get_mut(&key) {
                    s.main = true;
                    s.freq = 0;
                }
                self.small_bytes -= size;
                self.main_bytes += size;
                self.main.push_back((key, generation));
            } else {
                self.remove(&key);
                self.remember(key);
            }
            return true;
        }
        self.evict_main_only()
    }

    fn evict_main(&mut self) -> bool {
        if self.evict_main_only() {
            true
        } else {
            self.evict_small()
        }
    }

    fn evict_main_only(&mut self) -> bool {
        while let Some((key, generation)) = self.main.pop_front() {
            let Some(slot) = self
                .map
                .get_mut(&key)
                .filter(|s| s.generation == generation)
            else {
                continue;
            };
            if slot.freq > 0 {
                slot.freq -= 1;
                self.main.push_back((key, generation));
                continue;
            }
            self.remove(&key);
            return true;
        }
        false
    }

    /// Remember a key dropped from small; the ghost FIFO holds as many keys as the cache
    /// holds entries.
    fn remember(&mut self, key: K) {
        self.generation += 1;
        self.ghosts.insert(key.clone(), self.generation);
        self.ghost.push_back((key, self.generation));
        while self.ghost.len() > self.map.len().max(16) {
            if let Some((k, g)) = self.ghost.pop_front()
                && self.ghosts.get(&k) == Some(&g)
            {
                self.ghosts.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_stay_under_the_capacity_and_one_hit_wonders_leave_first() {
        let mut c: S3Fifo<u32, ()> = S3Fifo::new(100);
        // a hot entry read often, then a scan of entries read once
        c.insert(0, (), 10);
        for _ in 0..3 {
            assert!(c.get(&0).is_some());
        }
        for k in 1..1000 {
            c.insert(k, (), 10);
            assert!(c.bytes() <= 100);
        }
        assert!(
            c.get(&0).is_some(),
            "the scan did not push the hot entry out"
        );
        assert!(c.peek(&500).is_none());
    }

    #[test]
    fn a_key_seen_again_soon_goes_to_main_and_oversized_entries_are_refused() {
        let mut c: S3Fifo<u32, u32> = S3Fifo::new(100);
        for k in 0..20 {
            c.insert(k, k, 10);
        }
        assert!(c.peek(&0).is_none(), "evicted through small into the ghost");
        c.insert(0, 7, 10);
        assert_eq!(c.peek(&0), Some(&7));
        c.insert(99, 0, 101);
        assert!(c.peek(&99).is_none());
        c.remove_if(|k, _| *k == 0);
        assert!(c.peek(&0).is_none());
        assert!(c.bytes() <= 100);
    }
}
