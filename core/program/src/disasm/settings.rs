//! The settings line under a route header: every position-free setting with its effective
//! value, defaults marked as such ("Defaults are never hidden", rule 10 of
//! grammar/README.md#a-first-file).
//!
//! ```text
//!   settings: timeout 29s (default) · connect 5s (default) · retry off · budget 100 000 (default) · body ≤ 10 MiB (default), streamed · cors off
//! ```

use std::fmt::Write;

use crate::cost::DEFAULT_BUDGET;
use crate::image::{ConfigImage, Retry, RoutePlan};
use crate::value::Value;
use crate::{PathChars, UnderscoreNames};

use super::{group_thousands, size};

/// Writes the settings line of `route` (with a trailing newline).
pub(super) fn write_settings(out: &mut String, route: &RoutePlan, img: &ConfigImage) {
    let mut parts: Vec<String> = Vec::new();
    parts.push(format!(
        "timeout {}",
        or_default(route.timeout_ms, img.timeouts.request, duration)
    ));
    parts.push(format!(
        "connect {}",
        or_default(route.connect_timeout_ms, img.timeouts.connect, duration)
    ));
    parts.push(retry(&route.retry));
    let budget = match route.request.budget {
        Some(b) => group_thousands(b),
        None => format!("{} (default)", group_thousands(DEFAULT_BUDGET)),
    };
    parts.push(format!("budget {budget}"));
    let buffering = if route.buffer_body {
        "buffered"
    } else {
        "streamed"
    };
    parts.push(format!(
        "body ≤ {}, {buffering}",
        or_default(route.body_limit, img.limits.body, size)
    ));
    if let Some(ws) = &route.websocket {
        let ping = ws.ping_every_ms.map_or_else(
            || "no ping".to_string(),
            |ms| format!("ping {}", duration(ms)),
        );
        parts.push(format!(
            "websocket idle {}, message ≤ {}, {ping}",
            duration(ws.idle_timeout_ms),
            size(ws.max_message)
        ));
    }
    let declared = img.plugins.iter().any(|p| p.plugin == "cors");
    let cors = match (route.cors, declared) {
        (true, true) => "cors on",
        (false, true) => "cors off",
        (_, false) => "cors off (none declared)",
    };
    parts.push(cors.to_string());
    parts.push(path_policy(route.path_allow, "path strict (default)"));
    let _ = writeln!(out, "  settings: {}", parts.join(" · "));
}

/// One line per listener: the path characters and underscore names it serves.
pub(super) fn write_listeners(out: &mut String, img: &ConfigImage) {
    for l in &img.listeners {
        let underscores = match l.underscores {
            UnderscoreNames::Drop => "header underscores dropped (default)",
            UnderscoreNames::Keep => "header underscores kept",
            UnderscoreNames::Reject => "header underscores rejected",
        };
        let path = path_policy(l.path_allow, "path strict (default)");
        let tls = match &l.tls {
            Some(t) => {
                let certs = match t.certs.len() {
                    1 => String::new(),
                    n => format!(" ({n} certificates)"),
                };
                let mtls = match (&t.client_ca, t.client_auth) {
                    (None, _) => "",
                    (Some(_), crate::ClientAuth::Required) => " · client cert required",
                    (Some(_), _) => " · client cert optional",
                };
                let sni = match t.unknown_sni {
                    crate::UnknownSni::Default => "",
                    crate::UnknownSni::Reject => " · unknown SNI rejected",
                };
                format!(" tls{certs}{mtls}{sni}")
            }
            None => String::new(),
        };
        if l.redirect_https {
            let _ = writeln!(out, "listen {}: redirect https (308)", l.addr);
            continue;
        }
        let h2c = if l.h2c { " h2c" } else { "" };
        let _ = writeln!(out, "listen {}{tls}{h2c}: {path} · {underscores}", l.addr);
    }
}

/// `path allows "%2F" ";"`, or `default` when nothing is allowed.
fn path_policy(allow: PathChars, default: &str) -> String {
    if allow.is_empty() {
        return default.to_string();
    }
    let tokens: Vec<String> = allow.tokens().map(|t| format!("\"{t}\"")).collect();
    format!("path allows {}", tokens.join(" "))
}

fn or_default(set: Option<u64>, default: u64, show: fn(u64) -> String) -> String {
    match set {
        Some(v) => show(v),
        None => format!("{} (default)", show(default)),
    }
}

fn duration(ms: u64) -> String {
    let mut s = String::new();
    Value::Duration(ms).write_literal(&mut s);
    s
}

fn retry(r: &Retry) -> String {
    if r.count == 0 {
        return "retry off".to_string();
    }
    let on: Vec<&str> = [
        (r.on_connect_error, "connect_error"),
        (r.on_timeout, "timeout"),
        (r.on_5xx, "5xx"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect();
    if on.is_empty() {
        format!("retry {}", r.count)
    } else {
        format!("retry {} on {}", r.count, on.join(", "))
    }
}
