//! What the runtime does for the `cors` plugin beyond the response program the compiler
//! ends with its call: a preflight reaches the route of the method it asks about and is
//! answered by gw (204 through the response program, never the request program or the
//! upstream), and gw's own answers for a route with CORS (errors, denials) get its headers.

use gw_program::{ConfigImage, Lookup, RoutePlan};
use gw_proto::RequestHead;

use crate::phase::run_program;
use crate::state::Conn;
use crate::worker::{Gen, Worker};

/// A CORS preflight's asked method: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
fn preflight_method<'a>(hb: &'a [u8], head: &RequestHead) -> Option<&'a [u8]> {
    if head.method.of(hb) != b"OPTIONS" {
        return None;
    }
    crate::host::header_in(hb, &head.headers, b"origin")?;
    crate::host::header_in(hb, &head.headers, b"access-control-request-method")
}

/// A preflight the router answered 405 (no `OPTIONS` route for the path) is routed by the
/// method it asks about, so the route that would serve the real request answers it when
/// that route has CORS.
pub fn reroute<'i>(
    image: &'i ConfigImage,
    req: (&[u8], &RequestHead, &str),
    host: &str,
    params: &mut Vec<(u32, u32)>,
    looked: Lookup<'i>,
) -> Lookup<'i> {
    let (hb, head, path) = req;
    if !matches!(looked, Lookup::MethodNotAllowed { .. }) {
        return looked;
    }
    let Some(asked) = preflight_method(hb, head).and_then(|m| std::str::from_utf8(m).ok()) else {
        return looked;
    };
    match image.router.lookup(host, asked, path, params) {
        Lookup::Found { route } if image.routes.get(route as usize).is_some_and(|r| r.cors) => {
            Lookup::Found { route }
        }
        _ => looked,
    }
}

/// Whether gw answers this request as a preflight for `route` (one with CORS that is not
/// itself an `OPTIONS` route).
pub fn is_preflight(c: &Conn, route: &RoutePlan) -> bool {
    route.cors && route.method != "OPTIONS" && preflight_method(&c.req.hb, &c.req.head).is_some()
}

/// Adds the CORS headers to one of gw's own answers for the request's route, when it has
/// CORS: the `cors` plugin called alone, its headers left in the response edits.
pub async fn own_answer(w: &Worker, cfg: &Gen, c: &mut Conn) {
    let image = cfg.image();
    let Some(route) = c
        .req
        .route
        .and_then(|r| image.routes.get(r as usize))
        .filter(|r| r.cors)
    else {
        return;
    };
    let Some(prog) = &cfg.cors_alone else {
        return;
    };
    if let Err(e) = run_program(w, cfg, c, Some(route), prog, None, None).await {
        crate::log::log!("route {}: cors on gw's answer: {e}", route.name);
    }
}
