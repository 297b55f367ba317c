//! gw-plugins-std: the standard policies, one file each. Registering one is one line in
//! [`registry`].

use gw_plugin::Registry;

pub mod jwt;
pub mod throttle;

/// Every standard plugin this build serves.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Box::new(throttle::Throttle));
    r.register(Box::new(jwt::Jwt));
    r
}
