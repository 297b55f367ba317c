//! The request pipeline: one request, after `conn` read its head, from routing to its exit
//! (admit, the request program, then the upstream exchange or gw's own answer, each running
//! the response program); `conn` then runs the log phase. Every step before the exit returns
//! a `Result`, and failures are answered in one place.

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

/// A request that ends with gw's error answer: the error, and a header it carries (`Allow`
/// on a 405, `Upgrade` on a 426).
struct Failure {
    error: Error,
    header: Option<(&'static str, String)>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure {
            error,
            header: None,
        }
    }
}

/// 400 for a request refused before any program ran; the connection closes after it.
fn refused(why: &'static str) -> Failure {
    Error::proto(gw_proto::ProtoError::BadRequest(why)).into()
}

/// Serve the request whose head is in `c`, from routing to its exit: every step before the
/// exit returns a `Result`, and every failure is answered in one place (`respond::error`,
/// through the config's `on error` page).
pub async fn serve(w: &Rc<Worker>, cfg: &Rc<Gen>, c: &mut Conn) -> Next {
    c.req.begin();
    set_request_id(w, c);
    if let Some(t) = &cfg.image().tracing {
        let incoming = crate::host::header_in(&c.req.hb, &c.req.head.headers, b"traceparent");
        c.req.trace = crate::trace::TraceCtx::begin(incoming, || w.random(), t.sample);
        let _ = c
            .req
            .edits
            .req_headers
            .set(b"traceparent", c.req.trace.upstream_header().as_bytes());
    }
    let image = cfg.image();
    if listener_of(image, c.local).is_some_and(|l| l.redirect_https) {
        return Box::pin(respond::redirect_https(w, cfg, c)).await;
    }
    let failure = match Box::pin(admit_and_run(w, cfg, c)).await {
        Ok((route, exit)) => match image.routes.get(route as usize) {
            Some(route) => match exit_of(w, cfg, c, route, exit).await {
                Ok(next) => return next,
                Err(f) => f,
            },
            None => Error::new(ErrorKind::ProgramTrap, Side::Internal, "route id").into(),
        },
        Err(f) => f,
    };
    let header = failure.header.as_ref().map(|(n, v)| (*n, v.as_str()));
    Box::pin(respond::error(w, cfg, c, &failure.error, header)).await
}

/// Route the request, admit it (path and header policies, body limit, the buffered body) and
/// run its request program: the route's id and how the program ended.
async fn admit_and_run(
    w: &Rc<Worker>,
    cfg: &Rc<Gen>,
    c: &mut Conn,
) -> Result<(u32, Exit), Failure> {
    gw_proto::normalize_path(c.req.head.path.of(&c.req.hb), &mut c.req.path)
        .map_err(Error::proto)?;
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
        return Err(refused("path holds a character this listener refuses"));
    }
    if c.req.head.underscore_names && underscores == UnderscoreNames::Reject {
        return Err(refused("header name with an underscore"));
    }
    let method = std::str::from_utf8(c.req.head.method.of(&c.req.hb)).unwrap_or("");
    let host = host_without_port(std::str::from_utf8(c.req.head.host.of(&c.req.hb)).unwrap_or(""));
    let looked = image
        .router
        .lookup(host, method, &c.req.path, &mut c.req.params);
    // a CORS preflight routes by the method it asks about (core/runtime/src/cors.rs)
    let req = (c.req.hb.as_slice(), &c.req.head, c.req.path.as_str());
    let looked = crate::cors::reroute(image, req, host, &mut c.req.params, looked);
    let route_id = match looked {
        Lookup::Found { route } => route,
        Lookup::MethodNotAllowed { allow } => {
            return Err(Failure {
                error: Error::new(ErrorKind::MethodNotAllowed, Side::Downstream, "route"),
                header: Some(("allow", allow.to_owned())),
            });
        }
        Lookup::NotFound => {
            return Err(Error::new(ErrorKind::NoRoute, Side::Downstream, "route").into());
        }
    };
    c.req.route = Some(route_id);
    let route = image
        .routes
        .get(route_id as usize)
        .ok_or_else(|| Error::new(ErrorKind::ProgramTrap, Side::Internal, "route id"))?;
    if !special
        .without(listener_allow.union(route.path_allow))
        .is_empty()
    {
        return Err(refused("path holds a character this route refuses"));
    }
    let limit = body_limit(cfg, route);
    if let Framing::Length(n) = c.req.head.framing
        && n > limit
    {
        return Err(Error::new(ErrorKind::BodyTooLarge, Side::Downstream, "content-length").into());
    }
    if route.websocket.is_some() && !c.req.head.upgrade_websocket {
        return Err(Failure {
            error: Error::new(ErrorKind::UpgradeRequired, Side::Downstream, "route"),
            header: Some(("upgrade", "websocket".to_owned())),
        });
    }
    if crate::cors::is_preflight(c, route) {
        let answer = Exit::Respond {
            status: 204,
            body: None,
            json: false,
        };
        return Ok((route_id, answer));
    }
    if route.buffer_body {
        Box::pin(read_body(w, cfg, c, limit)).await?;
    }
    let exit = match plain_forward(&route.request) {
        Some(exit) => exit,
        None => run_phase(w, cfg, c, route, &route.request, None).await?,
    };
    check_edits(c, route)?;
    Ok((route_id, exit))
}

/// The request program's exit: the upstream exchange, gw's own answer, or a failure.
async fn exit_of(
    w: &Rc<Worker>,
    cfg: &Rc<Gen>,
    c: &mut Conn,
    route: &RoutePlan,
    exit: Exit,
) -> Result<Next, Failure> {
    Ok(match exit {
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
            forward(w, cfg, c, t).await?
        }
        Exit::Upgrade { upstream, hash } => {
            let t = Target {
                route,
                up: upstream,
                hash,
                canary: false,
                upgrade: true,
            };
            forward(w, cfg, c, t).await?
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
            return Err(
                Error::new(ErrorKind::ProgramTrap, Side::Internal, "request program").into(),
            );
        }
        Exit::Done | Exit::Pending { .. } => {
            return Err(Error::new(
                ErrorKind::ProgramTrap,
                Side::Internal,
                "request program end",
            )
            .into());
        }
    })
}

/// Send the request upstream and relay the response (whose own failures the relay answers:
/// once its head is out, a failure can only cut the connection).
async fn forward(
    w: &Rc<Worker>,
    cfg: &Rc<Gen>,
    c: &mut Conn,
    t: Target<'_>,
) -> Result<Next, Failure> {
    let sent = crate::proxy::send(w, cfg, c, &t).await?;
    Ok(crate::response::relay(w, cfg, c, &t, sent).await)
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
