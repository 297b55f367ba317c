//! Request paths and queries: the one normalisation the router, every policy, the cache key and
//! the upstream request all see, and the decoders for parameter and query values.
//!
//! Decisions:
//! - Percent-escapes of unreserved characters (ALPHA DIGIT `-` `.` `_` `~`) are decoded, every
//!   other escape is kept with uppercase hex (RFC 3986 §6.2.2.1-2).
//! - `.` and `..` segments, also spelt `%2e`/`%2E`, are resolved (RFC 3986 §5.2.4); `..` at the
//!   root stays at the root, as RFC 3986 says (`/../a` is `/a`).
//! - Empty segments collapse (`//x` is `/x`); a trailing slash is kept.
//! - `%2F` stays encoded and is never a segment boundary: routes never see an encoded slash
//!   split a segment, and the upstream receives it as sent.
//! - Refused (400): a path not starting with `/`, `%00`, invalid or truncated escapes, a raw
//!   backslash, bytes outside visible ASCII, and a dot segment carrying parameters (`..;x`),
//!   which some upstreams resolve as `..` after the router has matched.
//! - An empty path (absolute-form target without one) is `/` (RFC 9110 §4.2.3).

use crate::ProtoError;

fn bad(why: &'static str) -> ProtoError {
    ProtoError::BadRequest(why)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte of the escape starting at `raw[i]` (which is `%`).
fn escape_at(raw: &[u8], i: usize) -> Result<u8, ProtoError> {
    let hi = raw.get(i + 1).copied().and_then(hex_digit);
    let lo = raw.get(i + 2).copied().and_then(hex_digit);
    match (hi, lo) {
        (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
        _ => Err(bad("invalid percent-escape")),
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_escape(b: u8, out: &mut String) {
    out.push('%');
    for nibble in [b >> 4, b & 0xf] {
        if let Some(&h) = UPPER_HEX.get(usize::from(nibble)) {
            out.push(char::from(h));
        }
    }
}

/// Normalise a request path (percent-decoding of unreserved characters, `.`/`..` segments,
/// `//`), writing the result to `out` (replacing its content). `%2F` stays encoded and is not a
/// separator. See the module documentation for every rule.
pub fn normalize_path(raw: &[u8], out: &mut String) -> Result<(), ProtoError> {
    if copy_if_normal(raw, out) {
        return Ok(());
    }
    normalize_segments(raw, out)
}

/// Copy `raw` to `out` (replacing its content) when it is already in normal form, so that
/// normalising would copy it unchanged (most paths): it starts with `/`, holds visible ASCII
/// only, and has no escape, no backslash, no empty segment and no segment starting with a dot.
/// One pass that checks and copies; false (with `out` partly written) otherwise.
fn copy_if_normal(raw: &[u8], out: &mut String) -> bool {
    out.clear();
    if raw.first() != Some(&b'/') {
        return false;
    }
    out.reserve(raw.len());
    let mut prev = 0u8;
    for &b in raw {
        let plain = b.is_ascii_graphic() && b != b'%' && b != b'\\';
        if !plain || (prev == b'/' && (b == b'/' || b == b'.')) {
            return false;
        }
        out.push(char::from(b));
        prev = b;
    }
    true
}

/// The general case of [`normalize_path`], segment by segment.
fn normalize_segments(raw: &[u8], out: &mut String) -> Result<(), ProtoError> {
    out.clear();
    if raw.is_empty() {
        out.push('/');
        return Ok(());
    }
    if raw.first() != Some(&b'/') {
        return Err(bad("path does not start with /"));
    }
    let mut segments = raw.split(|&b| b == b'/').skip(1).peekable();
    let mut trailing_slash = false;
    while let Some(segment) = segments.next() {
        let is_last = segments.peek().is_none();
        let mark = out.len();
        out.push('/');
        push_segment(segment, out)?;
        let written = out.get(mark + 1..).unwrap_or("");
        match written {
            "" | "." => {
                out.truncate(mark);
                trailing_slash = is_last;
            }
            ".." => {
                out.truncate(mark);
                let parent = out.rfind('/').unwrap_or(0);
                out.truncate(parent);
                trailing_slash = is_last;
            }
            s if is_dot_with_params(s) => return Err(bad("dot segment with parameters")),
            _ => trailing_slash = false,
        }
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(())
}

/// `.;x` or `..;x`: a dot segment to servers that strip matrix parameters first.
fn is_dot_with_params(segment: &str) -> bool {
    segment.starts_with('.')
        && segment.contains(';')
        && matches!(segment.split(';').next(), Some("." | ".."))
}

/// Append one segment in normal form.
fn push_segment(segment: &[u8], out: &mut String) -> Result<(), ProtoError> {
    let mut i = 0;
    while let Some(&b) = segment.get(i) {
        if b == b'%' {
            let decoded = escape_at(segment, i)?;
            if decoded == 0 {
                return Err(bad("NUL in path"));
            }
            if is_unreserved(decoded) {
                out.push(char::from(decoded));
            } else {
                push_escape(decoded, out);
            }
            i += 3;
            continue;
        }
        if !b.is_ascii_graphic() {
            return Err(bad("invalid character in path"));
        }
        if b == b'\\' {
            return Err(bad("backslash in path"));
        }
        out.push(char::from(b));
        i += 1;
    }
    Ok(())
}

/// Percent-decode a path parameter or other URI component into `out` (replacing its content).
/// `+` is kept as `+`. Refused: invalid escapes, `%00`, and a result that is not UTF-8.
pub fn percent_decode_component(raw: &[u8], out: &mut String) -> Result<(), ProtoError> {
    decode_into(raw, false, out)
}

/// Percent-decode a query name or value into `out` (replacing its content); `+` is a space
/// (application/x-www-form-urlencoded). Same refusals as [`percent_decode_component`].
pub fn percent_decode_query(raw: &[u8], out: &mut String) -> Result<(), ProtoError> {
    decode_into(raw, true, out)
}

fn decode_into(raw: &[u8], plus_is_space: bool, out: &mut String) -> Result<(), ProtoError> {
    // Decode into the String's own buffer and validate once: no allocation once warm.
    let mut bytes = std::mem::take(out).into_bytes();
    bytes.clear();
    let mut i = 0;
    let mut result = Ok(());
    while let Some(&b) = raw.get(i) {
        let decoded = match b {
            b'%' => match escape_at(raw, i) {
                Ok(0) => {
                    result = Err(bad("NUL in URI component"));
                    break;
                }
                Ok(d) => {
                    i += 2;
                    d
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            },
            b'+' if plus_is_space => b' ',
            _ => b,
        };
        bytes.push(decoded);
        i += 1;
    }
    if result.is_err() {
        bytes.clear();
    }
    match String::from_utf8(bytes) {
        Ok(s) => {
            *out = s;
            result
        }
        Err(e) => {
            let mut bytes = e.into_bytes();
            bytes.clear();
            // Empty bytes are valid UTF-8: this only hands the capacity back.
            *out = String::from_utf8(bytes).unwrap_or_default();
            Err(bad("URI component is not UTF-8"))
        }
    }
}

/// Raw `(name, value)` pairs of a query string (`a=1&b&c=`), not decoded, without allocating.
/// Empty pairs (`&&`) are skipped; a pair without `=` has an empty value.
pub fn query_pairs(q: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    q.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (
                pair.get(..eq).unwrap_or(&[]),
                pair.get(eq + 1..).unwrap_or(&[]),
            ),
            None => (pair, &[][..]),
        })
}

#[cfg(test)]
mod tests;
