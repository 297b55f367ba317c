//! Values a plugin reads from JSON (an authorizer's answer, a token's claims) typed as the
//! config declared them: the compiler writes each field's type as text (`string`,
//! `list<string>`, `int?`) in the plugin's `out.NAME = [local, "type"]` arguments.

use std::sync::Arc;

use gw_program::{Json, Value};

/// Deepest JSON nesting turned into a `json` value; deeper is refused, so a hostile document
/// cannot make the conversion recurse without bound.
pub const MAX_DEPTH: usize = 64;

/// A declared type, parsed from the compiler's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    Bool,
    /// A NumericDate in seconds (RFC 7519 §2, a fraction allowed), stored as Unix ms.
    Timestamp,
    Json,
    List(Box<Ty>),
    Opt(Box<Ty>),
}

impl Ty {
    /// `string`, `int`, `bool`, `json`, `list<T>`, `T?`; `None` for types JSON cannot carry.
    pub fn parse(text: &str) -> Option<Ty> {
        if let Some(inner) = text.strip_suffix('?') {
            return Some(Ty::Opt(Box::new(Ty::parse(inner)?)));
        }
        if let Some(inner) = text.strip_prefix("list<").and_then(|t| t.strip_suffix('>')) {
            return Some(Ty::List(Box::new(Ty::parse(inner)?)));
        }
        match text {
            "string" => Some(Ty::Str),
            "int" => Some(Ty::Int),
            "bool" => Some(Ty::Bool),
            "timestamp" => Some(Ty::Timestamp),
            "json" => Some(Ty::Json),
            _ => None,
        }
    }

    /// Whether a missing value is allowed (`T?`).
    pub fn optional(&self) -> bool {
        matches!(self, Ty::Opt(_))
    }

    /// `v` as this type: `Err` with what was found when it is not one.
    pub fn convert(&self, v: &serde_json::Value) -> Result<Value, String> {
        use serde_json::Value as J;
        match (self, v) {
            (Ty::Opt(_), J::Null) => Ok(Value::Absent),
            (Ty::Opt(t), v) => t.convert(v),
            (Ty::Str, J::String(s)) => Ok(Value::str(s)),
            (Ty::Int, J::Number(n)) => n
                .as_i64()
                .map(Value::Int)
                .ok_or_else(|| format!("{n} is not a whole number in range")),
            (Ty::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
            (Ty::Timestamp, J::Number(n)) => match n.as_i64() {
                Some(s) => s.checked_mul(1000).map(Value::Timestamp),
                None => n
                    .as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    .map(|f| Value::Timestamp((f * 1000.0) as i64)),
            }
            .ok_or_else(|| format!("{n} is not a time in range")),
            (Ty::Json, v) => json(v, 0)
                .map(Value::Json)
                .ok_or_else(|| "nested too deeply".to_string()),
            (Ty::List(t), J::Array(items)) => items
                .iter()
                .map(|i| t.convert(i))
                .collect::<Result<Vec<_>, _>>()
                .map(|l| Value::List(l.into())),
            (t, v) => Err(format!("expected {}, found {}", t.name(), kind(v))),
        }
    }

    /// The base type, without `?`.
    pub fn base(&self) -> &Ty {
        match self {
            Ty::Opt(t) => t.base(),
            t => t,
        }
    }

    fn name(&self) -> String {
        match self {
            Ty::Str => "a string".into(),
            Ty::Int => "an int".into(),
            Ty::Bool => "a bool".into(),
            Ty::Timestamp => "a NumericDate".into(),
            Ty::Json => "JSON".into(),
            Ty::List(t) => format!("a list of {}", t.name()),
            Ty::Opt(t) => t.name(),
        }
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// `v` as gw's JSON value, `None` past [`MAX_DEPTH`].
pub fn json(v: &serde_json::Value, depth: usize) -> Option<Json> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return None;
    }
    Some(match v {
        J::Null => Json::Null,
        J::Bool(b) => Json::Bool(*b),
        J::Number(n) => Json::Number(n.as_f64()?),
        J::String(s) => Json::String(s.as_str().into()),
        J::Array(a) => Json::Array(
            a.iter()
                .map(|x| json(x, depth + 1))
                .collect::<Option<Arc<[Json]>>>()?,
        ),
        J::Object(o) => Json::Object(
            o.iter()
                .map(|(k, x)| Some((k.as_str().into(), json(x, depth + 1)?)))
                .collect::<Option<Arc<[_]>>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json as j;

    use super::*;

    #[test]
    fn declared_types_convert_or_say_what_they_found() {
        let list = Ty::parse("list<string>").unwrap();
        assert_eq!(
            list.convert(&j!(["a", "b"])).unwrap(),
            Value::List(vec![Value::str("a"), Value::str("b")].into())
        );
        assert_eq!(
            list.convert(&j!(["a", 1])).unwrap_err(),
            "expected a string, found a number"
        );
        assert_eq!(
            Ty::parse("int?").unwrap().convert(&j!(null)).unwrap(),
            Value::Absent
        );
        assert_eq!(
            Ty::parse("int").unwrap().convert(&j!(1.5)).unwrap_err(),
            "1.5 is not a whole number in range"
        );
        assert_eq!(
            Ty::parse("bool").unwrap().convert(&j!("true")).unwrap_err(),
            "expected a bool, found a string"
        );
        assert_eq!(Ty::parse("duration"), None);
        assert!(Ty::parse("string?").unwrap().optional());
        let mut deep = j!(1);
        for _ in 0..100 {
            deep = j!([deep]);
        }
        assert!(Ty::Json.convert(&deep).is_err());
        assert_eq!(
            Ty::Json.convert(&j!({"a": [true]})).unwrap(),
            Value::Json(Json::Object(
                vec![("a".into(), Json::Array(vec![Json::Bool(true)].into()))].into()
            ))
        );
    }
}
