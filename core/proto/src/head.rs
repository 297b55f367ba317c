//! Finding where a head ends while checking its line structure: the checks httparse leaves to
//! us (it tolerates bare LF line endings) are done here, once, over the whole head.

/// Why a head scan stopped without finding the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// No end within `limit` bytes.
    TooLarge,
    Malformed(&'static str),
}

/// Scan `buf` from `from` (the start of a non-empty first line) for the blank line ending the
/// head, looking at no more than `limit` bytes. `Ok(Some(n))`: the head is `buf[..n]`;
/// `Ok(None)`: more bytes are needed.
///
/// Every LF must follow a CR and every CR must precede an LF (a bare CR or LF is parsed as a
/// line end by some servers and not by others: request smuggling); a line starting with SP or
/// HT (obs-fold) and control characters other than HT are refused.
pub(crate) fn find_head_end(
    buf: &[u8],
    from: usize,
    limit: usize,
) -> Result<Option<usize>, ScanError> {
    let window = buf.get(..limit.min(buf.len())).unwrap_or(buf);
    let mut i = from;
    // One pass: jump from special byte (control or DEL) to special byte a word at a time; a
    // well-formed head has only CR, LF and HT among them, so most words are skipped whole.
    while let Some(at) = next_special(window, i) {
        i = at;
        match window.get(i) {
            Some(b'\r') => {}
            Some(b'\n') => return Err(ScanError::Malformed("bare LF in head")),
            // HT inside a line; one starting a line is caught right after its CRLF below.
            Some(b'\t') => {
                i += 1;
                continue;
            }
            _ => return Err(ScanError::Malformed("control character in head")),
        }
        match window.get(i + 1) {
            None => break,
            Some(b'\n') => i += 2,
            Some(_) => return Err(ScanError::Malformed("bare CR in head")),
        }
        // At the start of a line: CRLF ends the head, SP or HT is obs-fold; anything else is
        // left to the scan (a bare CR, LF or control character there is found by it).
        match (window.get(i), window.get(i + 1)) {
            (None, _) | (Some(b'\r'), None) => break,
            (Some(b'\r'), Some(b'\n')) => return Ok(Some(i + 2)),
            (Some(b'\r'), Some(_)) => return Err(ScanError::Malformed("bare CR in head")),
            (Some(b' ' | b'\t'), _) => {
                return Err(ScanError::Malformed("obsolete line folding"));
            }
            (Some(_), _) => {}
        }
    }
    if buf.len() > limit {
        Err(ScanError::TooLarge)
    } else {
        Ok(None)
    }
}

/// The index of the first control character (HT, CR and LF included) or DEL in `bytes` at or
/// after `from`. Heads are mostly plain bytes (obs-text is plain here): checking a word at a
/// time keeps the scan near memchr speed.
fn next_special(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(word) = bytes.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w);
        // A byte below 0x20 (classic "has less than" test; bytes >= 0x80 are excluded by !x)
        // or equal to 0x7f (a zero byte in x ^ 0x7f..). A borrow can only flag bytes above a
        // true hit, so the lowest flag (the first byte, little-endian) is always a true hit.
        let below = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let y = x ^ (ONES * 0x7f);
        let del = y.wrapping_sub(ONES) & !y & HIGH;
        let hits = below | del;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let tail = bytes.get(i..)?;
    tail.iter()
        .position(|&b| b < 0x20 || b == 0x7f)
        .map(|n| i + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Scan = Result<Option<usize>, ScanError>;

    #[test]
    fn scan_table() {
        use ScanError::*;
        let table: &[(&[u8], Scan)] = &[
            (b"GET / HTTP/1.1\r\n\r\n", Ok(Some(18))),
            (b"GET / HTTP/1.1\r\nA: b\r\n\r\nBODY", Ok(Some(24))),
            (b"GET / HTTP/1.1\r\nA: b\r\n", Ok(None)),
            (b"GET / HTTP/1.1\r\nA: b\r\n\r", Ok(None)),
            (b"GET / HTTP/1.1\r", Ok(None)),
            (b"GET / HTTP/1.1\n\n", Err(Malformed("bare LF in head"))),
            (
                b"GET / HTTP/1.1\r\nA: b\n\r\n",
                Err(Malformed("bare LF in head")),
            ),
            (
                b"GET / HTTP/1.1\r\nA: b\rX: y\r\n\r\n",
                Err(Malformed("bare CR in head")),
            ),
            (
                b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
                Err(Malformed("obsolete line folding")),
            ),
            (
                b"GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n",
                Err(Malformed("obsolete line folding")),
            ),
            (
                b"GET / HTTP/1.1\r\nA: b\0\r\n\r\n",
                Err(Malformed("control character in head")),
            ),
            (
                b"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
                Err(Malformed("control character in head")),
            ),
            (b"GET / HTTP/1.1\r\nA: b\tc\r\n\r\n", Ok(Some(26))),
            (
                b"GET / HTTP/1.1\r\n\x7fA: b\r\n\r\n",
                Err(Malformed("control character in head")),
            ),
            (
                b"GET / HTTP/1.1\r\n\nA: b\r\n\r\n",
                Err(Malformed("bare LF in head")),
            ),
            (
                b"GET / HTTP/1.1\r\n\rA: b\r\n\r\n",
                Err(Malformed("bare CR in head")),
            ),
            (b"GET / HTTP/1.1\r\nA: b\r\n", Ok(None)),
            (b"GET / HTTP/1.1\r\nA: \xe9\xff\tb\r\n\r\n", Ok(Some(27))),
        ];
        for (raw, want) in table {
            assert_eq!(
                find_head_end(raw, 0, 1024),
                *want,
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn specials() {
        assert_eq!(next_special(b"abcdefgh", 0), None);
        assert_eq!(next_special(b"abcdefghijklmnop\r\n", 0), Some(16));
        assert_eq!(next_special(b"abcdefghijklmnop\r\n", 17), Some(17));
        assert_eq!(next_special(b"abc\tefg", 0), Some(3));
        assert_eq!(next_special(b"\xff\x80 ~!zZ0abc", 0), None);
        for bad in (0u8..0x20).chain([0x7f]) {
            for at in 0..16 {
                let mut w = *b"abcdefghabcdefgh";
                w[at] = bad;
                assert_eq!(next_special(&w, 0), Some(at), "{bad:#x} at {at}");
                // A borrow from a lower hit must not hide the first one.
                w[15] = 0;
                assert_eq!(next_special(&w, 0), Some(at), "{bad:#x} at {at} + NUL");
            }
        }
    }

    #[test]
    fn limit_is_enforced_while_partial() {
        let raw = b"GET / HTTP/1.1\r\nA: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        assert_eq!(find_head_end(raw, 0, 20), Err(ScanError::TooLarge));
        assert_eq!(find_head_end(raw, 0, raw.len()), Ok(None));
        let full = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(find_head_end(full, 0, full.len()), Ok(Some(full.len())));
        assert_eq!(
            find_head_end(full, 0, full.len() - 1),
            Err(ScanError::TooLarge)
        );
    }
}
