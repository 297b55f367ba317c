//! gw-plugin: how a policy plugs in.
//!
//! A [`Plugin`] is registered once by name. The compiler checks each use against its
//! [`Signature`]; the runtime asks it for a `Send + Sync` [`Factory`] per [`PluginSpec`] when a
//! config loads, and each worker asks the factory for its own `!Send` [`Instance`]. The runtime
//! knows nothing else about any policy.
//!
//! # Life cycle
//!
//! - **Load** (control thread): for every `ConfigImage::plugins[slot]` the runtime looks the
//!   spec's `plugin` name up in the [`Registry`] and calls [`Plugin::build`] with the factory
//!   of the same `plugin` and `state_key` in the config being replaced, if any. Parse files and
//!   keys here; a [`BuildError`] refuses the whole config and the old one keeps serving.
//! - **Worker start and reload**: each worker calls [`Factory::instance`] once per config, so
//!   an instance may keep per-core caches without locks.
//! - **Request** (`Op::Call { slot, .. }`): [`Instance::call`] gets the call's argument
//!   registers and the request as a [`Host`]. It may read fields (`host.load`), the buffered
//!   body (`host.request_body`), store values for later `Field::Local` loads
//!   (`host.set_local`), edit the request or its own response (`host.apply`), then answer:
//!   [`Call::Continue`]; [`Call::Deny`] with a status and an optional `Retry-After` (answered
//!   by gw, through the config's `on error` page); [`Call::Respond`] with the status (headers
//!   and body already applied as `Effect::RespSetHeader` / `Effect::RespSetBody` or
//!   `Effect::RespSetBodyBytes`); or, after
//!   handing the request an operation to await with `host.pend` (an HTTP call, a key
//!   fetch), [`Call::Pending`]. The request owns that operation: the instance serves other
//!   requests meanwhile, and any number of requests await their own operations at once.
//!   When the operation completes, its [`Completion`] answers in the call's place and the
//!   program goes on after the call.
//!
//! # A policy is one file plus one registration line
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! use gw_plugin::{
//!     ArgSpec, ArgType, BuildError, Call, Effect, Factory, Host, Instance, Plugin, PluginSpec,
//!     Registry, Signature, Value,
//! };
//!
//! /// `stamp "v1"`: sets `x-stamp` on the upstream request and counts the requests stamped.
//! struct Stamp;
//!
//! static SIGNATURE: Signature = Signature {
//!     name: "stamp",
//!     mnemonic: "stamp",
//!     args: &[ArgSpec { name: "value", ty: ArgType::Str, required: true }],
//! };
//!
//! struct StampFactory {
//!     value: String,
//!     /// State that survives a reload: handed from the previous factory of the same key.
//!     stamped: Arc<AtomicU64>,
//! }
//!
//! struct StampInstance {
//!     value: String,
//!     stamped: Arc<AtomicU64>,
//! }
//!
//! impl Plugin for Stamp {
//!     fn signature(&self) -> &Signature {
//!         &SIGNATURE
//!     }
//!
//!     fn build(
//!         &self,
//!         spec: &PluginSpec,
//!         previous: Option<&dyn Factory>,
//!     ) -> Result<Box<dyn Factory>, BuildError> {
//!         let Some(value) = Value::find(&spec.args, "value").and_then(Value::as_str) else {
//!             return Err(BuildError {
//!                 origin: spec.origin.clone(),
//!                 message: "stamp needs a string `value`".into(),
//!             });
//!         };
//!         let stamped = previous
//!             .and_then(|p| p.as_any().downcast_ref::<StampFactory>())
//!             .map_or_else(Arc::default, |p| p.stamped.clone());
//!         Ok(Box::new(StampFactory { value: value.to_owned(), stamped }))
//!     }
//! }
//!
//! impl Factory for StampFactory {
//!     fn instance(&self, _worker: usize) -> Box<dyn Instance> {
//!         Box::new(StampInstance { value: self.value.clone(), stamped: self.stamped.clone() })
//!     }
//!
//!     fn as_any(&self) -> &dyn std::any::Any {
//!         self
//!     }
//! }
//!
//! impl Instance for StampInstance {
//!     fn call(&mut self, host: &mut dyn Host, _args: &[Value]) -> Call {
//!         host.apply(Effect::SetHeader("x-stamp", &self.value));
//!         self.stamped.fetch_add(1, Ordering::Relaxed);
//!         Call::Continue
//!     }
//! }
//!
//! // The registration line (gw-plugins-std's `registry()`):
//! let mut registry = Registry::new();
//! registry.register(Box::new(Stamp));
//!
//! // What the runtime does with it: build at load, one instance per worker, call per request.
//! let spec = PluginSpec {
//!     plugin: "stamp".into(),
//!     state_key: "GET /pets#1".into(),
//!     args: vec![("value".into(), Value::str("v1"))],
//!     origin: "api.gw:4:3".into(),
//! };
//! let plugin = registry.get("stamp").ok_or("not registered")?;
//! let factory = plugin.build(&spec, None).map_err(|e| e.message)?;
//! let mut instance = factory.instance(0);
//! # struct Recorder(Vec<(String, String)>);
//! # impl Host for Recorder {
//! #     fn load(&mut self, _: gw_program::Field) -> Value { Value::Absent }
//! #     fn apply(&mut self, e: Effect<'_>) {
//! #         if let Effect::SetHeader(n, v) = e { self.0.push((n.into(), v.into())) }
//! #     }
//! #     fn call(&mut self, _: u16, _: &[Value]) -> Call { Call::Continue }
//! #     fn now_ms(&self) -> i64 { 0 }
//! #     fn upstream_healthy(&self, _: u16) -> bool { true }
//! #     fn split_counter(&mut self, _: u16) -> u64 { 0 }
//! # }
//! let mut host = Recorder(Vec::new()); // a test double of the runtime's request
//! assert_eq!(instance.call(&mut host, &[]), Call::Continue);
//! assert_eq!(host.0, [("x-stamp".to_owned(), "v1".to_owned())]);
//!
//! // A reload hands the count over to the new factory of the same state_key.
//! let reloaded = plugin.build(&spec, Some(factory.as_ref())).map_err(|e| e.message)?;
//! let carried = reloaded.as_any().downcast_ref::<StampFactory>().ok_or("type")?;
//! assert_eq!(carried.stamped.load(Ordering::Relaxed), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod log;
pub mod testing;

pub use gw_program::{PluginSpec, Value};
pub use gw_vm::{
    Call, Completion, Effect, Host, HttpClient, HttpError, HttpFuture, HttpRequest, HttpResponse,
    PendingOp,
};

use std::rc::Rc;

/// Work a tick started that the worker runs on its own (a key set's refresh).
pub type Background = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// What the compiler checks about a plugin use (filled in by each plugin): every argument
/// of the spec it compiles must be declared here with its type, and every required one
/// present, or the config is refused (E0999: the compiler and the plugin disagree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Registry name, as in `PluginSpec::plugin`.
    pub name: &'static str,
    /// Mnemonic shown by `gw disasm`.
    pub mnemonic: &'static str,
    /// The spec's arguments. A name ending in `.*` declares every argument with that prefix
    /// (`claim.*`).
    pub args: &'static [ArgSpec],
}

/// One argument of a [`Signature`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgSpec {
    pub name: &'static str,
    pub ty: ArgType,
    pub required: bool,
}

/// The type of a spec argument, as the compiler stores it in a [`Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    Str,
    Int,
    Bool,
    Rate,
    Duration,
    Size,
    List,
    Json,
    Any,
}

impl ArgType {
    /// Whether `v` is of this type.
    pub fn admits(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (ArgType::Any, _)
                | (ArgType::Str, Value::Str(_))
                | (ArgType::Int, Value::Int(_))
                | (ArgType::Bool, Value::Bool(_))
                | (ArgType::Rate, Value::Rate { .. })
                | (ArgType::Duration, Value::Duration(_))
                | (ArgType::Size, Value::Size(_))
                | (ArgType::List, Value::List(_))
                | (ArgType::Json, Value::Json(_))
        )
    }
}

impl Signature {
    /// Why `spec` does not fit this signature, if it does not.
    pub fn check(&self, spec: &PluginSpec) -> Result<(), String> {
        let declared = |name: &str| {
            self.args.iter().find(|a| match a.name.strip_suffix(".*") {
                Some(prefix) => name
                    .strip_prefix(prefix)
                    .is_some_and(|r| r.starts_with('.')),
                None => a.name == name,
            })
        };
        for (name, value) in &spec.args {
            match declared(name) {
                None => return Err(format!("argument `{name}` is not in its signature")),
                Some(a) if !a.ty.admits(value) => {
                    return Err(format!("argument `{name}` is not a {:?}", a.ty));
                }
                Some(_) => {}
            }
        }
        match self
            .args
            .iter()
            .find(|a| a.required && !spec.args.iter().any(|(n, _)| n == a.name))
        {
            Some(a) => Err(format!("required argument `{}` is missing", a.name)),
            None => Ok(()),
        }
    }
}

/// Error building a factory from a spec (bad file, bad key...): reported with the spec's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// `PluginSpec::origin` of the failing use (`file:line:col`).
    pub origin: String,
    /// What is wrong, for the operator.
    pub message: String,
}

impl BuildError {
    /// `message` about the use at `spec`'s origin.
    pub fn at(spec: &PluginSpec, message: impl Into<String>) -> BuildError {
        BuildError {
            origin: spec.origin.clone(),
            message: message.into(),
        }
    }
}

/// A policy, registered once per binary.
pub trait Plugin: Send + Sync + 'static {
    /// Name and arguments, for the compiler and the registry.
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
    /// The instance worker `worker` uses for this config (called once per worker).
    fn instance(&self, worker: usize) -> Box<dyn Instance>;
    /// `self`, so that `Plugin::build` can downcast a `previous` factory to its own type.
    fn as_any(&self) -> &dyn std::any::Any;
    /// The process is stopping and every worker has ended: save what must outlive it (quota
    /// counts). Called on the control thread, which may block here briefly. Default: nothing.
    fn stop(&self) {}
    /// Forget stored entries whose key starts with `prefix` (all for `""`), on every worker
    /// (the admin endpoint's `POST /cache/purge`); false when the plugin stores none.
    fn purge(&self, prefix: &str) -> bool {
        let _ = prefix;
        false
    }
    /// Whether its instances make `https://` calls (`HttpRequest::tls`): the config then
    /// reads the system's trusted CAs when it loads. Default: no.
    fn https(&self) -> bool {
        false
    }
}

/// A per-worker instance; never crosses threads.
pub trait Instance {
    /// Runs on the request path: no blocking, no locks. Work that must wait goes to
    /// `host.pend` as a future that owns what it needs (not `self`).
    fn call(&mut self, host: &mut dyn Host, args: &[Value]) -> Call;
    /// How often this worker should call [`Instance::tick`] (a key set's refresh, a cache's
    /// sweep); `None`, the default, never. Asked once when the worker installs the config.
    fn every(&self) -> Option<std::time::Duration> {
        None
    }
    /// Periodic work on this worker, between requests: no blocking. Work that must wait (a
    /// refresh over `http`, the worker's client) is returned as a future, which the worker
    /// runs on its own; it owns what it needs. Ticks stop when the config is replaced or the
    /// worker stops.
    fn tick(&mut self, http: Option<&Rc<dyn HttpClient>>) -> Option<Background> {
        let _ = http;
        None
    }
}

/// The plugins a binary links, by name.
#[derive(Default)]
pub struct Registry {
    plugins: Vec<Box<dyn Plugin>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Add a plugin. Names should be unique: [`Registry::get`] finds the first registered.
    pub fn register(&mut self, plugin: Box<dyn Plugin>) {
        self.plugins.push(plugin);
    }

    /// The plugin registered under `name`.
    pub fn get(&self, name: &str) -> Option<&dyn Plugin> {
        self.plugins
            .iter()
            .find(|p| p.signature().name == name)
            .map(|p| p.as_ref())
    }

    /// Every registered name, in registration order (the compiler's `available_plugins`).
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.plugins.iter().map(|p| p.signature().name)
    }

    /// Every registered signature (the compiler's `signatures`).
    pub fn signatures(&self) -> Vec<Signature> {
        self.plugins.iter().map(|p| p.signature().clone()).collect()
    }
}

#[cfg(test)]
mod tests;
