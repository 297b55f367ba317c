//! gw-plugins-std: the standard policies, one file each. Registering one is one line in
//! [`registry`].

use gw_plugin::Registry;

pub mod any;
pub mod api_key;
pub mod authorizer;
pub mod cache;
pub mod plan;
mod redis;
pub mod throttle;
mod typed;
mod usage;

/// Every standard plugin this build serves.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Box::new(throttle::Throttle));
    r.register(Box::new(api_key::ApiKey));
    r.register(Box::new(authorizer::Authorizer));
    r.register(Box::new(any::Any));
    r.register(Box::new(plan::ThrottlePlan));
    r.register(Box::new(cache::Cache));
    r
}
