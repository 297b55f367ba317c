//! `api_keys NAME { file …; header … | query … }` and `auth api_key NAME`: the caller's key,
//! looked up by its SHA-256 digest among the keys file's.
//!
//! ```gw
//! api_keys partners {
//!   file   "keys/partners.txt"        # sha256:<hex> id=<id> plan=<plan>, one key per line
//!   header "x-api-key"
//! }
//! route GET /reports {
//!   auth api_key partners
//!   set header x-partner = key.id
//!   upstream reports
//! }
//! ```
//!
//! The file holds digests only, so a leaked file gives no key away. The presented key is
//! hashed before anything is compared: what the lookup's time depends on is the digest of
//! what the caller sent, which it cannot steer towards a stored one, never how much of a
//! stored key it matches. The compiler reads the file, so a reload (SIGHUP) picks up
//! added and revoked keys. A missing or unknown key is a 401 with
//! `WWW-Authenticate: ApiKey`; the reason goes to gw's log.

use std::sync::Arc;

use gw_plugin::{
    ArgSpec, ArgType, BuildError, Call, Effect, Factory, Host, Instance, Plugin, PluginSpec,
    Signature, Value,
};
use sha2::{Digest, Sha256};

/// Longest key read: anything longer is refused before it is hashed.
const MAX_KEY: usize = 512;

static SIGNATURE: Signature = Signature {
    name: "api_key",
    mnemonic: "auth.key",
    args: &[
        ArgSpec {
            name: "file",
            ty: ArgType::Str,
            required: false,
        },
        ArgSpec {
            name: "header",
            ty: ArgType::Str,
            required: false,
        },
        ArgSpec {
            name: "query",
            ty: ArgType::Str,
            required: false,
        },
        ArgSpec {
            name: "keys",
            ty: ArgType::List,
            required: true,
        },
        ArgSpec {
            name: "out.key.*",
            ty: ArgType::List,
            required: false,
        },
    ],
};

/// The `api_key` policy.
pub struct ApiKey;

/// Where the caller puts its key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Header(String),
    Query(String),
}

/// One key of the file: who it is and its plan.
#[derive(Debug)]
struct Key {
    id: Value,
    plan: Value,
}

#[derive(Debug)]
struct Keys {
    name: String,
    source: Source,
    /// Digest → index into `keys`.
    by_digest: ahash::HashMap<[u8; 32], usize>,
    keys: Vec<Key>,
    /// Locals to fill: `key.id`, `key.plan`.
    out_id: Option<u16>,
    out_plan: Option<u16>,
}

struct KeysFactory(Arc<Keys>);

struct KeysInstance(Arc<Keys>);

fn digest_of_hex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The local id of an `out.NAME = [id, "type"]` argument.
pub(crate) fn out_local(spec: &PluginSpec, name: &str) -> Option<u16> {
    match Value::find(&spec.args, &format!("out.{name}"))? {
        Value::List(l) => match l.first()? {
            Value::Int(i) => u16::try_from(*i).ok(),
            _ => None,
        },
        _ => None,
    }
}

impl Plugin for ApiKey {
    fn signature(&self) -> &Signature {
        &SIGNATURE
    }

    fn build(
        &self,
        spec: &PluginSpec,
        _previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError> {
        let source = match (
            Value::find(&spec.args, "header").and_then(Value::as_str),
            Value::find(&spec.args, "query").and_then(Value::as_str),
        ) {
            (Some(h), None) => Source::Header(h.to_ascii_lowercase()),
            (None, Some(q)) => Source::Query(q.to_owned()),
            _ => {
                return Err(BuildError::at(
                    spec,
                    "api_keys reads the key from one `header` or one `query`",
                ));
            }
        };
        let Some(Value::List(lines)) = Value::find(&spec.args, "keys") else {
            return Err(BuildError::at(spec, "api_keys has no keys"));
        };
        let mut by_digest = ahash::HashMap::default();
        let mut keys = Vec::with_capacity(lines.len());
        for line in lines.iter() {
            let Value::List(parts) = line else {
                return Err(BuildError::at(spec, "malformed key entry"));
            };
            let (Some(hex), Some(id)) = (
                parts.first().and_then(Value::as_str),
                parts.get(1).and_then(Value::as_str),
            ) else {
                return Err(BuildError::at(spec, "malformed key entry"));
            };
            let Some(digest) = digest_of_hex(hex) else {
                return Err(BuildError::at(
                    spec,
                    format!("key `{id}`: not a SHA-256 digest"),
                ));
            };
            let plan = parts.get(2).cloned().unwrap_or(Value::Absent);
            if by_digest.insert(digest, keys.len()).is_some() {
                return Err(BuildError::at(
                    spec,
                    format!("key `{id}`: the same key is listed twice"),
                ));
            }
            keys.push(Key {
                id: Value::str(id),
                plan,
            });
        }
        Ok(Box::new(KeysFactory(Arc::new(Keys {
            name: spec.state_key.clone(),
            source,
            by_digest,
            keys,
            out_id: out_local(spec, "key.id"),
            out_plan: out_local(spec, "key.plan"),
        }))))
    }
}

impl Factory for KeysFactory {
    fn instance(&self, _worker: usize) -> Box<dyn Instance> {
        Box::new(KeysInstance(self.0.clone()))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Keys {
    fn deny(&self, host: &mut dyn Host, reason: &str) -> Call {
        host.apply(Effect::DenyHeader(
            "www-authenticate",
            &format!("ApiKey realm=\"{}\"", self.name),
        ));
        host.apply(Effect::DenyReason(&format!(
            "api_keys {}: {reason}",
            self.name
        )));
        Call::Deny {
            status: 401,
            retry_after: None,
        }
    }

    fn check(&self, host: &mut dyn Host) -> Call {
        let presented: Option<Vec<u8>> = match &self.source {
            Source::Header(h) => host.request_header(h.as_bytes()).map(<[u8]>::to_vec),
            Source::Query(q) => host
                .request_query(q)
                .as_str()
                .map(|s| s.as_bytes().to_vec()),
        };
        let key = match presented {
            Some(k) if !k.is_empty() => k,
            _ => {
                let from = match &self.source {
                    Source::Header(h) => format!("header {h}"),
                    Source::Query(q) => format!("query parameter {q}"),
                };
                return self.deny(host, &format!("no key in {from}"));
            }
        };
        if key.len() > MAX_KEY {
            return self.deny(host, "key longer than 512 bytes");
        }
        let digest: [u8; 32] = Sha256::digest(&key).into();
        let Some(k) = self.by_digest.get(&digest).and_then(|i| self.keys.get(*i)) else {
            return self.deny(host, "unknown key");
        };
        if let Some(id) = self.out_id {
            host.set_local(id, k.id.clone());
        }
        if let Some(id) = self.out_plan {
            host.set_local(id, k.plan.clone());
        }
        Call::Continue
    }
}

impl Instance for KeysInstance {
    fn call(&mut self, host: &mut dyn Host, _args: &[Value]) -> Call {
        self.0.check(host)
    }
}

#[cfg(test)]
mod tests {
    use gw_plugin::testing::TestRequest;

    use super::*;

    fn hex(key: &str) -> String {
        Sha256::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn spec(source: (&str, &str), keys: &[(&str, &str, Option<&str>)]) -> PluginSpec {
        let keys: Vec<Value> = keys
            .iter()
            .map(|(k, id, plan)| {
                Value::List(
                    vec![
                        Value::str(&hex(k)),
                        Value::str(id),
                        plan.map_or(Value::Absent, Value::str),
                    ]
                    .into(),
                )
            })
            .collect();
        let out = |id: i64| Value::List(vec![Value::Int(id), Value::str("string")].into());
        PluginSpec {
            plugin: "api_key".into(),
            state_key: "partners".into(),
            args: vec![
                (source.0.into(), Value::str(source.1)),
                ("keys".into(), Value::List(keys.into())),
                ("out.key.id".into(), out(0)),
                ("out.key.plan".into(), out(1)),
            ],
            origin: "api.gw:1:1".into(),
        }
    }

    fn instance(spec: &PluginSpec) -> Box<dyn Instance> {
        ApiKey
            .build(spec, None)
            .map_err(|e| e.message)
            .unwrap()
            .instance(0)
    }

    const DENY: Call = Call::Deny {
        status: 401,
        retry_after: None,
    };

    #[test]
    fn a_known_key_gives_its_id_and_plan() {
        let s = spec(
            ("header", "x-api-key"),
            &[
                ("k-acme", "acme", Some("free")),
                ("k-globex", "globex", None),
            ],
        );
        assert!(SIGNATURE.check(&s).is_ok());
        let mut i = instance(&s);
        let mut req = TestRequest::new().header("X-Api-Key", "k-acme");
        assert_eq!(i.call(&mut req, &[]), Call::Continue);
        assert_eq!(
            req.locals,
            [(0, Value::str("acme")), (1, Value::str("free"))]
        );
        let mut req = TestRequest::new().header("x-api-key", "k-globex");
        assert_eq!(i.call(&mut req, &[]), Call::Continue);
        assert_eq!(req.locals, [(0, Value::str("globex")), (1, Value::Absent)]);
    }

    #[test]
    fn missing_unknown_and_oversized_keys_are_401_with_a_reason() {
        let s = spec(("header", "x-api-key"), &[("k-acme", "acme", None)]);
        let mut i = instance(&s);
        for (headers, reason) in [
            (vec![], "no key in header x-api-key"),
            (vec![("x-api-key", "")], "no key in header x-api-key"),
            (vec![("x-api-key", "k-acmf")], "unknown key"),
            (vec![("x-other", "k-acme")], "no key in header x-api-key"),
        ] {
            let mut req = headers
                .iter()
                .fold(TestRequest::new(), |r, (n, v)| r.header(n, v));
            assert_eq!(i.call(&mut req, &[]), DENY, "{headers:?}");
            assert_eq!(req.reason, format!("api_keys partners: {reason}"));
            assert_eq!(
                req.deny_headers,
                [(
                    "www-authenticate".to_string(),
                    "ApiKey realm=\"partners\"".to_string()
                )]
            );
            assert!(req.locals.is_empty());
        }
        let mut req = TestRequest::new().header("x-api-key", &"k".repeat(513));
        assert_eq!(i.call(&mut req, &[]), DENY);
        assert!(req.reason.contains("longer than 512"));
    }

    #[test]
    fn a_key_in_the_query() {
        let s = spec(("query", "api_key"), &[("k-acme", "acme", None)]);
        let mut i = instance(&s);
        let mut req = TestRequest::new().query("api_key", "k-acme");
        assert_eq!(i.call(&mut req, &[]), Call::Continue);
        let mut req = TestRequest::new().header("api_key", "k-acme");
        assert_eq!(i.call(&mut req, &[]), DENY);
    }

    #[test]
    fn bad_specs_are_refused() {
        let twice = spec(("header", "x"), &[("a", "one", None), ("a", "two", None)]);
        let err = ApiKey.build(&twice, None).err().unwrap();
        assert!(err.message.contains("listed twice"), "{}", err.message);
        let mut s = spec(("header", "x"), &[]);
        s.args.push(("query".into(), Value::str("q")));
        assert!(ApiKey.build(&s, None).is_err());
    }
}
