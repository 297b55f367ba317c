//! The router: one segment trie built from every route at once, with per-node precedence.
//!
//! Which route wins (grammar/README.md#routing): among the routes that match the request's
//! host, method and path, the most specific one, compared in this order:
//! 1. the pattern, segment by segment from the left: literal > `{param}` > `{name+}`; two greedy
//!    patterns that tie there prefer the one with a trailing slash;
//! 2. the method: exact > `GET` serving a `HEAD` request > `ANY`;
//! 3. the host: exact > wildcard (a longer suffix first) > no host.
//!
//! A literal branch that fails deeper backtracks (`/a/b/c` and `/a/{x}/d` both exist: `/a/b/d`
//! finds the param route), and so does a pattern whose routes have none for this method or host.
//!
//! Matching rules:
//! - Paths are normalised by the caller and start with `/`. A trailing slash is significant:
//!   `/pets` and `/pets/` are different routes. `/` is the pattern with no segments.
//! - A literal compares bytes exactly. A `{param}` matches one non-empty segment. A greedy
//!   `{name+}` matches one or more segments (the first non-empty) and captures the rest of the
//!   path, a trailing slash included; `/{name+}/` requires the trailing slash and leaves it out
//!   of the capture. A greedy segment before the last position never matches (the compiler
//!   rejects it, E0402).
//! - Hosts compare ASCII case-insensitively; a `:port` and one trailing dot on the request's host
//!   are ignored. `*.example.com` matches one or more labels before `.example.com`
//!   (`a.example.com`, `a.b.example.com`), not `example.com` itself — as nginx and Envoy do.
//!   A route host of `*` is the same as no host.
//! - Methods compare exactly (they are case-sensitive tokens); `ANY` matches every method.
//!   Route methods are upper-cased at build.
//! - When no route matches but some route matches the host and path, the answer is 405 with the
//!   `Allow` methods of the most specific such pattern (sorted, `HEAD` added beside `GET`).

mod host;
mod literals;
mod method;
mod trie;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_random;

use host::HostTable;
use method::MethodTable;
use trie::{Search, Trie};

/// One route as the router sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteKey {
    /// Exact host (`api.example.com`), wildcard (`*.example.com`) or `None`.
    pub host: Option<String>,
    /// `GET`, `POST`, ..., or `ANY`.
    pub method: String,
    /// The path pattern's segments, left to right.
    pub segments: Vec<PatSeg>,
    /// The pattern ends with `/` (ignored for `/` itself).
    pub trailing_slash: bool,
    /// The id returned on a match (index into `ConfigImage::routes`).
    pub route: u32,
}

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatSeg {
    /// Matches exactly this text.
    Literal(String),
    /// `{name}`: one non-empty segment.
    Param,
    /// `{name+}`: one or more segments, last position only.
    Greedy,
}

/// Result of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'r> {
    /// The route id of the most specific matching route.
    Found { route: u32 },
    /// The path matches routes, none for this method: 405 with this `Allow` value.
    MethodNotAllowed { allow: &'r str },
    /// Nothing matches the host and path.
    NotFound,
}

/// Two keys that match the same requests (`RouteKey::route` of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    /// The key that came first in the slice given to [`Router::build`].
    pub first: u32,
    /// The later key, which could never be selected.
    pub second: u32,
}

/// The compiled route table. Immutable once built; shared by every worker.
#[derive(Debug, Clone, Default)]
pub struct Router {
    trie: Trie,
}

impl Router {
    /// Build from every route at once. File order never matters; two keys with the same host,
    /// method and pattern (parameter names are not part of a key) are reported as conflicts,
    /// all of them, each against the first key with that identity.
    pub fn build(keys: &[RouteKey]) -> Result<Router, Vec<Conflict>> {
        let hosts = HostTable::build(keys.iter().filter_map(|k| k.host.as_deref()));
        let methods = MethodTable::build(keys.iter().map(|k| k.method.as_str()));
        let mut trie = Trie::default();
        let mut conflicts = Vec::new();
        for key in keys {
            let host = hosts.spec(key.host.as_deref());
            let method = methods.spec(&key.method);
            if let Err(first) = trie.insert(key, host, method) {
                conflicts.push(Conflict {
                    first,
                    second: key.route,
                });
            }
        }
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
        trie.finish(hosts, methods);
        Ok(Router { trie })
    }

    /// Match a normalised path. `params` is cleared, then receives one byte range into `path`
    /// per parameter of the matched pattern, in pattern order (a greedy one spans the rest).
    ///
    /// Does not allocate once `params` has room for the longest pattern's parameters.
    pub fn lookup<'r>(
        &'r self,
        host: &str,
        method: &str,
        path: &str,
        params: &mut Vec<(u32, u32)>,
    ) -> Lookup<'r> {
        params.clear();
        let Some(mut search) = Search::new(&self.trie, host, method, path, params) else {
            return Lookup::NotFound;
        };
        if let Some(route) = search.run() {
            return Lookup::Found { route };
        }
        match search.not_allowed().and_then(|i| self.trie.allow(i)) {
            Some(allow) => Lookup::MethodNotAllowed { allow },
            None => Lookup::NotFound,
        }
    }

    /// Number of distinct patterns (trie terminals); for diagnostics and benches.
    pub fn patterns(&self) -> usize {
        self.trie.terminals()
    }
}
