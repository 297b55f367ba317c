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
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use gw_plugin::{
    ArgSpec, ArgType, BuildError, Call, Effect, Factory, Host, Instance, Plugin, PluginSpec,
    Signature, Value,
};

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
    policy: String,
    state: String,
    scratch: String,
}

fn bad(spec: &PluginSpec, message: String) -> BuildError {
    BuildError {
        origin: spec.origin.clone(),
        message: format!("throttle plan: {message}"),
    }
}

/// `plan.NAME` = `[rate, burst, quota, period]`.
fn plan_limits(name: &str, v: &Value) -> Result<PlanLimits, String> {
    let Value::List(parts) = v else {
        return Err(format!("plan {name}: not a list"));
    };
    let mut it = parts.iter();
    let (rate, burst, quota, period) = (it.next(), it.next(), it.next(), it.next());
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
            policy: String::new(),
            state: String::new(),
            scratch: String::new(),
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn stop(&self) {
        self.shared.writer.save_now();
    }
}

impl PlanInstance {
    fn now_us(&self) -> u64 {
        u64::try_from(self.shared.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Adds a member to the `RateLimit-Policy` and `RateLimit` lists being built.
    fn member(&mut self, policy: &str, name: &str, remaining: u64, reset_secs: u64) {
        if !self.policy.is_empty() {
            self.policy.push_str(", ");
            self.state.push_str(", ");
        }
        self.policy.push_str(policy);
        write_state(&mut self.scratch, name, remaining, reset_secs);
        self.state.push_str(&self.scratch);
    }

    fn deny(&mut self, host: &mut dyn Host, retry_after: u64) -> Call {
        host.apply(Effect::DenyHeader("ratelimit-policy", &self.policy));
        host.apply(Effect::DenyHeader("ratelimit", &self.state));
        Call::Deny {
            status: 429,
            retry_after: Some(retry_after.max(1)),
        }
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
        let plans = self.plans.clone();
        let Some(plan) = plans.get(plan_name) else {
            return Call::Continue;
        };
        let Some(key) = self.keys.get(id).cloned() else {
            // INVARIANT: the table holds every key of the config's keys files
            host.apply(Effect::DenyReason(
                "throttle plan: a key outside the keys files",
            ));
            return Call::Deny {
                status: 503,
                retry_after: None,
            };
        };
        self.policy.clear();
        self.state.clear();
        if let Some(limit) = plan.rate {
            let now_us = self.now_us();
            match limit.take(&key.tat, now_us) {
                Ok(left) => {
                    let reset = left.full_in_us.div_ceil(1_000_000);
                    self.member(&plan.rate_policy, &plan.name, left.remaining, reset);
                }
                Err(secs) => {
                    let ahead = key
                        .tat
                        .load(std::sync::atomic::Ordering::Acquire)
                        .saturating_sub(now_us);
                    self.member(&plan.rate_policy, &plan.name, 0, ahead.div_ceil(1_000_000));
                    return self.deny(host, secs);
                }
            }
        }
        if let Some((quota, period)) = plan.quota {
            let now_ms = host.now_ms();
            let index = period.index(now_ms);
            let end = period.end_secs(index);
            let start = match index.checked_sub(1) {
                Some(prev) => period.end_secs(prev),
                None => 0,
            };
            let reset = u64::try_from(end.saturating_sub(now_ms / 1000)).unwrap_or(1);
            let policy = format!(
                "{};q={quota};w={}",
                plan.quota_name,
                end.saturating_sub(start)
            );
            match key.quota.take(period, index, quota) {
                Ok(used) => self.member(&policy, &plan.quota_name, quota - used, reset),
                Err(()) => {
                    self.member(&policy, &plan.quota_name, 0, reset);
                    return self.deny(host, reset);
                }
            }
        }
        if !self.policy.is_empty() {
            host.apply(Effect::RespAppendHeader("ratelimit-policy", &self.policy));
            host.apply(Effect::RespAppendHeader("ratelimit", &self.state));
        }
        Call::Continue
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
    let path = usage_path(spec).ok_or("no usage file")?;
    let loaded = usage::read(&path)?;
    let index = period.index(now_ms);
    let used = loaded
        .counters
        .get(key_id)
        .map_or(0, |c| c.used(period, index));
    let end = period.end_secs(index);
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
