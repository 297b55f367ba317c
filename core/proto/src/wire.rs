//! Writing head lines. Everything appends to the caller's reusable `Vec`; numbers are
//! formatted on the stack, so nothing allocates beyond that Vec growing. Copies of variable
//! length are calls to memcpy, which dominate the writers: they are kept few (fields copied
//! unchanged go out as whole runs of lines, see [`Runs`]).

use crate::Range;

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) for `unix_secs`.
pub fn http_date(unix_secs: i64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    let two = |n: i64| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    let weekday = DAYS
        .get(days.rem_euclid(7) as usize)
        .copied()
        .unwrap_or(b"Thu");
    let month = MONTHS
        .get((m - 1).clamp(0, 11) as usize)
        .copied()
        .unwrap_or(b"Jan");
    let y = y.clamp(0, 9999);
    let fields: [(usize, &[u8]); 8] = [
        (0, weekday),
        (5, &two(d)),
        (8, month),
        (12, &two(y / 100)),
        (14, &two(y % 100)),
        (17, &two(secs / 3600)),
        (20, &two(secs / 60 % 60)),
        (23, &two(secs % 60)),
    ];
    for (at, bytes) in fields {
        if let Some(slot) = out.get_mut(at..at + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
    }
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after Howard Hinnant's
/// `civil_from_days`.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

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
    fn http_dates() {
        assert_eq!(&http_date(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&http_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&http_date(1_796_531_580), b"Sun, 06 Dec 2026 04:33:00 GMT");
        assert_eq!(&http_date(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
    }

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
