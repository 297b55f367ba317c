//! What a `jwt` declaration checks in the claims, and the typed values it stores for the
//! route (`out.claim.NAME = [local id, "type"]`, `out.auth.scopes`).

use gw_program::Value;
use serde_json::{Map, Value as J};

use super::keys::Alg;
use super::token::Reject;

/// A claim's declared type, without `?` (an absent claim is checked apart).
pub(crate) type Kind = crate::typed::Ty;

/// The declared type named `name` (`string`, `list<string>`, `int?`), without its `?`.
pub(crate) fn kind(name: &str) -> Option<Kind> {
    Kind::parse(name).map(|t| t.base().clone())
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
                Some(v) if d.kind.convert(v).is_ok() => {}
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
                Some(v) => Some(o.kind.convert(v).ok().ok_or_else(|| {
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
