//! gw-runtime: the thread-per-core reverse proxy (HTTP/1.1, and HTTP/2 to clients).
//!
//! One worker thread per core, pinned, each with its own monoio runtime (io_uring set up with
//! COOP_TASKRUN + SINGLE_ISSUER, plus DEFER_TASKRUN unless the worker busy-polls (spin.rs), or
//! epoll where io_uring is unavailable), its own SO_REUSEPORT listeners, buffer pool, upstream
//! connection pools and plugin instances.
//! Workers share only the immutable [`Loaded`] configuration and its lock-free health board.
//!
//! Request path: accept -> read head (gw-proto, limits) -> normalise path -> route ->
//! request program (gw-vm, plugins via `Host::call`) -> upstream (balanced, pooled) or a
//! mock / error response -> response program -> client.

pub(crate) mod access_log;
pub(crate) mod admin;
pub(crate) mod admit;
pub(crate) mod body;
pub(crate) mod buffers;
pub(crate) mod checks;
pub(crate) mod client_stream;
pub(crate) mod conn;
pub(crate) mod cors;
pub(crate) mod deadline;
pub(crate) mod downstream;
pub(crate) mod driver;
pub(crate) mod edits;
pub(crate) mod error;
pub(crate) mod h2;
pub(crate) mod h2_io;
pub(crate) mod h2_stream;
pub(crate) mod head;
pub(crate) mod host;
pub(crate) mod http_client;
pub(crate) mod json;
pub(crate) mod lifecycle;
pub(crate) mod listener;
pub(crate) mod loaded;
pub mod log;
pub(crate) mod metrics;
pub(crate) mod phase;
pub(crate) mod pipeline;
pub(crate) mod proxy;
pub(crate) mod respond;
pub(crate) mod response;
pub(crate) mod server;
pub(crate) mod signals;
pub(crate) mod slot;
pub(crate) mod spin;
pub(crate) mod state;
pub(crate) mod stop;
pub(crate) mod tls;
pub(crate) mod trace;
pub(crate) mod transport;
pub(crate) mod tunnel;
pub(crate) mod upstream;
pub(crate) mod worker;

pub use driver::Driver;

pub use admin::AdminState;
/// How the request path reads a query, a cookie and a host, for tools that model it (`gw trace`).
pub use host::{cookie_value, host_without_port, percent_decode, query_value};
pub use loaded::{ConfigMeta, LoadError, Loaded};
pub use server::{Handle, Options, Server};
pub use signals::{Signal, Signals};
