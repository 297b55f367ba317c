//! A naive matcher: the definition of which route wins, written as plainly as possible and
//! independently of the trie, for the randomized comparison.

use super::{PatSeg, RouteKey};

/// What a lookup should return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expect {
    Found { route: u32, params: Vec<(u32, u32)> },
    NotAllowed(String),
    NotFound,
}

/// The path's segments as byte ranges, and whether it ends with a slash.
fn split(path: &str) -> Option<(Vec<(usize, usize)>, bool)> {
    let body = path.strip_prefix('/')?;
    if body.is_empty() {
        return Some((Vec::new(), false));
    }
    let (body, slash) = match body.strip_suffix('/') {
        Some(b) => (b, true),
        None => (body, false),
    };
    let mut segs = Vec::new();
    let mut start = 1;
    for part in body.split('/') {
        segs.push((start, start + part.len()));
        start += part.len() + 1;
    }
    Some((segs, slash))
}

/// The params when `key`'s pattern matches `path`.
fn match_path(key: &RouteKey, path: &str) -> Option<Vec<(u32, u32)>> {
    let (segs, slash) = split(path)?;
    let mut params = Vec::new();
    for (i, pat) in key.segments.iter().enumerate() {
        let &(s, e) = segs.get(i)?;
        let text = &path[s..e];
        match pat {
            PatSeg::Literal(l) if l == text => {}
            PatSeg::Literal(_) => return None,
            PatSeg::Param if !text.is_empty() => params.push((s as u32, e as u32)),
            PatSeg::Param => return None,
            PatSeg::Greedy => {
                if i + 1 != key.segments.len() || text.is_empty() {
                    return None;
                }
                let end = if key.trailing_slash {
                    if !slash {
                        return None;
                    }
                    path.len() - 1
                } else {
                    path.len()
                };
                params.push((s as u32, end as u32));
                return Some(params);
            }
        }
    }
    let key_slash = key.trailing_slash && !key.segments.is_empty();
    (segs.len() == key.segments.len() && key_slash == slash).then_some(params)
}

/// Lower is more specific; only compared between patterns matching the same path.
fn path_rank(key: &RouteKey) -> Vec<u8> {
    let mut rank: Vec<u8> = key
        .segments
        .iter()
        .map(|s| match s {
            PatSeg::Literal(_) => 0,
            PatSeg::Param => 1,
            PatSeg::Greedy => 2,
        })
        .collect();
    if key.segments.last() == Some(&PatSeg::Greedy) {
        rank.push(if key.trailing_slash { 0 } else { 1 });
    }
    rank
}

fn method_rank(key: &RouteKey, method: &str) -> Option<u8> {
    let m = key.method.to_ascii_uppercase();
    if m == method {
        Some(0)
    } else if method == "HEAD" && m == "GET" {
        Some(1)
    } else if m == "ANY" {
        Some(2)
    } else {
        None
    }
}

/// `(kind, -suffix length)`: exact, then longer wildcards, then none.
fn host_rank(key: &RouteKey, host: &str) -> Option<(u8, usize)> {
    let host = host.to_ascii_lowercase();
    let host = host.split(':').next().unwrap_or("");
    let host = host.strip_suffix('.').unwrap_or(host);
    let Some(want) = &key.host else {
        return Some((2, 0));
    };
    let want = want.to_ascii_lowercase();
    let want = want.strip_suffix('.').unwrap_or(&want);
    if want == "*" || want.is_empty() {
        return Some((2, 0));
    }
    if let Some(suffix) = want.strip_prefix('*').filter(|s| s.starts_with('.')) {
        let matches = host.len() > suffix.len() && host.ends_with(suffix);
        return matches.then_some((1, usize::MAX - suffix.len()));
    }
    (host == want).then_some((0, 0))
}

/// The pattern identity: segments and (meaningful) trailing slash.
fn pattern(key: &RouteKey) -> (Vec<PatSeg>, bool) {
    (
        key.segments.clone(),
        key.trailing_slash && !key.segments.is_empty(),
    )
}

/// The expected answer for one request.
pub(super) fn expect(keys: &[RouteKey], host: &str, method: &str, path: &str) -> Expect {
    let best = keys
        .iter()
        .filter_map(|k| {
            let params = match_path(k, path)?;
            let rank = (path_rank(k), method_rank(k, method)?, host_rank(k, host)?);
            Some((rank, k.route, params))
        })
        .min_by(|a, b| a.0.cmp(&b.0));
    if let Some((_, route, params)) = best {
        return Expect::Found { route, params };
    }
    let on_path: Vec<&RouteKey> = keys
        .iter()
        .filter(|k| match_path(k, path).is_some() && host_rank(k, host).is_some())
        .collect();
    let Some(top) = on_path.iter().min_by_key(|k| path_rank(k)) else {
        return Expect::NotFound;
    };
    let mut names: Vec<String> = on_path
        .iter()
        .filter(|k| pattern(k) == pattern(top))
        .map(|k| k.method.to_ascii_uppercase())
        .collect();
    if names.iter().any(|n| n == "GET") {
        names.push("HEAD".into());
    }
    names.sort();
    names.dedup();
    Expect::NotAllowed(names.join(", "))
}

/// The conflicts `Router::build` should report, in key order.
pub(super) fn conflicts(keys: &[RouteKey]) -> Vec<(u32, u32)> {
    let identity = |k: &RouteKey| {
        let host = k.host.as_deref().map(|h| {
            let h = h.to_ascii_lowercase();
            h.strip_suffix('.').map(str::to_owned).unwrap_or(h)
        });
        let host = host.filter(|h| h != "*" && !h.is_empty());
        (host, k.method.to_ascii_uppercase(), pattern(k))
    };
    let valid = |k: &RouteKey| {
        let n = k.segments.len();
        !k.segments
            .iter()
            .enumerate()
            .any(|(i, s)| *s == PatSeg::Greedy && i + 1 != n)
    };
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate().filter(|(_, k)| valid(k)) {
        if let Some(first) = keys[..i]
            .iter()
            .find(|f| valid(f) && identity(f) == identity(k))
        {
            out.push((first.route, k.route));
        }
    }
    out
}
