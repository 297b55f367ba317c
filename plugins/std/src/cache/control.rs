//! What an upstream response's `Cache-Control` lets a shared cache do (RFC 9111 §5.2.2).

/// How long a response may be kept, or why it may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Keep it for at most this many seconds (`s-maxage`, else `max-age`); `None`: no
    /// lifetime given, the cache's `ttl` applies.
    Keep(Option<u64>),
    /// Do not keep it, and why (for the tests and the docs).
    Refuse(&'static str),
}

/// `value`: every `Cache-Control` field of the response joined by `,` (`None`: no field).
/// `no-store`, `private` and `no-cache` refuse (gw does not revalidate); a `max-age` or
/// `s-maxage` whose value is not a whole number of seconds refuses (it cannot be honoured);
/// `s-maxage` wins over `max-age`; 0 refuses; other directives are ignored.
pub(crate) fn freshness(value: Option<&[u8]>) -> Freshness {
    let Some(value) = value else {
        return Freshness::Keep(None);
    };
    let Ok(text) = std::str::from_utf8(value) else {
        return Freshness::Refuse("malformed");
    };
    let (mut max_age, mut s_maxage) = (None, None);
    for directive in text.split(',') {
        let directive = directive.trim();
        if directive.is_empty() {
            continue;
        }
        let (name, arg) = match directive.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
            None => (directive, None),
        };
        let seconds = || {
            arg.filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
                // RFC 9111 §1.2.2: a delta too large for the cache is the largest it holds
                .map(|a| a.parse::<u64>().unwrap_or(u64::MAX))
        };
        if name.eq_ignore_ascii_case("no-store") {
            return Freshness::Refuse("no-store");
        } else if name.eq_ignore_ascii_case("private") {
            return Freshness::Refuse("private");
        } else if name.eq_ignore_ascii_case("no-cache") {
            return Freshness::Refuse("no-cache");
        } else if name.eq_ignore_ascii_case("max-age") {
            match seconds() {
                Some(s) => max_age = Some(s),
                None => return Freshness::Refuse("malformed max-age"),
            }
        } else if name.eq_ignore_ascii_case("s-maxage") {
            match seconds() {
                Some(s) => s_maxage = Some(s),
                None => return Freshness::Refuse("malformed s-maxage"),
            }
        }
    }
    match s_maxage.or(max_age) {
        Some(0) => Freshness::Refuse("max-age=0"),
        other => Freshness::Keep(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_decide_whether_and_how_long() {
        let f = |v: &str| freshness(Some(v.as_bytes()));
        assert_eq!(freshness(None), Freshness::Keep(None));
        assert_eq!(f("public, max-age=30"), Freshness::Keep(Some(30)));
        assert_eq!(f("max-age=30, s-maxage=5"), Freshness::Keep(Some(5)));
        assert_eq!(f("MAX-AGE=\"12\""), Freshness::Keep(Some(12)));
        assert_eq!(f("no-store"), Freshness::Refuse("no-store"));
        assert_eq!(f("public, Private"), Freshness::Refuse("private"));
        assert_eq!(f("private=\"set-cookie\""), Freshness::Refuse("private"));
        assert_eq!(f("no-cache"), Freshness::Refuse("no-cache"));
        assert_eq!(f("max-age=0"), Freshness::Refuse("max-age=0"));
        assert_eq!(f("must-revalidate, foo=bar,,"), Freshness::Keep(None));
        assert_eq!(
            f("max-age=99999999999999999999999"),
            Freshness::Keep(Some(u64::MAX))
        );
    }

    #[test]
    fn malformed_lifetimes_refuse() {
        for v in [
            "max-age",
            "max-age=",
            "max-age=-1",
            "max-age=1.5",
            "max-age=abc",
            "s-maxage=1s",
        ] {
            assert!(
                matches!(freshness(Some(v.as_bytes())), Freshness::Refuse(_)),
                "{v}"
            );
        }
        assert_eq!(
            freshness(Some(b"max-age=\xff")),
            Freshness::Refuse("malformed")
        );
    }
}
