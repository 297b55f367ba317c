//! How values print: canonical text (string interpolation, headers, `string(x)`), JSON
//! (JSON templates, RFC 8259) and .gw literals (`gw disasm`).
//!
//! All writers append to a caller-owned `String`, so a reused buffer renders without
//! allocating.

use std::fmt::Write;

use crate::value::{Json, Value};

const KIB: u64 = 1024;
const SIZE_UNITS: [(u64, &str); 4] = [
    (KIB * KIB * KIB * KIB, "TiB"),
    (KIB * KIB * KIB, "GiB"),
    (KIB * KIB, "MiB"),
    (KIB, "KiB"),
];
const DURATION_UNITS: [(u64, &str); 4] = [(3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms")];
const RATE_UNITS: [(u64, &str); 5] = [
    (1000, "s"),
    (60_000, "min"),
    (3_600_000, "h"),
    (86_400_000, "day"),
    (1, "ms"),
];

impl Value {
    /// Canonical text form (grammar/README.md#expressions): strings raw, scalars as written in .gw
    /// (`30s`, `10MiB`, `100/s`), timestamps RFC 3339 in UTC, lists and json as compact JSON.
    /// Absent writes nothing (the compiler rejects interpolating a `T?` without `??`).
    pub fn write_text(&self, out: &mut String) {
        match self {
            Value::Absent => {}
            Value::Str(s) => out.push_str(s.as_str()),
            Value::Json(Json::String(s)) => out.push_str(s.as_str()),
            Value::Json(Json::Null) => out.push_str("null"),
            Value::Json(
                j @ (Json::Bool(_) | Json::Number(_) | Json::Array(_) | Json::Object(_)),
            ) => write_json_value(j, out),
            Value::List(_) => self.write_json(out),
            other => other.write_literal(out),
        }
    }

    /// JSON form: absent is `null`, strings are quoted and escaped, ints are numbers, lists
    /// are arrays, and the other scalars are strings of their text form (`"30s"`).
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Absent => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Str(s) => write_json_str(s.as_str(), out),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Value::Json(j) => write_json_value(j, out),
            other => {
                out.push('"');
                // Literal forms of these scalars contain no character JSON must escape.
                other.write_literal(out);
                out.push('"');
            }
        }
    }

    /// The value as a .gw literal (`"x"`, `201`, `30s`, `10MiB`, `10.0.0.0/8`), for disasm.
    pub fn write_literal(&self, out: &mut String) {
        match self {
            Value::Absent => out.push_str("absent"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Str(s) => write_gw_str(s.as_str(), out),
            Value::Duration(ms) => write_unit(*ms, &DURATION_UNITS, "ms", out),
            Value::Size(bytes) => write_unit(*bytes, &SIZE_UNITS, "B", out),
            Value::Timestamp(ms) => write_rfc3339(*ms, out),
            Value::Ip(ip) => {
                let _ = write!(out, "{ip}");
            }
            Value::Cidr(ip, prefix) => {
                let _ = write!(out, "{ip}/{prefix}");
            }
            Value::Rate { count, per_ms } => {
                let unit = RATE_UNITS.iter().find(|(ms, _)| ms == per_ms);
                match unit {
                    Some((_, name)) => {
                        let _ = write!(out, "{count}/{name}");
                    }
                    None => {
                        let _ = write!(out, "{count}/{per_ms}ms");
                    }
                }
            }
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_literal(out);
                }
                out.push(']');
            }
            Value::Json(j) => write_json_value(j, out),
        }
    }
}

/// `n` in the largest unit that divides it exactly (`90s` -> `90s`, `120000` ms -> `2m`).
fn write_unit(n: u64, units: &[(u64, &str)], base: &str, out: &mut String) {
    let unit = units
        .iter()
        .find(|(size, _)| n != 0 && n.is_multiple_of(*size));
    let _ = match unit {
        Some((size, name)) => write!(out, "{}{name}", n / size),
        None => write!(out, "{n}{base}"),
    };
}

/// A .gw string literal: quotes, backslashes and control characters escaped, braces doubled
/// (a single `{` would start an interpolation).
fn write_gw_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON string literal per RFC 8259 §7: `"` and `\` escaped, control characters as the
/// short escapes or `\u00XX`; everything else (UTF-8) verbatim.
pub fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    let mut rest = s;
    // Copy runs that need no escaping in one go. Every byte searched for is ASCII, so the
    // position is a character boundary.
    while let Some(pos) = rest
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < b' ')
    {
        let (run, tail) = rest.split_at(pos);
        out.push_str(run);
        let mut chars = tail.chars();
        match chars.next() {
            Some('"') => out.push_str("\\\""),
            Some('\\') => out.push_str("\\\\"),
            Some('\n') => out.push_str("\\n"),
            Some('\r') => out.push_str("\\r"),
            Some('\t') => out.push_str("\\t"),
            Some('\u{8}') => out.push_str("\\b"),
            Some('\u{c}') => out.push_str("\\f"),
            Some(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            None => {}
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    out.push('"');
}

/// Compact JSON of a json value. Integral numbers print without a fraction; non-finite
/// numbers (which JSON cannot carry) print as `null`.
pub fn write_json_value(j: &Json, out: &mut String) {
    match j {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => write_number(*n, out),
        Json::String(s) => write_json_str(s.as_str(), out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_value(item, out);
            }
            out.push(']');
        }
        Json::Object(members) => {
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(k.as_str(), out);
                out.push(':');
                write_json_value(v, out);
            }
            out.push('}');
        }
    }
}

/// Largest magnitude below which every integer is exactly representable in an f64.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

fn write_number(n: f64, out: &mut String) {
    let _ = if !n.is_finite() {
        write!(out, "null")
    } else if n.fract() == 0.0 && n.abs() < EXACT_INT {
        // In range, so the cast is exact.
        write!(out, "{}", n as i64)
    } else {
        write!(out, "{n}")
    };
}

/// Unix milliseconds as RFC 3339 UTC with millisecond precision.
fn write_rfc3339(ms: i64, out: &mut String) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = gw_proto::civil_from_days(days);
    let (h, min, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z"
    );
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use super::*;
    use crate::value::Str;

    fn text(v: &Value) -> String {
        let mut s = String::new();
        v.write_text(&mut s);
        s
    }
    fn json(v: &Value) -> String {
        let mut s = String::new();
        v.write_json(&mut s);
        s
    }
    fn lit(v: &Value) -> String {
        let mut s = String::new();
        v.write_literal(&mut s);
        s
    }

    #[test]
    fn json_strings_are_escaped_per_rfc_8259() {
        let v = Value::str("a\"b\\c\nd\te\u{1}f\u{8}\u{c}\r é ✓");
        assert_eq!(json(&v), r#""a\"b\\c\nd\te\u0001f\b\f\r é ✓""#);
        assert_eq!(json(&Value::str("")), r#""""#);
        assert_eq!(json(&Value::str("plain")), r#""plain""#);
    }

    #[test]
    fn json_of_scalars_lists_and_absent() {
        assert_eq!(json(&Value::Absent), "null");
        assert_eq!(json(&Value::Int(-42)), "-42");
        assert_eq!(json(&Value::Bool(true)), "true");
        assert_eq!(json(&Value::Duration(30_000)), r#""30s""#);
        let list = Value::List(Arc::from(vec![
            Value::str("a"),
            Value::Int(1),
            Value::Absent,
        ]));
        assert_eq!(json(&list), r#"["a",1,null]"#);
    }

    #[test]
    fn json_values_are_compact() {
        let obj = Json::Object(Arc::from(vec![
            (Str::new("id"), Json::Number(7.0)),
            (Str::new("ratio"), Json::Number(0.25)),
            (
                Str::new("tags"),
                Json::Array(Arc::from(vec![Json::Null, Json::Bool(false)])),
            ),
            (Str::new("inf"), Json::Number(f64::INFINITY)),
        ]));
        let v = Value::Json(obj);
        assert_eq!(
            json(&v),
            r#"{"id":7,"ratio":0.25,"tags":[null,false],"inf":null}"#
        );
        // An object interpolates as compact JSON, a json string as its raw text.
        assert_eq!(text(&v), json(&v));
        assert_eq!(text(&Value::Json(Json::String(Str::new("x\"y")))), "x\"y");
        assert_eq!(text(&Value::Json(Json::Number(3.0))), "3");
    }

    #[test]
    fn text_forms_are_canonical() {
        assert_eq!(text(&Value::str("raw \"text\"")), "raw \"text\"");
        assert_eq!(text(&Value::Int(201)), "201");
        assert_eq!(text(&Value::Absent), "");
        assert_eq!(text(&Value::Duration(250)), "250ms");
        assert_eq!(text(&Value::Duration(7_200_000)), "2h");
        assert_eq!(text(&Value::Duration(90_000)), "90s");
        assert_eq!(text(&Value::Duration(0)), "0ms");
        assert_eq!(text(&Value::Size(10 * 1024 * 1024)), "10MiB");
        assert_eq!(text(&Value::Size(1500)), "1500B");
        assert_eq!(
            text(&Value::Rate {
                count: 50,
                per_ms: 60_000
            }),
            "50/min"
        );
        let ip: IpAddr = "10.0.0.0".parse().unwrap();
        assert_eq!(text(&Value::Cidr(ip, 8)), "10.0.0.0/8");
        assert_eq!(text(&Value::Timestamp(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            text(&Value::Timestamp(1_709_210_096_789)),
            "2024-02-29T12:34:56.789Z"
        );
        assert_eq!(text(&Value::Timestamp(-1)), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn literals_are_gw_syntax() {
        assert_eq!(lit(&Value::str("a{b}\"")), r#""a{{b}}\"""#);
        assert_eq!(lit(&Value::Int(201)), "201");
        assert_eq!(lit(&Value::Duration(30_000)), "30s");
        assert_eq!(lit(&Value::Size(10 * 1024 * 1024)), "10MiB");
        let list = Value::List(Arc::from(vec![Value::str("a"), Value::str("b")]));
        assert_eq!(lit(&list), r#"["a", "b"]"#);
    }
}
