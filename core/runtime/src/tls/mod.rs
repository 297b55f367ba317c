//! TLS with rustls on the `ring` provider: the server configs of TLS listeners and the client
//! configs of TLS upstream servers, built when a config is loaded (files are read there, never
//! on a worker), and [`TlsStream`], which runs either side of a TLS connection over monoio's
//! I/O.

mod certs;
mod client;
mod stream;
mod subject;

pub use certs::{Resumption, server_config};
pub use client::{SystemRoots, UpstreamTls, plugin_tls, upstream_tls};
pub use stream::TlsStream;

/// The crypto provider every config uses. ring's is deprecated in favour of aws-lc-rs for
/// want of post-quantum key exchange; aws-lc-rs is a C build gw does not take on, so key
/// exchange is X25519 and the NIST curves.
#[allow(deprecated)]
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
