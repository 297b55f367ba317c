//! gw-plugins-std: the standard policies, one file each. Registering one is one line in
//! [`registry`].

use gw_plugin::Registry;

pub mod any;
pub mod api_key;
pub mod authorizer;
mod body_json;
pub mod cache;
pub mod cors;
pub mod jwt;
pub mod plan;
mod problem;
mod redis;
mod service_url;
pub mod throttle;
pub mod typed;
mod usage;
pub mod validate_body;
pub mod validate_params;

/// Every standard plugin this build serves.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Box::new(throttle::Throttle));
    r.register(Box::new(api_key::ApiKey));
    r.register(Box::new(authorizer::Authorizer));
    r.register(Box::new(any::Any));
    r.register(Box::new(jwt::Jwt));
    r.register(Box::new(validate_body::ValidateBody));
    r.register(Box::new(validate_params::ValidateParams));
    r.register(Box::new(cors::Cors));
    r.register(Box::new(plan::ThrottlePlan));
    r.register(Box::new(cache::Cache));
    r
}
