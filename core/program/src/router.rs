//! The router: host -> method -> segment trie with per-node precedence.
//! (Placeholder API; the implementation replaces this file.)

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

#[derive(Debug, Clone, Default)]
pub struct Router {}
