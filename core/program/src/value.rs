//! Runtime values held in VM registers and program constants.
//!
//! Cloning a [`Value`] never allocates: strings up to [`Str::INLINE`] bytes are stored inline
//! and longer ones are shared behind an `Arc`.

use std::net::IpAddr;
use std::sync::Arc;

use smol_str::SmolStr;

/// An immutable string that is cheap to clone and to read.
///
/// Backed by `smol_str` (rust-analyzer's small-string type): short strings live in place and
/// reading them needs no UTF-8 re-validation, which a safe hand-rolled inline buffer would
/// pay on every access (the VM reads header names and values on every effect).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Str(SmolStr);

impl Str {
    /// Longest string stored without allocating.
    pub const INLINE: usize = SmolStr::INLINE_CAP;

    /// Copy `s`: in place when it fits, else into one shared allocation.
    pub fn new(s: &str) -> Str {
        Str(SmolStr::new(s))
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the text lives in a shared allocation (longer than [`Str::INLINE`]).
    #[inline]
    pub fn is_shared(&self) -> bool {
        self.0.is_heap_allocated()
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Str {
        Str::new(s)
    }
}

/// A dynamic JSON value (`json` type), shared so clones are cheap.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(Str),
    Array(Arc<[Json]>),
    Object(Arc<[(Str, Json)]>),
}

/// A value in a register. `Absent` is the missing value of a `T?`.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Absent,
    Bool(bool),
    Int(i64),
    Str(Str),
    /// Milliseconds.
    Duration(u64),
    /// Bytes.
    Size(u64),
    /// Unix time in milliseconds.
    Timestamp(i64),
    Ip(IpAddr),
    Cidr(IpAddr, u8),
    Rate {
        count: u64,
        per_ms: u64,
    },
    List(Arc<[Value]>),
    Json(Json),
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(Str::new(s))
    }

    /// Whether this is `Absent` (see [`Value::is_missing`] for absence semantics).
    pub fn is_absent(&self) -> bool {
        matches!(self, Value::Absent)
    }

    /// `true` only for `Bool(true)`.
    pub fn as_bool(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// The string of a `Str` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Missing for absence semantics: `Absent`, or a JSON `null` (a JSON field set to null
    /// reads like a field that is not there: `body.nick ?? "anon"`).
    pub fn is_missing(&self) -> bool {
        matches!(self, Value::Absent | Value::Json(Json::Null))
    }

    /// The string of a `Str` or of a JSON string.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Json(Json::String(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// `true` for `Bool(true)` and JSON `true`: what `jz`, `jnz` and `deny.ifnot` test.
    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true) | Value::Json(Json::Bool(true)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_small() {
        // Registers are copied on every load and move; keep them at four words.
        assert_eq!(size_of::<Str>(), 24);
        assert!(size_of::<Value>() <= 32, "{}", size_of::<Value>());
    }

    #[test]
    fn str_inline_up_to_the_limit_then_shared() {
        let short = "a".repeat(Str::INLINE);
        let long = "é".repeat(Str::INLINE);
        let (s, l) = (Str::new(&short), Str::new(&long));
        assert!(!s.is_shared());
        assert!(l.is_shared());
        assert_eq!(s.as_str(), short);
        assert_eq!(l.clone().as_str(), long);
        assert_eq!(Str::from("ü"), Str::new("ü"));
        assert_ne!(Str::new("a"), Str::new("b"));
        assert_eq!(format!("{:?}", Str::new("x\"")), "\"x\\\"\"");
    }
}
