//! E0101 for what other gateways' configs teach: a URL where gw wants `host:port`
//! (`server http://10.0.0.1:9000/`, nginx's `proxy_pass`, Kong's `url`), a bare port where gw
//! wants an address (`listen 8080`), and single-quoted strings. pest only sees an unexpected
//! `:` or `'` there; these say what to write instead.

use crate::diag::Diagnostic;
use crate::prescan::to_u32;
use crate::span::{FileId, Span};

/// A diagnostic that replaces pest's "expected …, found …" at `at`, if one fits.
pub(crate) fn explain(text: &str, at: usize, file: FileId) -> Option<Diagnostic> {
    url(text, at, file).or_else(|| single_quoted(text, at, file))
}

/// Help for a bare port where an address is expected: `listen 8080` -> `:8080`.
pub(crate) fn bare_port(text: &str, at: usize) -> Option<String> {
    let rest = text.get(at..)?;
    let len = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let digits = rest.get(..len)?;
    let after = rest.get(len..)?.chars().next();
    let ends = after.is_none_or(|c| c.is_whitespace() || c == ';' || c == '#' || c == '{');
    (ends && digits.parse::<u16>().is_ok()).then(|| format!("did you mean `:{digits}`?"))
}

/// The first word of the line holding `at`.
fn line_keyword(text: &str, at: usize) -> &str {
    let start = text
        .get(..at)
        .and_then(|s| s.rfind('\n'))
        .map_or(0, |p| p + 1);
    let line = text.get(start..at).unwrap_or("").trim_start();
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(line.len());
    line.get(..end).unwrap_or("")
}

/// `http://…` or `https://…` written bare; pest fails at the `:` after the scheme (or at the
/// scheme, where an address is all that may come).
fn url(text: &str, at: usize, file: FileId) -> Option<Diagnostic> {
    let start = ["https", "http"].iter().find_map(|scheme| {
        let before = at.checked_sub(scheme.len())?;
        let word_start = text
            .get(..before)
            .and_then(|s| s.chars().next_back())
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        let prefixed = word_start
            && text.get(before..at) == Some(*scheme)
            && text.get(at..).is_some_and(|r| r.starts_with("://"));
        let here = text
            .get(at..)
            .is_some_and(|r| r.starts_with(&format!("{scheme}://")));
        if prefixed {
            Some(before)
        } else if here {
            Some(at)
        } else {
            None
        }
    })?;
    let rest = text.get(start..)?;
    let len = rest
        .find(|c: char| c.is_whitespace() || c == ';')
        .unwrap_or(rest.len());
    let written = rest.get(..len)?;
    let (scheme, after) = written.split_once("://")?;
    let tls = scheme == "https";
    let auth_len = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, path) = after.split_at(auth_len);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':')
    }) && !authority.ends_with(']');
    let host_port = if has_port || authority.is_empty() {
        authority.to_string()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    };
    let span = Span::new(file, to_u32(start), to_u32(start + len));
    let keyword = line_keyword(text, start);
    let mut d = match keyword {
        "server" => {
            let fix = if tls {
                format!(
                    "write `{host_port} tls`: a server is host:port, and `tls` speaks TLS to it"
                )
            } else {
                format!("write `{host_port}`: a server is host:port")
            };
            Diagnostic::error("E0101", span, "a server is an address, not a URL")
                .with_label("a URL")
                .with_help(fix)
        }
        "listen" | "admin" => {
            let port = host_port.rsplit_once(':').map_or("", |(_, p)| p);
            let mut d = Diagnostic::error(
                "E0101",
                span,
                format!("`{keyword}` takes an address, not a URL"),
            )
            .with_label("a URL")
            .with_help(format!("write `:{port}` or `127.0.0.1:{port}`"));
            if tls && keyword == "listen" {
                d = d.with_note("TLS is `listen :443 tls { cert \"…\"  key \"…\" }`");
            }
            return Some(d);
        }
        _ => Diagnostic::error("E0101", span, "a URL is a string")
            .with_label("not quoted")
            .with_help(format!("write `\"{written}\"`")),
    };
    if keyword == "server" && !path.is_empty() && path != "/" {
        d = d.with_note(format!(
            "a server has no path: to send `{path}` upstream, use `rewrite path \"{}/{{…}}\"` in the route",
            path.trim_end_matches('/')
        ));
    }
    Some(d)
}

/// `'text'`: gw strings are double-quoted.
fn single_quoted(text: &str, at: usize, file: FileId) -> Option<Diagnostic> {
    let rest = text.get(at..)?;
    let inner = rest.strip_prefix('\'')?;
    let line = inner.split(['\n', '\r']).next().unwrap_or("");
    let d = match line.find('\'') {
        Some(end) => {
            let body = line.get(..end).unwrap_or("");
            let span = Span::new(file, to_u32(at), to_u32(at + end + 2));
            let escaped = body
                .replace('"', "\\\"")
                .replace('{', "{{")
                .replace('}', "}}");
            Diagnostic::error("E0101", span, "strings use double quotes")
                .with_label("single-quoted")
                .with_help(format!("write `\"{escaped}\"`"))
        }
        None => Diagnostic::error(
            "E0101",
            Span::new(file, to_u32(at), to_u32(at + 1)),
            "strings use double quotes",
        )
        .with_label("`'` does not start a string")
        .with_help("write `\"…\"`"),
    };
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_ports_only() {
        assert_eq!(
            bare_port("listen 8080\n", 7).as_deref(),
            Some("did you mean `:8080`?")
        );
        assert_eq!(
            bare_port("listen 8080 {", 7).as_deref(),
            Some("did you mean `:8080`?")
        );
        assert_eq!(bare_port("listen 99999\n", 7), None);
        assert_eq!(bare_port("listen 80a\n", 7), None);
        assert_eq!(bare_port("listen x\n", 7), None);
    }

    #[test]
    fn urls_name_their_host_and_port() {
        let f = FileId(0);
        let help = |src: &str, at: usize| url(src, at, f).map(|d| (d.help, d.notes));
        let (h, n) = help("  server http://127.0.0.1:9000/\n", 13).unwrap();
        assert_eq!(h, ["write `127.0.0.1:9000`: a server is host:port"]);
        assert!(n.is_empty());
        let (h, n) = help("  server https://api.internal/v1/\n", 14).unwrap();
        assert_eq!(
            h,
            ["write `api.internal:443 tls`: a server is host:port, and `tls` speaks TLS to it"]
        );
        assert_eq!(
            n,
            [
                "a server has no path: to send `/v1/` upstream, use `rewrite path \"/v1/{…}\"` in the route"
            ]
        );
        let (h, _) = help("  server http://[::1]\n", 13).unwrap();
        assert_eq!(h, ["write `[::1]:80`: a server is host:port"]);
        let (h, _) = help("listen http://0.0.0.0:8080\n", 7).unwrap();
        assert_eq!(h, ["write `:8080` or `127.0.0.1:8080`"]);
        let (h, _) = help("  jwks https://a/jwks.json\n", 12).unwrap();
        assert_eq!(h, ["write `\"https://a/jwks.json\"`"]);
        assert!(url("  server http\n", 13, f).is_none());
    }

    #[test]
    fn single_quotes_become_double() {
        let d = single_quoted("x = 'a\"{b}'\n", 4, FileId(0)).unwrap();
        assert_eq!(d.help, ["write `\"a\\\"{{b}}\"`"]);
        assert_eq!((d.span.start, d.span.end), (4, 11));
        let d = single_quoted("x = 'abc\n", 4, FileId(0)).unwrap();
        assert_eq!((d.span.start, d.span.end), (4, 5));
        assert!(single_quoted("x = \"a\"", 4, FileId(0)).is_none());
    }
}
