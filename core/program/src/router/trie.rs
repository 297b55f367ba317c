//! The segment trie and its depth-first search in precedence order.
//!
//! A node at depth `d` is always matched against the path's segment `d`, so one lookup visits
//! each node at most once: backtracking is bounded by the trie's size.

use std::collections::{BTreeSet, HashMap};

use super::host::{HostSpec, HostTable};
use super::literals::Literals;
use super::method::{MethodSpec, MethodTable, ReqMethod};
use super::{PatSeg, RouteKey};

/// One route at a pattern's end.
#[derive(Debug, Clone)]
struct Entry {
    method: MethodSpec,
    host: HostSpec,
    route: u32,
}

/// The routes sharing one pattern, and the `Allow` values of a 405 on it.
#[derive(Debug, Clone, Default)]
struct Terminal {
    entries: Vec<Entry>,
    /// `Allow` for the default host class, as an index into `Trie::allows`.
    allow_default: Option<u32>,
    /// `(class, allow)` for the host classes that see other entries, sorted by class.
    allow_by_class: Vec<(u32, Option<u32>)>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    literals: Literals,
    param: Option<u32>,
    /// Terminal of `.../{p+}` and of `.../{p+}/`.
    greedy: Option<u32>,
    greedy_slash: Option<u32>,
    /// Terminal of the pattern ending here, without and with a trailing slash.
    end: Option<u32>,
    end_slash: Option<u32>,
}

/// Nodes and terminals in arenas; node 0 is the root.
#[derive(Debug, Clone)]
pub(super) struct Trie {
    nodes: Vec<Node>,
    terminals: Vec<Terminal>,
    allows: Vec<Box<str>>,
    hosts: HostTable,
    methods: MethodTable,
}

impl Default for Trie {
    fn default() -> Self {
        Trie {
            nodes: vec![Node::default()],
            terminals: Vec::new(),
            allows: Vec::new(),
            hosts: HostTable::default(),
            methods: MethodTable::default(),
        }
    }
}

fn next_id<T>(arena: &[T]) -> u32 {
    // A route table never approaches 4 billion nodes; saturating keeps this total.
    u32::try_from(arena.len()).unwrap_or(u32::MAX)
}

impl Trie {
    /// Add a key. `Err(first)` when a key with the same host, method and pattern exists.
    /// A key with a greedy segment before the last position is skipped (it cannot match).
    pub(super) fn insert(
        &mut self,
        key: &RouteKey,
        host: HostSpec,
        method: MethodSpec,
    ) -> Result<(), u32> {
        let Some(t) = self
            .terminal_slot(key)
            .and_then(|id| self.terminals.get_mut(usize::try_from(id).ok()?))
        else {
            return Ok(());
        };
        if let Some(e) = t
            .entries
            .iter()
            .find(|e| e.host == host && e.method == method)
        {
            return Err(e.route);
        }
        t.entries.push(Entry {
            method,
            host,
            route: key.route,
        });
        Ok(())
    }

    /// Walk (creating) the nodes of `key`'s pattern; the terminal id, or `None` when the
    /// pattern cannot match (a greedy segment before the end).
    fn terminal_slot(&mut self, key: &RouteKey) -> Option<u32> {
        let mut node = 0u32;
        let last = key.segments.len().checked_sub(1);
        for (i, seg) in key.segments.iter().enumerate() {
            match seg {
                PatSeg::Literal(text) => {
                    let fresh = next_id(&self.nodes);
                    let n = self.node_mut(node)?;
                    node = n.literals.get_or_insert(text, fresh);
                    if node == fresh {
                        self.nodes.push(Node::default());
                    }
                }
                PatSeg::Param => {
                    let fresh = next_id(&self.nodes);
                    let n = self.node_mut(node)?;
                    node = *n.param.get_or_insert(fresh);
                    if node == fresh {
                        self.nodes.push(Node::default());
                    }
                }
                PatSeg::Greedy => {
                    if Some(i) != last {
                        return None;
                    }
                    let fresh = next_id(&self.terminals);
                    let n = self.node_mut(node)?;
                    let slot = if key.trailing_slash {
                        &mut n.greedy_slash
                    } else {
                        &mut n.greedy
                    };
                    let taken = slot_take(slot, fresh);
                    return Some(self.terminal_in(taken));
                }
            }
        }
        let fresh = next_id(&self.terminals);
        let slash = key.trailing_slash && !key.segments.is_empty();
        let n = self.node_mut(node)?;
        let slot = if slash { &mut n.end_slash } else { &mut n.end };
        let taken = slot_take(slot, fresh);
        Some(self.terminal_in(taken))
    }

    /// `(id, created)` from `slot_take`: push a terminal when the slot was empty.
    fn terminal_in(&mut self, (id, created): (u32, bool)) -> u32 {
        if created {
            self.terminals.push(Terminal::default());
        }
        id
    }

    fn node_mut(&mut self, id: u32) -> Option<&mut Node> {
        self.nodes.get_mut(usize::try_from(id).ok()?)
    }

    /// Precompute the `Allow` values; keep the host and method tables for lookups.
    pub(super) fn finish(&mut self, hosts: HostTable, methods: MethodTable) {
        let mut interned: HashMap<String, u32> = HashMap::new();
        let default_class = hosts.default_class();
        for t in &mut self.terminals {
            let mut classes = BTreeSet::new();
            for e in &t.entries {
                classes.extend(hosts.classes_of(e.host));
            }
            let mut intern = |allow: Option<String>| {
                let allow = allow?;
                let next = next_id(&self.allows);
                let id = *interned.entry(allow.clone()).or_insert(next);
                if id == next {
                    self.allows.push(allow.into_boxed_str());
                }
                Some(id)
            };
            t.allow_default = intern(allow_of(&t.entries, default_class, &hosts, &methods));
            t.allow_by_class = classes
                .into_iter()
                .map(|c| (c, intern(allow_of(&t.entries, c, &hosts, &methods))))
                .collect();
        }
        self.hosts = hosts;
        self.methods = methods;
    }

    pub(super) fn allow(&self, id: u32) -> Option<&str> {
        self.allows
            .get(usize::try_from(id).ok()?)
            .map(AsRef::as_ref)
    }

    pub(super) fn terminals(&self) -> usize {
        self.terminals.len()
    }

    fn node(&self, id: u32) -> Option<&Node> {
        self.nodes.get(usize::try_from(id).ok()?)
    }

    fn terminal(&self, id: u32) -> Option<&Terminal> {
        self.terminals.get(usize::try_from(id).ok()?)
    }
}

/// The slot's terminal id, filling an empty slot with `fresh`; whether it was filled.
fn slot_take(slot: &mut Option<u32>, fresh: u32) -> (u32, bool) {
    match *slot {
        Some(id) => (id, false),
        None => {
            *slot = Some(fresh);
            (fresh, true)
        }
    }
}

/// The `Allow` value of a 405 for hosts of `class` on a pattern, or `None` when no route of the
/// pattern applies to that host (or an `ANY` one does, so no 405 can happen there).
fn allow_of(
    entries: &[Entry],
    class: u32,
    hosts: &HostTable,
    methods: &MethodTable,
) -> Option<String> {
    let mut names = BTreeSet::new();
    for e in entries
        .iter()
        .filter(|e| hosts.rank(e.host, class).is_some())
    {
        match e.method {
            MethodSpec::Any => return None,
            MethodSpec::Exact(id) => {
                let name = methods.name(id)?;
                if name == "GET" {
                    names.insert("HEAD");
                }
                names.insert(name);
            }
        }
    }
    if names.is_empty() {
        return None;
    }
    Some(names.into_iter().collect::<Vec<_>>().join(", "))
}

/// One lookup: the path split on the fly, the request's host class and method.
pub(super) struct Search<'a> {
    trie: &'a Trie,
    path: &'a str,
    /// End of the last segment: the path's length, minus a trailing slash.
    body_end: usize,
    slash: bool,
    class: u32,
    method: ReqMethod,
    params: &'a mut Vec<(u32, u32)>,
    /// The first (most specific) terminal that matched host and path but not the method.
    not_allowed: Option<u32>,
}

impl<'a> Search<'a> {
    /// `None` when `path` is not an origin-form path (or longer than u32 offsets reach).
    pub(super) fn new(
        trie: &'a Trie,
        host: &str,
        method: &str,
        path: &'a str,
        params: &'a mut Vec<(u32, u32)>,
    ) -> Option<Search<'a>> {
        if !path.starts_with('/') || u32::try_from(path.len()).is_err() {
            return None;
        }
        let class = trie.hosts.class_of(host);
        let method = trie.methods.resolve(method);
        let slash = path.len() > 1 && path.ends_with('/');
        let body_end = if slash { path.len() - 1 } else { path.len() };
        Some(Search {
            trie,
            path,
            body_end,
            slash,
            class,
            method,
            params,
            not_allowed: None,
        })
    }

    /// The route that wins, or `None` (then see `not_allowed`).
    pub(super) fn run(&mut self) -> Option<u32> {
        let start = (self.body_end > 1 || self.slash).then_some(1);
        self.visit(0, start)
    }

    /// The `Allow` id for a 405, when no route was found.
    pub(super) fn not_allowed(&self) -> Option<u32> {
        self.not_allowed
    }

    /// Match the segment starting at byte `at` (`None`: the path is consumed) against `node`.
    fn visit(&mut self, node: u32, at: Option<usize>) -> Option<u32> {
        let trie = self.trie;
        let n = trie.node(node)?;
        let Some(start) = at else {
            let t = if self.slash { n.end_slash } else { n.end };
            return self.at_terminal(t?);
        };
        let bytes = self.path.as_bytes().get(start..self.body_end)?;
        let end = bytes
            .iter()
            .position(|&b| b == b'/')
            .map_or(self.body_end, |i| start + i);
        let next = (end < self.body_end).then_some(end + 1);
        let seg = self.path.get(start..end)?;
        if let Some(child) = n.literals.get(seg)
            && let found @ Some(_) = self.visit(child, next)
        {
            return found;
        }
        if seg.is_empty() {
            return None;
        }
        let (from, to) = (start as u32, end as u32);
        if let Some(child) = n.param {
            self.params.push((from, to));
            if let found @ Some(_) = self.visit(child, next) {
                return found;
            }
            self.params.pop();
        }
        if let (Some(t), true) = (n.greedy_slash, self.slash)
            && let found @ Some(_) = self.greedy(t, from, self.body_end)
        {
            return found;
        }
        if let Some(t) = n.greedy {
            return self.greedy(t, from, self.path.len());
        }
        None
    }

    fn greedy(&mut self, terminal: u32, from: u32, to: usize) -> Option<u32> {
        self.params.push((from, to as u32));
        let found = self.at_terminal(terminal);
        if found.is_none() {
            self.params.pop();
        }
        found
    }

    /// The best entry of a terminal for this host and method; notes a 405 otherwise.
    fn at_terminal(&mut self, id: u32) -> Option<u32> {
        let t = self.trie.terminal(id)?;
        let (hosts, methods) = (&self.trie.hosts, &self.trie.methods);
        let mut best: Option<((u8, u32), u32)> = None;
        for e in &t.entries {
            let Some(m) = methods.rank(e.method, self.method) else {
                continue;
            };
            let Some(h) = hosts.rank(e.host, self.class) else {
                continue;
            };
            if best.is_none_or(|(rank, _)| (m, h) < rank) {
                best = Some(((m, h), e.route));
            }
        }
        if let Some((_, route)) = best {
            return Some(route);
        }
        if self.not_allowed.is_none() {
            self.not_allowed = match t.allow_by_class.binary_search_by_key(&self.class, |p| p.0) {
                Ok(i) => t.allow_by_class.get(i).and_then(|p| p.1),
                Err(_) => t.allow_default,
            };
        }
        None
    }
}
