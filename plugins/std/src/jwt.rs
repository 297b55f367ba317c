//! `jwt NAME { … }` and `auth jwt NAME`: verifies a JSON Web Token (a compact JWS) and stores
//! its claims for the route.
//!
//! ```gw
//! jwt users {
//!   issuer     "https://auth.example.com/"
//!   audience   "api"
//!   jwks       "http://10.0.0.5:8080/.well-known/jwks.json"  refresh 10m
//!   algorithms RS256 ES256
//!   leeway     30s
//!   cache      10000 ttl 5m
//!   claims { email: string }
//! }
//! route GET /me {
//!   auth jwt users
//!   require "profile" in auth.scopes  else 403
//!   set header x-user = claim.sub
//!   upstream app
//! }
//! ```
//!
//! - **Token**: `Authorization: Bearer …`, or the header, query parameter or cookie the
//!   declaration names (`token cookie "session"`). No token: 401 with `WWW-Authenticate:
//!   Bearer` (RFC 6750 §3.1).
//! - **Keys**: a JWKS file, a PEM public key, an HMAC secret (any of them together), or a
//!   JWKS URL fetched by gw (`remote.rs`). A key verifies only its own algorithm family
//!   (`keys.rs`); the allowed algorithms come from the config, never from the token.
//! - **Checks** (`token.rs`): size, shape, strict base64url and JSON (no repeated names),
//!   `alg` (never `none`), no `jku`/`x5u`/`jwk`/`x5c`, no `crit`, the signature, then `exp`,
//!   `nbf`, `iat` with `leeway`, `iss`, `aud`, and every declared claim's type (`claims.rs`).
//!   Any failure: 401 with `WWW-Authenticate: Bearer error="invalid_token"`; the precise
//!   reason goes to gw's log only. 503 only while a JWKS URL has never answered.
//! - **Cache** (`cache.rs`): per worker, verified tokens by their bytes, until the earliest of
//!   `exp` and the TTL.

mod cache;
mod claims;
mod keys;
mod remote;
#[cfg(test)]
mod tests;
mod token;

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use gw_plugin::{
    ArgSpec, ArgType, Background, BuildError, Call, Completion, Effect, Factory, Host, HttpClient,
    Instance, Plugin, PluginSpec, Signature, Value,
};

use cache::TokenCache;
use claims::{Config, Declared, Kind, Out, kind};
use keys::{Alg, KeySet};
use remote::{Forced, Remote};
use token::{Reject, Verified};

/// Default bound of a worker's token cache, in entries.
const CACHE_ENTRIES: usize = 10_000;
/// Default lifetime of a cached token.
const CACHE_TTL_MS: i64 = 300_000;
/// How often a worker looks whether its key set is due for a refresh (the first look comes
/// this soon after the worker starts, so the first fetch does).
const REMOTE_TICK: Duration = Duration::from_millis(100);
/// How often a worker drops its expired cache entries.
const SWEEP_MS: i64 = 30_000;

const fn arg(name: &'static str, ty: ArgType) -> ArgSpec {
    ArgSpec {
        name,
        ty,
        required: false,
    }
}

static SIGNATURE: Signature = Signature {
    name: "jwt",
    mnemonic: "auth.jwt",
    args: &[
        arg("issuer", ArgType::Str),
        arg("audience", ArgType::Str),
        arg("jwks", ArgType::Str),
        arg("jwks_file", ArgType::Str),
        arg("jwks_url", ArgType::Str),
        arg("refresh", ArgType::Duration),
        arg("key_pem", ArgType::Str),
        arg("key_file", ArgType::Str),
        arg("secret", ArgType::Str),
        arg("token_header", ArgType::Str),
        arg("token_query", ArgType::Str),
        arg("token_cookie", ArgType::Str),
        ArgSpec {
            name: "algorithms",
            ty: ArgType::List,
            required: true,
        },
        arg("leeway", ArgType::Duration),
        arg("cache", ArgType::Int),
        arg("cache_ttl", ArgType::Duration),
        arg("claims", ArgType::List),
        arg("out.*", ArgType::List),
    ],
};

/// The `jwt` policy.
pub struct Jwt;

/// Where the keys come from.
enum Source {
    /// Files and secrets, read at load.
    Static(Arc<KeySet>),
    /// A JWKS URL, fetched and refreshed by the workers.
    Remote(Arc<Remote>),
}

/// Where a request carries its token.
enum TokenFrom {
    /// `Authorization: Bearer TOKEN`.
    Bearer,
    /// The whole value of another header.
    Header(String),
    Query(String),
    Cookie(String),
}

/// One declaration, shared by its workers.
struct Verifier {
    cfg: Config,
    name: Arc<str>,
    from: TokenFrom,
    source: Source,
    cache_entries: usize,
    cache_ttl_ms: i64,
}

impl Verifier {
    fn check(&self, token: &[u8], keys: &KeySet, now_ms: i64) -> Result<Verified, Reject> {
        let signed = token::verify(token, &self.cfg.algorithms, keys)?;
        token::check_claims(&self.cfg, &signed.claims, now_ms)
    }
}

struct JwtFactory {
    v: Arc<Verifier>,
}

struct JwtInstance {
    v: Arc<Verifier>,
    cache: TokenCache,
    /// The request's token, copied out of the request (reused buffer).
    token: Vec<u8>,
    last_sweep_ms: i64,
}

fn bad(spec: &PluginSpec, message: impl std::fmt::Display) -> BuildError {
    BuildError::at(spec, format!("jwt {}: {message}", spec.state_key))
}

fn text<'a>(spec: &'a PluginSpec, name: &str) -> Option<&'a str> {
    Value::find(&spec.args, name).and_then(Value::as_str)
}

fn millis(spec: &PluginSpec, name: &str) -> Option<i64> {
    match Value::find(&spec.args, name) {
        Some(Value::Duration(ms)) => Some(i64::try_from(*ms).unwrap_or(i64::MAX)),
        _ => None,
    }
}

/// `[local id, "type"]`.
fn out_arg(v: &Value) -> Option<(u16, Kind)> {
    let Value::List(l) = v else { return None };
    match l.as_ref() {
        [Value::Int(id), Value::Str(ty)] => Some((u16::try_from(*id).ok()?, kind(ty.as_str())?)),
        _ => None,
    }
}

/// What `auth jwt` stores for a token carrying `claims` whose signature is taken as good:
/// the registered claims checked at `now_ms` and the declared ones typed, as for a verified
/// token (`claim.*` and `auth.scopes` locals). `gw trace` stands it in for a token. `Err`:
/// why the plugin would refuse such a token with its 401.
pub fn claims_locals(
    spec: &PluginSpec,
    claims: &serde_json::Value,
    now_ms: i64,
) -> Result<Vec<(u16, Value)>, String> {
    let cfg = config(spec).map_err(|e| e.message)?;
    let serde_json::Value::Object(claims) = claims else {
        return Err("the claims are not a JSON object".into());
    };
    match token::check_claims(&cfg, claims, now_ms) {
        Ok(verified) => Ok(verified.locals),
        Err(Reject::Missing) => Err("no token".into()),
        Err(Reject::Invalid(why) | Reject::UnknownKid(why)) => Err(why),
    }
}

fn config(spec: &PluginSpec) -> Result<Config, BuildError> {
    let mut algorithms = Vec::new();
    if let Some(Value::List(l)) = Value::find(&spec.args, "algorithms") {
        for a in l.iter() {
            let name = a.as_str().unwrap_or_default();
            algorithms.push(
                Alg::parse(name).ok_or_else(|| bad(spec, format!("unknown algorithm {name:?}")))?,
            );
        }
    }
    if algorithms.is_empty() {
        return Err(bad(spec, "no algorithm is allowed"));
    }
    let mut outs = Vec::new();
    let mut scopes_local = None;
    for (k, v) in &spec.args {
        let Some(name) = k.strip_prefix("out.") else {
            continue;
        };
        let (local, kind) = out_arg(v).ok_or_else(|| {
            bad(
                spec,
                format!("`{k}` is not a local and a type gw types claims as"),
            )
        })?;
        match name.strip_prefix("claim.") {
            Some(claim) => outs.push(Out {
                claim: claim.to_string(),
                local,
                kind,
            }),
            None if name == "auth.scopes" => scopes_local = Some(local),
            None => return Err(bad(spec, format!("`{k}` is not a value jwt produces"))),
        }
    }
    let mut declared = Vec::new();
    if let Some(Value::List(l)) = Value::find(&spec.args, "claims") {
        for d in l.iter() {
            let Value::List(d) = d else { continue };
            let (Some(Value::Str(name)), Some(Value::Str(ty))) = (d.first(), d.get(1)) else {
                continue;
            };
            let kind = kind(ty.as_str()).ok_or_else(|| {
                bad(
                    spec,
                    format!(
                        "claim `{}`: gw reads claims as string, int, bool, timestamp, json or lists of them, not {}",
                        name.as_str(),
                        ty.as_str()
                    ),
                )
            })?;
            declared.push(Declared {
                claim: name.as_str().to_string(),
                kind,
                default: d.get(2).cloned(),
            });
        }
    }
    Ok(Config {
        name: spec.state_key.clone(),
        algorithms,
        issuer: text(spec, "issuer").map(str::to_string),
        audience: text(spec, "audience").map(str::to_string),
        leeway_ms: millis(spec, "leeway").unwrap_or(0),
        outs,
        scopes_local,
        declared,
    })
}

/// The key set of files and secrets, or the remote (carried over from `previous` when it
/// fetches the same URL, so a reload keeps the keys it has).
fn source(
    spec: &PluginSpec,
    cfg: &Config,
    previous: Option<&JwtFactory>,
) -> Result<Source, BuildError> {
    if let Some(url) = text(spec, "jwks_url") {
        if ["jwks", "key_pem", "secret"]
            .iter()
            .any(|k| text(spec, k).is_some())
        {
            return Err(bad(
                spec,
                "a JWKS URL is the only key source of its declaration",
            ));
        }
        let refresh = millis(spec, "refresh").unwrap_or(600_000).max(1_000);
        if let Some(Source::Remote(r)) = previous.map(|p| &p.v.source)
            && r.same(url, refresh)
        {
            return Ok(Source::Remote(r.clone()));
        }
        return Remote::new(url, refresh)
            .map(|r| Source::Remote(Arc::new(r)))
            .map_err(|e| bad(spec, e));
    }
    let mut set = KeySet::default();
    if let Some(text) = text(spec, "jwks") {
        let file = text_or(spec, "jwks_file", "the JWKS");
        set = keys::parse_jwks(text.as_bytes(), true)
            .map_err(|e| bad(spec, format!("{file}: {e}")))?;
    }
    if let Some(pem) = text(spec, "key_pem") {
        let file = text_or(spec, "key_file", "the key");
        set.keys
            .push(keys::parse_pem(pem).map_err(|e| bad(spec, format!("{file}: {e}")))?);
    }
    if let Some(secret) = text(spec, "secret") {
        // never in a message: only its length
        set.keys.push(keys::hmac_key(secret.as_bytes()));
    }
    if set.keys.is_empty() {
        return Err(bad(spec, "no keys: give `jwks`, `key file` or `secret`"));
    }
    set.check_hmac_lengths(&cfg.algorithms)
        .map_err(|e| bad(spec, e))?;
    if !cfg
        .algorithms
        .iter()
        .any(|a| set.keys.iter().any(|k| k.admits(*a).is_ok()))
    {
        return Err(bad(
            spec,
            "none of its keys verifies an algorithm of `algorithms`",
        ));
    }
    Ok(Source::Static(Arc::new(set)))
}

fn text_or(spec: &PluginSpec, name: &str, or: &str) -> String {
    text(spec, name).map_or_else(|| or.to_string(), str::to_string)
}

impl Plugin for Jwt {
    fn signature(&self) -> &Signature {
        &SIGNATURE
    }

    fn build(
        &self,
        spec: &PluginSpec,
        previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError> {
        let cfg = config(spec)?;
        let previous = previous.and_then(|p| p.as_any().downcast_ref::<JwtFactory>());
        let source = source(spec, &cfg, previous)?;
        let cache_entries = match Value::find(&spec.args, "cache") {
            Some(Value::Int(n)) => {
                usize::try_from(*n).map_err(|_| bad(spec, "a negative cache size"))?
            }
            _ => CACHE_ENTRIES,
        };
        let from = match (
            text(spec, "token_header"),
            text(spec, "token_query"),
            text(spec, "token_cookie"),
        ) {
            (Some(h), _, _) if h.eq_ignore_ascii_case("authorization") => TokenFrom::Bearer,
            (Some(h), _, _) => TokenFrom::Header(h.to_string()),
            (None, Some(q), _) => TokenFrom::Query(q.to_string()),
            (None, None, Some(c)) => TokenFrom::Cookie(c.to_string()),
            (None, None, None) => TokenFrom::Bearer,
        };
        Ok(Box::new(JwtFactory {
            v: Arc::new(Verifier {
                name: Arc::from(cfg.name.as_str()),
                from,
                cfg,
                source,
                cache_entries,
                cache_ttl_ms: millis(spec, "cache_ttl").unwrap_or(CACHE_TTL_MS),
            }),
        }))
    }
}

impl Factory for JwtFactory {
    fn https(&self) -> bool {
        matches!(&self.v.source, Source::Remote(r) if r.tls)
    }

    fn instance(&self, _worker: usize) -> Box<dyn Instance> {
        Box::new(JwtInstance {
            v: self.v.clone(),
            cache: TokenCache::new(self.v.cache_entries, self.v.cache_ttl_ms),
            token: Vec::new(),
            last_sweep_ms: 0,
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The token of `Authorization: Bearer TOKEN` (scheme case-insensitive, RFC 7235 §2.1).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first().is_none_or(|b| *b != b' ') {
        return None;
    }
    Some(rest.trim_ascii_start())
}

fn store(host: &mut dyn Host, locals: &[(u16, Value)]) {
    for (id, v) in locals {
        host.set_local(*id, v.clone());
    }
}

/// gw's answer to a refused token: the challenge for the client, the reason for the log.
fn deny(host: &mut dyn Host, name: &str, why: Reject) -> Call {
    let (challenge, reason) = match why {
        Reject::Missing => ("Bearer", "no token".to_string()),
        Reject::Invalid(r) => (r#"Bearer error="invalid_token""#, r),
        Reject::UnknownKid(kid) => (
            r#"Bearer error="invalid_token""#,
            format!("kid {kid:?} is not in the key set"),
        ),
    };
    host.apply(Effect::DenyHeader("www-authenticate", challenge));
    host.apply(Effect::DenyReason(&format!("jwt {name}: {reason}")));
    Call::Deny {
        status: 401,
        retry_after: None,
    }
}

/// 503: a JWKS URL that has never answered leaves gw without any key.
fn no_keys(host: &mut dyn Host, v: &Verifier) -> Call {
    let url = match &v.source {
        Source::Remote(r) => r.url.as_str(),
        Source::Static(_) => "",
    };
    host.apply(Effect::DenyReason(&format!(
        "jwt {}: no key set fetched from {url} yet",
        v.name
    )));
    Call::Deny {
        status: 503,
        retry_after: None,
    }
}

/// Verifies with the key set as it is once a refetch has ended (its completion).
fn after_refetch(v: Arc<Verifier>, token: Vec<u8>) -> Completion {
    Box::new(move |host: &mut dyn Host| {
        let keys = match &v.source {
            Source::Remote(r) => r.keys(),
            Source::Static(k) => Some(k.clone()),
        };
        let Some(keys) = keys else {
            return no_keys(host, &v);
        };
        match v.check(&token, &keys, host.now_ms()) {
            Ok(ok) => {
                store(host, &ok.locals);
                Call::Continue
            }
            Err(Reject::UnknownKid(kid)) => deny(
                host,
                &v.name,
                Reject::Invalid(format!("kid {kid:?} is not in the key set, even refetched")),
            ),
            Err(why) => deny(host, &v.name, why),
        }
    })
}

impl JwtInstance {
    /// Hands the request a refetch of the remote key set to await (or the fetch under way),
    /// when one may start now.
    fn refetch(&self, host: &mut dyn Host, remote: &Arc<Remote>, now: i64) -> Option<Call> {
        let http = host.http()?;
        let (v, token) = (self.v.clone(), self.token.clone());
        let name = v.name.clone();
        let op: gw_plugin::PendingOp = match remote.claim_forced(now) {
            Forced::Start(claim) => Box::pin(async move {
                claim.fetch(http, name).await;
                after_refetch(v, token)
            }),
            Forced::Running => {
                let remote = remote.clone();
                Box::pin(async move {
                    remote.settled().await;
                    after_refetch(v, token)
                })
            }
            Forced::Limited => return None,
        };
        host.pend(op).then_some(Call::Pending)
    }
}

impl Instance for JwtInstance {
    fn call(&mut self, host: &mut dyn Host, _args: &[Value]) -> Call {
        let now = host.now_ms();
        self.token.clear();
        let found = match &self.v.from {
            TokenFrom::Bearer => host.request_header(b"authorization").and_then(bearer),
            TokenFrom::Header(h) => host.request_header(h.as_bytes()).map(<[u8]>::trim_ascii),
            TokenFrom::Query(q) => {
                let v = host.request_query(q);
                self.token
                    .extend_from_slice(v.as_text().unwrap_or_default().trim().as_bytes());
                None
            }
            TokenFrom::Cookie(c) => {
                let v = host.request_cookie(c);
                self.token
                    .extend_from_slice(v.as_text().unwrap_or_default().trim().as_bytes());
                None
            }
        };
        if let Some(t) = found {
            self.token.extend_from_slice(t);
        }
        if self.token.is_empty() {
            return deny(host, &self.v.name, Reject::Missing);
        }
        if let Some(locals) = self.cache.get(&self.token, now) {
            store(host, &locals);
            return Call::Continue;
        }
        let keys = match &self.v.source {
            Source::Static(k) => k.clone(),
            Source::Remote(r) => match r.keys() {
                Some(k) => k,
                None => return no_keys(host, &self.v),
            },
        };
        match self.v.check(&self.token, &keys, now) {
            Ok(ok) => {
                let locals: Rc<[(u16, Value)]> = ok.locals.into();
                store(host, &locals);
                self.cache.put(&self.token, now, ok.expires_ms, locals);
                Call::Continue
            }
            Err(Reject::UnknownKid(kid)) => {
                if let Source::Remote(r) = &self.v.source
                    && let Some(call) = self.refetch(host, r, now)
                {
                    return call;
                }
                let why = match &self.v.source {
                    Source::Remote(_) => format!(
                        "kid {kid:?} is not in the key set (refetched within the last {} s)",
                        remote::FORCED_EVERY_MS / 1000
                    ),
                    Source::Static(_) => format!("kid {kid:?} is not in the key set"),
                };
                deny(host, &self.v.name, Reject::Invalid(why))
            }
            Err(why) => deny(host, &self.v.name, why),
        }
    }

    fn every(&self) -> Option<Duration> {
        match self.v.source {
            Source::Remote(_) => Some(REMOTE_TICK),
            Source::Static(_) => Some(Duration::from_millis(SWEEP_MS as u64)),
        }
    }

    fn tick(&mut self, http: Option<&Rc<dyn HttpClient>>) -> Option<Background> {
        let now = remote::now_ms();
        if now.saturating_sub(self.last_sweep_ms) >= SWEEP_MS {
            self.cache.sweep(now);
            self.last_sweep_ms = now;
        }
        let Source::Remote(r) = &self.v.source else {
            return None;
        };
        let http = http?.clone();
        let claim = r.claim_due(now)?;
        Some(Box::pin(claim.fetch(http, self.v.name.clone())))
    }
}
