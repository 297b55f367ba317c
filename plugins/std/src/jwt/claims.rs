//! What a `jwt` declaration checks in the claims, and the typed values it stores for the
//! route (`out.claim.NAME = [local id, "type"]`, `out.auth.scopes`).

use std::sync::Arc;

use gw_program::{Json, Str, Value};
use serde_json::{Map, Value as J};

use super::keys::Alg;
use super::token::Reject;

/// A claim's declared type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Int,
    Bool,
    /// A NumericDate in seconds, stored as Unix milliseconds.
    Timestamp,
    Json,
    List(Box<Kind>),
}

impl Kind {
    /// The compiler's type names (`string`, `list<string>`, `int?`).
    pub(crate) fn parse(name: &str) -> Option<Kind> {
        let name = name.strip_suffix('?').unwrap_or(name);
        Some(match name {
            "string" => Kind::Str,
            "int" => Kind::Int,
            "bool" => Kind::Bool,
            "timestamp" => Kind::Timestamp,
            "json" => Kind::Json,
            _ => {
                let inner = name.strip_prefix("list<")?.strip_suffix('>')?;
                Kind::List(Box::new(Kind::parse(inner)?))
            }
        })
    }

    /// `v` as this type, or `None` when it is another.
    pub(crate) fn convert(&self, v: &J) -> Option<Value> {
        Some(match (self, v) {
            (Kind::Str, J::String(s)) => Value::str(s),
            (Kind::Int, J::Number(n)) => Value::Int(n.as_i64()?),
            (Kind::Bool, J::Bool(b)) => Value::Bool(*b),
            (Kind::Timestamp, J::Number(n)) => Value::Timestamp(match n.as_i64() {
                Some(s) => s.checked_mul(1000)?,
                // a NumericDate may have a fraction (RFC 7519 §2)
                None => (n.as_f64().filter(|f| f.is_finite() && f.abs() < 1e15)? * 1000.0) as i64,
            }),
            (Kind::Json, v) => Value::Json(json(v)),
            (Kind::List(k), J::Array(items)) => Value::List(
                items
                    .iter()
                    .map(|i| k.convert(i))
                    .collect::<Option<Vec<_>>>()?
                    .into(),
            ),
            _ => return None,
        })
    }
}

/// A serde_json value as the VM's JSON.
pub(crate) fn json(v: &J) -> Json {
    match v {
        J::Null => Json::Null,
        J::Bool(b) => Json::Bool(*b),
        J::Number(n) => Json::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Json::String(Str::new(s)),
        J::Array(a) => Json::Array(a.iter().map(json).collect::<Arc<[Json]>>()),
        J::Object(o) => Json::Object(
            o.iter()
                .map(|(k, v)| (Str::new(k), json(v)))
                .collect::<Arc<[(Str, Json)]>>(),
        ),
    }
}

/// A claim the route reads: where to store it and as what.
#[derive(Debug, Clone)]
pub(crate) struct Out {
    pub claim: String,
    pub local: u16,
    pub kind: Kind,
}

/// A declared claim (`claims { email: string }`), checked whether or not the route reads it.
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    pub claim: String,
    pub kind: Kind,
    pub default: Option<Value>,
}

/// Everything a `jwt` declaration checks, shared by its workers.
#[derive(Debug)]
pub(crate) struct Config {
    /// `jwt NAME`, for log lines.
    pub name: String,
    pub algorithms: Vec<Alg>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway_ms: i64,
    pub outs: Vec<Out>,
    pub scopes_local: Option<u16>,
    pub declared: Vec<Declared>,
}

impl Config {
    /// Type-checks every declared claim and stores those the route reads.
    pub(crate) fn typed(
        &self,
        claims: &Map<String, J>,
        locals: &mut Vec<(u16, Value)>,
    ) -> Result<(), Reject> {
        for d in &self.declared {
            match claims.get(&d.claim) {
                None | Some(J::Null) => {}
                Some(v) if d.kind.convert(v).is_some() => {}
                Some(_) => {
                    return Err(Reject::Invalid(format!(
                        "claim `{}` is not of its declared type",
                        d.claim
                    )));
                }
            }
        }
        for o in &self.outs {
            let value = match claims.get(&o.claim) {
                None | Some(J::Null) => self
                    .declared
                    .iter()
                    .find(|d| d.claim == o.claim)
                    .and_then(|d| d.default.clone()),
                Some(v) => Some(o.kind.convert(v).ok_or_else(|| {
                    Reject::Invalid(format!("claim `{}` is not of its type", o.claim))
                })?),
            };
            if let Some(v) = value {
                locals.push((o.local, v));
            }
        }
        Ok(())
    }
}
