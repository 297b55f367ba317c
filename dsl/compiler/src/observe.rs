//! `log { }` (the access log) and `tracing { }` (W3C trace context, span export).

use gw_program::{AccessLog, LogField, LogTarget, Tracing};
use gw_syntax::ast::{BinOp, ExprKind, LitValue, Setting};
use gw_syntax::{Diagnostic, Span};

use crate::args::{self, Cursor};
use crate::ctx::Ctx;
use crate::lits;

/// The one `log { }` of a config (E0202 for a second).
pub(crate) fn access_log(cx: &mut Ctx<'_>, decls: &[(&[Setting], Span)]) -> Option<AccessLog> {
    let (body, _) = once(cx, decls, "log")?;
    const KW: &[&str] = &["format", "fields", "to", "sample"];
    let entries = args::entries(cx, "`log`", body, KW);
    args::check_unique(cx, &entries, KW);
    let mut out = AccessLog {
        fields: LogField::ALL.to_vec(),
        to: LogTarget::Stdout,
        sample: None,
    };
    for e in &entries {
        let mut c = Cursor::new(e);
        match e.name.name.as_str() {
            "format" => {
                if !c.eat_word("json") {
                    args::expected(cx, c.at, "`json`", "`format json`");
                    c.next();
                }
            }
            "fields" => match c.expr().map(|x| (&x.kind, x.span)) {
                Some((ExprKind::List(items), _)) => {
                    let mut fields = Vec::new();
                    for item in items {
                        let name = match &item.kind {
                            ExprKind::Name(i) => Some(i.name.clone()),
                            ExprKind::Str(s) => args::plain(s),
                            _ => None,
                        };
                        match name.as_deref().and_then(LogField::parse) {
                            Some(f) if fields.contains(&f) => cx.emit(
                                Diagnostic::error("E0202", item.span, "this field is listed twice")
                                    .with_label("listed again here"),
                            ),
                            Some(f) => fields.push(f),
                            None => {
                                let names: Vec<&str> =
                                    LogField::ALL.iter().map(|f| f.name()).collect();
                                let mut d = Diagnostic::error(
                                    "E0201",
                                    item.span,
                                    "unknown access log field",
                                )
                                .with_label("not a field of the access log")
                                .with_help(format!("the fields are: {}", names.join(", ")));
                                if let Some(n) = &name
                                    && let Some(s) =
                                        gw_syntax::diag::did_you_mean(n, names.iter().copied())
                                {
                                    d = d.with_help(format!("did you mean `{s}`?"));
                                }
                                cx.emit(d);
                            }
                        }
                    }
                    if fields.is_empty() {
                        args::expected(
                            cx,
                            e.name.span,
                            "at least one field",
                            "`fields [time, status]`",
                        );
                    } else {
                        out.fields = fields;
                    }
                }
                _ => args::expected(
                    cx,
                    c.at,
                    "a list of fields",
                    "`fields [time, route, status]`",
                ),
            },
            "to" => {
                if c.eat_word("stdout") {
                    out.to = LogTarget::Stdout;
                } else if let Some(s) = c.str_lit() {
                    if let Some(p) = args::plain(s) {
                        out.to = LogTarget::File(cx.resolve_path(s.span, &p));
                    }
                } else {
                    args::expected(
                        cx,
                        c.at,
                        "`stdout` or a file",
                        "`to \"/var/log/gw/access.log\"`",
                    );
                }
            }
            _ => out.sample = sample(cx, &mut c),
        }
        c.finish(
            cx,
            &format!("`{}`", e.name.name),
            &["json", "stdout", "when"],
        );
    }
    Some(out)
}

/// `sample P% [when status < N]`: without `when`, every line is sampled.
fn sample(cx: &mut Ctx<'_>, c: &mut Cursor<'_>) -> Option<(u32, u16)> {
    let Some(p) = c.lit().and_then(|l| lits::percent(cx, l)) else {
        if c.peek().is_none() {
            args::expected(cx, c.at, "a percentage", "`sample 10% when status < 400`");
        }
        return None;
    };
    if !c.eat_word("when") {
        return Some((p, 1000));
    }
    let cond = c.expr();
    let below = match cond.map(|x| &x.kind) {
        Some(ExprKind::Binary(BinOp::Lt, a, b)) => match (&a.kind, &b.kind) {
            (ExprKind::Name(n), ExprKind::Lit(l)) if n.name == "status" => match l.value {
                LitValue::Int(v @ 100..=600) => u16::try_from(v).ok(),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    if below.is_none() {
        args::expected(
            cx,
            cond.map_or(c.at, |x| x.span),
            "`status < N`",
            "`sample 10% when status < 400` (errors are always logged)",
        );
    }
    below.map(|b| (p, b))
}

/// The one `tracing { }` of a config.
pub(crate) fn tracing(cx: &mut Ctx<'_>, decls: &[(&[Setting], Span)]) -> Option<Tracing> {
    let (body, _) = once(cx, decls, "tracing")?;
    const KW: &[&str] = &["sample", "otlp", "service"];
    let entries = args::entries(cx, "`tracing`", body, KW);
    args::check_unique(cx, &entries, KW);
    let mut out = Tracing {
        sample: 10_000,
        otlp: None,
        service: "gw".into(),
    };
    for e in &entries {
        let mut c = Cursor::new(e);
        match e.name.name.as_str() {
            "sample" => {
                if let Some(p) = c.lit().and_then(|l| lits::percent(cx, l)) {
                    out.sample = p;
                }
            }
            "otlp" => match c.str_lit() {
                Some(s) => match args::plain(s) {
                    Some(u) if u.starts_with("http://") => out.otlp = Some(u),
                    Some(_) => cx.emit(
                        Diagnostic::error("E0304", s.span, "an OTLP endpoint is an http:// URL")
                            .with_label("not http://")
                            .with_help("`otlp \"http://127.0.0.1:4318/v1/traces\"`"),
                    ),
                    None => {}
                },
                None => args::expected(
                    cx,
                    c.at,
                    "a URL",
                    "`otlp \"http://127.0.0.1:4318/v1/traces\"`",
                ),
            },
            _ => match c.str_lit().and_then(args::plain) {
                Some(s) if !s.is_empty() => out.service = s,
                _ => args::expected(cx, c.at, "a name", "`service \"edge-gw\"`"),
            },
        }
        c.finish(cx, &format!("`{}`", e.name.name), &[]);
    }
    Some(out)
}

fn once<'a>(
    cx: &mut Ctx<'_>,
    decls: &[(&'a [Setting], Span)],
    what: &str,
) -> Option<(&'a [Setting], Span)> {
    for (_, span) in decls.iter().skip(1) {
        cx.emit(
            Diagnostic::error("E0202", *span, format!("`{what}` is declared twice"))
                .with_label("declared again here")
                .with_secondary(decls.first().map_or(*span, |d| d.1), "first declared here"),
        );
    }
    decls.first().copied()
}
