//! A request body read as JSON once, strictly: what serde_json refuses (bad syntax, a
//! truncated document, invalid UTF-8, a number beyond f64) is "not JSON"; what it would
//! accept but gw refuses (a duplicate key, which two readers could resolve differently, and
//! nesting past [`MAX_DEPTH`]) is an invalid body, named with where it was found.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value as J};

/// Deepest nesting of arrays and objects read; below serde_json's own limit (128), so this
/// one, with its clear message, is the one a deep body meets.
pub const MAX_DEPTH: usize = 100;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not a JSON text (415): the parser's message, with line and column.
    NotJson(String),
    /// JSON that gw refuses (400): a duplicate key or too deep.
    Refused(String),
}

/// Parses `bytes` as one JSON text.
pub fn parse(bytes: &[u8]) -> Result<J, BodyError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::NotJson("the body is empty".into()));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Strict { depth: 0 }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    v.map_err(|e| match e.classify() {
        serde_json::error::Category::Data => BodyError::Refused(e.to_string()),
        _ => BodyError::NotJson(e.to_string()),
    })
}

struct Strict {
    depth: usize,
}

impl Strict {
    fn deeper<E: de::Error>(&self) -> Result<Strict, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(Strict {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = J;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<J, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = J;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<J, E> {
        Ok(J::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<J, E> {
        Ok(J::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<J, E> {
        Ok(J::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<J, E> {
        Number::from_f64(n)
            .map(J::Number)
            .ok_or_else(|| E::custom("a number beyond f64"))
    }

    fn visit_str<E>(self, s: &str) -> Result<J, E> {
        Ok(J::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<J, E> {
        Ok(J::String(s))
    }

    fn visit_unit<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self.deeper()?)? {
            out.push(v);
        }
        Ok(J::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format!("duplicate key {k:?}")));
            }
            let v = map.next_value_seed(self.deeper()?)?;
            out.insert(k, v);
        }
        Ok(J::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_json(b: &[u8]) -> bool {
        matches!(parse(b), Err(BodyError::NotJson(_)))
    }

    #[test]
    fn what_is_not_json_and_what_is_refused() {
        assert_eq!(
            parse(br#"{"a":[1,2.5,"x",null,true]}"#).unwrap()["a"][1],
            2.5
        );
        assert!(not_json(b""));
        assert!(not_json(b"  \n"));
        assert!(not_json(b"hello"));
        assert!(not_json(br#"{"a":1"#));
        assert!(not_json(br#"{"a":1} x"#));
        assert!(not_json(b"\"\xff\xfe\""));
        assert!(not_json(b"1e400"));
        // beyond u64 but within f64 reads as a float
        assert_eq!(
            parse(b"123456789012345678901234567890").unwrap().as_f64(),
            Some(1.2345678901234568e29)
        );
        let Err(BodyError::Refused(m)) = parse(br#"{"a":1,"b":{"c":1,"c":2}}"#) else {
            panic!("duplicate accepted")
        };
        assert!(m.contains("duplicate key \"c\""), "{m}");
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let Err(BodyError::Refused(m)) = parse(deep.as_bytes()) else {
            panic!("deep accepted")
        };
        assert!(m.contains("nested deeper than 100"), "{m}");
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
        // a megabyte of opening brackets stops at the depth limit, without recursing further
        assert!(matches!(
            parse(&vec![b'['; 1 << 20]),
            Err(BodyError::Refused(_))
        ));
    }
}
