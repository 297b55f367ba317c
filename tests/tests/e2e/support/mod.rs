//! What the end-to-end tests are built from: the gw process, a scripted upstream, clients.

pub mod client;
pub mod gw;
pub mod http;
pub mod reply;
pub mod tools;
pub mod upstream;
pub mod websocket;

pub use client::{Client, build_request, chunked};
pub use gw::{Driver, Gw, proxy_all, upstream_block};
pub use http::{first_difference, pattern};
pub use reply::Reply;
pub use upstream::{Upstream, free_port};
