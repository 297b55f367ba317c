//! Runtime values held in VM registers and program constants.
//!
//! Cloning a [`Value`] never allocates: strings up to [`Str::INLINE`] bytes are stored inline
//! and longer ones are shared behind an `Arc`.

use std::net::IpAddr;
use std::sync::Arc;

/// An immutable string that is cheap to clone.
#[derive(Clone)]
pub enum Str {
    /// Up to [`Str::INLINE`] bytes, stored in place.
    Inline { len: u8, buf: [u8; Str::INLINE] },
    /// Longer strings, shared.
    Shared(Arc<str>),
}

impl Str {
    /// Longest string stored without allocating.
    pub const INLINE: usize = 22;

    /// Copy `s`: in place when it fits, else into one shared allocation.
    pub fn new(s: &str) -> Str {
        if s.len() <= Self::INLINE {
            let mut buf = [0u8; Self::INLINE];
            if let Some(dst) = buf.get_mut(..s.len()) {
                dst.copy_from_slice(s.as_bytes());
            }
            Str::Inline {
                len: s.len() as u8,
                buf,
            }
        } else {
            Str::Shared(Arc::from(s))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            Str::Inline { len, buf } => {
                // Inline bytes always come from a whole `&str` of `len` bytes (see `new`).
                buf.get(..*len as usize)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .unwrap_or("")
            }
            Str::Shared(s) => s,
        }
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Str {}

impl std::hash::Hash for Str {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
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
