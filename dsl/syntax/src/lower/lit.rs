//! Literals: numbers with units, IP addresses, addresses, strings.
//!
//! The grammar lexes a number loosely (`numeric`), so that `1.5.3`, `30sec` or an overflowing
//! integer reach this module and get a precise E0103 instead of a generic parse error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Lower, P};
use crate::ast::{Addr, Lit, LitValue, StrLit, StrPart};
use crate::diag::Diagnostic;
use crate::grammar::Rule;

/// Why a literal is bad: the E0103 label and an optional help line.
#[derive(Debug, PartialEq)]
pub(crate) struct BadLit {
    pub label: String,
    pub help: Option<String>,
}

fn bad(label: impl Into<String>, help: Option<String>) -> BadLit {
    BadLit {
        label: label.into(),
        help,
    }
}

const DURATIONS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("min", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];
const SIZES: &[(&str, u64)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
];
const RATES: &[(&str, u64)] = &[
    ("s", 1_000),
    ("min", 60_000),
    ("h", 3_600_000),
    ("day", 86_400_000),
];

/// Digits with `_` between them, and an optional `.fraction`: (integer part, fraction digits).
fn split_number(text: &str) -> Option<(u128, &str)> {
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let groups_ok = |s: &str| {
        !s.is_empty()
            && s.split('_')
                .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
    };
    if !groups_ok(int) {
        return None;
    }
    let frac = match frac {
        Some(f) if f.bytes().all(|b| b.is_ascii_digit()) && !f.is_empty() => f,
        Some(_) => return None,
        None => "",
    };
    let mut v: u128 = 0;
    for b in int.bytes().filter(|b| b.is_ascii_digit()) {
        v = v.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
    }
    Some((v, frac))
}

/// `int.frac * factor` when that is a whole number that fits in u64.
fn scale(int: u128, frac: &str, factor: u64) -> Result<u64, BadLit> {
    let too_big = || bad("value too large", None);
    let mut total = int.checked_mul(u128::from(factor)).ok_or_else(too_big)?;
    let mut div: u128 = 1;
    let mut num: u128 = 0;
    for b in frac.bytes() {
        div = div.checked_mul(10).ok_or_else(too_big)?;
        num = num * 10 + u128::from(b - b'0');
    }
    let scaled = num.checked_mul(u128::from(factor)).ok_or_else(too_big)?;
    if scaled % div != 0 {
        return Err(bad("not a whole number of the base unit", Some("durations count whole milliseconds, sizes whole bytes and percentages hundredths of a percent".into())));
    }
    total = total.checked_add(scaled / div).ok_or_else(too_big)?;
    u64::try_from(total).map_err(|_| too_big())
}

fn unit_help(unit: &str) -> String {
    let nginx = match unit {
        "k" | "K" => Some(("KiB", "KB")),
        "M" => Some(("MiB", "MB")),
        "g" | "G" => Some(("GiB", "GB")),
        _ => None,
    };
    if let Some((iec, si)) = nginx {
        return format!("write `{iec}` (binary, ×1024) or `{si}` (decimal, ×1000)");
    }
    let lower = unit.to_ascii_lowercase();
    let guess = match lower.as_str() {
        "sec" | "secs" | "second" | "seconds" => Some("s"),
        "mins" | "minute" | "minutes" => Some("min"),
        "hr" | "hrs" | "hour" | "hours" => Some("h"),
        "day" | "days" => Some("d"),
        "msec" | "millis" => Some("ms"),
        _ => SIZES
            .iter()
            .map(|(u, _)| *u)
            .find(|u| u.to_ascii_lowercase() == lower),
    };
    match guess {
        Some(g) => format!("did you mean `{g}`?"),
        None => "units are ms s m min h d (durations) and B KB MB GB KiB MiB GiB (sizes)".into(),
    }
}

/// Value of a `numeric` token: int, duration, size, rate or percent.
pub(crate) fn numeric_value(text: &str) -> Result<LitValue, BadLit> {
    if let Some(num) = text.strip_suffix('%') {
        let (int, frac) = split_number(num).ok_or_else(|| bad("not a number", None))?;
        let bp = scale(int, frac, 100)?;
        return u32::try_from(bp)
            .map(LitValue::Percent)
            .map_err(|_| bad("percentage too large", None));
    }
    if let Some((count, unit)) = text.split_once('/') {
        let (n, frac) = split_number(count)
            .ok_or_else(|| bad("not a rate", Some("write a rate as `100/s`".into())))?;
        if !frac.is_empty() {
            return Err(bad(
                "a rate counts whole requests",
                Some("use a longer period: `30/min` rather than `0.5/s`".into()),
            ));
        }
        let count = u64::try_from(n).map_err(|_| bad("rate too large", None))?;
        return match RATES.iter().find(|(u, _)| *u == unit) {
            Some(&(_, per_ms)) => Ok(LitValue::Rate { count, per_ms }),
            None => Err(bad(
                format!("unknown rate unit `/{unit}`"),
                Some("write `/s`, `/min`, `/h` or `/day`".into()),
            )),
        };
    }
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let Some((int, frac)) = split_number(num) else {
        return Err(bad(
            "not a number",
            Some("numbers are written `42`, `10_000` or with a unit: `1.5s`, `12.5%`".into()),
        ));
    };
    if unit.is_empty() {
        if !frac.is_empty() {
            return Err(bad(
                "a fraction needs a unit",
                Some("there are no floating-point numbers: write `1500ms` or `12.5%`".into()),
            ));
        }
        return i64::try_from(int).map(LitValue::Int).map_err(|_| {
            bad(
                "does not fit in a 64-bit integer",
                Some(format!("the largest integer is {}", i64::MAX)),
            )
        });
    }
    if let Some(&(_, f)) = DURATIONS.iter().find(|(u, _)| *u == unit) {
        return scale(int, frac, f).map(LitValue::Duration);
    }
    if let Some(&(_, f)) = SIZES.iter().find(|(u, _)| *u == unit) {
        return scale(int, frac, f).map(LitValue::Size);
    }
    if unit.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad(format!("unknown unit `{unit}`"), Some(unit_help(unit))));
    }
    Err(bad("not a number", None))
}

/// An IPv4/IPv6 address or CIDR block.
pub(crate) fn ip_value(text: &str) -> Result<LitValue, BadLit> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let ip: IpAddr = if addr.contains(':') {
        addr.parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| bad("not a valid IPv6 address", None))?
    } else {
        addr.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| {
            match addr
                .split('.')
                .find(|o| o.parse::<u32>().is_ok_and(|v| v > 255))
            {
                Some(o) => bad(format!("`{o}` is not an IPv4 octet (0-255)"), None),
                None => bad("not a valid IPv4 address", None),
            }
        })?
    };
    let Some(prefix) = prefix else {
        return Ok(LitValue::Ip(ip));
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match prefix.parse::<u8>() {
        Ok(p) if p <= max => Ok(LitValue::Cidr(ip, p)),
        _ => Err(bad(
            format!("prefix length `/{prefix}` is over {max}"),
            None,
        )),
    }
}

impl Lower<'_> {
    fn bad_literal(&mut self, p: &P<'_>, why: BadLit) -> Lit {
        let span = self.span(p);
        let mut d = Diagnostic::error("E0103", span, format!("bad literal `{}`", p.as_str()))
            .with_label(why.label);
        if let Some(h) = why.help {
            d = d.with_help(h);
        }
        self.error(d);
        Lit {
            value: LitValue::Int(0),
            span,
        }
    }

    /// A literal pair: `num_lit`, `numeric`, `spaced_unit`, `ipv4`, `ipv6` or `bool`.
    pub(crate) fn num_lit(&mut self, p: &P<'_>) -> Lit {
        let span = self.span(p);
        let value = match p.as_rule() {
            Rule::num_lit => {
                return match p.clone().into_inner().next() {
                    Some(inner) => self.num_lit(&inner),
                    None => Lit {
                        value: LitValue::Int(0),
                        span,
                    },
                };
            }
            Rule::spaced_unit => {
                let text = p.as_str();
                let num = text.split([' ', '\t']).next().unwrap_or(text);
                let unit = text.rsplit([' ', '\t']).next().unwrap_or("");
                let why = bad(
                    "a unit must touch its number",
                    Some(format!("write `{num}{unit}`")),
                );
                return self.bad_literal(p, why);
            }
            Rule::bool => Ok(LitValue::Bool(p.as_str() == "true")),
            Rule::ipv4 | Rule::ipv6 => ip_value(p.as_str()),
            _ => numeric_value(p.as_str()),
        };
        match value {
            Ok(value) => Lit { value, span },
            Err(why) => self.bad_literal(p, why),
        }
    }

    /// `:443`, `127.0.0.1:9901`, `[::1]:80`, `archive.internal:8443`.
    pub(crate) fn addr(&mut self, p: &P<'_>) -> Addr {
        let span = self.span(p);
        let text = p.as_str();
        let (host, port) = text.rsplit_once(':').unwrap_or(("", text));
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let mut fail = |label: String| {
            let d =
                Diagnostic::error("E0103", span, format!("bad address `{text}`")).with_label(label);
            self.error(d);
        };
        let port = port.parse::<u16>().unwrap_or_else(|_| {
            fail(format!("port `{port}` is over 65535"));
            0
        });
        let all_ipv4ish = !host.is_empty() && host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if (all_ipv4ish || text.starts_with('['))
            && let Err(why) = ip_value(host)
        {
            fail(why.label);
        }
        Addr {
            host: host.to_string(),
            port,
            span,
        }
    }

    /// Verbatim text (a path argument) as a string literal.
    pub(crate) fn plain_str(&self, p: &P<'_>) -> StrLit {
        StrLit {
            parts: vec![StrPart::Text(p.as_str().to_string())],
            raw: false,
            span: self.span(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_units() {
        assert_eq!(numeric_value("10_000"), Ok(LitValue::Int(10_000)));
        assert_eq!(numeric_value("250ms"), Ok(LitValue::Duration(250)));
        assert_eq!(numeric_value("5m"), Ok(LitValue::Duration(300_000)));
        assert_eq!(numeric_value("5min"), Ok(LitValue::Duration(300_000)));
        assert_eq!(numeric_value("1.5s"), Ok(LitValue::Duration(1_500)));
        assert_eq!(numeric_value("1d"), Ok(LitValue::Duration(86_400_000)));
        assert_eq!(numeric_value("10MiB"), Ok(LitValue::Size(10 << 20)));
        assert_eq!(numeric_value("1KB"), Ok(LitValue::Size(1_000)));
        assert_eq!(numeric_value("512B"), Ok(LitValue::Size(512)));
        assert_eq!(
            numeric_value("100/s"),
            Ok(LitValue::Rate {
                count: 100,
                per_ms: 1_000
            })
        );
        assert_eq!(
            numeric_value("10000/day"),
            Ok(LitValue::Rate {
                count: 10_000,
                per_ms: 86_400_000
            })
        );
        assert_eq!(numeric_value("10%"), Ok(LitValue::Percent(1_000)));
        assert_eq!(numeric_value("12.5%"), Ok(LitValue::Percent(1_250)));
    }

    #[test]
    fn bad_numbers_say_why() {
        let label = |t: &str| numeric_value(t).err().map(|b| b.label);
        assert_eq!(label("1.5.3").as_deref(), Some("not a number"));
        assert_eq!(label("30sec").as_deref(), Some("unknown unit `sec`"));
        assert_eq!(
            label("99999999999999999999").as_deref(),
            Some("does not fit in a 64-bit integer")
        );
        assert_eq!(label("1.5").as_deref(), Some("a fraction needs a unit"));
        assert_eq!(
            label("0.5ms").as_deref(),
            Some("not a whole number of the base unit")
        );
        assert_eq!(label("10/m").as_deref(), Some("unknown rate unit `/m`"));
        assert_eq!(label("1__0").as_deref(), Some("not a number"));
        assert_eq!(
            numeric_value("1M").err().and_then(|b| b.help).as_deref(),
            Some("write `MiB` (binary, ×1024) or `MB` (decimal, ×1000)")
        );
    }

    #[test]
    fn ip_literals() {
        assert_eq!(
            ip_value("10.0.0.1"),
            Ok(LitValue::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))))
        );
        assert_eq!(
            ip_value("10.0.0.0/8"),
            Ok(LitValue::Cidr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8))
        );
        assert_eq!(
            ip_value("::1"),
            Ok(LitValue::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)))
        );
        assert_eq!(
            ip_value("999.1.1.1").err().map(|b| b.label).as_deref(),
            Some("`999` is not an IPv4 octet (0-255)")
        );
        assert!(ip_value("10.0.0.0/33").is_err());
    }
}
