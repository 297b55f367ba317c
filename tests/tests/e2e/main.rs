//! End-to-end tests of `gw run`: the real binary on loopback, in front of real upstream
//! servers (a scripted std::net server, nginx), driven by a raw TCP client and by curl.
//!
//! Every test body is a `fn(Driver)` run twice, as `NAME_uring` and `NAME_epoll`
//! ([`on_both_drivers!`]). Run: `cargo test -p gw-tests --test e2e`, which brings `gw` up to
//! date first (`GW_BIN` names another binary instead).
//! Filter by driver with `-- _epoll` or `-- _uring`.

// Test harness code fails loudly by design.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
// The harness's own threads share recordings through Mutexes; this is test code, not the
// request path that clippy.toml's lock ban protects.
#![allow(clippy::disallowed_types)]

/// For each `body => name_uring, name_epoll;` define two tests running `body(Driver)`.
macro_rules! on_both_drivers {
    ($($body:ident => $uring:ident, $epoll:ident;)+) => {
        $(
            #[test]
            fn $uring() {
                $body($crate::support::Driver::Uring)
            }

            #[test]
            fn $epoll() {
                $body($crate::support::Driver::Epoll)
            }
        )+
    };
}

mod support;

mod auth;
mod auth_jwt;
mod balancing;
mod busy_poll;
mod cache;
mod cli;
mod concurrency;
mod conformance;
mod cors;
mod errors;
mod fail_closed;
mod fleet;
mod framing;
mod headers;
mod http2;
mod limits;
mod logging;
mod message_types;
mod operations;
mod paths;
mod plans;
mod real_clients;
mod redbot;
mod retries;
mod smuggling;
mod throttle;
mod timeouts;
mod tls;
mod tls_listener;
mod tls_upstream;
mod upstream_failures;
mod validate;
mod websocket;
