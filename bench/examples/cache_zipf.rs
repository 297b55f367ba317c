//! Hit ratio of the cache's eviction (S3-FIFO, plugins/std/src/cache/s3fifo.rs) against LRU
//! on a Zipf trace: `cargo run --release -p gw-bench --example cache_zipf [ALPHA]`.
//!
//! 10 000 000 requests over 1 000 000 keys of equal size, Zipf-distributed with exponent
//! ALPHA (default 0.9), for caches holding 0.1%, 1% and 10% of the keys. The trace comes from
//! a fixed-seed generator, so every run prints the same figures.

use std::collections::{BTreeMap, HashMap};

use gw_plugins_std::cache::s3fifo::S3Fifo;

const KEYS: usize = 1_000_000;
const REQUESTS: usize = 10_000_000;

/// xorshift64*: a fixed, dependency-free stream of uniform numbers.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The trace: key ranks drawn by inverting the Zipf CDF.
fn trace(alpha: f64) -> Vec<u32> {
    let mut cdf = Vec::with_capacity(KEYS);
    let mut sum = 0.0;
    for rank in 1..=KEYS {
        sum += 1.0 / (rank as f64).powf(alpha);
        cdf.push(sum);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..REQUESTS)
        .map(|_| {
            let u = rng.next_f64() * sum;
            cdf.partition_point(|&c| c < u) as u32
        })
        .collect()
}

/// LRU by last use: a map to the tick of each key's last use, and the ticks in order.
struct Lru {
    last: HashMap<u32, u64>,
    order: BTreeMap<u64, u32>,
    capacity: usize,
    tick: u64,
}

impl Lru {
    fn access(&mut self, key: u32) -> bool {
        self.tick += 1;
        let hit = match self.last.insert(key, self.tick) {
            Some(old) => {
                self.order.remove(&old);
                true
            }
            None => false,
        };
        self.order.insert(self.tick, key);
        if self.last.len() > self.capacity
            && let Some((_, k)) = self.order.pop_first()
        {
            self.last.remove(&k);
        }
        hit
    }
}

fn main() {
    let alpha: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0.9);
    let trace = trace(alpha);
    println!("Zipf({alpha}) trace: {REQUESTS} requests over {KEYS} keys of one size");
    println!("| cache size | S3-FIFO hit ratio | LRU hit ratio |");
    println!("| --- | --- | --- |");
    for share in [0.001, 0.01, 0.1] {
        let entries = (KEYS as f64 * share) as usize;
        let mut s3: S3Fifo<u32, ()> = S3Fifo::new(entries);
        let mut lru = Lru {
            last: HashMap::new(),
            order: BTreeMap::new(),
            capacity: entries,
            tick: 0,
        };
        let (mut s3_hits, mut lru_hits) = (0usize, 0usize);
        for &k in &trace {
            if s3.get(&k).is_some() {
                s3_hits += 1;
            } else {
                s3.insert(k, (), 1);
            }
            lru_hits += usize::from(lru.access(k));
        }
        println!(
            "| {:.1}% ({entries} keys) | {:.4} | {:.4} |",
            share * 100.0,
            s3_hits as f64 / REQUESTS as f64,
            lru_hits as f64 / REQUESTS as f64
        );
    }
}
