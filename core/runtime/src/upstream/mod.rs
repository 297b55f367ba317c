//! Upstream servers on one worker: balancing, keep-alive pools (plain or TLS), passive and
//! active health.

pub mod balance;
pub mod conn;
pub mod health;
pub mod pool;
pub mod stream;
