//! Assembly: runs every step over a configuration and builds the [`ConfigImage`] — listeners
//! (E0702), plugin specs (outputs, E0801), error pages, verification (E0999 on a miscompile)
//! and the hash seed.

use std::sync::Arc;

use gw_program::{ConfigImage, ErrorPage, RoutePlan};
use gw_syntax::ast::Config;
use gw_syntax::{Diagnostic, SourceMap};

use crate::cascade;
use crate::consts::Vars;
use crate::ctx::Ctx;
use crate::decls::{self};
use crate::lower::{Global, Locals, SchemaDecl, Syms};
use crate::resolve::{self, Table};
use crate::route::{self, CompiledRoute};
use crate::routes::{self, RouteInfo};
use crate::{
    Compiled, Options, authz, files, guards, keys, listen, response, settings, specs, verify,
};

/// 64-bit FNV-1a: a stable hash (state keys, the sticky-canary seed).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Every step over one configuration.
pub(crate) fn build(config: &Config, sources: &SourceMap, opts: &Options) -> Compiled {
    let mut cx = Ctx::new(sources, opts);
    let col = resolve::collect(&mut cx, &config.items);
    let vars = Vars::build(&mut cx, &col.vars);

    let mut upstreams = Table::new("upstream");
    for (n, body) in &col.upstreams {
        let u = settings::upstream(&mut cx, &vars, n, body);
        upstreams.insert(&mut cx, n, u);
    }
    let mut jwts = Table::new("jwt");
    for (n, body) in &col.jwts {
        let d = decls::jwt(&mut cx, &vars, n, body);
        jwts.insert(&mut cx, n, d);
    }
    let mut plans = Table::new("plan");
    for (n, body) in &col.plans {
        let d = keys::plan(&mut cx, n, body);
        plans.insert(&mut cx, n, d);
    }
    let mut api_keys = Table::new("api_keys");
    for (n, body) in &col.api_keys {
        let d = keys::api_keys(&mut cx, &vars, n, body);
        for k in &d.keys {
            if let Some(p) = &k.plan
                && plans.find(p).is_none()
            {
                let mut diag = Diagnostic::error(
                    "E0504",
                    d.file_span.unwrap_or(n.span),
                    format!("plan `{p}` of key `{}` is not declared", k.id),
                )
                .with_label(format!("`{}` line {} names it", d.file_name, k.line));
                diag = match gw_syntax::diag::did_you_mean(p, plans.names()) {
                    Some(s) => diag.with_help(format!("did you mean `{s}`?")),
                    None => {
                        diag.with_help(format!("declare it: `plan {p} {{ rate 10/s burst 20 }}`"))
                    }
                };
                cx.emit(diag);
            }
        }
        api_keys.insert(&mut cx, n, d);
    }
    let mut authorizers = Table::new("authorizer");
    for (n, body) in &col.authorizers {
        let d = authz::authorizer(&mut cx, &vars, n, body);
        if let Some(span) = d.fail_open {
            cx.emit(
                Diagnostic::warning("W0103", span, format!("authorizer `{}` fails open", n.name))
                    .with_label("requests are allowed when the authorizer is down")
                    .with_help(
                        "prefer `on_error deny 503` unless serving unauthenticated callers is safe",
                    ),
            );
        }
        authorizers.insert(&mut cx, n, d);
    }
    let mut schemas = Table::new("schema");
    for (n, file) in &col.schemas {
        let read = file
            .as_plain()
            .and_then(|p| files::schema(&mut cx, file.span, &p));
        let (path, text, shape) = read.map_or(
            (
                String::new(),
                String::new(),
                files::SchemaTy::Scalar(crate::types::Ty::Json),
            ),
            |(p, t, s)| (p.to_string_lossy().into_owned(), t, s),
        );
        schemas.insert(&mut cx, n, SchemaDecl { path, text, shape });
    }
    let mut policies = Table::new("policy");
    for (n, body) in &col.policies {
        policies.insert(&mut cx, n, *body);
    }
    let cors =
        resolve::single(&mut cx, "cors", &col.cors).map(|(s, _)| authz::cors(&mut cx, &vars, s));
    let defaults = resolve::single(&mut cx, "defaults", &col.defaults).map(|(d, _)| d);
    let syms = Syms {
        vars,
        upstreams,
        jwts,
        api_keys,
        authorizers,
        plans,
        schemas,
        policies,
        cors,
        defaults,
    };
    let mut g = Global {
        cx,
        syms,
        locals: Locals::default(),
        slots: Vec::new(),
        canaries: 0,
        body_reads: Vec::new(),
        body_limit: 0,
        usage_file: String::new(),
    };

    let mut image = ConfigImage::default();
    let usage = listen::serving(&mut g.cx, &col, &mut image);
    // by default next to the root file: `api.gw` keeps its quota counters in `api.gw.usage`
    let usage = usage.or_else(|| {
        let root = &sources.files.first()?.path;
        let mut p = std::path::absolute(root).unwrap_or_else(|_| root.clone());
        p.as_mut_os_string().push(".usage");
        Some(p)
    });
    g.usage_file = usage.map_or_else(String::new, |p| p.to_string_lossy().into_owned());
    g.body_limit = image.limits.body;

    let infos: Vec<RouteInfo<'_>> = col
        .routes
        .iter()
        .map(|it| routes::info(&mut g.cx, it))
        .collect();
    let compiled: Vec<CompiledRoute> = infos
        .iter()
        .enumerate()
        .map(|(i, inf)| route::compile(&mut g, inf, i))
        .collect();
    let pages = response::error_pages(&mut g, &col.errors);
    let router = routes::router(&mut g.cx, &infos);
    routes::lints(&mut g.cx, &infos, router.as_ref());
    guards::lint(&mut g, &infos, router.as_ref());

    for k in &g.syms.api_keys.list {
        if k.used.get() {
            for line in &k.value.keys {
                if let Some(p) = line.plan.as_deref().and_then(|p| g.syms.plans.find(p)) {
                    p.1.used.set(true);
                }
            }
        }
    }
    let policy_stmts = g.syms.policies.list.iter().flat_map(|p| p.value.iter());
    let route_stmts = col.routes.iter().flat_map(|r| r.route.body.iter());
    cascade::mark_failed_references(&g, policy_stmts.chain(route_stmts));
    warn_unused(&mut g);
    let plugins = specs::finish_specs(&mut g);

    let locals = g.locals.names.clone();
    let share = |mut p: gw_program::Program| {
        p.locals = locals.clone();
        Arc::new(p)
    };
    image.routes = compiled
        .into_iter()
        .filter_map(|c| {
            let info = infos.get(c.info_index)?;
            Some(RoutePlan {
                name: info.name.clone(),
                host: info.host.clone(),
                method: info.route.method.as_str().to_string(),
                pattern: info.pattern.clone(),
                params: info.params.clone(),
                websocket: c.websocket,
                request: share(c.request),
                response: c.response.map(share),
                timeout_ms: c.timeout_ms,
                connect_timeout_ms: c.connect_timeout_ms,
                retry: c.retry,
                cors: c.cors && g.syms.cors.is_some(),
                body_limit: c.body_limit,
                buffer_body: c.buffer_body,
                buffer_response: c.buffer_response,
                path_allow: c.path_allow,
            })
        })
        .collect();
    image.error_pages = pages
        .into_iter()
        .map(|(statuses, p)| ErrorPage {
            statuses,
            program: share(p),
        })
        .collect();
    image.upstreams = g
        .syms
        .upstreams
        .list
        .iter()
        .map(|u| u.value.clone())
        .collect();
    image.plugins = plugins;
    image.router = router.unwrap_or_default();
    image.hash_seed = sources
        .files
        .first()
        .map_or(0, |f| fnv1a(f.path.to_string_lossy().as_bytes()));

    let mut diags = g.cx.diags;
    // Report in source order, as a reader meets the problems.
    diags.sort_by_key(|d| (d.span.file, d.span.start));
    let failed = diags.iter().any(Diagnostic::is_error);
    let image = if failed {
        None
    } else {
        let internal = verify::image(&image, &infos);
        let ok = internal.is_empty();
        diags.extend(internal);
        ok.then_some(image)
    };
    Compiled {
        image,
        diagnostics: diags,
    }
}

fn warn_unused(g: &mut Global<'_>) {
    let cx = &mut g.cx;
    g.syms.upstreams.warn_unused(cx);
    g.syms.jwts.warn_unused(cx);
    g.syms.api_keys.warn_unused(cx);
    g.syms.authorizers.warn_unused(cx);
    g.syms.plans.warn_unused(cx);
    g.syms.schemas.warn_unused(cx);
    g.syms.policies.warn_unused(cx);
    for v in &g.syms.vars.list {
        if !v.used.get() {
            cx.emit(
                Diagnostic::warning("W0204", v.span, format!("var `{}` is never used", v.name))
                    .with_label("defined here"),
            );
        }
    }
}
