//! Writing head lines. Everything appends to the caller's reusable `Vec`; numbers are
//! formatted on the stack, so nothing allocates beyond that Vec growing. Copies of variable
//! length are calls to memcpy, which dominate the writers: they are kept few (fields copied
//! unchanged go out as whole runs of lines, see [`Runs`]).

use crate::Range;

/// Append `name: value\r\n`. The caller vouches for the bytes (parsed or validated fields).
pub fn write_header(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Append `HTTP/1.1 {status} {reason}\r\n`; an empty `reason` takes the standard phrase.
pub fn write_status_line(status: u16, reason: &[u8], out: &mut Vec<u8>) {
    if (100..=999).contains(&status) {
        // The usual three digits: the whole prefix is one fixed-size copy.
        let mut prefix = *b"HTTP/1.1 000 ";
        let [.., hundreds, tens, ones, _] = &mut prefix;
        // Each is a single digit: the casts cannot truncate.
        *hundreds = b'0' + (status / 100) as u8;
        *tens = b'0' + (status / 10 % 10) as u8;
        *ones = b'0' + (status % 10) as u8;
        out.extend_from_slice(&prefix);
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        write_decimal(u64::from(status), out);
        out.push(b' ');
    }
    if reason.is_empty() {
        out.extend_from_slice(canonical_reason(status).as_bytes());
    } else {
        out.extend_from_slice(reason);
    }
    out.extend_from_slice(b"\r\n");
}

/// Append `n` in decimal.
pub(crate) fn write_decimal(n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            // n % 10 < 10: the cast cannot truncate.
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or(&[]));
}

/// Copies header fields to a head being written, fusing consecutive fields that stand in
/// their source buffer exactly as [`write_header`] would write them (`name: value\r\n`, as
/// the parsers' heads do) into one copy per run. A field in any other form (hand-built
/// ranges, other whitespace) is written field by field, so the output is the same either way.
pub(crate) struct Runs<'b> {
    buf: &'b [u8],
    start: usize,
    end: usize,
}

impl<'b> Runs<'b> {
    pub fn new(buf: &'b [u8]) -> Self {
        Runs {
            buf,
            start: 0,
            end: 0,
        }
    }

    /// Write the field with these ranges in `buf` (now, or with the run it extends).
    #[inline]
    pub fn push(&mut self, name: Range, value: Range, out: &mut Vec<u8>) {
        let (b, name_end, value_end) = (self.buf, name.end as usize, value.end as usize);
        let wire = value.start as usize == name_end + 2
            && b.get(name_end) == Some(&b':')
            && b.get(name_end + 1) == Some(&b' ')
            && b.get(value_end) == Some(&b'\r')
            && b.get(value_end + 1) == Some(&b'\n')
            && name.start < name.end;
        if !wire {
            self.flush(out);
            write_header(name.of(b), value.of(b), out);
            return;
        }
        if name.start as usize != self.end {
            self.flush(out);
            self.start = name.start as usize;
        }
        self.end = value_end + 2;
    }

    /// Write the pending run.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        if self.start < self.end {
            out.extend_from_slice(self.buf.get(self.start..self.end).unwrap_or(&[]));
        }
        self.start = 0;
        self.end = 0;
    }
}

/// The standard reason phrase of `status` (RFC 9110 §15), or "" for an unregistered code.
pub fn canonical_reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        for n in [0u64, 7, 10, 99, 100, 12345, u64::MAX] {
            let mut out = Vec::new();
            write_decimal(n, &mut out);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    #[test]
    fn runs_match_field_by_field_writing() {
        let buf = b"HTTP/1.1 200 OK\r\nA: 1\r\nBb: 22\r\nC:  3 \r\nD: 4\r\nE: 5\r\n\r\n";
        let r = |s: usize, e: usize| Range {
            start: s as u32,
            end: e as u32,
        };
        let fields = [
            (r(17, 18), r(20, 21)), // A: 1
            (r(23, 25), r(27, 29)), // Bb: 22
            (r(31, 32), r(35, 36)), // C:  3 (not in wire form)
            (r(39, 40), r(42, 43)), // D: 4
            (r(45, 46), r(48, 49)), // E: 5
            (r(17, 18), r(42, 43)), // A with D's value: hand-built
        ];
        for keep in 0u32..64 {
            let mut runs = Runs::new(buf);
            let (mut got, mut want) = (Vec::new(), Vec::new());
            for (i, (n, v)) in fields.iter().enumerate() {
                if keep & (1 << i) != 0 {
                    runs.push(*n, *v, &mut got);
                    write_header(n.of(buf), v.of(buf), &mut want);
                }
            }
            runs.flush(&mut got);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{keep:b}"
            );
        }
    }

    #[test]
    fn status_lines() {
        for status in [0u16, 7, 99, 100, 200, 404, 999, 1000, u16::MAX] {
            let mut out = Vec::new();
            write_status_line(status, b"R", &mut out);
            assert_eq!(out, format!("HTTP/1.1 {status} R\r\n").into_bytes());
        }
    }

    #[test]
    fn lines() {
        let mut out = Vec::new();
        write_status_line(404, b"", &mut out);
        write_status_line(299, b"", &mut out);
        write_status_line(200, b"Fine", &mut out);
        write_header(b"X-A", b"1", &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\nHTTP/1.1 299 \r\nHTTP/1.1 200 Fine\r\nX-A: 1\r\n"
        );
    }
}
