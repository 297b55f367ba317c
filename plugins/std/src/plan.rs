//! `throttle plan`: the usage plan of the caller's API key, a token bucket per key plus a
//! quota per calendar period (UTC).
//!
//! ```gw
//! plan free { rate 10/s burst 20; quota 10_000 per month }
//! api_keys partners { file "keys/partners.txt" }   # sha256:… id=acme plan=free
//! limits { usage_file "state/api.usage" }          # default: next to the .gw file
//! route GET /v1/orders {
//!   auth api_key partners
//!   throttle plan
//!   upstream orders
//! }
//! ```
//!
//! Counters are kept per key id in a table fixed when the config loads (every key of every
//! `api_keys` file), so nothing on the request path allocates or locks. A reload keeps each
//! kept key's bucket and counter (the same atomics), so no request is lost or counted twice
//! across it. Quota counts survive a restart through the usage file (`usage.rs`), which a
//! thread of this plugin saves at most once a second when counts changed, and once more when
//! gw stops. A request over the bucket or the quota is a 429 with `Retry-After` (for a quota,
//! the seconds until its period ends) and the `RateLimit-Policy` / `RateLimit` fields of
//! the throttle statement.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use gw_plugin::{
    ArgSpec, ArgType, BuildError, Call, Effect, Factory, Host, Instance, Plugin, PluginSpec,
    Signature, Value,
};

use crate::redis::{self, Remote, Reply, Store};
use crate::throttle::{Limit, sf_string, write_state};
use crate::usage::{self, Counter, Counters, MAX_QUOTA, Period, Writer};

static SIGNATURE: Signature = Signature {
    name: "throttle.plan",
    mnemonic: "throttle.plan",
    args: &[
        ArgSpec {
            name: "plan.*",
            ty: ArgType::List,
            required: false,
        },
        ArgSpec {
            name: "keys",
            ty: ArgType::List,
            required: true,
        },
        ArgSpec {
            name: "usage_file",
            ty: ArgType::Str,
            required: true,
        },
    ],
};

/// The `throttle plan` policy.
pub struct ThrottlePlan;

/// One plan's limits.
#[derive(Debug)]
struct PlanLimits {
    /// The plan's name as a structured-field string.
    name: String,
    rate: Option<Limit>,
    /// `RateLimit-Policy` of the bucket.
    rate_policy: String,
    quota: Option<(u64, Period)>,
    /// The quota's policy name: `"PLAN/PERIOD"`.
    quota_name: String,
    /// The Redis that counts for this plan instead of this node (`store redis`).
    remote: Option<Remote>,
}

/// A key's state, shared by the configs that know the key.
#[derive(Debug, Default, Clone)]
struct KeyState {
    quota: Arc<Counter>,
    tat: Arc<AtomicU64>,
}

/// What outlives a config: the buckets' epoch and the usage file's writer.
#[derive(Debug)]
struct Shared {
    epoch: Instant,
    writer: Writer,
}

struct PlanFactory {
    plans: Arc<HashMap<String, PlanLimits>>,
    keys: Arc<HashMap<Box<str>, KeyState>>,
    shared: Arc<Shared>,
}

struct PlanInstance {
    plans: Arc<HashMap<String, PlanLimits>>,
    keys: Arc<HashMap<Box<str>, KeyState>>,
    shared: Arc<Shared>,
    /// This worker's connections to each plan's Redis, by plan name.
    stores: HashMap<String, Rc<Store>>,
}

fn bad(spec: &PluginSpec, message: String) -> BuildError {
    BuildError::at(spec, format!("throttle plan: {message}"))
}

/// `plan.NAME` = `[rate, burst, quota, period]`.
fn plan_limits(name: &str, v: &Value) -> Result<PlanLimits, String> {
    let Value::List(parts) = v else {
        return Err(format!("plan {name}: not a list"));
    };
    let mut it = parts.iter();
    let (rate, burst, quota, period) = (it.next(), it.next(), it.next(), it.next());
    let (store, on_down) = (
        it.next().and_then(Value::as_str),
        it.next().and_then(Value::as_str),
    );
    let remote = Remote::of(store, on_down).map_err(|m| format!("plan {name}: {m}"))?;
    let burst = match burst {
        Some(Value::Int(b)) => *b,
        _ => 0,
    };
    let rate = match rate {
        Some(Value::Rate { count, per_ms }) => Some(
            Limit::new(*count, *per_ms, burst)
                .ok_or_else(|| format!("plan {name}: rate and burst must be positive"))?,
        ),
        _ => None,
    };
    let quota = match (
        quota,
        period.and_then(Value::as_text).and_then(Period::parse),
    ) {
        (Some(Value::Int(n)), Some(p)) if *n > 0 && (*n as u64) <= MAX_QUOTA => {
            Some((*n as u64, p))
        }
        (Some(Value::Int(_)), _) => {
            return Err(format!(
                "plan {name}: a quota is 1 to {MAX_QUOTA} per day, week or month"
            ));
        }
        _ => None,
    };
    let sf = sf_string(name);
    let rate_policy = rate.map_or_else(String::new, |l| {
        format!("{sf};q={};w={}", l.burst, l.window_secs())
    });
    let quota_name = sf_string(&format!("{name}/{}", quota.map_or("", |(_, p)| p.name())));
    Ok(PlanLimits {
        name: sf,
        rate,
        rate_policy,
        quota,
        quota_name,
        remote,
    })
}

/// Every plan of a spec, by name.
fn plans_of(spec: &PluginSpec) -> Result<HashMap<String, PlanLimits>, String> {
    spec.args
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("plan.")?, v)))
        .map(|(name, v)| plan_limits(name, v).map(|p| (name.to_owned(), p)))
        .collect()
}

/// `keys` = `[[id, plan]…]`: each key id with its plan name, if any.
fn keys_of(spec: &PluginSpec) -> Vec<(&str, Option<&str>)> {
    let Some(Value::List(keys)) = Value::find(&spec.args, "keys") else {
        return Vec::new();
    };
    keys.iter()
        .filter_map(|k| match k {
            Value::List(pair) => {
                let id = pair.first()?.as_text()?;
                Some((id, pair.get(1).and_then(Value::as_text)))
            }
            _ => None,
        })
        .collect()
}

fn usage_path(spec: &PluginSpec) -> Option<std::path::PathBuf> {
    Value::find(&spec.args, "usage_file")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
}

impl Plugin for ThrottlePlan {
    fn signature(&self) -> &Signature {
        &SIGNATURE
    }

    fn build(
        &self,
        spec: &PluginSpec,
        previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError> {
        let plans = plans_of(spec).map_err(|m| bad(spec, m))?;
        let path = usage_path(spec).ok_or_else(|| bad(spec, "no usage file".into()))?;
        let previous = previous.and_then(|p| p.as_any().downcast_ref::<PlanFactory>());
        // kept keys keep their atomics; on a first load, counts come from the usage file
        let mut keys: HashMap<Box<str>, KeyState> = match previous {
            Some(p) => p.keys.as_ref().clone(),
            None => {
                let loaded = usage::read(&path).map_err(|m| bad(spec, m))?;
                if !loaded.damaged.is_empty() {
                    eprintln!(
                        "usage file {}: damaged lines {:?} skipped; the other keys' counts are kept",
                        path.display(),
                        loaded.damaged
                    );
                }
                loaded
                    .counters
                    .into_iter()
                    .map(|(id, quota)| {
                        let state = KeyState {
                            quota,
                            tat: Arc::default(),
                        };
                        (id, state)
                    })
                    .collect()
            }
        };
        for (id, _) in keys_of(spec) {
            keys.entry(id.into()).or_default();
        }
        let counters: Counters = keys
            .iter()
            .map(|(id, k)| (id.clone(), k.quota.clone()))
            .collect::<BTreeMap<_, _>>();
        let shared = match previous {
            Some(p) if p.shared.writer.path == path => {
                p.shared.writer.add(counters);
                p.shared.clone()
            }
            // a new usage file: the previous writer saves its last state where it was
            p => Arc::new(Shared {
                epoch: p.map_or_else(Instant::now, |p| p.shared.epoch),
                writer: Writer::start(path, counters),
            }),
        };
        Ok(Box::new(PlanFactory {
            plans: Arc::new(plans),
            keys: Arc::new(keys),
            shared,
        }))
    }
}

impl Factory for PlanFactory {
    fn instance(&self, _worker: usize) -> Box<dyn Instance> {
        Box::new(PlanInstance {
            plans: self.plans.clone(),
            keys: self.keys.clone(),
            shared: self.shared.clone(),
            stores: self
                .plans
                .iter()
                .filter_map(|(n, p)| {
                    Some((n.clone(), Rc::new(Store::new(p.remote.as_ref()?.addr))))
                })
                .collect(),
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn stop(&self) {
        self.shared.writer.save_now();
    }
}

/// The `RateLimit-Policy` and `RateLimit` lists of one request, member by member.
#[derive(Default)]
struct Fields {
    policy: String,
    state: String,
}

impl Fields {
    fn member(&mut self, policy: &str, name: &str, remaining: u64, reset_secs: u64) {
        if !self.policy.is_empty() {
            self.policy.push_str(", ");
            self.state.push_str(", ");
        }
        self.policy.push_str(policy);
        let mut one = String::new();
        write_state(&mut one, name, remaining, reset_secs);
        self.state.push_str(&one);
    }

    fn admit(self, host: &mut dyn Host) -> Call {
        if !self.policy.is_empty() {
            host.apply(Effect::RespAppendHeader("ratelimit-policy", &self.policy));
            host.apply(Effect::RespAppendHeader("ratelimit", &self.state));
        }
        Call::Continue
    }

    fn refuse(self, host: &mut dyn Host, retry_after: u64) -> Call {
        host.apply(Effect::DenyHeader("ratelimit-policy", &self.policy));
        host.apply(Effect::DenyHeader("ratelimit", &self.state));
        Call::Deny {
            status: 429,
            retry_after: Some(retry_after.max(1)),
        }
    }
}

/// A quota's current period at `now_ms`: its index, its end (Unix seconds), the seconds left
/// in it, and its `RateLimit-Policy` member (`w` = the period's length).
struct QuotaNow {
    index: u64,
    end: i64,
    reset: u64,
    policy: String,
}

fn quota_now(plan: &PlanLimits, quota: u64, period: Period, now_ms: i64) -> QuotaNow {
    let index = period.index(now_ms);
    let end = period.end_secs(index);
    let start = index.checked_sub(1).map_or(0, |prev| period.end_secs(prev));
    QuotaNow {
        index,
        end,
        reset: u64::try_from(end.saturating_sub(now_ms / 1000)).unwrap_or(1),
        policy: format!(
            "{};q={quota};w={}",
            plan.quota_name,
            end.saturating_sub(start)
        ),
    }
}

impl PlanInstance {
    /// Microseconds from the plan's epoch to the request's arrival.
    fn now_us(&self, host: &dyn Host) -> u64 {
        let t = host.arrived().saturating_duration_since(self.shared.epoch);
        u64::try_from(t.as_micros()).unwrap_or(u64::MAX)
    }

    /// The plan counts on this node.
    fn call_node(&self, host: &mut dyn Host, plan: &PlanLimits, key: &KeyState) -> Call {
        let mut fields = Fields::default();
        if let Some(limit) = plan.rate {
            let now_us = self.now_us(host);
            match limit.take(&key.tat, now_us) {
                Ok(left) => {
                    let reset = left.full_in_us.div_ceil(1_000_000);
                    fields.member(&plan.rate_policy, &plan.name, left.remaining, reset);
                }
                Err(secs) => {
                    let ahead = key
                        .tat
                        .load(std::sync::atomic::Ordering::Acquire)
                        .saturating_sub(now_us);
                    fields.member(&plan.rate_policy, &plan.name, 0, ahead.div_ceil(1_000_000));
                    return fields.refuse(host, secs);
                }
            }
        }
        if let Some((quota, period)) = plan.quota {
            let q = quota_now(plan, quota, period, host.now_ms());
            match key.quota.take(period, q.index, quota) {
                Ok(used) => fields.member(&q.policy, &plan.quota_name, quota - used, q.reset),
                Err(()) => {
                    fields.member(&q.policy, &plan.quota_name, 0, q.reset);
                    return fields.refuse(host, q.reset);
                }
            }
        }
        fields.admit(host)
    }
}

/// The plan counts in Redis: one script run there for the bucket and the quota at once,
/// awaited by the request.
fn call_remote(
    host: &mut dyn Host,
    plans: Arc<HashMap<String, PlanLimits>>,
    plan_name: &str,
    remote: Remote,
    store: Rc<Store>,
    id: &str,
) -> Call {
    let Some(plan) = plans.get(plan_name) else {
        return Call::Continue;
    };
    let now_ms = host.now_ms();
    let quota = plan
        .quota
        .map(|(n, p)| (n, p, quota_now(plan, n, p, now_ms)));
    let quota_key = match &quota {
        Some((_, p, q)) => format!("gw:q:{id}:{}:{}", p.name(), q.index),
        None => String::new(),
    };
    let argv = [
        plan.rate.map_or(0, |l| l.interval_us),
        plan.rate.map_or(0, |l| l.burst),
        quota.as_ref().map_or(0, |q| q.0),
        // the counter outlives its period by a day, so a node whose clock is late still finds it
        quota
            .as_ref()
            .map_or(0, |q| u64::try_from(q.2.end).unwrap_or(0) + 86_400),
    ];
    let command = redis::eval(&format!("gw:b:{id}"), &quota_key, argv);
    let plan_name = plan_name.to_owned();
    remote.pend(host, store, command, move |host, r| {
        remote_verdict(host, r, plans.get(&plan_name)?, quota.as_ref())
    })
}

/// The answer to a plan script's reply (`redis::SCRIPT`), `None` when it is not one.
fn remote_verdict(
    host: &mut dyn Host,
    reply: &Reply,
    plan: &PlanLimits,
    quota: Option<&(u64, Period, QuotaNow)>,
) -> Option<Call> {
    let ints = reply.ints()?;
    let (verdict, a, b) = match ints.as_slice() {
        [v, a, b] => (*v, u64::try_from(*a).ok()?, u64::try_from(*b).ok()?),
        _ => return None,
    };
    let mut fields = Fields::default();
    let bucket = |fields: &mut Fields, ahead: u64| {
        if let Some(l) = plan.rate {
            let remaining = l.burst.saturating_sub(ahead.div_ceil(l.interval_us));
            fields.member(
                &plan.rate_policy,
                &plan.name,
                remaining,
                ahead.div_ceil(1_000_000),
            );
        }
    };
    match verdict {
        1 => {
            bucket(&mut fields, a);
            if let Some((n, _, q)) = quota {
                fields.member(&q.policy, &plan.quota_name, n.saturating_sub(b), q.reset);
            }
            Some(fields.admit(host))
        }
        0 => {
            if plan.rate.is_some() {
                fields.member(&plan.rate_policy, &plan.name, 0, b.div_ceil(1_000_000));
            }
            Some(fields.refuse(host, a.div_ceil(1_000_000)))
        }
        2 => {
            bucket(&mut fields, a);
            let (_, _, q) = quota?;
            fields.member(&q.policy, &plan.quota_name, 0, q.reset);
            Some(fields.refuse(host, q.reset))
        }
        _ => None,
    }
}

impl Instance for PlanInstance {
    fn call(&mut self, host: &mut dyn Host, args: &[Value]) -> Call {
        let id = args.first().and_then(Value::as_text);
        let plan = args.get(1).and_then(Value::as_text);
        // no key (another member of `auth any` let the request in) or a key without a
        // plan: no plan limits it
        let (Some(id), Some(plan_name)) = (id, plan) else {
            return Call::Continue;
        };
        let Some(plan) = self.plans.get(plan_name) else {
            return Call::Continue;
        };
        if let (Some(remote), Some(store)) = (&plan.remote, self.stores.get(plan_name)) {
            let (remote, store) = (remote.clone(), store.clone());
            return call_remote(host, self.plans.clone(), plan_name, remote, store, id);
        }
        let Some(key) = self.keys.get(id) else {
            // INVARIANT: the table holds every key of the config's keys files
            host.apply(Effect::DenyReason(
                "throttle plan: a key outside the keys files",
            ));
            return Call::Deny {
                status: 503,
                retry_after: None,
            };
        };
        self.call_node(host, plan, key)
    }
}

/// `gw usage KEY_ID`: what the usage file of a compiled `throttle.plan` spec says about a key,
/// at Unix time `now_ms`.
pub fn usage_report(spec: &PluginSpec, key_id: &str, now_ms: i64) -> Result<String, String> {
    let plans = plans_of(spec)?;
    let Some((_, plan)) = keys_of(spec).into_iter().find(|(id, _)| *id == key_id) else {
        return Err(format!("no key `{key_id}` in the config's keys files"));
    };
    let Some(plan_name) = plan else {
        return Ok(format!("key {key_id}: no plan\n"));
    };
    let Some(limits) = plans.get(plan_name) else {
        return Ok(format!("key {key_id}: plan {plan_name} is not declared\n"));
    };
    let mut out = format!("key {key_id}: plan {plan_name}\n");
    if let Some(l) = limits.rate {
        out.push_str(&format!(
            "rate: one request per {} us, burst {}\n",
            l.interval_us, l.burst
        ));
    }
    let Some((quota, period)) = limits.quota else {
        out.push_str("quota: none\n");
        return Ok(out);
    };
    let index = period.index(now_ms);
    let end = period.end_secs(index);
    if let Some(remote) = &limits.remote {
        let mut get = Vec::new();
        let key = format!("gw:q:{key_id}:{}:{index}", period.name());
        redis::encode(&[b"GET", key.as_bytes()], &mut get);
        let used = match redis::call_blocking(remote.addr, &get) {
            Ok(Reply::Bulk(Some(v))) => String::from_utf8_lossy(&v).parse().unwrap_or(0),
            Ok(Reply::Bulk(None)) => 0,
            Ok(other) => return Err(format!("{}: unexpected reply {other:?}", remote.url)),
            Err(e) => return Err(format!("{}: {e}", remote.url)),
        };
        out.push_str(&format!(
            "quota: {used} of {quota} used this {} (UTC), {} left, resets at {}\n",
            period.name(),
            quota.saturating_sub(used),
            usage::utc_text(end)
        ));
        out.push_str(&format!("store: {} (shared by the fleet)\n", remote.url));
        return Ok(out);
    }
    let path = usage_path(spec).ok_or("no usage file")?;
    let loaded = usage::read(&path)?;
    let used = loaded
        .counters
        .get(key_id)
        .map_or(0, |c| c.used(period, index));
    out.push_str(&format!(
        "quota: {used} of {quota} used this {} (UTC), {} left, resets at {}\n",
        period.name(),
        quota.saturating_sub(used),
        usage::utc_text(end)
    ));
    out.push_str(&format!("usage file: {}\n", path.display()));
    if !loaded.damaged.is_empty() {
        out.push_str(&format!("damaged lines skipped: {:?}\n", loaded.damaged));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
