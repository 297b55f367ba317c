//! Runs one hot-path function N times on realistic heads, for instruction counting:
//! `valgrind --tool=callgrind target/release/examples/hotpath FN N` at two N; the
//! difference in total instructions divided by the difference in N is the per-call cost.
//! FN: parse_request | parse_response | write_forward_head | write_response_head, or
//! parse_request_wrk | parse_response_wrk | write_forward_head_wrk | write_response_head_wrk
//! for the heads of bench/run.sh (wrk and nginx), the writers set up as gw-runtime's proxy does;
//! normalize_path | normalize_path_wrk on the two requests' paths.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use gw_proto::samples::{REQUEST, RESPONSE, WRK_REQUEST, WRK_RESPONSE, client_head, forward_head};
use gw_proto::{
    HeadLimits, HeaderEdits, RequestHead, ResponseHead, normalize_path, parse_request,
    parse_response, write_forward_head, write_response_head,
};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_default();
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or("usage: hotpath FN N")?;
    let limits = HeadLimits::default();
    let mut req = RequestHead::default();
    parse_request(REQUEST, &limits, &mut req).map_err(|e| e.to_string())?;
    let mut resp = ResponseHead::default();
    parse_response(RESPONSE, false, &mut resp).map_err(|e| e.to_string())?;
    let edits = HeaderEdits::new();
    let mut out = Vec::with_capacity(1024);
    let forward = forward_head(
        &req,
        REQUEST,
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 21)),
        &edits,
    );
    let client = client_head(&resp, RESPONSE, &edits);
    let mut wrk_req = RequestHead::default();
    parse_request(WRK_REQUEST, &limits, &mut wrk_req).map_err(|e| e.to_string())?;
    let mut wrk_resp = ResponseHead::default();
    parse_response(WRK_RESPONSE, false, &mut wrk_resp).map_err(|e| e.to_string())?;
    let wrk_forward = forward_head(
        &wrk_req,
        WRK_REQUEST,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        &edits,
    );
    let wrk_client = client_head(&wrk_resp, WRK_RESPONSE, &edits);
    let (path, wrk_path) = (req.path.of(REQUEST), wrk_req.path.of(WRK_REQUEST));
    let mut normal = String::with_capacity(256);
    let mut req2 = RequestHead::default();
    let mut resp2 = ResponseHead::default();
    for _ in 0..n {
        match which.as_str() {
            "parse_request" => {
                let _ = black_box(parse_request(black_box(REQUEST), &limits, &mut req2));
            }
            "parse_request_wrk" => {
                let _ = black_box(parse_request(black_box(WRK_REQUEST), &limits, &mut req2));
            }
            "parse_response_wrk" => {
                let _ = black_box(parse_response(black_box(WRK_RESPONSE), false, &mut resp2));
            }
            "parse_response" => {
                let _ = black_box(parse_response(black_box(RESPONSE), false, &mut resp2));
            }
            "write_forward_head" => {
                out.clear();
                write_forward_head(black_box(&forward), &mut out);
            }
            "write_response_head" => {
                out.clear();
                write_response_head(black_box(&client), &mut out);
            }
            "write_forward_head_wrk" => {
                out.clear();
                write_forward_head(black_box(&wrk_forward), &mut out);
            }
            "write_response_head_wrk" => {
                out.clear();
                write_response_head(black_box(&wrk_client), &mut out);
            }
            "normalize_path" => {
                let _ = black_box(normalize_path(black_box(path), &mut normal));
            }
            "normalize_path_wrk" => {
                let _ = black_box(normalize_path(black_box(wrk_path), &mut normal));
            }
            _ => return Err(format!("unknown function {which:?}")),
        }
    }
    black_box(&out);
    Ok(())
}
