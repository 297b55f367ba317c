//! One request, after its head is read: normalise the path, route, run the request program,
//! then forward, mock-respond or deny.

use std::rc::Rc;

use gw_program::{Lookup, NO_REG, Op, Program, RoutePlan};
use gw_proto::{Framing, PathChars, UnderscoreNames};
use gw_vm::Exit;

use crate::admit::{body_limit, listener_of, read_body};
use crate::error::{Error, ErrorKind, Side};
use crate::host::host_without_port;
use crate::phase::run_phase;
use crate::respond;
use crate::state::{Conn, Next};
use crate::upstream::conn::Target;
use crate::worker::{Gen, Worker};

/// Serve the request whose head is in `c`.
pub async fn serve(w: &Rc<Worker>, cfg: &Rc<Gen>, c: &mut Conn) -> Next {
    c.req.begin();
    set_request_id(w, c);
    if let Err(e) = gw_proto::normalize_path(c.req.head.path.of(&c.req.hb), &mut c.req.path) {
        return Box::pin(respond::error(w, cfg, c, &Error::proto(e), None)).await;
    }
    let image = cfg.image();
    let listener = listener_of(image, c.local);
    let (listener_allow, underscores) = listener
        .map_or((PathChars::NONE, UnderscoreNames::Drop), |l| {
            (l.path_allow, l.underscores)
        });
    let special = PathChars::of(c.req.path.as_bytes());
    if !special
        .without(listener_allow.union(cfg.path_allow_any))
        .is_empty()
    {
        return Box::pin(refuse(
            w,
            cfg,
            c,
            "path holds a character this listener refuses",
        ))
        .await;
    }
    if c.req.head.underscore_names && underscores == UnderscoreNames::Reject {
        return Box::pin(refuse(w, cfg, c, "header name with an underscore")).await;
    }
    let method = std::str::from_utf8(c.req.head.method.of(&c.req.hb)).unwrap_or("");
    let host = host_without_port(std::str::from_utf8(c.req.head.host.of(&c.req.hb)).unwrap_or(""));
    let route_id = match image
        .router
        .lookup(host, method, &c.req.path, &mut c.req.params)
    {
        Lookup::Found { route } => route,
        Lookup::MethodNotAllowed { allow } => {
            let e = Error::new(ErrorKind::MethodNotAllowed, Side::Downstream, "route");
            let allow = allow.to_owned();
            return Box::pin(respond::error(w, cfg, c, &e, Some(("allow", &allow)))).await;
        }
        Lookup::NotFound => {
            let e = Error::new(ErrorKind::NoRoute, Side::Downstream, "route");
            return Box::pin(respond::error(w, cfg, c, &e, None)).await;
        }
    };
    c.req.route = Some(route_id);
    let Some(route) = image.routes.get(route_id as usize) else {
        let e = Error::new(ErrorKind::ProgramTrap, Side::Internal, "route id");
        return Box::pin(respond::error(w, cfg, c, &e, None)).await;
    };
    if !special
        .without(listener_allow.union(route.path_allow))
        .is_empty()
    {
        return Box::pin(refuse(
            w,
            cfg,
            c,
            "path holds a character this route refuses",
        ))
        .await;
    }
    let limit = body_limit(cfg, route);
    if let Framing::Length(n) = c.req.head.framing
        && n > limit
    {
        let e = Error::new(ErrorKind::BodyTooLarge, Side::Downstream, "content-length");
        return Box::pin(respond::error(w, cfg, c, &e, None)).await;
    }
    if route.websocket.is_some() && !c.req.head.upgrade_websocket {
        return respond::status(
            w,
            cfg,
            c,
            426,
            "upgrade required",
            &[("upgrade", "websocket")],
        )
        .await;
    }
    if route.buffer_body
        && let Err(e) = Box::pin(read_body(w, cfg, c, limit)).await
    {
        return Box::pin(respond::error(w, cfg, c, &e, None)).await;
    }
    let exit = match plain_forward(&route.request) {
        Some(exit) => exit,
        None => match run_phase(w, cfg, c, route, &route.request, None).await {
            Ok(exit) => exit,
            Err(e) => return Box::pin(respond::error(w, cfg, c, &e, None)).await,
        },
    };
    if let Err(e) = check_edits(c, route) {
        return Box::pin(respond::error(w, cfg, c, &e, None)).await;
    }
    match exit {
        Exit::Forward {
            upstream,
            hash,
            canary,
        } => {
            let t = Target {
                route,
                up: upstream,
                hash,
                canary,
                upgrade: false,
            };
            forward(w, cfg, c, t).await
        }
        Exit::Upgrade { upstream, hash } => {
            let t = Target {
                route,
                up: upstream,
                hash,
                canary: false,
                upgrade: true,
            };
            forward(w, cfg, c, t).await
        }
        Exit::Respond { status, body, json } => {
            Box::pin(respond::mock(w, cfg, c, Some(route), (status, body, json))).await
        }
        Exit::Responded { status } => Box::pin(respond::plugin(w, cfg, c, status)).await,
        Exit::Deny {
            status,
            message,
            retry_after,
        } => {
            let msg = message
                .and_then(|m| route.request.msgs.get(m as usize))
                .map(String::as_str)
                .unwrap_or_else(|| crate::head::reason(status));
            let msg = msg.to_owned();
            Box::pin(respond::deny(w, cfg, c, status, &msg, retry_after)).await
        }
        Exit::Trap { pc } => {
            crate::log::log!("route {}: program trapped at op {pc}", route.name);
            let e = Error::new(ErrorKind::ProgramTrap, Side::Internal, "request program");
            Box::pin(respond::error(w, cfg, c, &e, None)).await
        }
        Exit::Done | Exit::Pending { .. } => {
            let e = Error::new(
                ErrorKind::ProgramTrap,
                Side::Internal,
                "request program end",
            );
            Box::pin(respond::error(w, cfg, c, &e, None)).await
        }
    }
}

/// Forward the request and relay the response.
pub async fn forward(w: &Rc<Worker>, cfg: &Rc<Gen>, c: &mut Conn, t: Target<'_>) -> Next {
    let sent = match crate::proxy::send(w, cfg, c, &t).await {
        Ok(s) => s,
        Err(e) => return Box::pin(respond::error(w, cfg, c, &e, None)).await,
    };
    crate::response::relay(w, cfg, c, &t, sent).await
}

/// 400 for a request refused before any program ran; the connection closes after it.
async fn refuse(w: &Rc<Worker>, cfg: &Rc<Gen>, c: &mut Conn, why: &'static str) -> Next {
    let e = Error::proto(gw_proto::ProtoError::BadRequest(why));
    respond::error(w, cfg, c, &e, None).await
}

/// Fail closed on what the request program asked for but could not be done: a header edit
/// refused (a value from the request holding a control character) must not leave the
/// client's own field in its place, and a rewritten path must be one request line's worth
/// of path that stays below its literal prefix.
fn check_edits(c: &mut Conn, route: &RoutePlan) -> Result<(), Error> {
    if let Some(name) = c.req.edits.refused_request.take() {
        crate::log::log!(
            "{} route {}: header edit `{}` refused (invalid value from the request): 400",
            c.req.request_id,
            route.name,
            c.req.edits.get(name)
        );
        return Err(Error::proto(gw_proto::ProtoError::BadRequest(
            "a header value from the request cannot be forwarded",
        )));
    }
    if let Some(span) = c.req.edits.path
        && let Err(e) = gw_proto::check_forward_path(c.req.edits.get(span).as_bytes())
    {
        let e = Error::proto(e);
        crate::log::log!(
            "{} route {}: rewritten path refused ({}): 400",
            c.req.request_id,
            route.name,
            e.message()
        );
        return Err(e);
    }
    Ok(())
}

/// A route that only says `upstream u` compiles to one `forward` op without a hash key: its
/// exit is known without running the VM (a frame reset and a host built per request).
fn plain_forward(p: &Program) -> Option<Exit> {
    match p.ops.as_slice() {
        [Op::Forward { up, hash: NO_REG }] => Some(Exit::Forward {
            upstream: *up,
            hash: None,
            canary: false,
        }),
        _ => None,
    }
}

fn set_request_id(w: &Worker, c: &mut Conn) {
    let given = crate::host::header_in(&c.req.hb, &c.req.head.headers, b"x-request-id")
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.iter().all(|b| b.is_ascii_graphic()));
    match given.and_then(|v| std::str::from_utf8(v).ok()) {
        Some(v) => {
            c.req.request_id.clear();
            c.req.request_id.push_str(v);
        }
        None => w.request_id(&mut c.req.request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(ops: Vec<Op>) -> Program {
        Program {
            ops,
            ..Program::default()
        }
    }

    #[test]
    fn only_a_lone_unhashed_forward_skips_the_vm() {
        let lone = program(vec![Op::Forward {
            up: 3,
            hash: NO_REG,
        }]);
        assert!(matches!(
            plain_forward(&lone),
            Some(Exit::Forward {
                upstream: 3,
                hash: None,
                canary: false
            })
        ));
        let hashed = program(vec![Op::Forward { up: 3, hash: 0 }]);
        assert!(plain_forward(&hashed).is_none());
        let guarded = program(vec![
            Op::CanaryMark,
            Op::Forward {
                up: 3,
                hash: NO_REG,
            },
        ]);
        assert!(plain_forward(&guarded).is_none());
        assert!(plain_forward(&program(Vec::new())).is_none());
    }
}
