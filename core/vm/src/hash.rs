//! Canary splits and `hash by` keys.
//!
//! Sticky keys are hashed with SipHash-1-3 keyed by the image's `hash_seed` (kept across
//! reloads), so a caller stays on its side. The two uses take different second keys so the
//! canary side of a caller says nothing about the upstream server it hashes to.

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

/// Splits are decided out of this many parts (`split` thresholds are out of 10 000).
const PARTS: u64 = 10_000;
/// Second SipHash key of canary splits ("gw-canry").
const CANARY_KEY: u64 = 0x6777_2d63_616e_7279;
/// Second SipHash key of `hash by` ("gw-balnc").
const BALANCE_KEY: u64 = 0x6777_2d62_616c_6e63;

fn sip(seed: u64, key: u64, text: &str) -> u64 {
    let mut h = SipHasher13::new_with_keys(seed, key);
    h.write(text.as_bytes());
    h.finish()
}

/// Whether a sticky key lands on the canary side: `threshold` of every 10 000 keys do.
pub(crate) fn canary_side(seed: u64, key: &str, threshold: u16) -> bool {
    sip(seed, CANARY_KEY, key) % PARTS < u64::from(threshold)
}

/// Whether the `n`-th unsticky request lands on the canary side. Bresenham-style: of every
/// 10 000 consecutive counter values exactly `threshold` do, spread evenly.
pub(crate) fn split_by_counter(n: u64, threshold: u16) -> bool {
    let i = n % PARTS;
    let t = u64::from(threshold.min(10_000));
    (i + 1) * t / PARTS > i * t / PARTS
}

/// The hash a `forward … hash by` key gives the balancer.
pub(crate) fn balance_hash(seed: u64, key: &str) -> u64 {
    sip(seed, BALANCE_KEY, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_split_is_exact_per_10000_and_spread() {
        for threshold in [0u16, 1, 1000, 3333, 5000, 9999, 10_000] {
            let hits = (0..10_000)
                .filter(|&n| split_by_counter(n, threshold))
                .count();
            assert_eq!(hits, usize::from(threshold), "threshold {threshold}");
        }
        // 10%: one canary in every window of 10 consecutive requests.
        for start in (0..10_000).step_by(10) {
            let hits = (start..start + 10)
                .filter(|&n| split_by_counter(n, 1000))
                .count();
            assert_eq!(hits, 1, "window at {start}");
        }
        // The counter wraps around 10 000 and keeps the ratio.
        let hits = (u64::MAX - 20_000..u64::MAX)
            .filter(|&n| split_by_counter(n, 1000))
            .count();
        assert!((1998..=2002).contains(&hits), "{hits}");
    }

    #[test]
    fn sticky_split_is_stable_and_near_the_ratio() {
        let seed = 0x1234_5678;
        let hits = (0..10_000)
            .filter(|i| canary_side(seed, &format!("user-{i}"), 1000))
            .count();
        // 10% of 10 000 distinct keys, within ±2% of the total.
        assert!((800..=1200).contains(&hits), "{hits}");
        for i in 0..100 {
            let key = format!("user-{i}");
            assert_eq!(canary_side(seed, &key, 1000), canary_side(seed, &key, 1000));
        }
        assert!(!canary_side(seed, "x", 0));
        assert!(canary_side(seed, "x", 10_000));
    }

    #[test]
    fn seeds_and_purposes_give_different_hashes() {
        assert_ne!(balance_hash(1, "user"), balance_hash(2, "user"));
        assert_ne!(balance_hash(1, "user"), sip(1, CANARY_KEY, "user"));
        assert_eq!(balance_hash(7, "user"), balance_hash(7, "user"));
    }
}
