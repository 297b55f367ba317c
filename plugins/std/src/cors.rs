//! `cors { … }`: the CORS headers of every response of the routes that keep it (`cors off`
//! opts a route out), and the answer to a preflight.
//!
//! ```gw
//! cors {
//!   origins     "https://app.example.com" "https://*.example.com"
//!   methods     GET POST DELETE
//!   headers     authorization content-type
//!   expose      x-request-id
//!   credentials true
//!   max_age     10m
//! }
//! ```
//!
//! The compiler calls this plugin at the end of each such route's response program; the
//! runtime also calls it on gw's own answers for the route (errors, denials) and answers a
//! preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) itself with 204
//! and the response program, without the request program or the upstream.
//!
//! An origin is allowed when it equals one of `origins` (ASCII case-insensitive), matches a
//! `https://*.example.com` pattern (one or more labels in place of `*`, same scheme and
//! port), or `origins` holds `*`. An allowed origin gets `Access-Control-Allow-Origin` (`*`
//! only without credentials; the compiler refuses `*` with `credentials true`), with
//! `Access-Control-Allow-Credentials` and `Access-Control-Expose-Headers` when configured.
//! A preflight also needs its method in `methods` and each requested header in `headers`; it
//! then gets `Access-Control-Allow-Methods`, `-Headers` and `-Max-Age`, and is refused with
//! 403 and no CORS headers otherwise. Every response gets `Vary: Origin`, so a cache never
//! serves one origin's answer to another.

use std::sync::Arc;

use gw_plugin::{
    ArgSpec, ArgType, BuildError, Call, Effect, Factory, Host, Instance, Plugin, PluginSpec,
    Signature, Value,
};
use gw_program::Field;

static SIGNATURE: Signature = Signature {
    name: "cors",
    mnemonic: "cors",
    args: &[
        ArgSpec {
            name: "origins",
            ty: ArgType::List,
            required: false,
        },
        ArgSpec {
            name: "methods",
            ty: ArgType::List,
            required: false,
        },
        ArgSpec {
            name: "headers",
            ty: ArgType::List,
            required: false,
        },
        ArgSpec {
            name: "expose",
            ty: ArgType::List,
            required: false,
        },
        ArgSpec {
            name: "credentials",
            ty: ArgType::Bool,
            required: false,
        },
        ArgSpec {
            name: "max_age",
            ty: ArgType::Duration,
            required: false,
        },
    ],
};

/// The `cors` policy.
pub struct Cors;

/// An allowed origin: exact, or `scheme://*.suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Any,
    Exact(String),
    /// `https://*.example.com[:port]`: (`https://`, `.example.com[:port]`).
    Sub(String, String),
}

#[derive(Debug)]
struct Policy {
    origins: Vec<Origin>,
    /// Upper case.
    methods: Vec<String>,
    /// Lower case.
    headers: Vec<String>,
    allow_methods: String,
    allow_headers: String,
    expose: String,
    credentials: bool,
    max_age: Option<String>,
}

struct CorsFactory(Arc<Policy>);

struct CorsInstance(Arc<Policy>);

fn list(spec: &PluginSpec, name: &str) -> Vec<String> {
    match Value::find(&spec.args, name) {
        Some(Value::List(l)) => l
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn origin(text: &str) -> Origin {
    let t = text.to_ascii_lowercase();
    if t == "*" {
        return Origin::Any;
    }
    match t.split_once("://*.") {
        Some((scheme, rest)) => Origin::Sub(format!("{scheme}://"), format!(".{rest}")),
        None => Origin::Exact(t),
    }
}

impl Origin {
    fn admits(&self, o: &str) -> bool {
        match self {
            Origin::Any => true,
            Origin::Exact(e) => e.eq_ignore_ascii_case(o),
            Origin::Sub(scheme, suffix) => {
                let o = o.to_ascii_lowercase();
                o.strip_prefix(scheme.as_str())
                    .and_then(|r| r.strip_suffix(suffix.as_str()))
                    .is_some_and(|labels| {
                        !labels.is_empty()
                            && !labels.starts_with('.')
                            && !labels.ends_with('.')
                            && !labels.contains("..")
                            && labels
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                    })
            }
        }
    }
}

impl Plugin for Cors {
    fn signature(&self) -> &Signature {
        &SIGNATURE
    }

    fn build(
        &self,
        spec: &PluginSpec,
        _previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError> {
        let origins: Vec<Origin> = list(spec, "origins").iter().map(|o| origin(o)).collect();
        let credentials = matches!(
            Value::find(&spec.args, "credentials"),
            Some(Value::Bool(true))
        );
        if credentials && origins.contains(&Origin::Any) {
            return Err(BuildError {
                origin: spec.origin.clone(),
                message: "cors: `origins \"*\"` cannot go with `credentials true`".into(),
            });
        }
        let methods: Vec<String> = list(spec, "methods")
            .iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        let headers: Vec<String> = list(spec, "headers")
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let max_age = match Value::find(&spec.args, "max_age") {
            Some(Value::Duration(ms)) => Some((ms / 1000).to_string()),
            _ => None,
        };
        Ok(Box::new(CorsFactory(Arc::new(Policy {
            allow_methods: methods.join(", "),
            allow_headers: headers.join(", "),
            expose: list(spec, "expose").join(", "),
            origins,
            methods,
            headers,
            credentials,
            max_age,
        }))))
    }
}

impl Factory for CorsFactory {
    fn instance(&self, _worker: usize) -> Box<dyn Instance> {
        Box::new(CorsInstance(self.0.clone()))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Policy {
    fn preflight_allowed(&self, host: &dyn Host, method: &[u8]) -> bool {
        let method = String::from_utf8_lossy(method.trim_ascii()).to_ascii_uppercase();
        if !self.methods.contains(&method) {
            return false;
        }
        let requested = host
            .request_header(b"access-control-request-headers")
            .unwrap_or(b"");
        String::from_utf8_lossy(requested)
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .all(|h| self.headers.contains(&h))
    }

    fn apply(&self, host: &mut dyn Host) -> Call {
        host.apply(Effect::RespAppendHeader("vary", "Origin"));
        let Some(origin) = host
            .request_header(b"origin")
            .and_then(|o| std::str::from_utf8(o).ok())
            .map(str::to_owned)
        else {
            return Call::Continue;
        };
        let allowed = self.origins.iter().any(|o| o.admits(&origin));
        let preflight = host.load(Field::ReqMethod).as_str() == Some("OPTIONS");
        let requested = host
            .request_header(b"access-control-request-method")
            .map(<[u8]>::to_vec);
        if let (true, Some(m)) = (preflight, &requested) {
            if !(allowed && self.preflight_allowed(host, m)) {
                host.apply(Effect::SetStatus(403));
                return Call::Continue;
            }
            host.apply(Effect::RespSetHeader(
                "access-control-allow-methods",
                &self.allow_methods,
            ));
            if !self.allow_headers.is_empty() {
                host.apply(Effect::RespSetHeader(
                    "access-control-allow-headers",
                    &self.allow_headers,
                ));
            }
            if let Some(age) = &self.max_age {
                host.apply(Effect::RespSetHeader("access-control-max-age", age));
            }
        } else if !allowed {
            return Call::Continue;
        }
        let any = self.origins.contains(&Origin::Any) && !self.credentials;
        host.apply(Effect::RespSetHeader(
            "access-control-allow-origin",
            if any { "*" } else { &origin },
        ));
        if self.credentials {
            host.apply(Effect::RespSetHeader(
                "access-control-allow-credentials",
                "true",
            ));
        }
        if !self.expose.is_empty() && requested.is_none() {
            host.apply(Effect::RespSetHeader(
                "access-control-expose-headers",
                &self.expose,
            ));
        }
        Call::Continue
    }
}

impl Instance for CorsInstance {
    fn call(&mut self, host: &mut dyn Host, _args: &[Value]) -> Call {
        self.0.apply(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_exact_and_wildcard_subdomains() {
        let sub = origin("https://*.example.com");
        assert!(sub.admits("https://a.example.com"));
        assert!(sub.admits("https://A.b.Example.com"));
        assert!(!sub.admits("https://example.com"));
        assert!(!sub.admits("http://a.example.com"));
        assert!(!sub.admits("https://a.example.com:8443"));
        assert!(!sub.admits("https://evil.com/.example.com"));
        assert!(!sub.admits("https://a.example.com.evil.com"));
        assert!(!sub.admits("https://.example.com"));
        let ported = origin("https://*.example.com:8443");
        assert!(ported.admits("https://a.example.com:8443"));
        assert!(!ported.admits("https://a.example.com"));
        let exact = origin("https://app.example.com");
        assert!(exact.admits("https://APP.example.com"));
        assert!(!exact.admits("https://app.example.com.evil.com"));
        assert!(origin("*").admits("null"));
    }

    #[test]
    fn a_wildcard_with_credentials_is_refused() {
        let spec = PluginSpec {
            plugin: "cors".into(),
            state_key: "cors".into(),
            args: vec![
                ("origins".into(), Value::List(vec![Value::str("*")].into())),
                ("credentials".into(), Value::Bool(true)),
            ],
            origin: "api.gw:1:1".into(),
        };
        assert!(SIGNATURE.check(&spec).is_ok());
        assert!(Cors.build(&spec, None).is_err());
    }
}
