//! Hosts: a request's host is resolved once per lookup into a class (which exact host it is, and
//! which wildcards match it), so the trie's entries compare small integers, not strings.

use std::cmp::Ordering;
use std::collections::BTreeSet;

/// How a route names its host, after normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum HostSpec {
    Exact(u32),
    Wildcard(u32),
    Any,
}

/// What one class of request hosts matches.
#[derive(Debug, Clone, Default)]
struct Class {
    exact: Option<u32>,
    /// Matching wildcard ids, most specific (longest suffix) first.
    chain: Vec<u32>,
}

/// Every host the routes name. Classes `0..exact.len()` are the exact hosts, then one class per
/// wildcard (a host matching no exact name, whose longest matching wildcard is that one), then
/// the default class (no host-specific route applies).
#[derive(Debug, Clone, Default)]
pub(super) struct HostTable {
    /// Lowercase, sorted; the index is the exact id.
    exact: Vec<Box<str>>,
    /// Suffixes with their leading dot (`.example.com`), lowercase, sorted; index = wildcard id.
    wild: Vec<Box<str>>,
    classes: Vec<Class>,
    /// For each wildcard id, the classes whose chain holds it.
    wild_classes: Vec<Vec<u32>>,
}

/// A route's host, normalised.
enum Norm {
    Any,
    Exact(String),
    Wildcard(String),
}

fn normalise(host: Option<&str>) -> Norm {
    let Some(host) = host else { return Norm::Any };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host.is_empty() || host == "*" {
        Norm::Any
    } else if let Some(suffix) = host.strip_prefix('*') {
        if suffix.starts_with('.') {
            Norm::Wildcard(suffix.to_owned())
        } else {
            Norm::Exact(host)
        }
    } else {
        Norm::Exact(host)
    }
}

/// Compare a stored lowercase name with a request's host, ignoring the host's ASCII case.
fn cmp_ci(stored: &str, host: &str) -> Ordering {
    stored
        .bytes()
        .cmp(host.bytes().map(|b| b.to_ascii_lowercase()))
}

/// The request's host without `:port` (or `[v6]:port`) and one trailing dot.
fn bare(host: &str) -> &str {
    let host = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => host.get(..=end).unwrap_or(host),
            None => host,
        }
    } else {
        match host.find(':') {
            Some(colon) => host.get(..colon).unwrap_or(host),
            None => host,
        }
    };
    host.strip_suffix('.').unwrap_or(host)
}

impl HostTable {
    pub(super) fn build<'a>(hosts: impl Iterator<Item = &'a str>) -> HostTable {
        let mut exact = BTreeSet::new();
        let mut wild = BTreeSet::new();
        for host in hosts {
            match normalise(Some(host)) {
                Norm::Any => {}
                Norm::Exact(h) => {
                    exact.insert(h.into_boxed_str());
                }
                Norm::Wildcard(s) => {
                    wild.insert(s.into_boxed_str());
                }
            }
        }
        let mut table = HostTable {
            exact: exact.into_iter().collect(),
            wild: wild.into_iter().collect(),
            classes: Vec::new(),
            wild_classes: Vec::new(),
        };
        let mut classes = Vec::new();
        for host in &table.exact {
            classes.push(Class {
                exact: table.position(&table.exact, host),
                chain: table.chain(host, false),
            });
        }
        for suffix in &table.wild {
            classes.push(Class {
                exact: None,
                chain: table.chain(suffix, true),
            });
        }
        classes.push(Class::default());
        let mut wild_classes = vec![Vec::new(); table.wild.len()];
        for (id, class) in (0u32..).zip(&classes) {
            for &w in &class.chain {
                if let Some(list) = usize::try_from(w)
                    .ok()
                    .and_then(|w| wild_classes.get_mut(w))
                {
                    list.push(id);
                }
            }
        }
        table.classes = classes;
        table.wild_classes = wild_classes;
        table
    }

    fn position(&self, list: &[Box<str>], host: &str) -> Option<u32> {
        let i = list.binary_search_by(|e| cmp_ci(e, host)).ok()?;
        u32::try_from(i).ok()
    }

    /// The wildcards matching `host`, longest suffix first. A wildcard suffix itself (which
    /// starts with a dot) stands for any host ending in it, so its own suffix at 0 counts.
    fn chain(&self, host: &str, from_zero: bool) -> Vec<u32> {
        if self.wild.is_empty() {
            return Vec::new();
        }
        host.match_indices('.')
            .filter(|&(i, _)| i > 0 || from_zero)
            .filter_map(|(i, _)| self.position(&self.wild, host.get(i..)?))
            .collect()
    }

    /// The spec of a route's host. Every host was seen by `build`.
    pub(super) fn spec(&self, host: Option<&str>) -> HostSpec {
        match normalise(host) {
            Norm::Any => HostSpec::Any,
            Norm::Exact(h) => match self.position(&self.exact, &h) {
                Some(id) => HostSpec::Exact(id),
                None => HostSpec::Any,
            },
            Norm::Wildcard(s) => match self.position(&self.wild, &s) {
                Some(id) => HostSpec::Wildcard(id),
                None => HostSpec::Any,
            },
        }
    }

    /// The class of a request's host. No allocation.
    pub(super) fn class_of(&self, host: &str) -> u32 {
        let default = self.default_class();
        if self.exact.is_empty() && self.wild.is_empty() {
            return default;
        }
        let host = bare(host);
        if let Some(id) = self.position(&self.exact, host) {
            return id;
        }
        if !self.wild.is_empty() {
            for (i, _) in host.match_indices('.').filter(|&(i, _)| i > 0) {
                if let Some(w) = host.get(i..).and_then(|s| self.position(&self.wild, s)) {
                    return self.wild_class(w);
                }
            }
        }
        default
    }

    fn wild_class(&self, wildcard: u32) -> u32 {
        u32::try_from(self.exact.len())
            .unwrap_or(u32::MAX)
            .saturating_add(wildcard)
    }

    pub(super) fn default_class(&self) -> u32 {
        u32::try_from(self.exact.len() + self.wild.len()).unwrap_or(u32::MAX)
    }

    /// How well `spec` matches hosts of `class`: lower is more specific; `None` = no match.
    pub(super) fn rank(&self, spec: HostSpec, class: u32) -> Option<u32> {
        match spec {
            HostSpec::Any => Some(u32::MAX),
            HostSpec::Exact(id) => {
                let c = self.classes.get(usize::try_from(class).ok()?)?;
                (c.exact == Some(id)).then_some(0)
            }
            HostSpec::Wildcard(id) => {
                let c = self.classes.get(usize::try_from(class).ok()?)?;
                let at = c.chain.iter().position(|&w| w == id)?;
                u32::try_from(at).ok()?.checked_add(1)
            }
        }
    }

    /// The classes a route with `spec` applies to besides the default class, which sees only
    /// routes without a host. Build time only.
    pub(super) fn classes_of(&self, spec: HostSpec) -> Vec<u32> {
        match spec {
            HostSpec::Any => Vec::new(),
            // Exact ids are their own class ids.
            HostSpec::Exact(id) => vec![id],
            HostSpec::Wildcard(id) => usize::try_from(id)
                .ok()
                .and_then(|w| self.wild_classes.get(w))
                .cloned()
                .unwrap_or_default(),
        }
    }
}
