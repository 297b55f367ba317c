//! gw-runtime: the thread-per-core HTTP/1.1 reverse proxy.
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
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod body;
pub mod buffers;
pub mod conn;
pub mod deadline;
pub mod driver;
pub mod echo;
pub mod edits;
pub mod error;
pub mod head;
pub mod host;
pub mod json;
pub mod listener;
pub mod loaded;
pub mod log;
pub mod proxy;
pub mod request;
pub mod respond;
pub mod response;
pub mod server;
pub mod signals;
pub mod slot;
pub mod spin;
pub mod stop;
pub mod tunnel;
pub mod upstream;
pub mod worker;

pub use driver::Driver;
pub use error::{Error, ErrorKind, Side};
pub use loaded::{HealthBoard, LoadError, Loaded};
pub use server::{Handle, Options, Server};
pub use signals::{Signal, Signals};
