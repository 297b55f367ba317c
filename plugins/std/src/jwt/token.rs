//! A compact JWS (RFC 7515 §7.1) taken apart, checked and turned into the values a route
//! reads. Every step is bounded by the token's size, which is refused early above
//! [`MAX_TOKEN`].

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gw_program::Value;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as J};

use super::claims::Config;
use super::keys::{Alg, KeySet, MAX_KEYS};

/// Longest token accepted, in bytes: far above any real one, and a bound on the work a
/// request can cause before it is refused.
pub(crate) const MAX_TOKEN: usize = 16 * 1024;
/// Longest `kid` accepted.
const MAX_KID: usize = 256;
/// Keys tried for a token without `kid`.
const MAX_TRIES: usize = 4;

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reject {
    /// No token at all: 401 with a bare `Bearer` challenge (RFC 6750 §3.1).
    Missing,
    /// A bad token: 401 `invalid_token`, the reason logged.
    Invalid(String),
    /// The token names a key the set does not hold (a refetch may find it).
    UnknownKid(String),
}

fn invalid(why: impl Into<String>) -> Reject {
    Reject::Invalid(why.into())
}

/// A JSON value whose objects, at every depth, hold each name once: serde_json keeps the
/// last of repeated names, and two readers that pick differently disagree on the claims.
struct Strict(J);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(J::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(J::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(J::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(J::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(J::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(J::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(J::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Strict(J::Array(out)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.contains_key(&k) {
                return Err(de::Error::custom(format_args!("duplicate key {k:?}")));
            }
            out.insert(k, v);
        }
        Ok(Strict(J::Object(out)))
    }
}

/// A base64url segment decoded as a strict JSON object.
fn object(segment: &[u8], what: &str) -> Result<Map<String, J>, Reject> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| invalid(format!("the {what} is not base64url without padding")))?;
    match serde_json::from_slice::<Strict>(&bytes) {
        Ok(Strict(J::Object(m))) => Ok(m),
        Ok(_) => Err(invalid(format!("the {what} is not a JSON object"))),
        Err(e) => Err(invalid(format!("the {what} is not JSON: {e}"))),
    }
}

/// What the header allows: the algorithm and the key it names.
struct Header {
    alg: Alg,
    kid: Option<String>,
}

/// Header names that point at keys elsewhere or embed one: never trusted, never followed.
const KEY_LOCATIONS: &[&str] = &["jku", "x5u", "jwk", "x5c"];

fn header(h: &Map<String, J>, allowed: &[Alg]) -> Result<Header, Reject> {
    let alg = match h.get("alg") {
        Some(J::String(a)) => a.as_str(),
        _ => return Err(invalid("the header has no string `alg`")),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(invalid("alg none: unsigned tokens are never accepted"));
    }
    let alg = match Alg::parse(alg) {
        Some(a) if allowed.contains(&a) => a,
        Some(_) => return Err(invalid(format!("alg {alg} is not allowed by the config"))),
        None => {
            return Err(invalid(format!(
                "alg {alg:?} is not an algorithm gw verifies"
            )));
        }
    };
    if let Some(n) = KEY_LOCATIONS.iter().find(|n| h.contains_key(**n)) {
        return Err(invalid(format!(
            "the header carries `{n}`: gw takes keys only from its config"
        )));
    }
    match h.get("crit") {
        None => {}
        Some(J::Array(names)) if !names.is_empty() => {
            let first = names.first().map(|n| n.to_string()).unwrap_or_default();
            return Err(invalid(format!(
                "`crit` names {first}, an extension gw does not understand"
            )));
        }
        Some(_) => return Err(invalid("`crit` is not a list of names")),
    }
    if h.contains_key("b64") {
        return Err(invalid("`b64` (unencoded payload) is not accepted"));
    }
    let kid = match h.get("kid") {
        None => None,
        Some(J::String(k)) if k.len() <= MAX_KID && !k.chars().any(char::is_control) => {
            Some(k.clone())
        }
        Some(J::String(_)) => {
            return Err(invalid(format!(
                "the kid is over {MAX_KID} bytes or holds control characters"
            )));
        }
        Some(_) => return Err(invalid("the kid is not a string")),
    };
    Ok(Header { alg, kid })
}

/// A token whose signature verified, with its claims.
pub(crate) struct Signed {
    pub claims: Map<String, J>,
}

/// Splits, decodes and verifies `token` against `keys` and the allowed algorithms.
pub(crate) fn verify(token: &[u8], allowed: &[Alg], keys: &KeySet) -> Result<Signed, Reject> {
    if token.is_empty() {
        return Err(Reject::Missing);
    }
    if token.len() > MAX_TOKEN {
        return Err(invalid(format!(
            "a token of {} bytes, over the {MAX_TOKEN}-byte limit",
            token.len()
        )));
    }
    let mut parts = token.split(|b| *b == b'.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(
            "not a compact JWS (three dot-separated parts; JWE is not accepted)",
        ));
    };
    let head = header(&object(h, "header")?, allowed)?;
    let claims = object(p, "payload")?;
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| invalid("the signature is not base64url without padding"))?;
    // the signing input: the token up to its second dot
    let input = token.get(..h.len() + 1 + p.len()).unwrap_or_default();
    let alg = head.alg;
    match &head.kid {
        Some(kid) => {
            let Some(key) = keys.find(kid) else {
                return Err(Reject::UnknownKid(kid.clone()));
            };
            key.admits(alg).map_err(invalid)?;
            if !key.verify(alg, input, &sig) {
                return Err(invalid(format!(
                    "bad {} signature (kid {kid:?})",
                    alg.name()
                )));
            }
        }
        None => {
            let mut tried = 0;
            let mut ok = false;
            for key in keys.keys.iter().take(MAX_KEYS) {
                if key.admits(alg).is_err() {
                    continue;
                }
                tried += 1;
                if key.verify(alg, input, &sig) {
                    ok = true;
                    break;
                }
                if tried == MAX_TRIES {
                    break;
                }
            }
            if tried == 0 {
                return Err(invalid(format!(
                    "no key of the set verifies alg {}",
                    alg.name()
                )));
            }
            if !ok {
                return Err(invalid(format!("bad {} signature (no kid)", alg.name())));
            }
        }
    }
    Ok(Signed { claims })
}

/// A claim holding a NumericDate (RFC 7519 §2), in milliseconds.
fn date(claims: &Map<String, J>, name: &str) -> Result<Option<i64>, Reject> {
    match claims.get(name) {
        None | Some(J::Null) => Ok(None),
        Some(J::Number(n)) => match n.as_i64() {
            Some(s) => Ok(Some(s.saturating_mul(1000))),
            None => match n.as_f64() {
                Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some((f * 1000.0) as i64)),
                _ => Err(invalid(format!("`{name}` is out of range"))),
            },
        },
        Some(_) => Err(invalid(format!("`{name}` is not a number"))),
    }
}

/// The checked token: the values to store for the route and until when it stays valid.
pub(crate) struct Verified {
    pub locals: Vec<(u16, Value)>,
    /// Unix ms of `exp` plus leeway, if the token has one.
    pub expires_ms: Option<i64>,
}

/// Checks the registered claims (exp, nbf, iat, iss, aud) at `now_ms` and types the rest.
pub(crate) fn check_claims(
    cfg: &Config,
    claims: &Map<String, J>,
    now_ms: i64,
) -> Result<Verified, Reject> {
    let leeway = cfg.leeway_ms;
    let exp = date(claims, "exp")?;
    if let Some(exp) = exp
        && now_ms >= exp.saturating_add(leeway)
    {
        return Err(invalid(format!("expired {} s ago", (now_ms - exp) / 1000)));
    }
    if let Some(nbf) = date(claims, "nbf")?
        && now_ms.saturating_add(leeway) < nbf
    {
        return Err(invalid(format!(
            "not valid for another {} s (nbf)",
            (nbf - now_ms) / 1000
        )));
    }
    if let Some(iat) = date(claims, "iat")?
        && now_ms.saturating_add(leeway) < iat
    {
        return Err(invalid("issued in the future (iat)"));
    }
    if let Some(want) = &cfg.issuer {
        match claims.get("iss") {
            Some(J::String(iss)) if iss == want => {}
            Some(J::String(iss)) => {
                return Err(invalid(format!("issuer {iss:?} is not {want:?}")));
            }
            _ => return Err(invalid("no string `iss`")),
        }
    }
    if let Some(want) = &cfg.audience {
        let ok = match claims.get("aud") {
            Some(J::String(a)) => a == want,
            Some(J::Array(list)) => list.iter().any(|a| a.as_str() == Some(want.as_str())),
            _ => false,
        };
        if !ok {
            return Err(invalid(format!("audience {want:?} is not in `aud`")));
        }
    }
    let mut locals = Vec::with_capacity(cfg.outs.len() + 1);
    if let Some(id) = cfg.scopes_local {
        locals.push((id, scopes(claims)?));
    }
    cfg.typed(claims, &mut locals)?;
    Ok(Verified {
        locals,
        expires_ms: exp.map(|e| e.saturating_add(leeway)),
    })
}

/// `scope` (space-separated, RFC 8693 §4.2) and `scp` (a list or a string) as one list.
fn scopes(claims: &Map<String, J>) -> Result<Value, Reject> {
    let mut out: Vec<Value> = Vec::new();
    match claims.get("scope") {
        None | Some(J::Null) => {}
        Some(J::String(s)) => out.extend(s.split_ascii_whitespace().map(Value::str)),
        Some(_) => return Err(invalid("`scope` is not a string")),
    }
    match claims.get("scp") {
        None | Some(J::Null) => {}
        Some(J::String(s)) => out.extend(s.split_ascii_whitespace().map(Value::str)),
        Some(J::Array(list)) => {
            for v in list {
                match v {
                    J::String(s) => out.push(Value::str(s)),
                    _ => return Err(invalid("`scp` holds a value that is not a string")),
                }
            }
        }
        Some(_) => return Err(invalid("`scp` is neither a list nor a string")),
    }
    Ok(Value::List(out.into()))
}
