//! Step 1, resolve: collect declarations into symbol tables with dense `u16` ids (E0202 for
//! duplicates), and look names up with did-you-mean (E0201). Use is tracked for W0204.

use std::cell::Cell;

use gw_syntax::ast::{Addr, Ident, Item, ItemKind, Lit, Route, Setting, Stmt, StrLit, VarDef};
use gw_syntax::{Diagnostic, Span};

use crate::ctx::Ctx;

/// One named declaration.
#[derive(Debug)]
pub(crate) struct Named<T> {
    pub name: String,
    pub span: Span,
    pub value: T,
    pub used: Cell<bool>,
}

/// Declarations of one kind; the index is the dense id.
#[derive(Debug)]
pub(crate) struct Table<T> {
    /// `upstream`, `jwt`, ... for messages.
    pub kind: &'static str,
    pub list: Vec<Named<T>>,
    index: ahash::AHashMap<String, u16>,
}

impl<T> Table<T> {
    pub(crate) fn new(kind: &'static str) -> Self {
        Table {
            kind,
            list: Vec::new(),
            index: ahash::AHashMap::new(),
        }
    }

    /// Adds a declaration; a second one of the same name is E0202 and is dropped.
    pub(crate) fn insert(&mut self, cx: &mut Ctx<'_>, name: &Ident, value: T) {
        if let Some((_, first)) = self.find(&name.name) {
            cx.emit(
                Diagnostic::error(
                    "E0202",
                    name.span,
                    format!("{} `{}` is declared twice", self.kind, name.name),
                )
                .with_label("declared again here")
                .with_secondary(first.span, "first defined here"),
            );
            return;
        }
        let Ok(id) = u16::try_from(self.list.len()) else {
            cx.emit(
                Diagnostic::error(
                    "E0304",
                    name.span,
                    format!("too many {} declarations", self.kind),
                )
                .with_label("over 65535"),
            );
            return;
        };
        self.index.insert(name.name.clone(), id);
        self.list.push(Named {
            name: name.name.clone(),
            span: name.span,
            value,
            used: Cell::new(false),
        });
    }

    pub(crate) fn find(&self, name: &str) -> Option<(u16, &Named<T>)> {
        let id = *self.index.get(name)?;
        self.list.get(usize::from(id)).map(|n| (id, n))
    }

    pub(crate) fn get(&self, id: u16) -> Option<&Named<T>> {
        self.list.get(usize::from(id))
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|n| n.name.as_str())
    }

    /// Looks a name up and marks it used; unknown names are E0201 with did-you-mean.
    pub(crate) fn resolve(&self, cx: &mut Ctx<'_>, name: &Ident) -> Option<u16> {
        if let Some((id, n)) = self.find(&name.name) {
            n.used.set(true);
            return Some(id);
        }
        cx.emit(self.unknown(name));
        None
    }

    /// The E0201 diagnostic for an unknown name of this kind.
    pub(crate) fn unknown(&self, name: &Ident) -> Diagnostic {
        let mut d = Diagnostic::error(
            "E0201",
            name.span,
            format!("unknown {} `{}`", self.kind, name.name),
        )
        .with_label(format!("no {} of this name", self.kind));
        if let Some(s) = gw_syntax::diag::did_you_mean(&name.name, self.names()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else if self.list.is_empty() {
            d = d.with_help(format!("declare it: `{} {} {{ … }}`", self.kind, name.name));
        }
        d
    }

    /// W0204 for every declaration nothing used.
    pub(crate) fn warn_unused(&self, cx: &mut Ctx<'_>) {
        for n in &self.list {
            if !n.used.get() {
                cx.emit(
                    Diagnostic::warning(
                        "W0204",
                        n.span,
                        format!("{} `{}` is never used", self.kind, n.name),
                    )
                    .with_label("declared here"),
                );
            }
        }
    }
}

/// A route with the host block it sits in.
#[derive(Debug)]
pub(crate) struct RouteItem<'a> {
    pub route: &'a Route,
    pub host: Option<(String, Span)>,
}

/// A `listen`: its address, its `tls { }` body, a plain listener's options.
pub(crate) type Listen<'a> = (&'a Addr, Option<&'a [Setting]>, Option<&'a [Setting]>);

/// Everything a configuration declares, before settings are read.
#[derive(Debug, Default)]
pub(crate) struct Collected<'a> {
    pub listens: Vec<Listen<'a>>,
    pub admins: Vec<&'a Addr>,
    pub workers: Vec<&'a Lit>,
    pub limits: Vec<&'a [Setting]>,
    pub timeouts: Vec<&'a [Setting]>,
    pub vars: Vec<&'a VarDef>,
    pub upstreams: Vec<(&'a Ident, &'a [Setting])>,
    pub jwts: Vec<(&'a Ident, &'a [Setting])>,
    pub api_keys: Vec<(&'a Ident, &'a [Setting])>,
    pub authorizers: Vec<(&'a Ident, &'a [Setting])>,
    pub plans: Vec<(&'a Ident, &'a [Setting])>,
    pub schemas: Vec<(&'a Ident, &'a StrLit)>,
    pub policies: Vec<(&'a Ident, &'a [Stmt])>,
    pub defaults: Vec<(&'a [Stmt], Span)>,
    pub cors: Vec<(&'a [Setting], Span)>,
    pub logs: Vec<(&'a [Setting], Span)>,
    pub tracings: Vec<(&'a [Setting], Span)>,
    pub routes: Vec<RouteItem<'a>>,
    pub errors: Vec<(&'a [Lit], &'a [Stmt], Span)>,
}

/// Walks every item (host blocks included) into [`Collected`].
pub(crate) fn collect<'a>(cx: &mut Ctx<'_>, items: &'a [Item]) -> Collected<'a> {
    let mut c = Collected::default();
    walk(cx, items, None, &mut c);
    c
}

fn walk<'a>(
    cx: &mut Ctx<'_>,
    items: &'a [Item],
    host: Option<&(String, Span)>,
    c: &mut Collected<'a>,
) {
    for item in items {
        match &item.kind {
            ItemKind::Listen { addr, tls, options } => {
                c.listens.push((addr, tls.as_deref(), options.as_deref()))
            }
            ItemKind::Admin(a) => c.admins.push(a),
            ItemKind::Include(_) => {}
            ItemKind::Workers(l) => c.workers.push(l),
            ItemKind::Limits(s) => c.limits.push(s),
            ItemKind::Timeouts(s) => c.timeouts.push(s),
            ItemKind::Vars(v) => c.vars.extend(v.iter()),
            ItemKind::Upstream { name, body } => c.upstreams.push((name, body)),
            ItemKind::Jwt { name, body } => c.jwts.push((name, body)),
            ItemKind::ApiKeys { name, body } => c.api_keys.push((name, body)),
            ItemKind::Authorizer { name, body } => c.authorizers.push((name, body)),
            ItemKind::Plan { name, body } => c.plans.push((name, body)),
            ItemKind::Schema { name, file } => c.schemas.push((name, file)),
            ItemKind::Policy { name, body } => c.policies.push((name, body)),
            ItemKind::Defaults(b) => c.defaults.push((b, item.span)),
            ItemKind::Cors(s) => c.cors.push((s, item.span)),
            ItemKind::Log(s) => c.logs.push((s, item.span)),
            ItemKind::Tracing(s) => c.tracings.push((s, item.span)),
            ItemKind::Route(r) => c.routes.push(RouteItem {
                route: r,
                host: host.cloned(),
            }),
            ItemKind::OnError { statuses, body } => c.errors.push((statuses, body, item.span)),
            ItemKind::Host { pattern, items } => {
                if host.is_some() {
                    cx.emit(
                        Diagnostic::error("E0201", pattern.span, "`host` blocks do not nest")
                            .with_label("inside another `host` block"),
                    );
                }
                match pattern.as_plain() {
                    Some(h) => walk(cx, items, Some(&(h.to_ascii_lowercase(), pattern.span)), c),
                    None => cx.emit(
                        Diagnostic::error(
                            "E0304",
                            pattern.span,
                            "a host pattern is a plain string",
                        )
                        .with_label("no `{…}` here"),
                    ),
                }
            }
        }
    }
}

/// Reports every declaration after the first of a kind that may appear once (E0202).
pub(crate) fn single<T: Copy>(
    cx: &mut Ctx<'_>,
    what: &str,
    all: &[(T, Span)],
) -> Option<(T, Span)> {
    for (_, span) in all.iter().skip(1) {
        if let Some((_, first)) = all.first() {
            cx.emit(
                Diagnostic::error("E0202", *span, format!("`{what}` is declared twice"))
                    .with_label("declared again here")
                    .with_secondary(*first, "first defined here"),
            );
        }
    }
    all.first().copied()
}
