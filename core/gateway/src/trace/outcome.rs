//! What a traced route ends in, as core/runtime/src/pipeline.rs and respond.rs would answer:
//! the request sent upstream and the response program over the stubbed upstream's answer, a
//! `respond`, a denial or an error through the config's `on error` page, with the route's
//! CORS headers on gw's own answers.

use std::fmt::Write as _;

use gw_program::{ConfigImage, Program, RoutePlan};
use gw_vm::{Exit, Frame};

use super::host::{ErrInfo, Phase, Response, State, Trace};
use super::run_program;

/// The trace of one request under way.
pub(super) struct Cx<'a, 't> {
    pub t: &'a Trace<'t>,
    pub st: &'a mut State,
    pub out: &'a mut String,
    pub frame: Frame,
}

/// `-> forward to app`: how a program ended, in words.
pub(super) fn exit_text(exit: &Exit, prog: &Program, image: &ConfigImage) -> String {
    let upstream = |u: &u16| {
        image
            .upstreams
            .get(usize::from(*u))
            .map_or_else(|| format!("upstream#{u}"), |x| x.name.clone())
    };
    match exit {
        Exit::Forward {
            upstream: u,
            canary,
            ..
        } => format!(
            "forward to upstream {}{}",
            upstream(u),
            if *canary { " (canary side)" } else { "" }
        ),
        Exit::Upgrade { upstream: u, .. } => {
            format!("upgrade to a WebSocket relay to upstream {}", upstream(u))
        }
        Exit::Respond { status, .. } => format!("respond {status}"),
        Exit::Responded { status } => format!("a policy answered {status}"),
        Exit::Deny {
            status, message, ..
        } => match message.and_then(|m| prog.msgs.get(usize::from(m))) {
            Some(m) => format!("deny {status} {m:?}"),
            None => format!("deny {status}"),
        },
        Exit::Pending { pc } => format!("a policy at op {pc} waits (the trace cannot await)"),
        Exit::Done => "done".into(),
        Exit::Trap { pc } => format!("trap at op {pc}: 500"),
    }
}

impl Cx<'_, '_> {
    /// Admit the request to `route` and trace its programs to the outcome.
    pub fn route(&mut self, route: &RoutePlan, preflight: bool) {
        let t = self.t;
        let _ = writeln!(self.out, "route {}", route.name);
        let limit = route.body_limit.unwrap_or(t.image.limits.body);
        let len = t.req.body.as_ref().map_or(0, Vec::len) as u64;
        if len > limit {
            let _ = writeln!(
                self.out,
                "the body ({len} B) is over the route's limit ({limit} B)"
            );
            return self.error(413, "request entity too large", None, &[]);
        }
        let upgrade = t
            .req
            .header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if route.websocket.is_some() && !upgrade {
            let _ = writeln!(self.out, "a WebSocket route without an Upgrade");
            return self.error(426, "upgrade required", None, &[("upgrade", "websocket")]);
        }
        if preflight && route.cors && route.method != "OPTIONS" {
            let _ = writeln!(
                self.out,
                "a CORS preflight: gw answers 204 through the response program"
            );
            return self.respond(route, 204, None);
        }
        let exit = run_program(
            t,
            self.st,
            &mut self.frame,
            &route.request,
            Phase::Request,
            self.out,
        );
        // what core/runtime/src/pipeline.rs checks before the exit (check_edits)
        if let Some(name) = self.st.edits.refused_header.clone() {
            let _ = writeln!(self.out, "header edit `{name}` refused: 400");
            let msg = "a header value from the request cannot be forwarded";
            return self.error(400, msg, None, &[]);
        }
        if let Some(path) = &self.st.edits.path
            && let Err(e) = gw_proto::check_forward_path(path.as_bytes())
        {
            let msg = match e {
                gw_proto::ProtoError::BadRequest(m) => m,
                _ => "bad request",
            };
            let _ = writeln!(self.out, "rewritten path refused ({msg}): 400");
            return self.error(400, msg, None, &[]);
        }
        match exit {
            Exit::Forward { upstream, .. } | Exit::Upgrade { upstream, .. } => {
                self.forward(route, upstream, matches!(exit, Exit::Upgrade { .. }))
            }
            Exit::Respond { status, body, json } => {
                let body = body.map(|r| (self.frame.body(r).to_owned(), json));
                self.respond(route, status, body)
            }
            Exit::Responded { status } => {
                let mut r = Response {
                    status,
                    ..Response::default()
                };
                self.st.edits.apply_resp_headers(&mut r.headers);
                r.body = self
                    .st
                    .edits
                    .resp_body
                    .clone()
                    .unwrap_or_default()
                    .into_bytes();
                self.print_response(&r, "the response a policy made");
            }
            Exit::Deny {
                status,
                message,
                retry_after,
            } => self.deny(
                status,
                &message_of(&route.request, status, message),
                retry_after,
            ),
            Exit::Trap { .. } | Exit::Pending { .. } | Exit::Done => {
                self.error(500, "internal server error", None, &[])
            }
        }
    }

    /// The request gw would send upstream, then the response program over a stubbed answer.
    fn forward(&mut self, route: &RoutePlan, up: u16, upgrade: bool) {
        let t = self.t;
        let e = &self.st.edits;
        let name = t
            .image
            .upstreams
            .get(usize::from(up))
            .map_or_else(|| format!("upstream#{up}"), |u| u.name.clone());
        self.st.upstream = Some(name.clone());
        let _ = writeln!(self.out, "upstream request to {name} (stubbed: not sent):");
        let path = e.path.as_deref().unwrap_or(&t.req.path);
        let query = if e.query_edited {
            e.query
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        } else {
            t.req.query.clone()
        };
        let sep = if query.is_empty() { "" } else { "?" };
        let _ = writeln!(self.out, "  {} {path}{sep}{query} HTTP/1.1", t.req.method);
        let body = match (&e.body, &t.req.body) {
            (Some(b), _) => Some(b.clone().into_bytes()),
            (None, b) => b.clone(),
        };
        for (n, v) in &e.headers {
            if body.is_some() && e.body.is_some() && n == "content-length" {
                continue;
            }
            let _ = writeln!(self.out, "  {n}: {v}");
        }
        if let (Some(b), Some(_)) = (&body, &e.body) {
            let _ = writeln!(self.out, "  content-length: {}", b.len());
        }
        // what gw adds (gw_proto's forward head), unless the request already carries it
        let added = [
            ("x-forwarded-for", "127.0.0.1"),
            ("x-forwarded-proto", "http"),
            ("x-request-id", t.req.request_id.as_str()),
        ];
        for (n, v) in added {
            if super::host::header_in(&e.headers, n).is_none() {
                let _ = writeln!(self.out, "  {n}: {v}");
            }
        }
        if let Some(b) = &body {
            let _ = writeln!(self.out, "  body: {}", String::from_utf8_lossy(b));
        }
        if upgrade {
            let _ = writeln!(
                self.out,
                "the upstream's 101 would start a WebSocket relay (stubbed: no relay)"
            );
            return;
        }
        let stub = Response {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        };
        let _ = writeln!(self.out, "upstream response (stubbed): 200, empty body");
        let mut resp = stub.clone();
        if let Some(prog) = &route.response {
            if !self.response_program(prog, &stub) {
                return;
            }
            self.apply_response_edits(&mut resp);
        }
        self.print_response(&resp, "the response to the client");
    }

    /// A `respond` (or a preflight's 204): the response program runs over it as over an
    /// upstream's answer.
    fn respond(&mut self, route: &RoutePlan, status: u16, body: Option<(String, bool)>) {
        let mut resp = Response {
            status,
            ..Response::default()
        };
        if let Some((text, json)) = body {
            let ctype = if json {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            resp.headers.push(("content-type".into(), ctype.into()));
            resp.body = text.into_bytes();
        }
        if let Some(prog) = &route.response {
            // the program sees the headers the request program set for this answer
            let mut seen = Response {
                body: if route.buffer_response {
                    resp.body.clone()
                } else {
                    Vec::new()
                },
                ..resp.clone()
            };
            self.st.edits.apply_resp_headers(&mut seen.headers);
            if !self.response_program(prog, &seen) {
                return;
            }
            self.apply_response_edits(&mut resp);
        }
        self.print_response(&resp, "gw's answer");
    }

    /// Run the route's response program over `seen`; `false` when it denied (that answer is
    /// printed).
    fn response_program(&mut self, prog: &Program, seen: &Response) -> bool {
        let exit = run_program(
            self.t,
            self.st,
            &mut self.frame,
            prog,
            Phase::Response(seen),
            self.out,
        );
        if let Exit::Deny {
            status,
            message,
            retry_after,
        } = exit
        {
            self.deny(status, &message_of(prog, status, message), retry_after);
            return false;
        }
        true
    }

    fn apply_response_edits(&mut self, resp: &mut Response) {
        let e = &self.st.edits;
        resp.status = e.resp_status.unwrap_or(resp.status);
        e.apply_resp_headers(&mut resp.headers);
        if let Some(b) = &e.resp_body {
            resp.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
            resp.headers
                .push(("content-type".into(), "application/json".into()));
            resp.body = b.clone().into_bytes();
        }
    }

    /// A denial: gw's answer for `status`, with what the denying policy added.
    fn deny(&mut self, status: u16, message: &str, retry_after: Option<u64>) {
        let e = &self.st.edits;
        if let Some(why) = &e.deny_reason {
            let _ = writeln!(self.out, "denied {status}: {why} (gw's log only)");
        }
        let mut extra: Vec<(String, String)> = Vec::new();
        if let Some(s) = retry_after {
            extra.push(("retry-after".into(), s.to_string()));
        }
        extra.extend(e.deny_headers.iter().cloned());
        let own = e.deny_body.clone();
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.answer(status, message, retry_after, &extra, own);
    }

    /// gw's own error answer (404, 405, 413, 500...).
    pub fn error(
        &mut self,
        status: u16,
        message: &str,
        retry_after: Option<u64>,
        extra: &[(&str, &str)],
    ) {
        self.answer(status, message, retry_after, extra, None);
    }

    /// gw's answer for `status`: the `on error` page for it when the config has one, else
    /// `own` (a policy's body), else `{"message", "requestId"}`; the route's CORS headers.
    fn answer(
        &mut self,
        status: u16,
        message: &str,
        retry_after: Option<u64>,
        extra: &[(&str, &str)],
        own: Option<(String, String)>,
    ) {
        let t = self.t;
        let e = &mut self.st.edits;
        e.resp_headers.clear();
        e.resp_status = None;
        e.resp_body = None;
        self.own_cors();
        let mut resp = Response {
            status,
            ..Response::default()
        };
        let mut body: Option<(String, Vec<u8>)> = None;
        let page = t
            .image
            .error_pages
            .iter()
            .find(|p| p.statuses.contains(&status));
        if let Some(page) = page {
            let err = ErrInfo {
                status,
                message: message.to_owned(),
                retry_after,
            };
            // the CORS headers are kept; the page's own edits come after them
            let exit = run_program(
                t,
                self.st,
                &mut self.frame,
                &page.program,
                Phase::Error(&err),
                self.out,
            );
            match exit {
                Exit::Respond {
                    status: s,
                    body: b,
                    json,
                } => {
                    resp.status = s;
                    if let Some(r) = b {
                        let ctype = if json {
                            "application/json"
                        } else {
                            "text/plain; charset=utf-8"
                        };
                        body = Some((ctype.into(), self.frame.body(r).as_bytes().to_vec()));
                    } else {
                        body = Some((String::new(), Vec::new()));
                    }
                }
                Exit::Done => {
                    let e = &self.st.edits;
                    resp.status = e.resp_status.unwrap_or(status);
                    if let Some(b) = &e.resp_body {
                        body = Some(("application/json".into(), b.clone().into_bytes()));
                    }
                }
                _ => {}
            }
        }
        let (ctype, bytes) = match (body, own) {
            (Some(b), _) => b,
            (None, Some((ctype, b))) => (ctype, b.into_bytes()),
            (None, None) => {
                let default = serde_json::json!({
                    "message": message,
                    "requestId": t.req.request_id,
                });
                ("application/json".into(), default.to_string().into_bytes())
            }
        };
        if !ctype.is_empty() {
            resp.headers.push(("content-type".into(), ctype));
        }
        for (n, v) in extra {
            resp.headers.push(((*n).to_owned(), (*v).to_owned()));
        }
        self.st.edits.apply_resp_headers(&mut resp.headers);
        resp.body = bytes;
        self.print_response(&resp, "gw's answer");
    }

    /// The route's CORS headers on one of gw's own answers (core/runtime/src/cors.rs,
    /// `own_answer`): the `cors` policy called alone.
    fn own_cors(&mut self) {
        let t = self.t;
        let Some(route) = t.route.filter(|r| r.cors) else {
            return;
        };
        let Some(mut prog) = t.image.cors_alone() else {
            return;
        };
        prog.name = format!("cors of route {}", route.name);
        let stub = Response::default();
        let _ = writeln!(
            self.out,
            "gw's own answer gets the route's CORS headers (the cors policy alone):"
        );
        run_program(
            t,
            self.st,
            &mut self.frame,
            &prog,
            Phase::Response(&stub),
            self.out,
        );
    }

    fn print_response(&mut self, r: &Response, what: &str) {
        let _ = writeln!(self.out, "{what}:");
        let _ = writeln!(
            self.out,
            "  HTTP/1.1 {} {}",
            r.status,
            gw_proto::canonical_reason(r.status)
        );
        for (n, v) in &r.headers {
            let _ = writeln!(self.out, "  {n}: {v}");
        }
        if !r.body.is_empty() {
            let _ = writeln!(self.out, "  body: {}", String::from_utf8_lossy(&r.body));
        }
    }
}

/// A denial's message: the statement's own, else the status's reason phrase.
fn message_of(prog: &Program, status: u16, message: Option<u16>) -> String {
    message
        .and_then(|m| prog.msgs.get(usize::from(m)))
        .map_or_else(
            || gw_proto::canonical_reason(status).to_owned(),
            Clone::clone,
        )
}
