//! RFC 9110 lexical rules shared by the parsers and the writers: tokens, field values, comma
//! lists and case-insensitive names.

/// A 256-entry membership table: one load per byte instead of a chain of comparisons.
const fn byte_table(set: &[u8], alnum: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut rest: &mut [bool] = &mut t;
    let mut c: u8 = 0;
    while let Some((slot, tail)) = rest.split_first_mut() {
        *slot = (alnum && c.is_ascii_alphanumeric()) || contains(set, c);
        rest = tail;
        c = c.wrapping_add(1);
    }
    t
}

const fn contains(set: &[u8], c: u8) -> bool {
    let mut s = set;
    while let [first, tail @ ..] = s {
        if *first == c {
            return true;
        }
        s = tail;
    }
    false
}

static TCHAR: [bool; 256] = byte_table(b"!#$%&'*+-.^_`|~", true);

/// Host / authority characters: unreserved, pct-encoded, sub-delims, `:`, `[`, `]`.
static AUTHORITY: [bool; 256] = byte_table(b"-._~%!$&'()*+,;=:[]", true);

/// `tchar` (RFC 9110 §5.6.2).
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR.get(usize::from(b)).copied().unwrap_or(false)
}

/// A non-empty run of `tchar`: a method or a field name.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().fold(true, |ok, &b| ok & is_tchar(b))
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
    // No early exit: a branch-free fold unrolls well, and a refused Host is rare.
    v.iter().fold(true, |ok, &b| {
        ok & AUTHORITY.get(usize::from(b)).copied().unwrap_or(false)
    })
}

/// Byte offset of `part` inside `whole` (`part` must be a sub-slice, as httparse returns).
pub(crate) fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize)
}

/// `s` equals `lower` ignoring ASCII case, where `lower` is lowercase; `N` is known at compile
/// time, so this is a few word operations rather than a byte loop with early exits.
#[inline]
pub(crate) fn eq_lower<const N: usize>(s: &[u8], lower: &[u8; N]) -> bool {
    let Some(s) = s.first_chunk::<N>().filter(|_| s.len() == N) else {
        return false;
    };
    let diff = s.iter().zip(lower).fold(0u8, |d, (&a, &l)| {
        // Setting bit 5 lowercases a letter; only letter positions of `lower` get it, so no
        // other byte can be folded onto a match.
        let fold = if l.is_ascii_lowercase() { 0x20 } else { 0 };
        d | ((a | fold) ^ l)
    });
    diff == 0
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
        assert!(!is_authority(b"a b") && !is_authority(b"\xe9"));
    }

    #[test]
    fn tables_match_the_definitions() {
        let tchar_set = b"!#$%&'*+-.^_`|~";
        let authority_set = b"-._~%!$&'()*+,;=:[]";
        for b in 0..=255u8 {
            assert_eq!(
                is_tchar(b),
                b.is_ascii_alphanumeric() || tchar_set.contains(&b),
                "{b:#x}"
            );
            assert_eq!(
                is_authority(&[b]),
                b.is_ascii_alphanumeric() || authority_set.contains(&b),
                "{b:#x}"
            );
        }
    }

    #[test]
    fn eq_lower_folds_letters_only() {
        assert!(eq_lower(b"Content-Length", b"content-length"));
        assert!(eq_lower(b"CONTENT-LENGTH", b"content-length"));
        assert!(!eq_lower(b"content\rlength", b"content-length"));
        assert!(!eq_lower(b"content-lengt", b"content-length"));
        assert!(!eq_lower(b"content-lengthx", b"content-length"));
        assert!(!eq_lower(b"100-continuE\x00", b"100-continue"));
        assert!(eq_lower(b"100-CONTINUE", b"100-continue"));
        // '0' | 0x20 is '0' but 0x10 | 0x20 is 0x30: digits must not fold.
        assert!(!eq_lower(b"\x10", b"0"));
        for b in 0..=255u8 {
            assert_eq!(eq_lower(&[b], b"k"), b == b'k' || b == b'K', "{b:#x}");
        }
    }
}
