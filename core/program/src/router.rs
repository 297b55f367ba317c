//! The router: host -> method -> segment trie with per-node precedence.
//! (API placeholder: the implementation replaces the bodies, keeping the signatures.)

/// One route as the router sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteKey {
    /// Exact host (`api.example.com`), wildcard (`*.example.com`) or `None`.
    pub host: Option<String>,
    /// `GET`, `POST`, ..., or `ANY`.
    pub method: String,
    pub segments: Vec<PatSeg>,
    pub trailing_slash: bool,
    /// The id returned on a match (index into `ConfigImage::routes`).
    pub route: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatSeg {
    Literal(String),
    Param,
    Greedy,
}

/// Result of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'r> {
    Found { route: u32 },
    /// The path matches routes, none for this method: 405 with this `Allow` value.
    MethodNotAllowed { allow: &'r str },
    NotFound,
}

/// Two keys that match the same requests (`RouteKey::route` of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    pub first: u32,
    pub second: u32,
}

#[derive(Debug, Clone, Default)]
pub struct Router {}

impl Router {
    /// Build from every route at once. File order never matters.
    pub fn build(keys: &[RouteKey]) -> Result<Router, Vec<Conflict>> {
        let _ = keys;
        Ok(Router {})
    }

    /// Match a normalised path. `params` is cleared, then receives one byte range into `path`
    /// per parameter of the matched pattern, in pattern order (a greedy one spans the rest).
    pub fn lookup<'r>(
        &'r self,
        host: &str,
        method: &str,
        path: &str,
        params: &mut Vec<(u32, u32)>,
    ) -> Lookup<'r> {
        let _ = (host, method, path);
        params.clear();
        Lookup::NotFound
    }
}
