//! RFC 9110 lexical rules shared by the parsers and the writers: tokens, field values, comma
//! lists and case-insensitive names.

/// `tchar` (RFC 9110 §5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// A non-empty run of `tchar`: a method or a field name.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Field-value bytes: VCHAR, obs-text, SP and HT. Everything else (CR, LF, NUL, other controls,
/// DEL) could split or truncate a head somewhere downstream.
pub(crate) fn is_field_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Trim optional whitespace (SP / HT) on both sides.
pub(crate) fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    v.get(start..end).unwrap_or(&[])
}

/// The elements of a comma-separated list, trimmed; empty elements are yielded too so callers
/// that must be strict can see them.
pub(crate) fn list_items(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim_ows)
}

/// True when the comma list `v` holds `token` (case-insensitive).
pub(crate) fn list_contains(v: &[u8], token: &[u8]) -> bool {
    list_items(v).any(|item| item.eq_ignore_ascii_case(token))
}

/// A strict Content-Length value: 1*DIGIT fitting in a u64. No sign, no spaces, no hex, no list.
pub(crate) fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Characters of a Host value / URI authority: reg-name, IP-literal and port
/// (RFC 3986 §3.2.2: unreserved, pct-encoded, sub-delims, `:`, `[`, `]`). No userinfo (`@`).
pub(crate) fn is_authority(v: &[u8]) -> bool {
    v.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
            )
    })
}

/// Byte offset of `part` inside `whole` (`part` must be a sub-slice, as httparse returns).
pub(crate) fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_strict() {
        let table: &[(&[u8], Option<u64>)] = &[
            (b"0", Some(0)),
            (b"42", Some(42)),
            (b"007", Some(7)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"18446744073709551616", None),
            (b"99999999999999999999999", None),
            (b"+5", None),
            (b"-1", None),
            (b" 5", None),
            (b"5 ", None),
            (b"0x10", None),
            (b"5,5", None),
            (b"", None),
        ];
        for (raw, want) in table {
            assert_eq!(
                parse_content_length(raw),
                *want,
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn lists_and_tokens() {
        assert!(list_contains(b"keep-alive, Upgrade", b"upgrade"));
        assert!(!list_contains(b"keep-alive,upgraded", b"upgrade"));
        let items: Vec<&[u8]> = list_items(b" a ,\tb,,c ").collect();
        assert_eq!(items, vec![&b"a"[..], b"b", b"", b"c"]);
        assert!(is_token(b"GET"));
        assert!(!is_token(b"GE T"));
        assert!(!is_token(b""));
        assert!(is_field_value(b"a\tb c\x80"));
        assert!(!is_field_value(b"a\0b"));
        assert!(!is_field_value(b"a\x7fb"));
        assert_eq!(trim_ows(b" \t x y \t"), b"x y");
        assert_eq!(trim_ows(b"   "), b"");
        assert!(is_authority(b"[::1]:8080"));
        assert!(!is_authority(b"user@host"));
        assert!(!is_authority(b"a/b"));
    }
}
