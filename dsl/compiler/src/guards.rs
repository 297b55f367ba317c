//! W0106: requests a guarded route seems to cover that the router gives to a broader route
//! without its guards. Beside `route ANY /{proxy+}`, a `route GET /admin/{rest+} { require … }`
//! leaves `GET /admin`, `GET /admin/` and `POST /admin/x` to the catch-all, unchecked.
//!
//! A guard is an `auth`, `require`, `validate` or `throttle` statement after `use` and
//! `defaults` expansion (`cache` denies nothing). For each route with guards the lint asks the
//! real router, on the route's host, where its bare prefix (for a `{name+}` pattern) and its
//! path under the other methods go: at most 14 lookups per guarded route, and statements are
//! compared only between a route and the routes that take its requests, so a 10 000-route file
//! stays fast. A 404 or 405 is safe, and a request served by a route of the same shape
//! (`GET /pets/{id}` beside a guarded `DELETE /pets/{id}`) or of a more specific one is a
//! deliberate split, so neither is reported.

use gw_program::{Lookup, PatSeg, Router};
use gw_syntax::ast::{Config, Ident, Item, ItemKind, Stmt, StmtKind};
use gw_syntax::{Diagnostic, Span};

use crate::ctx::Ctx;
use crate::lower::Global;
use crate::order;
use crate::routes::RouteInfo;

/// Request methods, in the order requests are listed.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// An access-control statement of a route, after `use` and `defaults` expansion.
#[derive(Clone, Copy)]
struct Guard<'a> {
    /// As written: in the route, a policy or `defaults`.
    stmt: &'a Stmt,
    /// `auth`, `require`, `validate body`, ...
    kind: &'static str,
}

/// The guards of a route, from the statements it runs: `defaults` and policies expanded as
/// for compiling it. Expanding again reports nothing new (the context reports an error at one
/// place once).
fn of<'a>(g: &mut Global<'a>, r: &RouteInfo<'a>) -> Vec<Guard<'a>> {
    order::expand(g, &r.route.body, r.header())
        .iter()
        .filter(|e| {
            matches!(
                e.stmt.kind,
                StmtKind::Auth(_)
                    | StmtKind::Require { .. }
                    | StmtKind::ValidateParams(_)
                    | StmtKind::ValidateBody(_)
                    | StmtKind::Throttle { .. }
                    | StmtKind::ThrottlePlan
            )
        })
        .map(|e| Guard {
            stmt: e.stmt,
            kind: crate::stmt::keyword(&e.stmt.kind),
        })
        .collect()
}

/// Whether two guards are the same check: one statement (a shared policy), the same text, or
/// the same tree once spans are reset, so layout and comments do not matter while
/// `require header.x == "a"` and `require header.x == "b"` differ.
fn same(cx: &Ctx<'_>, a: Guard<'_>, b: Guard<'_>) -> bool {
    a.kind == b.kind
        && (a.stmt.span == b.stmt.span
            || cx.snippet(a.stmt.span) == cx.snippet(b.stmt.span)
            || spanless(a.stmt) == spanless(b.stmt))
}

/// `stmt` with every span reset; gw-syntax resets whole configurations, so it is wrapped in one.
fn spanless(stmt: &Stmt) -> Stmt {
    let mut config = Config {
        items: vec![Item {
            kind: ItemKind::Policy {
                name: Ident {
                    name: String::new(),
                    span: Span::default(),
                },
                body: vec![stmt.clone()],
            },
            span: Span::default(),
        }],
    };
    gw_syntax::strip_spans(&mut config);
    match config.items.pop().map(|i| i.kind) {
        Some(ItemKind::Policy { mut body, .. }) => body.pop().unwrap_or_else(|| stmt.clone()),
        _ => stmt.clone(),
    }
}

/// A pattern whose requests a route seems to cover: its bare prefix, or its own pattern.
struct Target<'r> {
    segs: &'r [PatSeg],
    trailing: bool,
    /// The pattern's text, for the suggested route.
    pattern: String,
    /// A path it matches, parameters filled in.
    path: String,
    /// The methods to ask the router about.
    methods: Vec<&'static str>,
}

/// A route that serves some of a guarded route's requests without some of its guards.
struct Finding<'a> {
    route: usize,
    lacks: Vec<Guard<'a>>,
    /// `(method, path)`
    requests: Vec<(&'static str, String)>,
    /// The patterns of the targets those requests belong to, for the help.
    patterns: Vec<String>,
}

/// W0106 for every guarded route some of whose requests a less guarded, broader route serves.
/// Needs the router (there is none after E0401).
pub(crate) fn lint<'a>(g: &mut Global<'a>, infos: &[RouteInfo<'a>], router: Option<&Router>) {
    let Some(router) = router else { return };
    let guards: Vec<Vec<Guard<'a>>> = infos.iter().map(|r| of(g, r)).collect();
    if guards.iter().all(Vec::is_empty) {
        return;
    }
    let cx = &mut g.cx;
    let filler = filler(infos);
    let mut params = Vec::new();
    for (i, r) in infos.iter().enumerate() {
        let Some(own) = guards.get(i).filter(|v| !v.is_empty()) else {
            continue;
        };
        let host = sample_host(r.host.as_deref(), &filler);
        let mut found: Vec<Finding<'a>> = Vec::new();
        // Routes that take some of the requests and have every guard.
        let mut covered: Vec<usize> = Vec::new();
        for t in targets(r, &filler) {
            for &m in &t.methods {
                let Lookup::Found { route } = router.lookup(&host, m, &t.path, &mut params) else {
                    continue;
                };
                let s = route as usize;
                let Some(si) = infos.get(s) else { continue };
                let slash = si.route.pattern.trailing_slash;
                if s == i
                    || covered.contains(&s)
                    || as_specific(&si.segs, slash, t.segs, t.trailing)
                {
                    continue;
                }
                let request = (m, t.path.clone());
                if let Some(f) = found.iter_mut().find(|f| f.route == s) {
                    f.requests.push(request);
                    if !f.patterns.contains(&t.pattern) {
                        f.patterns.push(t.pattern.clone());
                    }
                    continue;
                }
                let theirs = guards.get(s).map_or(&[][..], Vec::as_slice);
                let lacks: Vec<Guard<'a>> = own
                    .iter()
                    .filter(|a| !theirs.iter().any(|b| same(cx, **a, *b)))
                    .copied()
                    .collect();
                if lacks.is_empty() {
                    covered.push(s);
                } else {
                    found.push(Finding {
                        route: s,
                        lacks,
                        requests: vec![request],
                        patterns: vec![t.pattern.clone()],
                    });
                }
            }
        }
        for f in found {
            if let Some(si) = infos.get(f.route) {
                report(cx, r, si, &f);
            }
        }
    }
}

/// The bare prefix of a `{name+}` pattern under the route's own methods, and its own pattern
/// under every other method.
fn targets<'r>(r: &'r RouteInfo<'_>, filler: &str) -> Vec<Target<'r>> {
    let method = r.route.method.as_str();
    let any = method == "ANY";
    let own: Vec<&'static str> = if any { METHODS.to_vec() } else { vec![method] };
    let mut out = Vec::new();
    if let Some((PatSeg::Greedy, prefix)) = r.segs.split_last() {
        // `/files/{rest+}` and `/files/{rest+}/` both leave `/files` and `/files/`.
        let text = r.pattern.trim_end_matches('/');
        let bare = text.rsplit_once('/').map_or("", |(p, _)| p);
        for trailing in [false, true] {
            if prefix.is_empty() && trailing {
                continue; // `/` has no variant without the slash
            }
            out.push(Target {
                segs: prefix,
                trailing,
                pattern: if bare.is_empty() || trailing {
                    format!("{bare}/")
                } else {
                    bare.to_string()
                },
                path: sample(prefix, trailing, filler),
                methods: own.clone(),
            });
        }
    }
    if !any {
        let trailing = r.route.pattern.trailing_slash;
        out.push(Target {
            segs: &r.segs,
            trailing,
            pattern: r.pattern.clone(),
            path: sample(&r.segs, trailing, filler),
            methods: METHODS.into_iter().filter(|m| *m != method).collect(),
        });
    }
    out
}

/// A path the pattern matches, each parameter filled with `filler`.
fn sample(segs: &[PatSeg], trailing: bool, filler: &str) -> String {
    let mut p = String::new();
    for s in segs {
        p.push('/');
        p.push_str(match s {
            PatSeg::Literal(l) => l,
            PatSeg::Param | PatSeg::Greedy => filler,
        });
    }
    if p.is_empty() || trailing {
        p.push('/');
    }
    p
}

/// A request host a route's host block matches; `""` matches no host block.
pub(crate) fn sample_host(host: Option<&str>, filler: &str) -> String {
    match host {
        None | Some("*") => String::new(),
        Some(h) => match h.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') => format!("{filler}{suffix}"),
            _ => h.to_string(),
        },
    }
}

/// `x`, unless a pattern or a host names it: a literal `x` would win the sample path from the
/// parameter it stands for.
pub(crate) fn filler(infos: &[RouteInfo<'_>]) -> String {
    let mut taken: ahash::AHashSet<&str> = ahash::AHashSet::new();
    for r in infos {
        for s in &r.segs {
            if let PatSeg::Literal(l) = s {
                taken.insert(l);
            }
        }
        if let Some(label) = r.host.as_deref().and_then(|h| h.split('.').next()) {
            taken.insert(label);
        }
    }
    (0u32..)
        .map(|n| match n {
            0 => "x".to_string(),
            n => format!("x{n}"),
        })
        .find(|c| !taken.contains(c.as_str()))
        .unwrap_or_default()
}

/// Whether S's pattern is T's shape or more specific: the router's order, segment by segment
/// (literal > `{param}` > `{name+}`), then a greedy tie preferring the trailing slash. Such a
/// route was written for these requests, so its lack of guards is deliberate.
fn as_specific(s: &[PatSeg], s_slash: bool, t: &[PatSeg], t_slash: bool) -> bool {
    let rank = |p: &PatSeg| match p {
        PatSeg::Literal(_) => 0,
        PatSeg::Param => 1,
        PatSeg::Greedy => 2,
    };
    for (a, b) in s.iter().zip(t) {
        match rank(a).cmp(&rank(b)) {
            std::cmp::Ordering::Less => return true,
            std::cmp::Ordering::Greater => return false,
            std::cmp::Ordering::Equal => {}
        }
    }
    s.len() == t.len() && (s_slash || !t_slash)
}

fn report(cx: &mut Ctx<'_>, r: &RouteInfo<'_>, s: &RouteInfo<'_>, f: &Finding<'_>) {
    let mut kinds: Vec<String> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    for g in &f.lacks {
        let kind = format!("`{}`", g.kind);
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
        let text = format!("`{}`", short(cx.snippet(g.stmt.span)));
        if !texts.contains(&text) {
            texts.push(text);
        }
    }
    if texts.len() > 3 {
        let more = texts.split_off(2).len();
        texts.push(format!("{more} more"));
    }
    let requests = requests(&f.requests);
    let who = match requests.as_slice() {
        [one] => format!("{one} is"),
        [_, _] | [_, _, _] => format!("{} are", and_list(&requests)),
        [a, b, rest @ ..] => format!("{a}, {b} and {} more requests are", rest.len()),
        [] => return,
    };
    let suggested: Vec<String> = f
        .patterns
        .iter()
        .map(|p| format!("`route ANY {p} {{ … }}`"))
        .collect();
    let place = r
        .host
        .as_ref()
        .map_or(String::new(), |h| format!(" in `host \"{h}\"`"));
    let mut d = Diagnostic::warning(
        "W0106",
        r.header(),
        format!(
            "{who} served by `{}`, which lacks this route's {}",
            s.name,
            and_list(&kinds)
        ),
    )
    .with_label("this route's guards do not cover them")
    .with_secondary(
        s.header(),
        format!("serves them without {}", and_list(&texts)),
    );
    if requests.len() > 3 {
        d = d.with_note(format!("served by `{}`: {}", s.name, requests.join(", ")));
    }
    cx.emit(d.with_help(format!(
        "add {}{place} with the same guards (a `policy` used by each keeps them in step)",
        and_list(&suggested)
    )));
}

/// `` `GET /admin` ``, or `` `ANY /admin` `` when every method of one path is listed.
fn requests(all: &[(&'static str, String)]) -> Vec<String> {
    let mut paths: Vec<(&str, Vec<&str>)> = Vec::new();
    for (m, path) in all {
        match paths.iter_mut().find(|(p, _)| p == path) {
            Some((_, ms)) => ms.push(m),
            None => paths.push((path, vec![m])),
        }
    }
    let mut out = Vec::new();
    for (path, ms) in paths {
        if ms.len() == METHODS.len() {
            out.push(format!("`ANY {path}`"));
        } else {
            out.extend(ms.iter().map(|m| format!("`{m} {path}`")));
        }
    }
    out
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A statement's text on one line, cut at a word to a label's length.
fn short(text: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::new();
    for w in text.split_whitespace() {
        if out.is_empty() {
            out.push_str(w);
        } else if out.len() + 1 + w.len() > MAX {
            out.push_str(" …");
            break;
        } else {
            out.push(' ');
            out.push_str(w);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, compile};

    /// The W0106 warnings of a config that compiles.
    fn w0106(lines: &[&str]) -> Vec<Diagnostic> {
        let mut text = String::from("listen :8080\nupstream app { server 127.0.0.1:9000 }\n");
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        let parsed = gw_syntax::parse_source("t.gw", &text);
        let opts = Options {
            env: Box::new(|_| None),
            ..Options::default()
        };
        let c = compile(&parsed, &opts);
        let all = gw_syntax::render_all(&c.diagnostics, &parsed.sources);
        assert!(c.image.is_some(), "{all}");
        c.diagnostics
            .into_iter()
            .filter(|d| d.code == "W0106")
            .collect()
    }

    const CATCH_ALL: &str = "route ANY /{proxy+} { upstream app }";

    #[test]
    fn bare_prefix_and_other_methods_reaching_a_catch_all_are_one_warning() {
        let d = w0106(&[
            "route GET /admin/{rest+} { require header.x-admin == \"yes\"; upstream app }",
            CATCH_ALL,
        ]);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert_eq!(
            d[0].message,
            "`GET /admin`, `GET /admin/` and 5 more requests are served by `ANY /{proxy+}`, \
             which lacks this route's `require`"
        );
        assert_eq!(
            d[0].notes,
            [
                "served by `ANY /{proxy+}`: `GET /admin`, `GET /admin/`, `POST /admin/x`, \
              `PUT /admin/x`, `PATCH /admin/x`, `DELETE /admin/x`, `OPTIONS /admin/x`"
            ]
        );
        assert_eq!(
            d[0].secondary[0].message,
            "serves them without `require header.x-admin == \"yes\"`"
        );
    }

    #[test]
    fn the_same_guards_are_not_reported_whatever_their_layout() {
        // Through one policy, and written alike with other spacing and a comment.
        assert!(
            w0106(&[
                "policy admin { require header.x-admin == \"yes\" }",
                "route GET /admin/{rest+} { use admin; upstream app }",
                "route ANY /{proxy+} { use admin; upstream app }",
            ])
            .is_empty()
        );
        assert!(
            w0106(&[
                "route GET /admin/{rest+} { require header.x-admin == \"yes\"; upstream app }",
                "route ANY /{proxy+} {",
                "  require header.x-admin==\"yes\"   # same check",
                "  upstream app",
                "}",
            ])
            .is_empty()
        );
    }

    #[test]
    fn a_different_guard_or_one_from_a_policy_is_reported() {
        let d = w0106(&[
            "route GET /admin/{rest+} { require header.x-admin == \"yes\"; upstream app }",
            "route ANY /{proxy+} { require header.x-admin == \"no\"; upstream app }",
        ]);
        assert_eq!(d.len(), 1, "{d:#?}");
        let d = w0106(&[
            "policy limited { throttle 10/s by client.ip; require has(header.x-key) }",
            "route POST /login { use limited; cache ttl 60s key [header.x-key]; upstream app }",
            CATCH_ALL,
        ]);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert!(
            d[0].message
                .ends_with("this route's `throttle` and `require`"),
            "{}",
            d[0].message
        );
    }

    #[test]
    fn splits_by_method_404_405_and_unguarded_routes_are_not_reported() {
        assert!(
            w0106(&[
                // A public read beside a guarded delete: the same shape, a deliberate split.
                "route GET /pets/{id} { upstream app }",
                "route DELETE /pets/{id} { require header.x-admin == \"yes\"; upstream app }",
                // Nothing else serves `/admin` or `POST /admin/x`: 404 and 405.
                "route GET /admin/{rest+} { require header.x-admin == \"yes\"; upstream app }",
            ])
            .is_empty()
        );
        assert!(
            w0106(&[
                // Only `cache`: no guard.
                "route GET /report { cache ttl 60s key [query.day]; upstream app }",
                // Routes written for the bare prefix, and an `ANY` route: no other method.
                "route ANY /files { upstream app }",
                "route ANY /files/{rest+} { throttle 10/s; upstream app }",
                "route ANY /files/ { upstream app }",
                CATCH_ALL,
            ])
            .is_empty()
        );
    }

    #[test]
    fn host_blocks_are_looked_up_on_their_host() {
        let guarded =
            "route ANY /admin/{rest+} { require header.x-admin == \"yes\"; upstream app }";
        let d = w0106(&["host \"*.example.com\" {", guarded, "}", CATCH_ALL]);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert!(
            d[0].message
                .starts_with("`ANY /admin` and `ANY /admin/` are served")
        );
        assert!(
            d[0].help[0].contains("in `host \"*.example.com\"`"),
            "{:?}",
            d[0].help
        );
        // A catch-all of another host serves none of this host's requests.
        let other = ["host \"other.example\" {", CATCH_ALL, "}"];
        assert!(
            w0106(&[&["host \"*.example.com\" {", guarded, "}"][..], &other].concat()).is_empty()
        );
    }

    #[test]
    fn the_sample_path_avoids_literal_segments() {
        let d = w0106(&[
            "route GET /admin/{id} { require header.x-admin == \"yes\"; upstream app }",
            "route ANY /admin/x { upstream app }",
            CATCH_ALL,
        ]);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert!(
            d[0].message.contains("`POST /admin/x1`"),
            "{}",
            d[0].message
        );
    }

    #[test]
    fn specificity_follows_the_router() {
        let lit = |s: &str| PatSeg::Literal(s.to_string());
        let admin_rest = [lit("admin"), PatSeg::Greedy];
        assert!(as_specific(&admin_rest, false, &admin_rest, false));
        assert!(as_specific(
            &[lit("admin"), PatSeg::Param],
            false,
            &admin_rest,
            false
        ));
        assert!(!as_specific(&[PatSeg::Greedy], false, &admin_rest, false));
        assert!(!as_specific(
            &[PatSeg::Greedy],
            false,
            &[lit("admin")],
            false
        ));
        assert!(!as_specific(
            &[PatSeg::Param],
            false,
            &[lit("admin")],
            false
        ));
        assert!(!as_specific(&admin_rest, false, &admin_rest, true));
        assert!(as_specific(&admin_rest, true, &admin_rest, false));
        assert_eq!(sample(&admin_rest, true, "x"), "/admin/x/");
        assert_eq!(sample(&[], false, "x"), "/");
        assert_eq!(sample_host(Some("*.example.com"), "x"), "x.example.com");
        assert_eq!(sample_host(Some("*"), "x"), "");
    }

    #[test]
    fn labels_show_statements_on_one_line_cut_at_a_word() {
        assert_eq!(
            short("validate params {\n    path.id: uuid\n  }"),
            "validate params { path.id: uuid }"
        );
        let long = format!("require header.x == \"{}\" else 403", "a".repeat(50));
        assert_eq!(short(&long), "require header.x == …");
    }
}
