//! `validate params { … }`: query, path, header and cookie parameters typed, ranges
//! checked and defaults applied before later statements read them.
//!
//! ```gw
//! route GET /pets/{id} {
//!   validate params {
//!     path.id:      uuid
//!     query.limit:  int 1..100 = 20
//!     query.sort:   string?
//!     header.x-dry: bool = false
//!   }
//!   set query limit = query.limit    # 20 when the client sent none
//!   upstream pets
//! }
//! ```
//!
//! The compiler passes each parameter's raw value as a call argument and describes it as
//! `[field, type, min, max, default, local, required, one_of, pattern]`; each checked value
//! (or its default) is stored in its local, which later reads of the field load. `int` is an
//! optional `-` and decimal digits within i64 (then the range), `bool` is `true` or `false`,
//! `uuid` is 8-4-4-4-12 hex digits, a `string in [...]` one of its values, a
//! `string matches "…"` a match of its pattern (the `regex` crate: linear time, whatever the
//! input). A missing required parameter or a value of the wrong type is 400 with an RFC 9457
//! problem document, one `errors` entry per parameter (`parameter`, `keyword`: `required`,
//! `type`, `minimum`, `maximum`, `enum` or `pattern`, `message`).

use std::sync::Arc;

use gw_plugin::{
    ArgSpec, ArgType, BuildError, Call, Factory, Host, Instance, Plugin, PluginSpec, Signature,
    Value,
};

use crate::problem::{Failure, Problem};

static SIGNATURE: Signature = Signature {
    name: "validate.params",
    mnemonic: "validate.params",
    args: &[ArgSpec {
        name: "params",
        ty: ArgType::List,
        required: true,
    }],
};

/// The `validate.params` policy.
pub struct ValidateParams;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Bool,
    Uuid,
}

#[derive(Debug)]
struct Param {
    field: String,
    kind: Kind,
    range: (Option<i64>, Option<i64>),
    default: Value,
    local: u16,
    required: bool,
    /// `in [...]`: the values allowed (empty: any).
    one_of: Vec<String>,
    pattern: Option<regex::Regex>,
}

struct ParamsFactory(Arc<[Param]>);

struct ParamsInstance(Arc<[Param]>);

fn param(spec: &PluginSpec, entry: &Value) -> Result<Param, BuildError> {
    let Value::List(e) = entry else {
        return Err(BuildError::at(spec, "malformed parameter entry"));
    };
    let text = |i: usize| e.get(i).and_then(Value::as_str);
    let int = |i: usize| match e.get(i) {
        Some(Value::Int(n)) => Some(*n),
        _ => None,
    };
    let (Some(field), Some(ty)) = (text(0), text(1)) else {
        return Err(BuildError::at(spec, "malformed parameter entry"));
    };
    let kind = match ty {
        "string" => Kind::Str,
        "int" => Kind::Int,
        "bool" => Kind::Bool,
        "uuid" => Kind::Uuid,
        other => {
            return Err(BuildError::at(
                spec,
                format!("`{field}`: unsupported type `{other}`"),
            ));
        }
    };
    let Some(local) = int(5).and_then(|l| u16::try_from(l).ok()) else {
        return Err(BuildError::at(spec, format!("`{field}`: no local")));
    };
    let one_of = match e.get(7) {
        Some(Value::List(l)) => l
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let pattern = match text(8) {
        Some(p) => Some(
            regex::Regex::new(p)
                .map_err(|e| BuildError::at(spec, format!("`{field}`: pattern {p:?}: {e}")))?,
        ),
        None => None,
    };
    Ok(Param {
        field: field.to_owned(),
        kind,
        range: (int(2), int(3)),
        default: e.get(4).cloned().unwrap_or(Value::Absent),
        local,
        required: matches!(e.get(6), Some(Value::Bool(true))),
        one_of,
        pattern,
    })
}

impl Plugin for ValidateParams {
    fn signature(&self) -> &Signature {
        &SIGNATURE
    }

    fn build(
        &self,
        spec: &PluginSpec,
        _previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError> {
        let Some(Value::List(entries)) = Value::find(&spec.args, "params") else {
            return Err(BuildError::at(spec, "validate params has no `params`"));
        };
        let params = entries
            .iter()
            .map(|e| param(spec, e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(ParamsFactory(params.into())))
    }
}

impl Factory for ParamsFactory {
    fn instance(&self, _worker: usize) -> Box<dyn Instance> {
        Box::new(ParamsInstance(self.0.clone()))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Param {
    /// The typed value of `raw`, or the failure.
    fn check(&self, raw: &Value) -> Result<Value, Failure> {
        let fail = |keyword: &str, message: String| Failure {
            at: ("parameter", self.field.clone()),
            keyword: keyword.into(),
            message,
        };
        let text = match raw {
            Value::Absent => {
                return match (&self.default, self.required) {
                    (Value::Absent, true) => Err(fail("required", "is required".into())),
                    (d, _) => Ok(d.clone()),
                };
            }
            Value::Str(s) => s.as_str().to_owned(),
            Value::Int(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(fail("type", "is not a single value".into())),
        };
        match self.kind {
            Kind::Str if !self.one_of.is_empty() && !self.one_of.contains(&text) => Err(fail(
                "enum",
                format!("is not one of {}", self.one_of.join(", ")),
            )),
            Kind::Str if self.pattern.as_ref().is_some_and(|re| !re.is_match(&text)) => Err(fail(
                "pattern",
                format!(
                    "does not match {}",
                    self.pattern.as_ref().map_or("", |re| re.as_str())
                ),
            )),
            Kind::Str => Ok(Value::str(&text)),
            Kind::Uuid if is_uuid(&text) => Ok(Value::str(&text)),
            Kind::Uuid => Err(fail("type", "is not a UUID".into())),
            Kind::Bool => match text.as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(fail("type", "is not `true` or `false`".into())),
            },
            Kind::Int => {
                let Some(n) = parse_int(&text) else {
                    return Err(fail("type", "is not an integer".into()));
                };
                match self.range {
                    (Some(lo), _) if n < lo => {
                        Err(fail("minimum", format!("{n} is less than {lo}")))
                    }
                    (_, Some(hi)) if n > hi => {
                        Err(fail("maximum", format!("{n} is greater than {hi}")))
                    }
                    _ => Ok(Value::Int(n)),
                }
            }
        }
    }
}

impl Instance for ParamsInstance {
    fn call(&mut self, host: &mut dyn Host, args: &[Value]) -> Call {
        let mut problem: Option<Problem> = None;
        for (i, p) in self.0.iter().enumerate() {
            match p.check(args.get(i).unwrap_or(&Value::Absent)) {
                Ok(v) => host.set_local(p.local, v),
                Err(f) => problem
                    .get_or_insert_with(|| {
                        Problem::new(400, "invalid-parameters", "Request parameters are invalid")
                    })
                    .push(f),
            }
        }
        match problem {
            Some(p) => p.deny(host, "validate params"),
            None => Call::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use gw_plugin::testing::TestRequest as Req;

    use super::*;

    fn entry(field: &str, ty: &str, range: Option<(i64, i64)>, default: Value, req: bool) -> Value {
        let (lo, hi) = range.map_or((Value::Absent, Value::Absent), |(a, b)| {
            (Value::Int(a), Value::Int(b))
        });
        // distinct for the fields these tests use
        let local = Value::Int(field.bytes().map(i64::from).sum());
        Value::List(
            vec![
                Value::str(field),
                Value::str(ty),
                lo,
                hi,
                default,
                local,
                Value::Bool(req),
            ]
            .into(),
        )
    }

    fn instance(entries: Vec<Value>) -> Box<dyn Instance> {
        let spec = PluginSpec {
            plugin: "validate.params".into(),
            state_key: "GET /pets#params".into(),
            args: vec![("params".into(), Value::List(entries.into()))],
            origin: "api.gw:2:3".into(),
        };
        assert!(SIGNATURE.check(&spec).is_ok());
        ValidateParams
            .build(&spec, None)
            .map_err(|e| e.message)
            .unwrap()
            .instance(0)
    }

    #[test]
    fn values_are_typed_and_defaults_applied() {
        let mut i = instance(vec![
            entry("query.limit", "int", Some((1, 100)), Value::Int(20), true),
            entry("path.id", "uuid", None, Value::Absent, true),
            entry("query.q", "string", None, Value::Absent, false),
            entry("header.x-dry", "bool", None, Value::Bool(false), true),
        ]);
        let id = "123e4567-e89b-12d3-a456-426614174000";
        let mut r = Req::default();
        let args = [
            Value::Absent,
            Value::str(id),
            Value::Absent,
            Value::str("true"),
        ];
        assert_eq!(i.call(&mut r, &args), Call::Continue);
        assert_eq!(
            r.locals,
            [
                (1155, Value::Int(20)),
                (680, Value::str(id)),
                (725, Value::Absent),
                (1163, Value::Bool(true))
            ]
        );
        let mut r = Req::default();
        let args = [
            Value::str("-0"),
            Value::str(id),
            Value::str("x"),
            Value::Absent,
        ];
        assert_eq!(
            i.call(&mut r, &args),
            Call::Deny {
                status: 400,
                retry_after: None
            }
        );
        let doc: serde_json::Value = serde_json::from_str(&r.deny_body.unwrap().1).unwrap();
        assert_eq!(doc["errors"][0]["parameter"], "query.limit");
        assert_eq!(doc["errors"][0]["keyword"], "minimum");
        assert_eq!(doc["errors"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn each_bad_parameter_is_named() {
        let mut i = instance(vec![
            entry("query.limit", "int", Some((1, 100)), Value::Int(20), true),
            entry("path.id", "uuid", None, Value::Absent, true),
            entry("query.flag", "bool", None, Value::Absent, true),
            entry("query.page", "int", None, Value::Absent, false),
        ]);
        let mut r = Req::default();
        let args = [
            Value::str("101"),
            Value::str("123e4567-e89b-12d3-a456-42661417400g"),
            Value::Absent,
            Value::str("99999999999999999999"),
        ];
        i.call(&mut r, &args);
        let doc: serde_json::Value = serde_json::from_str(&r.deny_body.unwrap().1).unwrap();
        let got: Vec<(&str, &str)> = doc["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["parameter"].as_str().unwrap(),
                    e["keyword"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("query.limit", "maximum"),
                ("path.id", "type"),
                ("query.flag", "required"),
                ("query.page", "type")
            ]
        );
        for bad in ["", "+1", "1.0", "0x10", " 1"] {
            let mut r = Req::default();
            let args = [
                Value::str(bad),
                Value::str("123e4567-e89b-12d3-a456-426614174000"),
                Value::str("true"),
                Value::Absent,
            ];
            assert_eq!(
                i.call(&mut r, &args),
                Call::Deny {
                    status: 400,
                    retry_after: None
                },
                "{bad:?}"
            );
        }
    }

    #[test]
    fn strings_one_of_a_list_or_matching_a_pattern() {
        let refined = |field: &str, one_of: Value, pattern: Value| {
            let Value::List(e) = entry(field, "string", None, Value::Absent, true) else {
                unreachable!()
            };
            let mut e = e.to_vec();
            e.push(one_of);
            e.push(pattern);
            Value::List(e.into())
        };
        let mut i = instance(vec![
            refined(
                "query.sort",
                Value::List(vec![Value::str("asc"), Value::str("desc")].into()),
                Value::Absent,
            ),
            refined("query.code", Value::Absent, Value::str("^[A-Z]{3}$")),
        ]);
        let mut r = Req::default();
        let ok = [Value::str("desc"), Value::str("EUR")];
        assert_eq!(i.call(&mut r, &ok), Call::Continue);
        let mut r = Req::default();
        let bad = [Value::str("random"), Value::str("eur")];
        assert!(matches!(
            i.call(&mut r, &bad),
            Call::Deny { status: 400, .. }
        ));
        let doc: serde_json::Value = serde_json::from_str(&r.deny_body.unwrap().1).unwrap();
        let keywords: Vec<&str> = doc["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["keyword"].as_str().unwrap())
            .collect();
        assert_eq!(keywords, ["enum", "pattern"]);
        assert!(
            doc["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("asc, desc")
        );
    }
}
