//! `schema NAME = file …` and `validate body NAME`: the request body checked against a JSON
//! Schema (draft 4, 7 or 2020-12, from its `$schema`; 2020-12 without one), compiled once
//! when the config loads.
//!
//! ```gw
//! schema NewPet = file "schemas/new-pet.json"
//! route POST /pets {
//!   validate body NewPet
//!   set header x-pet-name = body.name
//!   upstream pets
//! }
//! ```
//!
//! The body is parsed once (`body_json.rs`); the same parse checks the schema and gives
//! the `body.*` fields later statements read (`out.body./ptr` locals). A `$ref` to another
//! file is read at load from the schema's own directory or below it; nothing is fetched over
//! the network, ever. `pattern` uses the linear-time `regex` engine, so no client value can
//! make a pattern backtrack without bound.
//!
//! Answers, as RFC 9457 `application/problem+json` (an `on error STATUS` page reshapes them):
//! 415 when `Content-Type` is not JSON (`application/json`, `application/*+json`) or the body
//! is not a JSON text; 400 with one `errors` entry per failed keyword (`pointer` into the body,
//! `keyword`, `message`; at most 20) when it does not match, and
//! for a duplicate key or nesting past 100 levels. 413 past the body
//! limit is the runtime's, before the body is read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gw_plugin::{
    ArgSpec, ArgType, BuildError, Call, Factory, Host, Instance, Plugin, PluginSpec, Signature,
    Value,
};
use jsonschema::{PatternOptions, Retrieve, Uri, Validator};
use serde_json::Value as J;

use crate::body_json::{self, BodyError};
use crate::problem::{Failure, Problem};
use crate::typed::Ty;

/// Largest schema file a `$ref` may name.
const MAX_REF_FILE: u64 = 1 << 20;

static SIGNATURE: Signature = Signature {
    name: "validate.body",
    mnemonic: "validate.body",
    args: &[
        ArgSpec {
            name: "schema",
            ty: ArgType::Str,
            required: true,
        },
        ArgSpec {
            name: "file",
            ty: ArgType::Str,
            required: true,
        },
        ArgSpec {
            name: "json",
            ty: ArgType::Str,
            required: true,
        },
        ArgSpec {
            name: "schema_id",
            ty: ArgType::Int,
            required: false,
        },
        ArgSpec {
            name: "out.body.*",
            ty: ArgType::List,
            required: false,
        },
    ],
};

/// The `validate.body` policy.
pub struct ValidateBody;

/// A compiled schema and the `body.*` fields to fill from a valid body.
pub struct BodySchema {
    name: String,
    validator: Validator,
    /// `(JSON pointer, local id, declared type)`.
    outs: Vec<(String, u16, Ty)>,
}

struct BodyFactory(Arc<BodySchema>);

struct BodyInstance(Arc<BodySchema>);

/// Reads `$ref`'d files under one directory; refuses every other URI (no network).
struct LocalFiles {
    root: PathBuf,
}

impl Retrieve for LocalFiles {
    fn retrieve(&self, uri: &Uri<String>) -> Result<J, Box<dyn std::error::Error + Send + Sync>> {
        if uri.scheme().as_str() != "file" {
            return Err(format!("`{uri}`: gw reads referenced schemas from files only").into());
        }
        let path = PathBuf::from(uri.path().as_str());
        let real = path
            .canonicalize()
            .map_err(|e| format!("`{}`: {e}", path.display()))?;
        if !real.starts_with(&self.root) {
            return Err(format!(
                "`{}` is outside the schema's directory `{}`",
                path.display(),
                self.root.display()
            )
            .into());
        }
        let len = std::fs::metadata(&real)?.len();
        if len > MAX_REF_FILE {
            return Err(format!("`{}` is larger than 1 MiB", path.display()).into());
        }
        let text = std::fs::read(&real)?;
        Ok(serde_json::from_slice(&text)?)
    }
}

impl BodySchema {
    /// Compiles `spec`'s schema (its `$ref`s resolved now, from files beside it).
    pub fn build(spec: &PluginSpec) -> Result<BodySchema, BuildError> {
        let text = |k: &str| Value::find(&spec.args, k).and_then(Value::as_str);
        let (Some(name), Some(file), Some(json)) = (text("schema"), text("file"), text("json"))
        else {
            return Err(BuildError::at(
                spec,
                "validate body needs `schema`, `file` and `json`",
            ));
        };
        let schema: J = serde_json::from_str(json)
            .map_err(|e| BuildError::at(spec, format!("schema `{name}`: invalid JSON: {e}")))?;
        let path = std::path::absolute(Path::new(file))
            .map_err(|e| BuildError::at(spec, format!("schema `{name}`: {e}")))?;
        let root = path
            .parent()
            .and_then(|d| d.canonicalize().ok())
            .unwrap_or_else(|| PathBuf::from("/nonexistent"));
        let base = format!("file://{}", path.display());
        let validator = jsonschema::options()
            .with_base_uri(base)
            .with_retriever(LocalFiles { root })
            .with_pattern_options(PatternOptions::regex())
            .build(&schema)
            .map_err(|e| {
                BuildError::at(
                    spec,
                    format!("schema `{name}` ({file}) is not a valid schema: {e}"),
                )
            })?;
        let mut outs = Vec::new();
        for (k, v) in &spec.args {
            let Some(ptr) = k.strip_prefix("out.body.") else {
                continue;
            };
            let parts = match v {
                Value::List(l) => (l.first(), l.get(1).and_then(Value::as_str)),
                _ => (None, None),
            };
            let (Some(Value::Int(id)), Some(ty)) = parts else {
                return Err(BuildError::at(spec, format!("malformed `{k}`")));
            };
            let (Ok(id), Some(ty)) = (u16::try_from(*id), Ty::parse(ty)) else {
                return Err(BuildError::at(spec, format!("`{k}`: bad local or type")));
            };
            outs.push((ptr.to_owned(), id, ty));
        }
        Ok(BodySchema {
            name: name.to_owned(),
            validator,
            outs,
        })
    }

    /// Checks the request's body; on success stores the `body.*` fields.
    pub fn check(&self, host: &mut dyn Host) -> Call {
        if !host.request_header(b"content-type").is_some_and(is_json) {
            let mut p = Problem::new(415, "unsupported-media-type", "Request body must be JSON");
            p.detail = Some("Content-Type is not application/json".into());
            return p.deny(host, &self.who());
        }
        let v = match body_json::parse(host.request_body().unwrap_or(&[])) {
            Ok(v) => v,
            Err(BodyError::NotJson(why)) => {
                let mut p = Problem::new(415, "not-json", "Request body is not JSON");
                p.detail = Some(why);
                return p.deny(host, &self.who());
            }
            Err(BodyError::Refused(why)) => {
                let mut p = Problem::new(400, "invalid-body", "Request body is refused");
                p.detail = Some(why);
                return p.deny(host, &self.who());
            }
        };
        match self.problem(&v) {
            Some(p) => p.deny(host, &self.who()),
            None => {
                self.fill(host, &v);
                Call::Continue
            }
        }
    }

    /// The failures of a parsed body, `None` when it matches.
    pub fn problem(&self, v: &J) -> Option<Problem> {
        let mut errors = self.validator.iter_errors(v).peekable();
        errors.peek()?;
        let mut p = Problem::new(
            400,
            "invalid-body",
            format!("Request body does not match schema `{}`", self.name),
        );
        // one past the cap tells whether the list was cut
        for e in errors.take(crate::problem::MAX_ERRORS + 1) {
            p.push(Failure {
                at: ("pointer", e.instance_path().as_str().to_owned()),
                keyword: e.kind().keyword().to_owned(),
                message: e.masked().to_string(),
            });
        }
        Some(p)
    }

    /// Whether a parsed body matches.
    pub fn is_valid(&self, v: &J) -> bool {
        self.validator.is_valid(v)
    }

    fn fill(&self, host: &mut dyn Host, v: &J) {
        for (ptr, id, ty) in &self.outs {
            let value = v
                .pointer(ptr)
                .and_then(|x| ty.convert(x).ok())
                .unwrap_or(Value::Absent);
            host.set_local(*id, value);
        }
    }

    fn who(&self) -> String {
        format!("validate body {}", self.name)
    }
}

/// `application/json` or `application/*+json`, parameters ignored.
fn is_json(ctype: &[u8]) -> bool {
    let media = ctype
        .split(|b| *b == b';')
        .next()
        .unwrap_or(b"")
        .trim_ascii();
    let Ok(media) = std::str::from_utf8(media) else {
        return false;
    };
    let media = media.to_ascii_lowercase();
    media == "application/json"
        || media
            .strip_prefix("application/")
            .is_some_and(|s| s.ends_with("+json") && s.len() > 5)
}

impl Plugin for ValidateBody {
    fn signature(&self) -> &Signature {
        &SIGNATURE
    }

    fn build(
        &self,
        spec: &PluginSpec,
        _previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError> {
        Ok(Box::new(BodyFactory(Arc::new(BodySchema::build(spec)?))))
    }
}

impl Factory for BodyFactory {
    fn instance(&self, _worker: usize) -> Box<dyn Instance> {
        Box::new(BodyInstance(self.0.clone()))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Instance for BodyInstance {
    fn call(&mut self, host: &mut dyn Host, _args: &[Value]) -> Call {
        self.0.check(host)
    }
}

#[cfg(test)]
pub(crate) mod tests;
