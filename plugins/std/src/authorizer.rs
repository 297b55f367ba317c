//! `authorizer NAME { url; identity; ttl; timeout; on_error; context { } }` and
//! `auth authorizer NAME`: gw asks an HTTP service whether the caller may pass, the
//! self-hosted counterpart of a Lambda authorizer.
//!
//! ```gw
//! authorizer chat_auth {
//!   url      "http://10.0.9.5:8000/authorize"
//!   identity header.authorization ?? query.token
//!   ttl      300s
//!   timeout  1s
//!   context { user: string  rooms: list<string> }
//! }
//! ```
//!
//! For an identity it has no decision for, gw POSTs `application/json`
//! `{"identity", "route", "method", "path", "clientIp", "requestId"}` to `url`. A 2xx allows
//! (unless its JSON says `"isAuthorized": false`, the managed gateway's simple response,
//! which is a 403); the fields of its JSON object (or of its `context` object, when it has
//! one) set `auth.ctx.*`, typed as declared: a declared field that is missing without a
//! default, or of another type, makes the answer unusable. A 401 or 403 denies with that
//! status (a 401 passes the service's `WWW-Authenticate` on). Decisions, allow and deny, are
//! cached on each worker for `ttl`, keyed by the identity and the route, so a decision made
//! for one route is never reused on another. An absent identity is a 401 without a call.
//! Anything else (no answer within `timeout`, a refused connection, another status, an
//! unusable answer) is `on_error`: a denial with its status (503 by default, not cached), or
//! with `on_error allow`, a pass with the context's defaults.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use gw_plugin::{
    ArgSpec, ArgType, BuildError, Call, Completion, Effect, Factory, Host, HttpError, HttpRequest,
    HttpResponse, Instance, Plugin, PluginSpec, Signature, Value,
};
use gw_program::Field;

use crate::typed::Ty;

/// Decisions a worker keeps per authorizer; past it, expired ones go, then the oldest half.
const MAX_DECISIONS: usize = 16_384;
/// Longest identity sent: a longer one is a 401 without a call.
const MAX_IDENTITY: usize = 8 * 1024;
/// The timeout when the declaration gives none.
const DEFAULT_TIMEOUT_MS: u64 = 1_000;

static SIGNATURE: Signature = Signature {
    name: "authorizer",
    mnemonic: "auth.call",
    args: &[
        ArgSpec {
            name: "url",
            ty: ArgType::Str,
            required: true,
        },
        ArgSpec {
            name: "ttl",
            ty: ArgType::Duration,
            required: false,
        },
        ArgSpec {
            name: "timeout",
            ty: ArgType::Duration,
            required: false,
        },
        ArgSpec {
            name: "on_error",
            ty: ArgType::Str,
            required: true,
        },
        ArgSpec {
            name: "on_error_status",
            ty: ArgType::Int,
            required: true,
        },
        ArgSpec {
            name: "default.auth.ctx.*",
            ty: ArgType::Any,
            required: false,
        },
        ArgSpec {
            name: "out.auth.ctx.*",
            ty: ArgType::List,
            required: false,
        },
    ],
};

/// The `authorizer` policy.
pub struct Authorizer;

/// One declared context field.
#[derive(Debug)]
struct CtxField {
    name: String,
    ty: Ty,
    /// The local the route reads it from, when it reads it.
    local: Option<u16>,
    default: Option<Value>,
}

/// What to do when the service gives no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnError {
    Deny(u16),
    Allow,
}

/// One declaration, shared by every worker.
#[derive(Debug)]
struct Config {
    name: String,
    addr: SocketAddr,
    /// The Host field and the request target of `url`.
    host: String,
    target: String,
    /// `https://`: called over TLS.
    tls: bool,
    ttl_ms: i64,
    timeout: Duration,
    on_error: OnError,
    ctx: Vec<CtxField>,
}

/// A cached decision.
#[derive(Debug, Clone)]
enum Decision {
    /// The context values, by local.
    Allow(Rc<[(u16, Value)]>),
    Deny {
        status: u16,
        challenge: Option<Rc<str>>,
    },
}

/// A worker's decisions, by route and identity.
#[derive(Default)]
struct Decisions {
    map: ahash::HashMap<String, (Decision, i64)>,
}

/// The cache key: a route name holds no line break, so the two never run together.
fn key(route: &str, identity: &str) -> String {
    let mut k = String::with_capacity(route.len() + 1 + identity.len());
    k.push_str(route);
    k.push('\n');
    k.push_str(identity);
    k
}

impl Decisions {
    fn get(&self, key: &str, now_ms: i64) -> Option<Decision> {
        self.map
            .get(key)
            .filter(|(_, until)| *until > now_ms)
            .map(|(d, _)| d.clone())
    }

    fn put(&mut self, key: String, d: Decision, until: i64, now_ms: i64) {
        if self.map.len() >= MAX_DECISIONS {
            self.map.retain(|_, (_, u)| *u > now_ms);
        }
        if self.map.len() >= MAX_DECISIONS {
            let mut soonest: Vec<i64> = self.map.values().map(|(_, u)| *u).collect();
            soonest.sort_unstable();
            let cut = soonest.get(soonest.len() / 2).copied().unwrap_or(i64::MAX);
            self.map.retain(|_, (_, u)| *u > cut);
        }
        self.map.insert(key, (d, until));
    }
}

struct AuthzFactory(Arc<Config>);

struct AuthzInstance {
    cfg: Arc<Config>,
    decisions: Rc<RefCell<Decisions>>,
}

fn ms(spec: &PluginSpec, name: &str) -> Option<u64> {
    match Value::find(&spec.args, name) {
        Some(Value::Duration(d)) => Some(*d),
        _ => None,
    }
}

impl Plugin for Authorizer {
    fn signature(&self) -> &Signature {
        &SIGNATURE
    }

    fn build(
        &self,
        spec: &PluginSpec,
        _previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError> {
        let url = Value::find(&spec.args, "url")
            .and_then(Value::as_str)
            .ok_or_else(|| BuildError::at(spec, "authorizer has no `url`"))?;
        let u = crate::service_url::ServiceUrl::resolve(url)
            .map_err(|m| BuildError::at(spec, format!("authorizer URL {m}")))?;
        let on_error = match Value::find(&spec.args, "on_error").and_then(Value::as_str) {
            Some("allow") => OnError::Allow,
            _ => match Value::find(&spec.args, "on_error_status") {
                Some(Value::Int(s)) => OnError::Deny(u16::try_from(*s).unwrap_or(503)),
                _ => OnError::Deny(503),
            },
        };
        let mut ctx = Vec::new();
        for (name, v) in &spec.args {
            let Some(field) = name.strip_prefix("out.auth.ctx.") else {
                continue;
            };
            let (local, ty) = match v {
                Value::List(l) => (
                    l.first().and_then(|x| match x {
                        Value::Int(i) => u16::try_from(*i).ok(),
                        _ => None,
                    }),
                    l.get(1).and_then(Value::as_str).unwrap_or(""),
                ),
                _ => (None, ""),
            };
            let ty = Ty::parse(ty).ok_or_else(|| {
                BuildError::at(
                    spec,
                    format!(
                        "context field `{field}`: type `{ty}` cannot be read from a JSON answer"
                    ),
                )
            })?;
            ctx.push(CtxField {
                name: field.to_owned(),
                ty,
                local,
                default: Value::find(&spec.args, &format!("default.auth.ctx.{field}")).cloned(),
            });
        }
        Ok(Box::new(AuthzFactory(Arc::new(Config {
            name: spec.state_key.clone(),
            addr: u.addr,
            host: u.host,
            target: u.target,
            tls: u.tls,
            ttl_ms: ms(spec, "ttl").map_or(0, |t| t.min(3_600_000) as i64),
            timeout: Duration::from_millis(ms(spec, "timeout").unwrap_or(DEFAULT_TIMEOUT_MS)),
            on_error,
            ctx,
        }))))
    }
}

impl Factory for AuthzFactory {
    fn https(&self) -> bool {
        self.0.tls
    }

    fn instance(&self, _worker: usize) -> Box<dyn Instance> {
        Box::new(AuthzInstance {
            cfg: self.0.clone(),
            decisions: Rc::default(),
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Ip(ip) => ip.to_string(),
        v => v.as_text().unwrap_or("").to_owned(),
    }
}

impl Config {
    fn deny(&self, host: &mut dyn Host, status: u16, challenge: Option<&str>, why: &str) -> Call {
        if let Some(c) = challenge {
            host.apply(Effect::DenyHeader("www-authenticate", c));
        }
        host.apply(Effect::DenyReason(&format!(
            "authorizer {}: {why}",
            self.name
        )));
        Call::Deny {
            status,
            retry_after: None,
        }
    }

    fn apply(&self, host: &mut dyn Host, d: &Decision, why: &str) -> Call {
        match d {
            Decision::Allow(values) => {
                for (local, v) in values.iter() {
                    host.set_local(*local, v.clone());
                }
                Call::Continue
            }
            Decision::Deny { status, challenge } => {
                self.deny(host, *status, challenge.as_deref(), why)
            }
        }
    }

    /// The service gave no usable answer.
    fn failed(&self, host: &mut dyn Host, why: &str) -> Call {
        match self.on_error {
            OnError::Deny(status) => self.deny(host, status, None, why),
            OnError::Allow => {
                let defaults: Vec<(u16, Value)> = self
                    .ctx
                    .iter()
                    .filter_map(|f| Some((f.local?, f.default.clone().unwrap_or(Value::Absent))))
                    .collect();
                self.apply(host, &Decision::Allow(defaults.into()), why)
            }
        }
    }

    /// The decision an answer carries, or why it carries none.
    fn decide(&self, r: &HttpResponse) -> Result<Decision, String> {
        match r.status {
            200..=299 => {}
            401 | 403 => {
                return Ok(Decision::Deny {
                    status: r.status,
                    challenge: (r.status == 401)
                        .then(|| r.header("www-authenticate"))
                        .flatten()
                        .map(Rc::from),
                });
            }
            s => return Err(format!("answered {s}")),
        }
        let body: serde_json::Value = if r.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(&r.body).map_err(|e| format!("answer is not JSON: {e}"))?
        };
        let serde_json::Value::Object(obj) = &body else {
            return Err("answer is not a JSON object".into());
        };
        if obj.get("isAuthorized") == Some(&serde_json::Value::Bool(false)) {
            return Ok(Decision::Deny {
                status: 403,
                challenge: None,
            });
        }
        let src = match obj.get("context") {
            Some(serde_json::Value::Object(c)) => c,
            _ => obj,
        };
        let mut values = Vec::new();
        for f in &self.ctx {
            let v = match (src.get(&f.name), &f.default) {
                (Some(serde_json::Value::Null) | None, Some(d)) => d.clone(),
                (None, None) if f.ty.optional() => Value::Absent,
                (None, None) => return Err(format!("answer lacks context field `{}`", f.name)),
                (Some(v), _) => {
                    f.ty.convert(v)
                        .map_err(|e| format!("context field `{}`: {e}", f.name))?
                }
            };
            if let Some(local) = f.local {
                values.push((local, v));
            }
        }
        Ok(Decision::Allow(values.into()))
    }

    fn request(&self, host: &mut dyn Host, identity: &str, route: &str) -> HttpRequest {
        let body = serde_json::json!({
            "identity": identity,
            "route": route,
            "method": text_of(&host.load(Field::ReqMethod)),
            "path": text_of(&host.load(Field::ReqPath)),
            "clientIp": text_of(&host.load(Field::ClientIp)),
            "requestId": host.request_id(),
        });
        HttpRequest {
            method: "POST".into(),
            target: self.target.clone(),
            host: self.host.clone(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-request-id".into(), host.request_id().to_owned()),
            ],
            body: body.to_string().into_bytes(),
            tls: self.tls,
        }
    }
}

impl Instance for AuthzInstance {
    fn call(&mut self, host: &mut dyn Host, args: &[Value]) -> Call {
        let cfg = &self.cfg;
        let identity = match args.first().map(text_of) {
            Some(i) if !i.is_empty() => i,
            _ => {
                return cfg.deny(host, 401, None, "no identity in the request");
            }
        };
        if identity.len() > MAX_IDENTITY {
            return cfg.deny(host, 401, None, "identity longer than 8 KiB");
        }
        let route = text_of(&host.load(Field::RouteName));
        let now = host.now_ms();
        let key = key(&route, &identity);
        if let Some(d) = self.decisions.borrow().get(&key, now) {
            return cfg.apply(host, &d, "cached denial");
        }
        let Some(http) = host.http() else {
            return cfg.failed(host, "no HTTP client on this worker");
        };
        let request = cfg.request(host, &identity, &route);
        let exchange = http.send(cfg.addr, request, cfg.timeout);
        let cfg = self.cfg.clone();
        let decisions = self.decisions.clone();
        let op = async move {
            let answer = exchange.await;
            let done: Completion = Box::new(move |host: &mut dyn Host| {
                let decision = match answer {
                    Ok(r) => cfg.decide(&r),
                    Err(HttpError::Timeout) => Err(format!("no answer within {:?}", cfg.timeout)),
                    Err(e) => Err(format!("{e:?}")),
                };
                match decision {
                    Ok(d) => {
                        if cfg.ttl_ms > 0 {
                            let now = host.now_ms();
                            decisions.borrow_mut().put(
                                key,
                                d.clone(),
                                now.saturating_add(cfg.ttl_ms),
                                now,
                            );
                        }
                        cfg.apply(host, &d, "denied")
                    }
                    Err(why) => cfg.failed(host, &why),
                }
            });
            done
        };
        if host.pend(Box::pin(op)) {
            Call::Pending
        } else {
            self.cfg
                .failed(host, "the request cannot wait for the authorizer")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(ctx: Vec<CtxField>) -> Config {
        Config {
            name: "a".into(),
            addr: "127.0.0.1:9".parse().unwrap(),
            host: "h".into(),
            target: "/".into(),
            tls: false,
            ttl_ms: 1000,
            timeout: Duration::from_secs(1),
            on_error: OnError::Deny(503),
            ctx,
        }
    }

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("WWW-Authenticate".into(), "Basic".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn answers_become_decisions() {
        let c = cfg(vec![
            CtxField {
                name: "user".into(),
                ty: Ty::Str,
                local: Some(3),
                default: None,
            },
            CtxField {
                name: "banned".into(),
                ty: Ty::Bool,
                local: Some(4),
                default: Some(Value::Bool(false)),
            },
        ]);
        let Ok(Decision::Allow(v)) = c.decide(&answer(200, r#"{"user":"ann"}"#)) else {
            panic!("not an allow");
        };
        assert_eq!(
            &v[..],
            [(3, Value::str("ann")), (4, Value::Bool(false))].as_slice()
        );
        let Ok(Decision::Allow(v)) = c.decide(&answer(
            200,
            r#"{"isAuthorized":true,"context":{"user":"bo","banned":true}}"#,
        )) else {
            panic!("not an allow");
        };
        assert_eq!(
            &v[..],
            [(3, Value::str("bo")), (4, Value::Bool(true))].as_slice()
        );
        assert!(matches!(
            c.decide(&answer(200, r#"{"isAuthorized":false}"#)),
            Ok(Decision::Deny { status: 403, .. })
        ));
        let Ok(Decision::Deny { status, challenge }) = c.decide(&answer(401, "")) else {
            panic!("not a deny");
        };
        assert_eq!((status, challenge.as_deref()), (401, Some("Basic")));
        assert!(matches!(
            c.decide(&answer(403, "")),
            Ok(Decision::Deny {
                status: 403,
                challenge: None
            })
        ));
        assert_eq!(c.decide(&answer(500, "")).unwrap_err(), "answered 500");
        assert_eq!(
            c.decide(&answer(200, "{}")).unwrap_err(),
            "answer lacks context field `user`"
        );
        assert_eq!(
            c.decide(&answer(200, r#"{"user":7}"#)).unwrap_err(),
            "context field `user`: expected a string, found a number"
        );
        assert!(c.decide(&answer(200, "[1]")).is_err());
        assert!(c.decide(&answer(200, "{")).is_err());
    }

    #[test]
    fn the_cache_is_bounded_and_keyed_by_route() {
        let mut d = Decisions::default();
        let allow = Decision::Allow(Rc::from(Vec::new()));
        d.put(key("GET /a", "tok"), allow.clone(), 100, 0);
        assert!(d.get(&key("GET /a", "tok"), 50).is_some());
        assert!(d.get(&key("GET /b", "tok"), 50).is_none());
        assert!(d.get(&key("GET /a", "tok"), 100).is_none());
        for i in 0..MAX_DECISIONS + 10 {
            d.put(key("r", &i.to_string()), allow.clone(), 1000 + i as i64, 0);
        }
        assert!(d.map.len() <= MAX_DECISIONS);
        assert!(
            d.get(&key("r", &(MAX_DECISIONS + 9).to_string()), 0)
                .is_some()
        );
    }
}
