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
//! exactly `burst` at once and `RATE` after, whichever workers the requests reach. A request
//! is counted at its arrival (`Host::arrived`, which the connection reads anyway). A refused
//! request is `Call::Deny` 429 with `Retry-After` in whole seconds, answered through the
//! config's `on error 429` page.
//!
//! Every answer carries the `RateLimit-Policy` and `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers): the policy named by `name` (else its route and
//! ordinal) with `q` = burst and `w` = the seconds the bucket takes to fill, and `r` = the
//! requests left now and `t` = the seconds until the bucket is full again.
//!
//! With `store redis "redis://HOST:PORT"` the buckets live in that Redis instead, shared by
//! every gw node using it (`redis.rs`): each request is one atomic script run there, awaited
//! on the worker's runtime, and `on_store_down allow | deny` says what happens while Redis
//! cannot answer. Without it (`scope node`, the default) the limit is this node's.
//!
//! Buckets live in a fixed table per `name` (routes with the same `name` share them), carried
//! over reloads. A key takes a free slot among the few its hash probes, or one whose bucket
//! is full again (an idle key: forgetting it changes nothing); keys already tracked keep their
//! slots. Only while every probed slot holds a key that is still limited does a new key share
//! the overflow bucket, so a flood of distinct keys neither grows memory nor resets a tracked
//! key's bucket.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use std::rc::Rc;

use gw_plugin::{
    ArgSpec, ArgType, BuildError, Call, Effect, Factory, Host, Instance, Plugin, PluginSpec,
    Signature, Value,
};

use crate::redis::{self, Remote, Reply, Store};

/// Keys a throttle tracks at once (16 bytes each).
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
        ArgSpec {
            name: "store",
            ty: ArgType::Str,
            required: false,
        },
        ArgSpec {
            name: "on_store_down",
            ty: ArgType::Str,
            required: false,
        },
    ],
};

/// The `throttle` policy.
pub struct Throttle;

/// One key's bucket: the key's hash (0: free) and its theoretical arrival time in
/// microseconds since the table's epoch.
#[derive(Default)]
pub(crate) struct Bucket {
    key: AtomicU64,
    pub(crate) tat: AtomicU64,
}

/// The buckets of one `name`, shared by every worker.
pub(crate) struct Buckets {
    epoch: Instant,
    /// Keyed per process, so which keys collide cannot be chosen from outside.
    hasher: ahash::RandomState,
    table: Box<[Bucket]>,
    overflow: Bucket,
}

impl Buckets {
    pub(crate) fn new() -> Buckets {
        Buckets {
            epoch: Instant::now(),
            hasher: ahash::RandomState::with_seeds(seed(1), seed(2), seed(3), seed(4)),
            table: (0..KEYS).map(|_| Bucket::default()).collect(),
            overflow: Bucket::default(),
        }
    }

    /// Microseconds from the table's epoch to `t`.
    pub(crate) fn us_at(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// The hash of a key's text (never 0, which marks a free slot).
    pub(crate) fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key).max(1)
    }

    /// The bucket of `hash` (never 0) at `now_us`: its own slot, else a free or idle one
    /// claimed for it, else the overflow bucket.
    pub(crate) fn bucket(&self, hash: u64, now_us: u64) -> &Bucket {
        let start = (hash as usize) % KEYS;
        let mut spare = None;
        for i in 0..PROBES {
            let Some(b) = self.table.get((start + i) % KEYS) else {
                break;
            };
            let held = b.key.load(Ordering::Acquire);
            if held == hash {
                return b;
            }
            // a bucket at or behind now is full: the same as a new one
            if spare.is_none() && (held == 0 || b.tat.load(Ordering::Acquire) <= now_us) {
                spare = Some((b, held));
            }
        }
        if let Some((b, held)) = spare {
            match b
                .key
                .compare_exchange(held, hash, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return b,
                Err(now) if now == hash => return b,
                Err(_) => {}
            }
        }
        &self.overflow
    }
}

/// A per-process random seed (std's hasher keys are drawn from the OS once per process).
fn seed(n: u64) -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(n)
}

/// The limit: one request per `interval_us`, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    pub(crate) interval_us: u64,
    pub(crate) burst: u64,
}

/// An admitted request's place in its bucket: the requests left and the microseconds until
/// the bucket is full again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Left {
    pub(crate) remaining: u64,
    pub(crate) full_in_us: u64,
}

impl Limit {
    /// From a compiled rate (`count` per `per_ms`) and burst; `None` when either is not
    /// positive.
    pub(crate) fn new(count: u64, per_ms: u64, burst: i64) -> Option<Limit> {
        if count == 0 || per_ms == 0 || burst <= 0 {
            return None;
        }
        Some(Limit {
            interval_us: (per_ms.saturating_mul(1000) / count).max(1),
            burst: burst as u64,
        })
    }

    fn window_us(self) -> u64 {
        self.interval_us.saturating_mul(self.burst)
    }

    /// The seconds an empty bucket takes to fill (`w` of `RateLimit-Policy`), at least 1.
    pub(crate) fn window_secs(self) -> u64 {
        self.window_us().div_ceil(1_000_000).max(1)
    }

    /// Take one request at `now_us` from a bucket: where it leaves the bucket when it
    /// conforms, else the seconds until it would (at least 1).
    pub(crate) fn take(self, tat: &AtomicU64, now_us: u64) -> Result<Left, u64> {
        let window = self.window_us();
        let mut seen = tat.load(Ordering::Acquire);
        loop {
            let next = seen.max(now_us).saturating_add(self.interval_us);
            let ahead = next - now_us;
            if ahead > window {
                return Err((ahead - window).div_ceil(1_000_000).max(1));
            }
            match tat.compare_exchange_weak(seen, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    return Ok(Left {
                        remaining: (window - ahead) / self.interval_us,
                        full_in_us: ahead,
                    });
                }
                Err(current) => seen = current,
            }
        }
    }
}

/// `"NAME"` as a structured-field string: `"` and `\` escaped, other bytes outside
/// printable ASCII replaced by `_`.
pub(crate) fn sf_string(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars() {
        match ch {
            '"' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            ' '..='~' => out.push(ch),
            _ => out.push('_'),
        }
    }
    out.push('"');
    out
}

/// The `RateLimit` value of a bucket: `"NAME";r=R;t=T`, in `out` (digits written by hand:
/// `fmt` would be most of a check's time).
pub(crate) fn write_state(out: &mut String, policy: &str, remaining: u64, reset_secs: u64) {
    out.clear();
    out.push_str(policy);
    out.push_str(";r=");
    push_u64(out, remaining);
    out.push_str(";t=");
    push_u64(out, reset_secs);
}

fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        at -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits.iter().skip(at).map(|&d| char::from(d)));
}

struct ThrottleFactory {
    limit: Limit,
    /// The Redis that holds the buckets instead of this node (`store redis`).
    remote: Option<Remote>,
    /// Prefix of this limit's Redis keys.
    prefix: Arc<str>,
    /// `RateLimit-Policy`'s value.
    policy: Arc<str>,
    /// The policy's name as a structured-field string.
    name: Arc<str>,
    buckets: Arc<Buckets>,
}

struct ThrottleInstance {
    limit: Limit,
    remote: Option<(Remote, Rc<Store>)>,
    prefix: Arc<str>,
    policy: Arc<str>,
    name: Arc<str>,
    buckets: Arc<Buckets>,
    key: String,
    state: String,
}

fn bad(spec: &PluginSpec, message: &str) -> BuildError {
    BuildError::at(spec, format!("throttle: {message}"))
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
            Some(Value::Rate { count, per_ms }) => (*count, *per_ms),
            _ => return Err(bad(spec, "no rate")),
        };
        let burst = match Value::find(&spec.args, "burst") {
            Some(Value::Int(b)) => *b,
            _ => return Err(bad(spec, "no burst")),
        };
        let limit = Limit::new(count, per_ms, burst)
            .ok_or_else(|| bad(spec, "rate and burst must be positive"))?;
        let name = sf_string(&spec.state_key);
        let policy = format!("{name};q={};w={}", limit.burst, limit.window_secs());
        let buckets = previous
            .and_then(|p| p.as_any().downcast_ref::<ThrottleFactory>())
            .map_or_else(|| Arc::new(Buckets::new()), |p| p.buckets.clone());
        let text = |n: &str| Value::find(&spec.args, n).and_then(Value::as_str);
        let remote = Remote::of(text("store"), text("on_store_down")).map_err(|m| bad(spec, &m))?;
        Ok(Box::new(ThrottleFactory {
            limit,
            remote,
            prefix: format!("gw:t:{}:", spec.state_key).into(),
            policy: policy.into(),
            name: name.into(),
            buckets,
        }))
    }
}

impl Factory for ThrottleFactory {
    fn instance(&self, _worker: usize) -> Box<dyn Instance> {
        Box::new(ThrottleInstance {
            limit: self.limit,
            remote: self
                .remote
                .clone()
                .map(|r| (r.clone(), Rc::new(Store::new(r.addr)))),
            prefix: self.prefix.clone(),
            policy: self.policy.clone(),
            name: self.name.clone(),
            buckets: self.buckets.clone(),
            key: String::new(),
            state: String::new(),
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Instance for ThrottleInstance {
    fn call(&mut self, host: &mut dyn Host, args: &[Value]) -> Call {
        self.key.clear();
        // a text key is hashed where it lies; other values are written out first
        let text = match args.first() {
            Some(v) if !v.is_missing() => match v.as_text() {
                Some(s) => Some(s),
                None => {
                    v.write_text(&mut self.key);
                    None
                }
            },
            // no `by`, or an absent key: one bucket for the route
            _ => None,
        };
        if let Some((remote, store)) = &self.remote {
            if let Some(s) = text {
                self.key.push_str(s);
            }
            return self.call_remote(host, remote.clone(), store.clone());
        }
        // the request's arrival, which the runtime has read already: no clock read here
        let now_us = self.buckets.us_at(host.arrived());
        let hash = self.buckets.hash(text.unwrap_or(&self.key));
        let bucket = self.buckets.bucket(hash, now_us);
        match self.limit.take(&bucket.tat, now_us) {
            Ok(left) => {
                let reset = left.full_in_us.div_ceil(1_000_000);
                write_state(&mut self.state, &self.name, left.remaining, reset);
                // appended: each throttle of a route adds its own member to the lists
                host.apply(Effect::RespAppendHeader("ratelimit-policy", &self.policy));
                host.apply(Effect::RespAppendHeader("ratelimit", &self.state));
                Call::Continue
            }
            Err(secs) => {
                let ahead = bucket.tat.load(Ordering::Acquire).saturating_sub(now_us);
                write_state(&mut self.state, &self.name, 0, ahead.div_ceil(1_000_000));
                host.apply(Effect::DenyHeader("ratelimit-policy", &self.policy));
                host.apply(Effect::DenyHeader("ratelimit", &self.state));
                Call::Deny {
                    status: 429,
                    retry_after: Some(secs),
                }
            }
        }
    }
}

impl ThrottleInstance {
    /// The bucket is in Redis: one script run there, awaited by the request.
    fn call_remote(&mut self, host: &mut dyn Host, remote: Remote, store: Rc<Store>) -> Call {
        let mut key = String::with_capacity(self.prefix.len() + self.key.len());
        key.push_str(&self.prefix);
        key.push_str(&self.key);
        let limit = self.limit;
        let command = redis::eval(&key, &key, [limit.interval_us, limit.burst, 0, 0]);
        let (policy, name) = (self.policy.clone(), self.name.clone());
        remote.pend(host, store, command, move |host, r| {
            remote_verdict(host, r, limit, &policy, &name)
        })
    }
}

/// The answer to a bucket script's reply (`redis::SCRIPT`), `None` when it is not one.
fn remote_verdict(
    host: &mut dyn Host,
    reply: &Reply,
    limit: Limit,
    policy: &str,
    name: &str,
) -> Option<Call> {
    let ints = reply.ints()?;
    let (verdict, a, b) = match ints.as_slice() {
        [v, a, b] => (*v, u64::try_from(*a).ok()?, u64::try_from(*b).ok()?),
        _ => return None,
    };
    let mut state = String::new();
    match verdict {
        1 => {
            let remaining = limit.window_us().saturating_sub(a) / limit.interval_us;
            write_state(&mut state, name, remaining, a.div_ceil(1_000_000));
            host.apply(Effect::RespAppendHeader("ratelimit-policy", policy));
            host.apply(Effect::RespAppendHeader("ratelimit", &state));
            Some(Call::Continue)
        }
        0 => {
            write_state(&mut state, name, 0, b.div_ceil(1_000_000));
            host.apply(Effect::DenyHeader("ratelimit-policy", policy));
            host.apply(Effect::DenyHeader("ratelimit", &state));
            Some(Call::Deny {
                status: 429,
                retry_after: Some(a.div_ceil(1_000_000).max(1)),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_its_rate() {
        // 100/s burst 10: one request per 10 ms
        let limit = Limit::new(100, 1000, 10).unwrap();
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
    fn an_admission_says_what_is_left_and_when_the_bucket_is_full() {
        let limit = Limit::new(1, 1000, 3).unwrap(); // 1/s burst 3
        let tat = AtomicU64::new(0);
        let left = |n| Left {
            remaining: n,
            full_in_us: (3 - n) * 1_000_000,
        };
        assert_eq!(limit.take(&tat, 5_000_000), Ok(left(2)));
        assert_eq!(limit.take(&tat, 5_000_000), Ok(left(1)));
        assert_eq!(limit.take(&tat, 5_000_000), Ok(left(0)));
        assert_eq!(limit.take(&tat, 5_000_000), Err(1));
        assert_eq!(limit.window_secs(), 3);
    }

    #[test]
    fn retry_after_is_the_wait_in_whole_seconds() {
        // 1/min burst 1
        let limit = Limit::new(1, 60_000, 1).unwrap();
        let tat = AtomicU64::new(0);
        assert!(limit.take(&tat, 0).is_ok());
        assert_eq!(limit.take(&tat, 0), Err(60));
        assert_eq!(limit.take(&tat, 59_500_000), Err(1));
        assert!(limit.take(&tat, 60_000_000).is_ok());
    }

    #[test]
    fn state_values_are_written_in_full() {
        let mut out = String::from("old");
        write_state(&mut out, "\"n\"", 0, u64::MAX);
        assert_eq!(out, format!("\"n\";r=0;t={}", u64::MAX));
        write_state(&mut out, "\"n\"", 1234, 60);
        assert_eq!(out, "\"n\";r=1234;t=60");
    }

    #[test]
    fn policy_names_are_structured_field_strings() {
        assert_eq!(sf_string("login"), "\"login\"");
        assert_eq!(sf_string("GET /a#1"), "\"GET /a#1\"");
        assert_eq!(sf_string("a\"b\\c\u{e9}"), "\"a\\\"b\\\\c_\"");
    }

    #[test]
    fn keys_get_their_own_buckets_and_idle_slots_are_reused() {
        let b = Buckets::new();
        let limit = Limit::new(1, 1000, 1).unwrap();
        let one = b.bucket(7, 0) as *const Bucket;
        assert_eq!(
            b.bucket(7, 0) as *const Bucket,
            one,
            "the same key, the same bucket"
        );
        assert_ne!(b.bucket(8, 0) as *const Bucket, one);
        // every slot a key could probe held by a key still limited: the overflow bucket
        for i in 0..PROBES as u64 {
            let k = 100 + i * KEYS as u64;
            assert!(limit.take(&b.bucket(k, 0).tat, 0).is_ok());
        }
        let late = 100 + PROBES as u64 * KEYS as u64;
        assert_eq!(
            b.bucket(late, 0) as *const Bucket,
            &b.overflow as *const Bucket
        );
        // once those buckets are full again, the new key takes one of their slots
        let mine = b.bucket(late, 1_000_000);
        assert_ne!(mine as *const Bucket, &b.overflow as *const Bucket);
        assert_eq!(
            b.bucket(late, 1_000_000) as *const Bucket,
            mine as *const Bucket
        );
    }

    /// A million distinct keys at once, each over its limit: memory stays the table's, and a
    /// key tracked before the flood keeps its bucket (it stays limited, it is not reset).
    #[test]
    fn a_million_distinct_keys_neither_grow_the_table_nor_reset_a_tracked_key() {
        let b = Buckets::new();
        let limit = Limit::new(1, 60_000, 1).unwrap(); // 1/min
        let victim = b.hash("victim");
        assert!(limit.take(&b.bucket(victim, 0).tat, 0).is_ok());
        let mut overflowed = 0;
        for i in 0..1_000_000u64 {
            let h = b.hash(&format!("flood-{i}"));
            let bucket = b.bucket(h, 1_000 + i);
            if std::ptr::eq(bucket, &b.overflow) {
                overflowed += 1;
            }
            let _ = limit.take(&bucket.tat, 1_000 + i);
        }
        assert_eq!(b.table.len(), KEYS);
        assert!(overflowed > 0, "the table filled up");
        assert!(
            limit
                .take(&b.bucket(victim, 2_000_000).tat, 2_000_000)
                .is_err(),
            "the tracked key is still limited"
        );
        // a minute later every bucket is full again: a new key gets a slot of its own
        let fresh = b.hash("late");
        let bucket = b.bucket(fresh, 70_000_000);
        assert!(!std::ptr::eq(bucket, &b.overflow));
        assert!(limit.take(&bucket.tat, 70_000_000).is_ok());
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
        assert_eq!(&*a.policy, "\"login\";q=10;w=2");
        let err = Throttle.build(&spec(vec![]), None).err().unwrap();
        assert_eq!(err.origin, "t.gw:3:3");
    }
}
