//! gw's log lines on stderr, each stamped with the UTC time to the millisecond
//! (`2026-12-06T02:52:03.123Z gw: …`) and written in one call so lines from several threads
//! never interleave. The runtime and the plugins write through the same function, so a
//! plugin's line (a key set that cannot be fetched) reads like gw's own.

use std::fmt::{self, Write as _};
use std::io::Write as _;

/// Write `args` as one stamped line to stderr.
pub fn line(args: fmt::Arguments<'_>) {
    let mut s = String::with_capacity(160);
    stamp(&mut s);
    s.push_str(" gw: ");
    let _ = s.write_fmt(args);
    s.push('\n');
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

/// Append the current UTC time in RFC 3339 with milliseconds.
pub fn stamp(out: &mut String) {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (y, m, d) = gw_proto::civil_from_days(ms.div_euclid(86_400_000));
    let in_day = ms.rem_euclid(86_400_000);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps_are_rfc3339_utc_with_milliseconds() {
        let mut s = String::new();
        super::stamp(&mut s);
        assert_eq!(s.len(), 24, "{s}");
        let b = s.as_bytes();
        assert_eq!(
            (b[4], b[7], b[10], b[13], b[16], b[19], b[23]),
            (b'-', b'-', b'T', b':', b':', b'.', b'Z')
        );
        assert!(s.starts_with("20"), "{s}");
    }
}
