//! Running a phase program (request, response or `on error`) against the request: the VM
//! host is built here, and a plugin call that answers `Pending` is awaited here, so every
//! phase awaits the same way.

use std::time::Duration;

use gw_program::{Program, RoutePlan};
use gw_vm::{Call, Exit, run};

use crate::error::{Error, ErrorKind, Side};
use crate::host::{ReqHost, RespView, req_view};
use crate::state::Conn;
use crate::worker::{Gen, Worker};

/// Run a phase program (request, response or error) to its exit, awaiting plugins that
/// answer `Pending`. `resp` is the upstream response in the response phase.
pub async fn run_phase(
    w: &Worker,
    cfg: &Gen,
    c: &mut Conn,
    route: &RoutePlan,
    prog: &Program,
    resp: Option<RespView<'_>>,
) -> Result<Exit, Error> {
    run_program(w, cfg, c, Some(route), prog, resp, None).await
}

/// Run `prog` against the request in `c`. A plugin call that answers `Pending` has handed
/// over an operation; the request awaits it (bounded by the request timeout, other requests
/// go on meanwhile), runs its completion against the request, and goes on after the call.
pub async fn run_program(
    w: &Worker,
    cfg: &Gen,
    c: &mut Conn,
    route: Option<&RoutePlan>,
    prog: &Program,
    resp: Option<RespView<'_>>,
    error: Option<crate::host::ErrView<'_>>,
) -> Result<Exit, Error> {
    let mut pc = 0;
    let mut completion: Option<gw_plugin::Completion> = None;
    // a program whose plugins keep pending is a plugin bug: bound the round trips
    for _ in 0..64 {
        let mut pending = None;
        let exit = {
            let healthy = |up: u16| {
                w.upstreams
                    .borrow()
                    .healthy(up as usize, &cfg.loaded, std::time::Instant::now())
            };
            let mut host = ReqHost {
                prog,
                req: req_view!(c, route),
                edits: &mut c.req.edits,
                denial: &mut c.req.denial,
                policy: &mut c.req.log.policy,
                slots: cfg.slots(),
                pending: &mut pending,
                resp,
                error,
                body: route
                    .filter(|r| r.buffer_body)
                    .map(|_| c.req.body.as_slice()),
                split: &cfg.split,
                healthy: &healthy,
                now_ms: std::cell::Cell::new(None),
                arrived: c.started.0,
                hash_seed: cfg.image().hash_seed,
                locals: &mut c.req.locals,
                json: &mut c.req.json,
                http: w.http.as_ref(),
            };
            match completion.take().map(|done| done(&mut host)) {
                None => run(prog, pc, &mut c.req.frame, &mut host),
                // the call that waited accepted: a later denial is not its own
                Some(Call::Continue) => {
                    *host.policy = None;
                    run(prog, pc, &mut c.req.frame, &mut host)
                }
                Some(Call::Deny {
                    status,
                    retry_after,
                }) => Exit::Deny {
                    status,
                    message: None,
                    retry_after,
                },
                Some(Call::Respond(status)) => Exit::Responded { status },
                // the completion handed over another operation: await it too
                Some(Call::Pending) => Exit::Pending {
                    pc: pc.saturating_sub(1),
                },
            }
        };
        let Exit::Pending { pc: at } = exit else {
            return Ok(exit);
        };
        pc = at + 1;
        let Some(op) = pending else {
            return Err(Error::new(
                ErrorKind::ProgramTrap,
                Side::Internal,
                "a plugin answered Pending without an operation",
            ));
        };
        let limit = route
            .and_then(|r| r.timeout_ms)
            .unwrap_or(cfg.image().timeouts.request);
        let op = std::pin::pin!(op);
        match c.watch.within(Duration::from_millis(limit), op).await {
            Ok(done) => completion = Some(done),
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::UpstreamTimeout,
                    Side::Internal,
                    "plugin operation not done within the request timeout",
                ));
            }
        }
    }
    Err(Error::new(
        ErrorKind::ProgramTrap,
        Side::Internal,
        "plugin kept pending",
    ))
}
