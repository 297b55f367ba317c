//! The URL of a service a policy calls itself (a JWKS URL, an authorizer): `http://` or
//! `https://`, `host[:port]` with the scheme's port by default, a path and query; no
//! credentials. The host is resolved when the config loads, on the control thread, never on
//! a worker.

use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed and resolved service URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceUrl {
    pub addr: SocketAddr,
    /// The Host field: the URL's authority (`host[:port]`).
    pub host: String,
    /// Path and query, `/` when the URL has none.
    pub target: String,
    /// `https://`: the call goes over TLS.
    pub tls: bool,
}

impl ServiceUrl {
    /// Parse `url` and resolve its host.
    pub(crate) fn resolve(url: &str) -> Result<ServiceUrl, String> {
        let (rest, tls, port) = if let Some(r) = url.strip_prefix("https://") {
            (r, true, 443)
        } else if let Some(r) = url.strip_prefix("http://") {
            (r, false, 80)
        } else {
            return Err(format!("`{url}` is not an http:// or https:// URL"));
        };
        let (authority, target) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("`{url}` has no host, or credentials in it"));
        }
        let has_port = !authority.ends_with(']')
            && authority
                .rsplit_once(':')
                .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let with_port = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:{port}")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("`{url}`: cannot resolve {authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("`{url}`: {authority} has no address"))?;
        Ok(ServiceUrl {
            addr,
            host: authority.to_owned(),
            target: target.to_owned(),
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_with_their_scheme_port() {
        let u = ServiceUrl::resolve("http://127.0.0.1:8000/authorize?v=1").unwrap();
        assert_eq!(u.addr, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(
            (u.host.as_str(), u.target.as_str(), u.tls),
            ("127.0.0.1:8000", "/authorize?v=1", false)
        );
        let u = ServiceUrl::resolve("http://[::1]").unwrap();
        assert_eq!((u.addr.port(), u.target.as_str()), (80, "/"));
        let u = ServiceUrl::resolve("https://127.0.0.1/.well-known/jwks.json").unwrap();
        assert_eq!(
            (u.addr.port(), u.host.as_str(), u.tls),
            (443, "127.0.0.1", true)
        );
        let u = ServiceUrl::resolve("https://[::1]:8443").unwrap();
        assert_eq!((u.addr.port(), u.host.as_str()), (8443, "[::1]:8443"));
        assert!(ServiceUrl::resolve("ftp://127.0.0.1/").is_err());
        assert!(ServiceUrl::resolve("http://user@127.0.0.1/").is_err());
        assert!(ServiceUrl::resolve("https:///x").is_err());
    }
}
