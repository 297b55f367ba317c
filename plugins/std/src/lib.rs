//! gw-plugins-std: the standard policies, one file each. Registering one is one line in
//! [`registry`].
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use gw_plugin::Registry;

pub mod throttle;

/// Every standard plugin this build serves.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Box::new(throttle::Throttle));
    r
}
