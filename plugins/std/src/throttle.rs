//! `throttle RATE [burst N] [by EXPR] [name NAME]`: a token bucket per key, exact for the
//! node across its workers.
//!
//! ```gw
//! route POST /login {
//!   throttle 5/s burst 10 by client.ip name login
//!   upstream accounts
//! }
//! on error 429 {
//!   body json { message: "slow down", retry_after: error.retry_after }
//! }
//! ```
//!
//! Each key's bucket is one atomic word holding its theoretical arrival time (GCRA, the
//! token bucket's equivalent): a request conforms when, after it, the bucket would be at most
//! `burst` intervals ahead of now. Workers update it with compare-and-swap, so the node admits
//! exactly `burst` at once and `RATE` after, whichever workers the requests reach. A refused
//! request is `Call::Deny` 429 with `Retry-After` in whole seconds, answered through the
//! config's `on error 429` page. Buckets live in a fixed table per `name` (routes with the
//! same `name` share them), carried over reloads; keys beyond the table share one bucket, so a
//! flood of distinct keys cannot grow memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use gw_plugin::{
    ArgSpec, ArgType, BuildError, Call, Factory, Host, Instance, Plugin, PluginSpec, Signature,
    Value,
};

/// Keys a throttle tracks before further keys share its overflow bucket.
const KEYS: usize = 1 << 16;
/// Slots probed for a key before it takes the overflow bucket.
const PROBES: usize = 8;

static SIGNATURE: Signature = Signature {
    name: "throttle",
    mnemonic: "throttle",
    args: &[
        ArgSpec {
            name: "rate",
            ty: ArgType::Rate,
            required: true,
        },
        ArgSpec {
            name: "burst",
            ty: ArgType::Int,
            required: true,
        },
        ArgSpec {
            name: "key",
            ty: ArgType::Str,
            required: true,
        },
    ],
};

/// The `throttle` policy.
pub struct Throttle;

/// One key's bucket: the key's hash (0: free) and its theoretical arrival time in
/// microseconds since the table's epoch.
#[derive(Default)]
struct Bucket {
    key: AtomicU64,
    tat: AtomicU64,
}

/// The buckets of one `name`, shared by every worker.
struct Buckets {
    epoch: Instant,
    table: Box<[Bucket]>,
    overflow: Bucket,
}

impl Buckets {
    fn new() -> Buckets {
        Buckets {
            epoch: Instant::now(),
            table: (0..KEYS).map(|_| Bucket::default()).collect(),
            overflow: Bucket::default(),
        }
    }

    /// The bucket of `hash` (never 0), claiming a free slot for a new key.
    fn bucket(&self, hash: u64) -> &Bucket {
        let start = (hash as usize) % KEYS;
        for i in 0..PROBES {
            let Some(b) = self.table.get((start + i) % KEYS) else {
                break;
            };
            let held = b.key.load(Ordering::Acquire);
            if held == hash {
                return b;
            }
            if held == 0 {
                match b
                    .key
                    .compare_exchange(0, hash, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => return b,
                    Err(now) if now == hash => return b,
                    Err(_) => {}
                }
            }
        }
        &self.overflow
    }
}

/// The limit: one request per `interval_us`, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limit {
    interval_us: u64,
    burst: u64,
}

impl Limit {
    /// Take one request at `now_us` from a bucket: `Ok` when it conforms, else the seconds
    /// until it would (at least 1).
    fn take(self, tat: &AtomicU64, now_us: u64) -> Result<(), u64> {
        let window = self.interval_us.saturating_mul(self.burst);
        let mut seen = tat.load(Ordering::Acquire);
        loop {
            let next = seen.max(now_us).saturating_add(self.interval_us);
            let ahead = next - now_us;
            if ahead > window {
                return Err((ahead - window).div_ceil(1_000_000).max(1));
            }
            match tat.compare_exchange_weak(seen, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(current) => seen = current,
            }
        }
    }
}

struct ThrottleFactory {
    limit: Limit,
    buckets: Arc<Buckets>,
}

struct ThrottleInstance {
    limit: Limit,
    buckets: Arc<Buckets>,
    hasher: ahash::RandomState,
    key: String,
}

fn bad(spec: &PluginSpec, message: &str) -> BuildError {
    BuildError {
        origin: spec.origin.clone(),
        message: format!("throttle: {message}"),
    }
}

impl Plugin for Throttle {
    fn signature(&self) -> &Signature {
        &SIGNATURE
    }

    fn build(
        &self,
        spec: &PluginSpec,
        previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError> {
        let (count, per_ms) = match Value::find(&spec.args, "rate") {
            Some(Value::Rate { count, per_ms }) if *count > 0 && *per_ms > 0 => (*count, *per_ms),
            _ => return Err(bad(spec, "no rate")),
        };
        let burst = match Value::find(&spec.args, "burst") {
            Some(Value::Int(b)) if *b > 0 => *b as u64,
            _ => return Err(bad(spec, "no burst")),
        };
        let limit = Limit {
            interval_us: (per_ms.saturating_mul(1000) / count).max(1),
            burst,
        };
        let buckets = previous
            .and_then(|p| p.as_any().downcast_ref::<ThrottleFactory>())
            .map_or_else(|| Arc::new(Buckets::new()), |p| p.buckets.clone());
        Ok(Box::new(ThrottleFactory { limit, buckets }))
    }
}

impl Factory for ThrottleFactory {
    fn instance(&self, _worker: usize) -> Box<dyn Instance> {
        Box::new(ThrottleInstance {
            limit: self.limit,
            buckets: self.buckets.clone(),
            // fixed seeds: every worker hashes a key to the same bucket
            hasher: ahash::RandomState::with_seeds(0x6777, 0x7468, 0x726f, 0x7474),
            key: String::new(),
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Instance for ThrottleInstance {
    fn call(&mut self, _host: &mut dyn Host, args: &[Value]) -> Call {
        self.key.clear();
        match args.first() {
            Some(v) if !v.is_missing() => match v.as_text() {
                Some(s) => self.key.push_str(s),
                None => v.write_text(&mut self.key),
            },
            // no `by`, or an absent key: one bucket for the route
            _ => {}
        }
        let hash = self.hasher.hash_one(self.key.as_str()).max(1);
        let bucket = self.buckets.bucket(hash);
        let now_us = u64::try_from(self.buckets.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        match self.limit.take(&bucket.tat, now_us) {
            Ok(()) => Call::Continue,
            Err(secs) => Call::Deny {
                status: 429,
                retry_after: Some(secs),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_its_rate() {
        // 100/s burst 10: one request per 10 ms
        let limit = Limit {
            interval_us: 10_000,
            burst: 10,
        };
        let tat = AtomicU64::new(0);
        let admitted = (0..50)
            .filter(|_| limit.take(&tat, 1_000_000).is_ok())
            .count();
        assert_eq!(admitted, 10, "the burst at once");
        assert_eq!(limit.take(&tat, 1_000_000), Err(1));
        // 1 s later the bucket is full again, and holds no more than its burst
        let admitted = (0..500)
            .filter(|_| limit.take(&tat, 2_000_000).is_ok())
            .count();
        assert_eq!(admitted, 10);
        // steady: one per interval, however many ask
        let mut t = 2_000_000;
        let mut ok = 0;
        for _ in 0..100 {
            t += 10_000;
            ok += (0..5).filter(|_| limit.take(&tat, t).is_ok()).count();
        }
        assert_eq!(ok, 100);
    }

    #[test]
    fn retry_after_is_the_wait_in_whole_seconds() {
        // 1/min burst 1
        let limit = Limit {
            interval_us: 60_000_000,
            burst: 1,
        };
        let tat = AtomicU64::new(0);
        assert_eq!(limit.take(&tat, 0), Ok(()));
        assert_eq!(limit.take(&tat, 0), Err(60));
        assert_eq!(limit.take(&tat, 59_500_000), Err(1));
        assert_eq!(limit.take(&tat, 60_000_000), Ok(()));
    }

    #[test]
    fn keys_get_their_own_buckets_until_the_table_is_full() {
        let b = Buckets::new();
        let one = b.bucket(7) as *const Bucket;
        assert_eq!(
            b.bucket(7) as *const Bucket,
            one,
            "the same key, the same bucket"
        );
        assert_ne!(b.bucket(8) as *const Bucket, one);
        // every slot a key could probe taken: it shares the overflow bucket
        for i in 0..PROBES as u64 {
            b.bucket(100 + i * KEYS as u64);
        }
        let late = 100 + PROBES as u64 * KEYS as u64;
        assert_eq!(
            b.bucket(late) as *const Bucket,
            &b.overflow as *const Bucket
        );
    }

    #[test]
    fn specs_without_a_rate_are_refused_and_state_carries_over() {
        let spec = |args: Vec<(&str, Value)>| PluginSpec {
            plugin: "throttle".into(),
            state_key: "login".into(),
            args: args.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            origin: "t.gw:3:3".into(),
        };
        let ok = spec(vec![
            (
                "rate",
                Value::Rate {
                    count: 5,
                    per_ms: 1000,
                },
            ),
            ("burst", Value::Int(10)),
            ("key", Value::str("client.ip")),
        ]);
        let first = Throttle.build(&ok, None).unwrap();
        let again = Throttle.build(&ok, Some(first.as_ref())).unwrap();
        let (a, b) = (
            first.as_any().downcast_ref::<ThrottleFactory>().unwrap(),
            again.as_any().downcast_ref::<ThrottleFactory>().unwrap(),
        );
        assert!(Arc::ptr_eq(&a.buckets, &b.buckets), "buckets carried over");
        assert_eq!(a.limit.interval_us, 200_000);
        let err = Throttle.build(&spec(vec![]), None).err().unwrap();
        assert_eq!(err.origin, "t.gw:3:3");
    }
}
