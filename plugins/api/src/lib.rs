//! gw-plugin: how a policy plugs in.
//!
//! A [`Plugin`] is registered once by name. The compiler checks each use against its
//! [`Signature`]; the runtime asks it for a `Send + Sync` [`Factory`] per [`PluginSpec`] when a
//! config loads, and each worker asks the factory for its own `!Send` [`Instance`]. The runtime
//! knows nothing else about any policy.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

use std::future::Future;
use std::pin::Pin;

use gw_program::PluginSpec;
use gw_program::Value;
pub use gw_vm::{Call, Host};

/// What the compiler checks about a plugin use (filled in by each plugin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Registry name, as in `PluginSpec::plugin`.
    pub name: &'static str,
    /// Mnemonic shown by `gw disasm`.
    pub mnemonic: &'static str,
    /// Names of the arguments a spec must carry.
    pub required_args: &'static [&'static str],
    /// Names it may carry.
    pub optional_args: &'static [&'static str],
}

/// Error building a factory from a spec (bad file, bad key...): reported with the spec's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub origin: String,
    pub message: String,
}

pub trait Plugin: Send + Sync + 'static {
    fn signature(&self) -> &Signature;
    /// Build from a compiled spec. `previous` is the factory of the same `state_key` in the
    /// config being replaced, so state (buckets, caches, pools) carries over a reload.
    fn build(
        &self,
        spec: &PluginSpec,
        previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError>;
}

/// Built once per config; shared by all workers.
pub trait Factory: Send + Sync + std::any::Any {
    fn instance(&self, worker: usize) -> Box<dyn Instance>;
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A per-worker instance; never crosses threads.
pub trait Instance {
    /// Runs on the request path: no blocking, no locks.
    fn call(&mut self, host: &mut dyn Host, args: &[Value]) -> Call;
    /// After `Call::Pending`: the I/O to await before the program resumes (calls `call` again).
    fn ready(&mut self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        Box::pin(std::future::ready(()))
    }
}

/// The plugins a binary links, by name.
#[derive(Default)]
pub struct Registry {
    plugins: Vec<Box<dyn Plugin>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn register(&mut self, plugin: Box<dyn Plugin>) {
        self.plugins.push(plugin);
    }

    pub fn get(&self, name: &str) -> Option<&dyn Plugin> {
        self.plugins.iter().find(|p| p.signature().name == name).map(|p| p.as_ref())
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.plugins.iter().map(|p| p.signature().name)
    }
}
