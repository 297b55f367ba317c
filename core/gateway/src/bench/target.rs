//! What `gw bench` sends and where: an `http://` URL resolved once, and the request bytes
//! every connection writes for it.

use std::net::{SocketAddr, ToSocketAddrs};

/// One target of a run: the URL as given and what it resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub url: String,
    /// `host` or `host:port` as the URL spells it: the Host field.
    pub authority: String,
    /// The request target: path and query, `/` at least.
    pub path: String,
    pub addr: SocketAddr,
}

/// `http://HOST[:PORT][/PATH][?QUERY]`, resolved now (a name that does not resolve is an
/// error before anything is sent; an address nothing listens on is not).
pub(crate) fn parse_url(url: &str) -> Result<Target, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` is not a URL like http://127.0.0.1:8080/path"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "http" => {}
        "https" => {
            return Err(format!(
                "`{url}`: TLS is not supported yet, give an http:// URL"
            ));
        }
        _ => return Err(format!("`{url}`: only http:// URLs are supported")),
    }
    // a fragment is the client's own and never sent
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let at = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(at);
    if authority.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    if authority.contains('@') {
        return Err(format!("`{url}`: credentials in the URL are not supported"));
    }
    let path = match path.chars().next() {
        None => "/".to_owned(),
        Some('?') => format!("/{path}"),
        Some(_) => path.to_owned(),
    };
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "`{url}`: the path has spaces or control characters (percent-encode them)"
        ));
    }
    let (host, port) = split_host_port(authority)
        .ok_or_else(|| format!("`{url}`: `{authority}` is not HOST or HOST:PORT"))?;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("`{url}`: cannot resolve `{host}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{url}`: `{host}` resolves to no address"))?;
    Ok(Target {
        url: url.to_owned(),
        authority: authority.to_owned(),
        path,
        addr,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; the port defaults to 80.
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None => 80,
        Some(p) => p.parse().ok()?,
    };
    Some((host, port))
}

/// Method, extra header fields and body of every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RequestSpec {
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A `-H 'name: value'` field; framing fields are the body's to set.
pub(crate) fn parse_header(h: &str) -> Result<(String, String), String> {
    let (name, value) = h
        .split_once(':')
        .ok_or_else(|| format!("-H `{h}`: want `name: value`"))?;
    let value = value.trim();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("-H `{h}`: `{name}` is not a header name"));
    }
    if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
        return Err(format!("-H `{h}`: the value has control characters"));
    }
    let lower = name.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "content-length" | "transfer-encoding" | "connection"
    ) {
        return Err(format!(
            "-H `{h}`: gw bench sets {name} itself (keep-alive, the length of --body)"
        ));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// A method is a token: `GET`, `POST`, `PURGE`.
pub(crate) fn parse_method(m: &str) -> Result<String, String> {
    if !m.is_empty()
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(m.to_owned())
    } else {
        Err(format!("-X `{m}` is not an HTTP method"))
    }
}

/// The request every connection writes for `target`, head and body together.
pub(crate) fn request_bytes(target: &Target, spec: &RequestSpec) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + spec.body.len());
    out.extend_from_slice(spec.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let given = |n: &str| spec.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !given("host") {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(target.authority.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (k, v) in &spec.headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // a body, or a method whose request is expected to carry one
    if !spec.body.is_empty() || matches!(spec.method.as_str(), "POST" | "PUT" | "PATCH") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", spec.body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&spec.body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_bad_ones_say_why() {
        let t = parse_url("http://127.0.0.1:9000/a/b?c=1#frag").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str(), t.addr.port()),
            ("127.0.0.1:9000", "/a/b?c=1", 9000)
        );
        let t = parse_url("http://127.0.0.1").unwrap();
        assert_eq!((t.path.as_str(), t.addr.port()), ("/", 80));
        assert_eq!(parse_url("http://127.0.0.1?x").unwrap().path, "/?x");
        let t = parse_url("http://[::1]:81/").unwrap();
        assert_eq!((t.authority.as_str(), t.addr.port()), ("[::1]:81", 81));
        let err = |u: &str| parse_url(u).unwrap_err();
        assert!(err("https://127.0.0.1/").contains("TLS is not supported yet"));
        assert!(err("127.0.0.1:80").contains("not a URL"));
        assert!(err("ftp://x/").contains("only http://"));
        assert!(err("http:///x").contains("no host"));
        assert!(err("http://127.0.0.1:99999/").contains("HOST:PORT"));
        assert!(err("http://127.0.0.1:x/").contains("HOST:PORT"));
        assert!(err("http://u:p@127.0.0.1/").contains("credentials"));
        assert!(err("http://127.0.0.1/a b").contains("percent-encode"));
        assert!(err("http://no-such-host.invalid/").contains("cannot resolve"));
    }

    #[test]
    fn the_request_carries_host_headers_and_body_length() {
        let t = parse_url("http://127.0.0.1:9000/p").unwrap();
        let spec = RequestSpec {
            method: "POST".into(),
            headers: vec![parse_header("x-k:  v ").unwrap()],
            body: b"hi".to_vec(),
        };
        assert_eq!(
            request_bytes(&t, &spec),
            b"POST /p HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nx-k: v\r\nContent-Length: 2\r\n\r\nhi"
        );
        let spec = RequestSpec {
            method: "GET".into(),
            headers: vec![parse_header("host: api.example").unwrap()],
            body: Vec::new(),
        };
        assert_eq!(
            request_bytes(&t, &spec),
            b"GET /p HTTP/1.1\r\nhost: api.example\r\n\r\n"
        );
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header("bad name: v").is_err());
        assert!(parse_header("x: a\rb").is_err());
        assert!(parse_header("Content-Length: 3").is_err());
        assert!(parse_method("GET").is_ok());
        assert!(parse_method("GE T").is_err());
    }
}
