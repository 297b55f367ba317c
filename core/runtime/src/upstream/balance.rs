//! Picking a server of an upstream, per worker: smooth weighted round-robin (nginx's), least
//! request by the power of two choices, consistent hashing by weighted rendezvous (HRW: a
//! server's removal moves only its own keys), and weighted random.

use gw_program::Balance;

/// A small, fast PRNG (xorshift64*) for balancing decisions; not for secrets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded; a zero seed is replaced (xorshift's fixed point).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// SplitMix64 finaliser: spreads a key and a server index into a uniform 64-bit score.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One upstream's balancing state on one worker.
#[derive(Debug, Clone)]
pub struct Balancer {
    kind: Balance,
    weights: Vec<u32>,
    /// Smooth weighted round-robin current weights.
    current: Vec<i64>,
}

impl Balancer {
    /// For servers of the given weights (a weight of 0 counts as 1).
    pub fn new(kind: Balance, weights: &[u32]) -> Balancer {
        let weights: Vec<u32> = weights.iter().map(|w| (*w).max(1)).collect();
        Balancer {
            kind,
            current: vec![0; weights.len()],
            weights,
        }
    }

    /// Pick a server among those `usable` says yes to. `hash` is the Forward hash value (hash
    /// balancing without one falls back to round-robin); `inflight` is the per-server count of
    /// requests in progress on this worker (least request).
    pub fn pick(
        &mut self,
        hash: Option<u64>,
        inflight: &[u32],
        rng: &mut Rng,
        usable: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        match (self.kind, hash) {
            (Balance::Hash, Some(h)) => self.rendezvous(h, &usable),
            (Balance::LeastRequest, _) => self.two_choices(inflight, rng, &usable),
            (Balance::Random, _) => self.random(rng, &usable),
            _ => self.smooth_weighted(&usable),
        }
    }

    fn smooth_weighted(&mut self, usable: &impl Fn(usize) -> bool) -> Option<usize> {
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        let mut best_cur = i64::MIN;
        for (i, (cur, w)) in self.current.iter_mut().zip(&self.weights).enumerate() {
            if !usable(i) {
                continue;
            }
            *cur += i64::from(*w);
            total += i64::from(*w);
            if *cur > best_cur {
                best_cur = *cur;
                best = Some(i);
            }
        }
        let b = best?;
        if let Some(c) = self.current.get_mut(b) {
            *c -= total;
        }
        Some(b)
    }

    fn two_choices(
        &self,
        inflight: &[u32],
        rng: &mut Rng,
        usable: &impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = self.weights.len() as u64;
        let mut draw = |not: Option<usize>| {
            // a few draws to land on a usable server; a full scan as a fallback below
            (0..4)
                .map(|_| rng.below(n) as usize)
                .find(|i| usable(*i) && Some(*i) != not)
        };
        let first = draw(None);
        let second = draw(first);
        let load = |i: usize| {
            let f = u64::from(inflight.get(i).copied().unwrap_or(0));
            let w = u64::from(self.weights.get(i).copied().unwrap_or(1));
            (f, w)
        };
        match (first, second) {
            (Some(a), Some(b)) => {
                let ((fa, wa), (fb, wb)) = (load(a), load(b));
                // fa/wa <= fb/wb without division
                Some(if fa * wb <= fb * wa { a } else { b })
            }
            (Some(a), None) | (None, Some(a)) => Some(a),
            (None, None) => (0..self.weights.len())
                .filter(|i| usable(*i))
                .min_by_key(|i| {
                    let (f, w) = load(*i);
                    f * 1_000_000 / w
                }),
        }
    }

    fn rendezvous(&self, key: u64, usable: &impl Fn(usize) -> bool) -> Option<usize> {
        let mut best: Option<(f64, usize)> = None;
        for (i, w) in self.weights.iter().enumerate() {
            if !usable(i) {
                continue;
            }
            let h = mix(key ^ mix(i as u64 + 1));
            // uniform in (0, 1]; weighted HRW score w / -ln(u)
            let u = ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            let score = f64::from(*w) / -u.ln().min(-f64::MIN_POSITIVE);
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, i));
            }
        }
        best.map(|(_, i)| i)
    }

    fn random(&self, rng: &mut Rng, usable: &impl Fn(usize) -> bool) -> Option<usize> {
        let total: u64 = self
            .weights
            .iter()
            .enumerate()
            .filter(|(i, _)| usable(*i))
            .map(|(_, w)| u64::from(*w))
            .sum();
        let mut r = rng.below(total);
        for (i, w) in self.weights.iter().enumerate() {
            if !usable(i) {
                continue;
            }
            if r < u64::from(*w) {
                return Some(i);
            }
            r -= u64::from(*w);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: usize) -> bool {
        true
    }

    #[test]
    fn smooth_weighted_round_robin_interleaves() {
        let mut b = Balancer::new(Balance::RoundRobin, &[5, 1, 1]);
        let mut rng = Rng::new(1);
        let seq: Vec<usize> = (0..7)
            .map(|_| b.pick(None, &[], &mut rng, all).unwrap())
            .collect();
        // nginx's documented sequence for weights 5,1,1
        assert_eq!(seq, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn round_robin_skips_unusable_servers() {
        let mut b = Balancer::new(Balance::RoundRobin, &[1, 1, 1]);
        let mut rng = Rng::new(1);
        let seq: Vec<usize> = (0..4)
            .map(|_| b.pick(None, &[], &mut rng, |i| i != 1).unwrap())
            .collect();
        assert!(!seq.contains(&1));
        assert!(seq.contains(&0) && seq.contains(&2));
        assert_eq!(b.pick(None, &[], &mut rng, |_| false), None);
    }

    #[test]
    fn weights_hold_over_many_picks() {
        let mut b = Balancer::new(Balance::RoundRobin, &[3, 1]);
        let mut rng = Rng::new(1);
        let mut counts = [0; 2];
        for _ in 0..4000 {
            counts[b.pick(None, &[], &mut rng, all).unwrap()] += 1;
        }
        assert_eq!(counts, [3000, 1000]);
        let mut r = Balancer::new(Balance::Random, &[3, 1]);
        let mut counts = [0; 2];
        for _ in 0..40_000 {
            counts[r.pick(None, &[], &mut rng, all).unwrap()] += 1;
        }
        assert!((28_000..32_000).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn two_choices_prefers_the_less_loaded() {
        let mut b = Balancer::new(Balance::LeastRequest, &[1, 1]);
        let mut rng = Rng::new(7);
        let inflight = [10, 0];
        let mut picks = [0; 2];
        for _ in 0..200 {
            picks[b.pick(None, &inflight, &mut rng, all).unwrap()] += 1;
        }
        // whenever both servers are drawn, the idle one wins; it is never the loser
        assert!(picks[1] > picks[0] * 2, "{picks:?}");
        assert_eq!(b.pick(None, &inflight, &mut rng, |i| i == 0), Some(0));
    }

    #[test]
    fn hash_is_stable_and_moves_only_the_removed_servers_keys() {
        let mut b = Balancer::new(Balance::Hash, &[1, 1, 1, 1]);
        let mut rng = Rng::new(3);
        let before: Vec<usize> = (0..1000u64)
            .map(|k| b.pick(Some(mix(k)), &[], &mut rng, all).unwrap())
            .collect();
        let again: Vec<usize> = (0..1000u64)
            .map(|k| b.pick(Some(mix(k)), &[], &mut rng, all).unwrap())
            .collect();
        assert_eq!(before, again);
        let after: Vec<usize> = (0..1000u64)
            .map(|k| b.pick(Some(mix(k)), &[], &mut rng, |i| i != 2).unwrap())
            .collect();
        for (x, y) in before.iter().zip(&after) {
            if *x != 2 {
                assert_eq!(x, y, "a key on a remaining server moved");
            } else {
                assert_ne!(*y, 2);
            }
        }
        // keys spread over all servers
        for s in 0..4 {
            let n = before.iter().filter(|x| **x == s).count();
            assert!((150..350).contains(&n), "server {s} got {n}");
        }
    }

    #[test]
    fn hash_without_a_key_falls_back_to_round_robin() {
        let mut b = Balancer::new(Balance::Hash, &[1, 1]);
        let mut rng = Rng::new(3);
        let a = b.pick(None, &[], &mut rng, all).unwrap();
        let c = b.pick(None, &[], &mut rng, all).unwrap();
        assert_ne!(a, c);
    }
}
