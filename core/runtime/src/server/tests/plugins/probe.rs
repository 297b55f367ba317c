//! The reference test plugin: one registered plugin per behaviour, each reporting what its
//! factories and instances saw through lock-free counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use gw_plugin::{BuildError, Call, Effect, Factory, Host, Instance, Plugin, Registry, Signature};
use gw_program::{PluginSpec, Value};

/// The local a `Local` plugin stores and its route forwards as `x-user`.
pub(super) const USER_LOCAL: u16 = 0;
/// How long a `Pending` plugin's I/O takes.
pub(super) const PENDING_MS: u64 = 50;

/// What a test plugin does when called.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Store `user:<arg>` as local 0, continue.
    Local,
    /// Put a 429 with headers and a JSON body into the host, respond.
    Deny,
    /// Hand the request a `PENDING_MS` timer to await; its completion sets `x-waited` and
    /// continues.
    Pending,
    /// Refuse with 429 and `Retry-After: 7` (through the config's `on error` page).
    Refuse,
    /// Continue; tick every 5 ms on each worker.
    Tick,
    /// Call `GET /fetched` on the spec's `addr` with the worker's HTTP client; its completion
    /// sets `x-fetched` (the status) and `x-fetched-len` (the body's length).
    Fetch,
    /// Copy the buffered request body into request headers, continue.
    Body,
}

/// Per build: the spec's state key and the generation of the `previous` factory.
pub(super) type Build = (String, Option<usize>);

/// What a plugin's factories and instances observed, across workers and reloads.
pub(super) struct Stats {
    builds: Sender<Build>,
    pub(super) instances: AtomicUsize,
    /// Bit `w` set when worker `w` asked for an instance.
    pub(super) workers: AtomicUsize,
    pub(super) calls: AtomicUsize,
    pub(super) pendings: AtomicUsize,
    /// Operations handed over and not completed yet, and the most at one time.
    pub(super) in_flight: AtomicUsize,
    pub(super) most_in_flight: AtomicUsize,
    pub(super) ticks: AtomicUsize,
}

struct TestPlugin {
    sig: Signature,
    mode: Mode,
    stats: Arc<Stats>,
}

pub(super) struct TestFactory {
    mode: Mode,
    addr: Option<std::net::SocketAddr>,
    /// Fetch through upstream 0's pools instead of `addr`.
    via_upstream: bool,
    stats: Arc<Stats>,
    /// 1 for a fresh factory, previous + 1 when carried over.
    generation: usize,
    /// Calls served: the state that must survive a reload.
    pub(super) hits: Arc<AtomicUsize>,
}

struct TestInstance {
    mode: Mode,
    addr: Option<std::net::SocketAddr>,
    via_upstream: bool,
    stats: Arc<Stats>,
    hits: Arc<AtomicUsize>,
}

impl Plugin for TestPlugin {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn build(
        &self,
        spec: &PluginSpec,
        previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError> {
        if Value::find(&spec.args, "fail").is_some() {
            return Err(BuildError {
                origin: spec.origin.clone(),
                message: "bad key file".into(),
            });
        }
        let prev = previous.and_then(|p| p.as_any().downcast_ref::<TestFactory>());
        let _ = (self.stats.builds).send((spec.state_key.clone(), prev.map(|p| p.generation)));
        Ok(Box::new(TestFactory {
            mode: self.mode,
            addr: Value::find(&spec.args, "addr")
                .and_then(Value::as_str)
                .and_then(|a| a.parse().ok()),
            via_upstream: Value::find(&spec.args, "via").is_some(),
            stats: self.stats.clone(),
            generation: prev.map_or(1, |p| p.generation + 1),
            hits: prev.map_or_else(Arc::default, |p| p.hits.clone()),
        }))
    }
}

impl Factory for TestFactory {
    fn instance(&self, worker: usize) -> Box<dyn Instance> {
        self.stats.instances.fetch_add(1, Ordering::SeqCst);
        self.stats.workers.fetch_or(1 << worker, Ordering::SeqCst);
        Box::new(TestInstance {
            mode: self.mode,
            addr: self.addr,
            via_upstream: self.via_upstream,
            stats: self.stats.clone(),
            hits: self.hits.clone(),
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Instance for TestInstance {
    fn call(&mut self, host: &mut dyn Host, args: &[Value]) -> Call {
        self.stats.calls.fetch_add(1, Ordering::SeqCst);
        self.hits.fetch_add(1, Ordering::SeqCst);
        let arg = args
            .first()
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned();
        match self.mode {
            Mode::Local => {
                host.set_local(USER_LOCAL, Value::str(&format!("user:{arg}")));
                Call::Continue
            }
            Mode::Deny => {
                host.apply(Effect::RespSetHeader("retry-after", "7"));
                host.apply(Effect::RespSetHeader("content-type", "application/json"));
                host.apply(Effect::RespSetBody(r#"{"message":"slow down"}"#));
                Call::Respond(429)
            }
            Mode::Pending => {
                self.stats.pendings.fetch_add(1, Ordering::SeqCst);
                let now = self.stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                self.stats.most_in_flight.fetch_max(now, Ordering::SeqCst);
                let stats = self.stats.clone();
                let handed = host.pend(Box::pin(async move {
                    monoio::time::sleep(Duration::from_millis(PENDING_MS)).await;
                    stats.in_flight.fetch_sub(1, Ordering::SeqCst);
                    let done: gw_plugin::Completion = Box::new(move |host: &mut dyn Host| {
                        host.apply(Effect::SetHeader("x-waited", &arg));
                        Call::Continue
                    });
                    done
                }));
                if handed {
                    Call::Pending
                } else {
                    Call::Deny {
                        status: 500,
                        retry_after: None,
                    }
                }
            }
            Mode::Refuse => Call::Deny {
                status: 429,
                retry_after: Some(7),
            },
            Mode::Tick => Call::Continue,
            Mode::Fetch => {
                let deny = Call::Deny {
                    status: 500,
                    retry_after: None,
                };
                let Some(http) = host.http() else {
                    return deny;
                };
                let request = gw_plugin::HttpRequest {
                    method: "GET".into(),
                    target: "/fetched".into(),
                    host: "echo".into(),
                    headers: vec![("x-asked-by".into(), arg)],
                    body: Vec::new(),
                    tls: false,
                };
                let call = match (self.via_upstream, self.addr) {
                    (true, _) => match http.send_upstream(0, request, Duration::from_secs(5)) {
                        Some(call) => call,
                        None => return deny,
                    },
                    (false, Some(addr)) => http.send(addr, request, Duration::from_secs(5)),
                    (false, None) => return deny,
                };
                host.pend(Box::pin(async move {
                    let got = call.await;
                    let done: gw_plugin::Completion =
                        Box::new(move |host: &mut dyn Host| match got {
                            Ok(r) => {
                                host.apply(Effect::SetHeader("x-fetched", &r.status.to_string()));
                                host.apply(Effect::SetHeader(
                                    "x-fetched-len",
                                    &r.body.len().to_string(),
                                ));
                                Call::Continue
                            }
                            Err(_) => Call::Deny {
                                status: 502,
                                retry_after: None,
                            },
                        });
                    done
                }));
                Call::Pending
            }
            Mode::Body => {
                let seen = host
                    .request_body()
                    .map(|b| String::from_utf8_lossy(b).into_owned());
                let len = seen.as_ref().map_or(0, String::len).to_string();
                host.apply(Effect::SetHeader(
                    "x-seen-body",
                    seen.as_deref().unwrap_or("<none>"),
                ));
                host.apply(Effect::SetHeader("x-seen-len", &len));
                Call::Continue
            }
        }
    }

    fn every(&self) -> Option<Duration> {
        matches!(self.mode, Mode::Tick).then_some(Duration::from_millis(5))
    }

    fn tick(
        &mut self,
        http: Option<&std::rc::Rc<dyn gw_plugin::HttpClient>>,
    ) -> Option<gw_plugin::Background> {
        assert!(http.is_some(), "a worker's ticks get its HTTP client");
        let stats = self.stats.clone();
        // counted from the background work, which the worker runs
        Some(Box::pin(async move {
            stats.ticks.fetch_add(1, Ordering::SeqCst);
        }))
    }
}

/// A plugin's stats, seen from the test thread.
pub(super) struct Probe {
    stats: Arc<Stats>,
    builds: Receiver<Build>,
}

impl Probe {
    /// The builds since the last look.
    pub(super) fn builds(&self) -> Vec<Build> {
        self.builds.try_iter().collect()
    }
}

impl std::ops::Deref for Probe {
    type Target = Stats;
    fn deref(&self) -> &Stats {
        &self.stats
    }
}

/// One registered test plugin per mode, with its stats.
pub(super) struct Rig {
    pub(super) registry: Registry,
    pub(super) local: Probe,
    pub(super) deny: Probe,
    pub(super) pending: Probe,
    pub(super) body: Probe,
    pub(super) refuse: Probe,
    pub(super) tick: Probe,
    pub(super) fetch: Probe,
}

pub(super) fn rig() -> Rig {
    let mut registry = Registry::new();
    let mut add = |name: &'static str, mode: Mode| {
        let (tx, builds) = channel();
        let stats = Arc::new(Stats {
            builds: tx,
            instances: AtomicUsize::new(0),
            workers: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            pendings: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
            ticks: AtomicUsize::new(0),
        });
        registry.register(Box::new(TestPlugin {
            sig: Signature {
                name,
                mnemonic: name,
                args: &[
                    gw_plugin::ArgSpec {
                        name: "fail",
                        ty: gw_plugin::ArgType::Any,
                        required: false,
                    },
                    gw_plugin::ArgSpec {
                        name: "addr",
                        ty: gw_plugin::ArgType::Str,
                        required: false,
                    },
                    gw_plugin::ArgSpec {
                        name: "via",
                        ty: gw_plugin::ArgType::Str,
                        required: false,
                    },
                ],
            },
            mode,
            stats: stats.clone(),
        }));
        Probe { stats, builds }
    };
    let local = add("test.local", Mode::Local);
    let deny = add("test.deny", Mode::Deny);
    let pending = add("test.pending", Mode::Pending);
    let body = add("test.body", Mode::Body);
    let refuse = add("test.refuse", Mode::Refuse);
    let tick = add("test.tick", Mode::Tick);
    let fetch = add("test.fetch", Mode::Fetch);
    Rig {
        registry,
        local,
        deny,
        pending,
        body,
        refuse,
        tick,
        fetch,
    }
}

pub(super) fn spec(plugin: &str, state_key: &str) -> PluginSpec {
    PluginSpec {
        plugin: plugin.into(),
        state_key: state_key.into(),
        args: vec![],
        origin: format!("test.gw:{}:3", state_key.len()),
    }
}
