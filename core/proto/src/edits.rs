//! Header edits made by policies (`set`, `append`, `remove`), recorded once and applied while a
//! head is written. The record is reusable: `clear` keeps its capacity.
//!
//! Edits apply in order: `set` and `remove` cancel every earlier edit of the same name, so the
//! record only holds what the last word on each name says. Names are compared ignoring ASCII
//! case. Names must be tokens and values field-values (no CR, LF, NUL...): a policy putting a
//! claim into a header can never inject a line.

use crate::lexical::{is_field_value, is_token};

/// A header edit refused because the name is not a token or the value holds a control
/// character; nothing was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidHeader;

impl std::fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid header name or value")
    }
}

impl std::error::Error for InvalidHeader {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Set,
    Append,
    Remove,
}

#[derive(Debug, Clone, Copy)]
struct Edit {
    kind: Kind,
    name: (usize, usize),
    value: (usize, usize),
}

/// The header edits of one message.
#[derive(Debug, Clone, Default)]
pub struct HeaderEdits {
    bytes: Vec<u8>,
    edits: Vec<Edit>,
}

impl HeaderEdits {
    /// An empty record.
    pub fn new() -> Self {
        HeaderEdits::default()
    }

    /// Forget every edit, keeping the capacity.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.edits.clear();
    }

    /// True when no edit is recorded.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Replace every field named `name` with this one.
    pub fn set(&mut self, name: &[u8], value: &[u8]) -> Result<(), InvalidHeader> {
        self.push(Kind::Set, name, value)
    }

    /// Add a field, keeping those already there.
    pub fn append(&mut self, name: &[u8], value: &[u8]) -> Result<(), InvalidHeader> {
        self.push(Kind::Append, name, value)
    }

    /// Drop every field named `name`.
    pub fn remove(&mut self, name: &[u8]) -> Result<(), InvalidHeader> {
        self.push(Kind::Remove, name, b"")
    }

    /// True when the message's own fields named `name` must not be written (set or removed).
    pub fn drops(&self, name: &[u8]) -> bool {
        self.edits
            .iter()
            .any(|e| e.kind != Kind::Append && self.name_is(e, name))
    }

    /// The value `set` gave `name`, if any.
    pub fn set_value(&self, name: &[u8]) -> Option<&[u8]> {
        self.edits
            .iter()
            .find(|e| e.kind == Kind::Set && self.name_is(e, name))
            .map(|e| self.slice(e.value))
    }

    /// The fields the edits add (set and appended), in order.
    pub fn added(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.edits
            .iter()
            .filter(|e| e.kind != Kind::Remove)
            .map(|e| (self.slice(e.name), self.slice(e.value)))
    }

    fn push(&mut self, kind: Kind, name: &[u8], value: &[u8]) -> Result<(), InvalidHeader> {
        if !is_token(name) || !is_field_value(value) {
            return Err(InvalidHeader);
        }
        if kind != Kind::Append {
            let bytes = &self.bytes;
            self.edits.retain(|e| {
                !bytes
                    .get(e.name.0..e.name.1)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            });
        }
        let name_at = self.bytes.len();
        self.bytes.extend_from_slice(name);
        let value_at = self.bytes.len();
        self.bytes.extend_from_slice(value);
        let end = self.bytes.len();
        self.edits.push(Edit {
            kind,
            name: (name_at, value_at),
            value: (value_at, end),
        });
        Ok(())
    }

    fn slice(&self, (start, end): (usize, usize)) -> &[u8] {
        self.bytes.get(start..end).unwrap_or(&[])
    }

    fn name_is(&self, e: &Edit, name: &[u8]) -> bool {
        self.slice(e.name).eq_ignore_ascii_case(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn added(e: &HeaderEdits) -> Vec<(String, String)> {
        e.added()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into(),
                    String::from_utf8_lossy(v).into(),
                )
            })
            .collect()
    }

    #[test]
    fn last_word_wins() {
        let mut e = HeaderEdits::new();
        e.append(b"X-A", b"1").unwrap();
        e.set(b"x-a", b"2").unwrap();
        e.append(b"X-A", b"3").unwrap();
        e.append(b"X-B", b"b").unwrap();
        e.remove(b"x-b").unwrap();
        e.append(b"X-C", b"c").unwrap();
        assert_eq!(
            added(&e),
            vec![
                ("x-a".into(), "2".into()),
                ("X-A".into(), "3".into()),
                ("X-C".into(), "c".into())
            ]
        );
        assert!(e.drops(b"X-A") && e.drops(b"X-B") && !e.drops(b"x-c") && !e.drops(b"x-d"));
        assert_eq!(e.set_value(b"X-a"), Some(&b"2"[..]));
        assert_eq!(e.set_value(b"X-C"), None);
        e.clear();
        assert!(e.is_empty() && !e.drops(b"x-a"));
    }

    #[test]
    fn injection_is_refused() {
        let mut e = HeaderEdits::new();
        assert_eq!(e.set(b"X-A", b"1\r\nX-Evil: 1"), Err(InvalidHeader));
        assert_eq!(e.set(b"X-A", b"1\n"), Err(InvalidHeader));
        assert_eq!(e.append(b"X-A", b"\0"), Err(InvalidHeader));
        assert_eq!(e.set(b"X A", b"1"), Err(InvalidHeader));
        assert_eq!(e.set(b"X-A:", b"1"), Err(InvalidHeader));
        assert_eq!(e.remove(b""), Err(InvalidHeader));
        assert!(e.is_empty());
        assert_eq!(e.set(b"X-A", b"tab\tand obs-text \xff"), Ok(()));
    }
}
