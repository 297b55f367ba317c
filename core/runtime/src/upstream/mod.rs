//! Upstream servers on one worker: balancing, keep-alive pools, passive and active health.

pub mod balance;
pub mod conn;
pub mod health;
pub mod pool;
