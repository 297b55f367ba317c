//! Serving settings: listeners and admin (E0702), `workers`, `limits`, `timeouts`.

use gw_program::{ConfigImage, Limits, Listener, Timeouts};
use gw_syntax::{Diagnostic, Span};

use crate::ctx::Ctx;
use crate::resolve;
use crate::settings;

/// Listeners, admin, workers, limits, timeouts (E0702 for address conflicts). Returns
/// `limits { usage_file }`, when given.
pub(crate) fn serving(
    cx: &mut Ctx<'_>,
    col: &resolve::Collected<'_>,
    image: &mut ConfigImage,
) -> Option<std::path::PathBuf> {
    let mut bound: Vec<(Listener, Span)> = Vec::new();
    for (addr, tls, options) in &col.listens {
        let Some(l) = settings::listener(cx, addr, *tls, *options) else {
            continue;
        };
        if let Some((first, fspan)) = bound.iter().find(|(b, _)| overlaps(b.addr, l.addr)) {
            let msg = if first.tls.is_some() != l.tls.is_some() {
                format!("port {} is both TLS and plain", l.addr.port())
            } else {
                format!("`{}` is listened on twice", l.addr)
            };
            cx.emit(
                Diagnostic::error("E0702", addr.span, msg)
                    .with_label("conflicting listener")
                    .with_secondary(*fspan, "first bound here")
                    .with_help(
                        "one port serves one protocol: use another port for the second listener",
                    ),
            );
            continue;
        }
        bound.push((l, addr.span));
    }
    for (i, a) in col.admins.iter().enumerate() {
        if i > 0 {
            cx.emit(
                Diagnostic::error("E0202", a.span, "`admin` is declared twice")
                    .with_label("declared again here"),
            );
            continue;
        }
        let Some(sock) = settings::bind_addr(cx, a) else {
            continue;
        };
        if let Some((_, fspan)) = bound.iter().find(|(b, _)| overlaps(b.addr, sock)) {
            cx.emit(
                Diagnostic::error("E0702", a.span, "the admin address is a listener address")
                    .with_label("admin endpoints would be served to the public listener")
                    .with_secondary(*fspan, "listener bound here")
                    .with_help("bind admin to a loopback address on its own port, e.g. `admin 127.0.0.1:9901`"),
            );
            continue;
        }
        image.admin = Some(sock);
    }
    image.listeners = bound.into_iter().map(|(l, _)| l).collect();
    if let Some(w) = col.workers.first() {
        image.workers = settings::workers(cx, w);
    }
    let mut limits = Limits::default();
    let mut usage = None;
    for l in &col.limits {
        settings::limits(cx, l, &mut limits, &mut usage);
    }
    image.limits = limits;
    let mut timeouts = Timeouts::default();
    for t in &col.timeouts {
        settings::timeouts(cx, t, &mut timeouts);
    }
    image.timeouts = timeouts;
    image.access_log = crate::observe::access_log(cx, &col.logs);
    image.tracing = crate::observe::tracing(cx, &col.tracings);
    usage
}

/// Two bind addresses collide: same port and the same or a wildcard IP.
fn overlaps(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}
