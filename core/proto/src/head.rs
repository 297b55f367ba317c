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
    let mut line_start = false;
    while let Some(&b) = window.get(i) {
        if !line_start && let Some(n) = plain_run(window.get(i..).unwrap_or(&[])) {
            i += n;
            continue;
        }
        if b >= 0x20 && b != 0x7f {
            if line_start && b == b' ' {
                return Err(ScanError::Malformed("obsolete line folding"));
            }
            line_start = false;
            i += 1;
            continue;
        }
        match b {
            b'\r' => match window.get(i + 1) {
                None => break,
                Some(b'\n') if line_start => return Ok(Some(i + 2)),
                Some(b'\n') => {
                    line_start = true;
                    i += 2;
                }
                Some(_) => return Err(ScanError::Malformed("bare CR in head")),
            },
            b'\n' => return Err(ScanError::Malformed("bare LF in head")),
            b'\t' if line_start => return Err(ScanError::Malformed("obsolete line folding")),
            b'\t' => {
                line_start = false;
                i += 1;
            }
            _ => return Err(ScanError::Malformed("control character in head")),
        }
    }
    if buf.len() > limit {
        Err(ScanError::TooLarge)
    } else {
        Ok(None)
    }
}

/// The length of the run of 8-byte words at the start of `bytes` that hold no control
/// character and no DEL (obs-text is fine), or `None` if the first word has one or is short.
/// Heads are mostly such bytes: checking a word at a time keeps the scan near memchr speed.
fn plain_run(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut n = 0;
    for word in bytes.chunks_exact(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w);
        // A byte below 0x20 (classic "has less than" test; bytes >= 0x80 are excluded by !x)
        // or equal to 0x7f (a zero byte in x ^ 0x7f..).
        let below = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let y = x ^ (ONES * 0x7f);
        let del = y.wrapping_sub(ONES) & !y & HIGH;
        if below | del != 0 {
            break;
        }
        n += 8;
    }
    if n == 0 { None } else { Some(n) }
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
    fn plain_runs() {
        assert_eq!(plain_run(b"abcdefgh"), Some(8));
        assert_eq!(plain_run(b"abcdefghijklmnop\r\n"), Some(16));
        assert_eq!(plain_run(b"abcdefg"), None);
        assert_eq!(plain_run(b"\xff\x80 ~!zZ0abc"), Some(8));
        for bad in 0u8..0x20 {
            for at in 0..8 {
                let mut w = *b"abcdefgh";
                w[at] = bad;
                assert_eq!(plain_run(&w), None, "{bad:#x} at {at}");
            }
        }
        let mut w = *b"abcdefghabcdefgh";
        w[12] = 0x7f;
        assert_eq!(plain_run(&w), Some(8));
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
