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

/// Characters of a normalised path that some upstreams read differently from gw's router: an
/// encoded `/` or `\\` that a decoding upstream turns into a separator, `;` that Tomcat, Jetty
/// and Spring strip with what follows, and encoded `;` `%` `?` `#` that decode into those. A
/// path holding any of them is refused unless the listener or route allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct PathChars(u8);

impl PathChars {
    pub const NONE: PathChars = PathChars(0);
    pub const ENCODED_SLASH: PathChars = PathChars(1);
    pub const ENCODED_BACKSLASH: PathChars = PathChars(2);
    pub const ENCODED_SEMICOLON: PathChars = PathChars(4);
    pub const ENCODED_PERCENT: PathChars = PathChars(8);
    pub const ENCODED_QUESTION: PathChars = PathChars(16);
    pub const ENCODED_HASH: PathChars = PathChars(32);
    pub const SEMICOLON: PathChars = PathChars(64);

    /// Each character with the token that names it in a config (`allow_in_path "%2F" ";"`).
    pub const TOKENS: [(PathChars, &'static str); 7] = [
        (PathChars::ENCODED_SLASH, "%2F"),
        (PathChars::ENCODED_BACKSLASH, "%5C"),
        (PathChars::ENCODED_SEMICOLON, "%3B"),
        (PathChars::ENCODED_PERCENT, "%25"),
        (PathChars::ENCODED_QUESTION, "%3F"),
        (PathChars::ENCODED_HASH, "%23"),
        (PathChars::SEMICOLON, ";"),
    ];

    /// The characters of this set found in `path`, which is in normal form
    /// ([`normalize_path`]: escapes in uppercase hex).
    pub fn of(path: &[u8]) -> PathChars {
        let mut found = 0u8;
        let mut i = 0;
        while let Some(&b) = path.get(i) {
            match b {
                b';' => found |= PathChars::SEMICOLON.0,
                b'%' => {
                    found |= match (path.get(i + 1), path.get(i + 2)) {
                        (Some(b'2'), Some(b'F')) => PathChars::ENCODED_SLASH.0,
                        (Some(b'5'), Some(b'C')) => PathChars::ENCODED_BACKSLASH.0,
                        (Some(b'3'), Some(b'B')) => PathChars::ENCODED_SEMICOLON.0,
                        (Some(b'2'), Some(b'5')) => PathChars::ENCODED_PERCENT.0,
                        (Some(b'3'), Some(b'F')) => PathChars::ENCODED_QUESTION.0,
                        (Some(b'2'), Some(b'3')) => PathChars::ENCODED_HASH.0,
                        _ => 0,
                    };
                    i += 2;
                }
                _ => {}
            }
            i += 1;
        }
        PathChars(found)
    }

    /// The character a config token names: `"%2f"` or `"%2F"`, `";"`.
    pub fn from_token(token: &str) -> Option<PathChars> {
        PathChars::TOKENS
            .iter()
            .find(|(_, t)| t.eq_ignore_ascii_case(token))
            .map(|(c, _)| *c)
    }

    pub fn union(self, other: PathChars) -> PathChars {
        PathChars(self.0 | other.0)
    }

    /// What of `self` is not in `allowed`.
    pub fn without(self, allowed: PathChars) -> PathChars {
        PathChars(self.0 & !allowed.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The tokens of the characters in this set, in [`PathChars::TOKENS`] order.
    pub fn tokens(self) -> impl Iterator<Item = &'static str> {
        PathChars::TOKENS
            .into_iter()
            .filter(move |(c, _)| self.0 & c.0 != 0)
            .map(|(_, t)| t)
    }
}

/// Append `s` percent-encoded for a path: unreserved characters, the sub-delimiters other
/// than `;`, `:` and `@` stay; `/` stays only when `segments` (a rest-of-path value whose
/// slashes separate segments); everything else (`%` `?` `#` `;` `\\`, spaces, controls,
/// non-ASCII bytes) becomes `%XX`. A decoded value such as `a/../b` or `x HTTP/1.1\r\n…` can
/// then never become segments or lines gw did not route.
pub fn push_path_encoded(s: &str, segments: bool, out: &mut String) {
    for &b in s.as_bytes() {
        let keep = is_unreserved(b)
            || matches!(
                b,
                b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
            )
            || (segments && b == b'/');
        if keep {
            out.push(char::from(b));
        } else {
            push_escape(b, out);
        }
    }
}

/// Check a path gw is about to write into a request line that it did not normalise itself (a
/// rewritten one): it starts with `/`, holds only visible ASCII and valid escapes (no `%00`),
/// no raw `?` or `#`, and no `.` or `..` segment in any spelling, so it can neither split
/// the request, nor move into its query, nor climb above the prefix the config wrote.
pub fn check_forward_path(path: &[u8]) -> Result<(), ProtoError> {
    if path.first() != Some(&b'/') {
        return Err(bad("rewritten path does not start with /"));
    }
    if !path.iter().all(u8::is_ascii_graphic) {
        return Err(bad("rewritten path holds a space or control character"));
    }
    if path.contains(&b'\\') {
        return Err(bad("backslash in rewritten path"));
    }
    // a `?` would start a query and a `#` is never sent: both would change what is routed
    if path.iter().any(|&b| b == b'?' || b == b'#') {
        return Err(bad("`?` or `#` in rewritten path"));
    }
    for segment in path.split(|&b| b == b'/') {
        let mut dots = 0;
        let mut other = false;
        let mut i = 0;
        while let Some(&b) = segment.get(i) {
            if b == b'%' {
                match escape_at(segment, i)? {
                    0 => return Err(bad("NUL in rewritten path")),
                    b'.' => dots += 1,
                    _ => other = true,
                }
                i += 3;
                continue;
            }
            if b == b'.' {
                dots += 1;
            } else {
                other = true;
            }
            i += 1;
        }
        if !other && (dots == 1 || dots == 2) {
            return Err(bad("dot segment in rewritten path"));
        }
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
