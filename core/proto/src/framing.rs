//! The header fields that decide framing and connection handling, gathered in one pass over a
//! head and shared by the request and response parsers.

use crate::lexical::{eq_lower, list_items, parse_content_length};

/// What the framing-relevant fields of one head said.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FramingFields {
    pub content_length: Option<u64>,
    pub transfer_encoding: bool,
    /// `chunked` was the last coding and appeared once.
    pub chunked_last: bool,
    /// A coding other than `chunked` was listed.
    pub other_coding: bool,
    pub close: bool,
    pub keep_alive: bool,
    pub conn_upgrade: bool,
    /// A Connection field named something beyond `close`, `keep-alive` and `upgrade`.
    pub conn_other: bool,
    pub upgrade_websocket: bool,
    pub expect_continue: bool,
    pub hosts: u32,
    /// Value of the (last) Host field.
    pub host: Option<(usize, usize)>,
}

impl FramingFields {
    /// Account for one header field. `at` is the value's position in the buffer (for Host).
    #[inline]
    pub fn add(&mut self, name: &[u8], value: &[u8], at: usize) -> Result<(), &'static str> {
        // Dispatch on length and first letter first: most fields (Server, Date, Content-Type,
        // Accept...) are none of these and cost a comparison or two.
        let first = name.first().map_or(0, |b| b | 0x20);
        match (name.len(), first) {
            (4, b'h') if eq_lower(name, b"host") => {
                self.hosts += 1;
                self.host = Some((at, at + value.len()));
            }
            (6, b'e') if eq_lower(name, b"expect") => {
                self.expect_continue |= eq_lower(value, b"100-continue");
            }
            (7, b'u') if eq_lower(name, b"upgrade") => {
                self.upgrade_websocket |= list_items(value).any(|p| eq_lower(p, b"websocket"));
            }
            (10, b'c') if eq_lower(name, b"connection") => {
                for item in list_items(value) {
                    match item.len() {
                        0 => {}
                        5 if eq_lower(item, b"close") => self.close = true,
                        10 if eq_lower(item, b"keep-alive") => self.keep_alive = true,
                        7 if eq_lower(item, b"upgrade") => self.conn_upgrade = true,
                        _ => self.conn_other = true,
                    }
                }
            }
            (14, b'c') if eq_lower(name, b"content-length") => {
                // Duplicates are accepted only when identical (RFC 9110 §8.6 allows that much);
                // anything else is ambiguous framing.
                let n = parse_content_length(value).ok_or("invalid Content-Length")?;
                match self.content_length {
                    Some(prev) if prev != n => return Err("conflicting Content-Length fields"),
                    _ => self.content_length = Some(n),
                }
            }
            (17, b't') if eq_lower(name, b"transfer-encoding") => self.add_codings(value)?,
            _ => {}
        }
        Ok(())
    }

    /// Transfer codings accumulate across fields as one list (RFC 9110 §5.3).
    fn add_codings(&mut self, value: &[u8]) -> Result<(), &'static str> {
        for coding in list_items(value) {
            if coding.is_empty() {
                return Err("empty transfer coding");
            }
            if self.chunked_last {
                // Anything after chunked, including a second chunked, is refused (RFC 9112 §6.1).
                return Err("chunked is not the final transfer coding");
            }
            if eq_lower(coding, b"chunked") {
                self.chunked_last = true;
            } else {
                self.other_coding = true;
            }
            self.transfer_encoding = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Result<FramingFields, &'static str> {
        let mut f = FramingFields::default();
        for (n, v) in list {
            f.add(n.as_bytes(), v.as_bytes(), 0)?;
        }
        Ok(f)
    }

    #[test]
    fn codings() {
        let f = fields(&[("Transfer-Encoding", "chunked")]).unwrap();
        assert!(f.transfer_encoding && f.chunked_last && !f.other_coding);
        let f = fields(&[("transfer-encoding", "gzip, CHUNKED")]).unwrap();
        assert!(f.chunked_last && f.other_coding);
        let f = fields(&[
            ("Transfer-Encoding", "gzip"),
            ("Transfer-Encoding", "chunked"),
        ])
        .unwrap();
        assert!(f.chunked_last && f.other_coding);
        let f = fields(&[("Transfer-Encoding", "xchunked")]).unwrap();
        assert!(!f.chunked_last && f.other_coding);
        for bad in [
            &[("Transfer-Encoding", "chunked, identity")][..],
            &[("Transfer-Encoding", "chunked, chunked")],
            &[
                ("Transfer-Encoding", "chunked"),
                ("Transfer-Encoding", "chunked"),
            ],
            &[("Transfer-Encoding", "chunked,")],
            &[("Transfer-Encoding", "")],
        ] {
            assert!(fields(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn content_length_duplicates() {
        let f = fields(&[("Content-Length", "5"), ("content-length", "5")]).unwrap();
        assert_eq!(f.content_length, Some(5));
        assert!(fields(&[("Content-Length", "5"), ("Content-Length", "6")]).is_err());
        assert!(fields(&[("Content-Length", "5, 5")]).is_err());
    }

    #[test]
    fn connection_tokens() {
        let f = fields(&[
            ("Connection", "Keep-Alive, Upgrade"),
            ("Upgrade", "WebSocket"),
        ]);
        let f = f.unwrap();
        assert!(f.keep_alive && f.conn_upgrade && f.upgrade_websocket && !f.close);
        assert!(!f.conn_other);
        let f = fields(&[("Connection", "foo"), ("Connection", "close")]).unwrap();
        assert!(f.close && f.conn_other);
        assert!(!fields(&[("Connection", " , close,")]).unwrap().conn_other);
        let f = fields(&[("Expect", "100-Continue"), ("Host", "a"), ("Host", "b")]).unwrap();
        assert!(f.expect_continue);
        assert_eq!(f.hosts, 2);
    }
}
