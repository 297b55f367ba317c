//! JSON pointer (RFC 6901) resolution over a flattened [`Doc`], and conversion of what it
//! finds into a VM [`Value`].

use std::sync::Arc;

use gw_program::{Json, Str, Value};

use super::{Doc, MAX_DEPTH, Node};

impl Doc {
    /// The node `ptr` points at: `""` is the whole document, `/a/0/b~1c` walks members and
    /// array indices (`~1` is `/`, `~0` is `~`). None when any step leads nowhere.
    pub(super) fn resolve(&self, ptr: &str) -> Option<usize> {
        let mut at = 0;
        self.nodes.get(at)?;
        if ptr.is_empty() {
            return Some(at);
        }
        for token in ptr.strip_prefix('/')?.split('/') {
            at = match *self.nodes.get(at)? {
                Node::Obj { len, .. } => self.member(at, len, token)?,
                Node::Arr { len, .. } => self.element(at, len, token)?,
                _ => return None,
            };
        }
        Some(at)
    }

    /// The value of member `token` of the object at `at`. With duplicate keys the last one
    /// wins, as in serde_json (which `validate body` checks with) and `JSON.parse`.
    fn member(&self, at: usize, len: usize, token: &str) -> Option<usize> {
        let mut i = at.checked_add(1)?;
        let mut found = None;
        for _ in 0..len {
            let Node::Str(a, b) = *self.nodes.get(i)? else {
                return None;
            };
            let value = i.checked_add(1)?;
            if token_is(token, self.text.get(a..b)?) {
                found = Some(value);
            }
            i = value.checked_add(self.nodes.get(value)?.size())?;
        }
        found
    }

    /// Element `token` (a canonical decimal index) of the array at `at`.
    fn element(&self, at: usize, len: usize, token: &str) -> Option<usize> {
        let idx = array_index(token)?;
        if idx >= len {
            return None;
        }
        let mut i = at.checked_add(1)?;
        for _ in 0..idx {
            i = i.checked_add(self.nodes.get(i)?.size())?;
        }
        Some(i)
    }

    /// The node at `at` as a register value: strings, i64 integers and booleans natively,
    /// other numbers, objects and arrays as `Value::Json`, null as `Absent`.
    pub(super) fn value(&self, at: usize) -> Value {
        match self.nodes.get(at).copied() {
            Some(Node::Str(a, b)) => self.text.get(a..b).map_or(Value::Absent, Value::str),
            Some(Node::Int(i)) => Value::Int(i),
            Some(Node::Num(n)) => Value::Json(Json::Number(n)),
            Some(Node::Bool(b)) => Value::Bool(b),
            Some(Node::Null) | None => Value::Absent,
            Some(Node::Obj { .. } | Node::Arr { .. }) => {
                self.json(at, 0).map_or(Value::Absent, Value::Json)
            }
        }
    }

    /// The subtree at `at` as a shared `Json` tree.
    fn json(&self, at: usize, depth: usize) -> Option<Json> {
        // the parser already refuses deeper documents; this keeps the recursion bounded
        // whatever the tape says
        if depth > MAX_DEPTH {
            return None;
        }
        Some(match *self.nodes.get(at)? {
            Node::Str(a, b) => Json::String(Str::new(self.text.get(a..b)?)),
            Node::Int(i) => Json::Number(i as f64),
            Node::Num(n) => Json::Number(n),
            Node::Bool(b) => Json::Bool(b),
            Node::Null => Json::Null,
            Node::Arr { len, .. } => {
                let mut items = Vec::with_capacity(len.min(self.nodes.len()));
                let mut i = at.checked_add(1)?;
                for _ in 0..len {
                    items.push(self.json(i, depth + 1)?);
                    i = i.checked_add(self.nodes.get(i)?.size())?;
                }
                Json::Array(Arc::from(items))
            }
            Node::Obj { len, .. } => {
                let mut members = Vec::with_capacity(len.min(self.nodes.len()));
                let mut i = at.checked_add(1)?;
                for _ in 0..len {
                    let Node::Str(a, b) = *self.nodes.get(i)? else {
                        return None;
                    };
                    let value = i.checked_add(1)?;
                    members.push((Str::new(self.text.get(a..b)?), self.json(value, depth + 1)?));
                    i = value.checked_add(self.nodes.get(value)?.size())?;
                }
                Json::Object(Arc::from(members))
            }
        })
    }
}

/// Whether pointer token `token` (still escaped) names `key`. Compares without allocating;
/// a `~` not followed by `0` or `1` matches nothing.
pub(super) fn token_is(token: &str, key: &str) -> bool {
    let mut t = token.bytes();
    let mut k = key.bytes();
    loop {
        match (t.next(), k.next()) {
            (None, None) => return true,
            (Some(b'~'), kb) => {
                let want = match t.next() {
                    Some(b'0') => b'~',
                    Some(b'1') => b'/',
                    _ => return false,
                };
                if kb != Some(want) {
                    return false;
                }
            }
            (Some(tb), Some(kb)) if tb == kb => {}
            _ => return false,
        }
    }
}

/// An RFC 6901 array index: `0` or a decimal without leading zeros. `-` (past the end) and
/// anything else index nothing.
pub(super) fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}
