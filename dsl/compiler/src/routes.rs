//! Step 9, routes: pattern checks (E0402), route names, router keys, overlaps (E0401) and the
//! route-table lints (W0104 `{rest+}` without its bare prefix, W0105 `/x/` without `/x`,
//! W0107 `/{proxy+}` while `/` matches no route).

use gw_program::{Lookup, PatSeg, RouteKey, Router};
use gw_syntax::ast::{Route, Segment};
use gw_syntax::{Diagnostic, Span};

use crate::ctx::Ctx;
use crate::resolve::RouteItem;

/// A route's identity.
#[derive(Debug)]
pub(crate) struct RouteInfo<'a> {
    pub route: &'a Route,
    pub host: Option<String>,
    /// `GET /pets/{id}`, or `GET api.example.com/pets/{id}` inside a host block.
    pub name: String,
    /// `/pets/{id}`
    pub pattern: String,
    pub params: Vec<String>,
    pub segs: Vec<PatSeg>,
}

impl RouteInfo<'_> {
    pub(crate) fn header(&self) -> Span {
        self.route.method_span.to(self.route.pattern.span)
    }
}

/// Checks a pattern and names the route.
pub(crate) fn info<'a>(cx: &mut Ctx<'_>, item: &RouteItem<'a>) -> RouteInfo<'a> {
    let r = item.route;
    let mut params: Vec<String> = Vec::new();
    let mut segs = Vec::new();
    let mut text = String::new();
    let n = r.pattern.segments.len();
    for (i, s) in r.pattern.segments.iter().enumerate() {
        text.push('/');
        match s {
            Segment::Literal(l, span) => {
                text.push_str(l);
                if l.is_empty() {
                    cx.emit(
                        Diagnostic::error("E0402", *span, "empty path segment")
                            .with_label("`//` here")
                            .with_help("paths are normalised before routing, so `//` never matches: remove it"),
                    );
                } else if l.contains(['{', '}']) {
                    cx.emit(
                        Diagnostic::error("E0402", *span, format!("invalid segment `{l}`"))
                            .with_label("a parameter takes a whole segment")
                            .with_help("write `/{a}/{b}`, not `/{a}{b}` or `/x{a}`"),
                    );
                }
                segs.push(PatSeg::Literal(l.clone()));
            }
            Segment::Param(id) | Segment::Greedy(id) => {
                let greedy = matches!(s, Segment::Greedy(_));
                text.push_str(&format!("{{{}{}}}", id.name, if greedy { "+" } else { "" }));
                if greedy && i + 1 != n {
                    cx.emit(
                        Diagnostic::error(
                            "E0402",
                            id.span,
                            format!("`{{{}+}}` must be the last segment", id.name),
                        )
                        .with_label("greedy parameter in the middle")
                        .with_help("a greedy parameter takes the rest of the path"),
                    );
                }
                if params.contains(&id.name) {
                    cx.emit(
                        Diagnostic::error(
                            "E0402",
                            id.span,
                            format!("parameter `{}` appears twice", id.name),
                        )
                        .with_label("duplicate parameter name"),
                    );
                }
                params.push(id.name.clone());
                segs.push(if greedy {
                    PatSeg::Greedy
                } else {
                    PatSeg::Param
                });
            }
        }
    }
    if text.is_empty() || r.pattern.trailing_slash {
        text.push('/');
    }
    let name = match &item.host {
        Some((h, _)) => format!("{} {h}{text}", r.method.as_str()),
        None => format!("{} {text}", r.method.as_str()),
    };
    RouteInfo {
        route: r,
        host: item.host.as_ref().map(|h| h.0.clone()),
        name,
        pattern: text,
        params,
        segs,
    }
}

/// Router keys, in route order.
pub(crate) fn keys(infos: &[RouteInfo<'_>]) -> Vec<RouteKey> {
    infos
        .iter()
        .enumerate()
        .map(|(i, r)| RouteKey {
            host: r.host.clone(),
            method: r.route.method.as_str().to_string(),
            segments: r.segs.clone(),
            trailing_slash: r.route.pattern.trailing_slash,
            route: u32::try_from(i).unwrap_or(u32::MAX),
        })
        .collect()
}

/// Builds the router; overlapping routes are E0401.
pub(crate) fn router(cx: &mut Ctx<'_>, infos: &[RouteInfo<'_>]) -> Option<Router> {
    match Router::build(&keys(infos)) {
        Ok(r) => Some(r),
        Err(conflicts) => {
            for c in conflicts {
                let (Some(first), Some(second)) =
                    (infos.get(c.first as usize), infos.get(c.second as usize))
                else {
                    continue;
                };
                cx.emit(
                    Diagnostic::error(
                        "E0401",
                        second.header(),
                        "routes overlap: they match the same requests",
                    )
                    .with_label("this route can never be selected")
                    .with_secondary(first.header(), "first defined here")
                    .with_help("parameter names do not distinguish routes; merge the two routes"),
                );
            }
            None
        }
    }
}

/// A host and a pattern with parameter names erased, as a set key.
fn shape_key(host: Option<&str>, segs: &[PatSeg]) -> String {
    format!("{host:?}{segs:?}")
}

/// Route-table lints; W0107 needs the router (there is none after E0401).
pub(crate) fn lints(cx: &mut Ctx<'_>, infos: &[RouteInfo<'_>], router: Option<&Router>) {
    // Patterns without a trailing slash, per host, with parameter names erased.
    let bare: ahash::AHashSet<String> = infos
        .iter()
        .filter(|o| !o.route.pattern.trailing_slash)
        .map(|o| shape_key(o.host.as_deref(), &o.segs))
        .collect();
    for r in infos {
        // W0104: `/files/{rest+}` without `/files` (the bare prefix 404s). The bare prefix of
        // `/{proxy+}` is `/`, which W0107 checks against the router.
        if let Some((PatSeg::Greedy, prefix)) = r.segs.split_last()
            && !prefix.is_empty()
            && !bare.contains(&shape_key(r.host.as_deref(), prefix))
        {
            let bare: String = r
                .pattern
                .rsplit_once('/')
                .map_or(String::new(), |(p, _)| p.to_string());
            cx.emit(
                Diagnostic::warning(
                    "W0104",
                    r.header(),
                    format!("`{bare}` itself matches no route"),
                )
                .with_label(format!(
                    "`{{…+}}` needs at least one segment after `{bare}/`"
                ))
                .with_help(format!(
                    "add `route ANY {bare} {{ … }}` if `{bare}` should be served too"
                )),
            );
        }
        // W0105: `/pets/` without `/pets` (a trailing slash is significant). The reverse is the
        // common case and not linted.
        if r.route.pattern.trailing_slash
            && !r.segs.is_empty()
            && !bare.contains(&shape_key(r.host.as_deref(), &r.segs))
        {
            let p = r.pattern.trim_end_matches('/');
            cx.emit(
                Diagnostic::warning(
                    "W0105",
                    r.header(),
                    format!("`{}` has no route without the trailing slash", r.pattern),
                )
                .with_label(format!("`{p}` will 404"))
                .with_help(format!(
                    "trailing slashes are significant: add a route for `{p}` or drop the slash"
                )),
            );
        }
    }
    if let Some(router) = router {
        root_lint(cx, infos, router);
    }
}

/// W0107: `/{proxy+}` needs at least one segment, so beside it `/` is a 404 unless a route
/// serves it. The router is asked `/` on the catch-all's host, so a `/` route of that host, of
/// a wildcard or of no host that serves it counts, and so does one under another method (a
/// 405 is an answer written on purpose).
fn root_lint(cx: &mut Ctx<'_>, infos: &[RouteInfo<'_>], router: &Router) {
    let filler = crate::guards::filler(infos);
    let mut params = Vec::new();
    for r in infos
        .iter()
        .filter(|r| matches!(r.segs.as_slice(), [PatSeg::Greedy]))
    {
        let host = crate::guards::sample_host(r.host.as_deref(), &filler);
        let method = match r.route.method.as_str() {
            "ANY" => "GET",
            m => m,
        };
        if !matches!(
            router.lookup(&host, method, "/", &mut params),
            Lookup::NotFound
        ) {
            continue;
        }
        let on = r
            .host
            .as_deref()
            .map_or(String::new(), |h| format!(" on host `{h}`"));
        let greedy = r.pattern.trim_start_matches('/').trim_end_matches('/');
        cx.emit(
            Diagnostic::warning("W0107", r.header(), format!("`/` matches no route{on}"))
                .with_label(format!(
                    "`{greedy}` needs at least one segment, so `/` is not served here"
                ))
                .with_help(format!(
                    "add `route {} / {{ … }}` (same statements) to serve `/` too",
                    r.route.method.as_str()
                )),
        );
    }
}
