//! A config image made ready to serve, on the control thread: upstream hostnames resolved
//! (never on a worker), one plugin factory per plugin use, the shared health board.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gw_plugin::{Factory, Registry};
use gw_program::{ConfigImage, PluginSpec};

/// Everything the workers share for one configuration. Immutable, except the lock-free
/// health board.
pub struct Loaded {
    pub image: Arc<ConfigImage>,
    /// One per `image.plugins` slot.
    pub factories: Vec<Box<dyn Factory>>,
    /// Per upstream id, the resolved address of each server.
    pub addrs: Vec<Vec<SocketAddr>>,
    /// Active health-check verdicts, written by the checking worker, read by all.
    pub health: Arc<HealthBoard>,
    /// Where the config came from, for the admin endpoint (set by whoever loads it).
    pub meta: ConfigMeta,
    /// The span exporter of `tracing { otlp … }`; its thread ends with this config.
    pub exporter: Option<crate::trace::Exporter>,
    /// Per `image.listeners` entry, the rustls config of a TLS listener.
    pub tls: Vec<Option<Arc<rustls::ServerConfig>>>,
    /// The TLS listeners' ticket keys and resumption cache, created at startup and kept by
    /// every reload, so a client resumes on any worker and after a reload.
    pub resumption: Arc<crate::tls::Resumption>,
    /// Per upstream id, per server (as `addrs`), how to speak TLS to a `tls` server.
    pub up_tls: Vec<Vec<Option<Arc<crate::tls::UpstreamTls>>>>,
    /// The client config of plugins' `https://` calls (the system's trusted CAs), made when
    /// a plugin's factory asks for it (`Factory::https`).
    pub plugin_tls: Option<Arc<rustls::ClientConfig>>,
}

/// Where a config came from and when it was loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigMeta {
    /// The root file.
    pub source: String,
    /// SHA-256 of the root file's text, hex.
    pub source_hash: String,
    /// Unix time (s) of the load.
    pub loaded_at: u64,
    /// 1 for the config gw started with, one more per reload that applied.
    pub generation: u64,
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("routes", &self.image.routes.len())
            .field("upstreams", &self.addrs)
            .field("plugins", &self.factories.len())
            .finish()
    }
}

/// Why an image cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub messages: Vec<String>,
    /// Indexes into `messages` of the reasons that depend on this machine rather than on the
    /// image and this build (a server name that does not resolve here): `gw check` warns
    /// about them where `gw run` refuses.
    pub machine: Vec<usize>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.messages.join("\n"))
    }
}

impl std::error::Error for LoadError {}

/// Health of every server of every upstream: `true` = up. Servers start up.
#[derive(Debug)]
pub struct HealthBoard {
    /// Per upstream id, per server.
    up: Vec<Vec<AtomicBool>>,
}

impl HealthBoard {
    /// Every server up.
    pub fn new(shape: &[Vec<SocketAddr>]) -> HealthBoard {
        HealthBoard {
            up: shape
                .iter()
                .map(|s| s.iter().map(|_| AtomicBool::new(true)).collect())
                .collect(),
        }
    }

    /// The active check's verdict for a server (unknown servers count as up).
    pub fn is_up(&self, upstream: usize, server: usize) -> bool {
        self.up
            .get(upstream)
            .and_then(|s| s.get(server))
            .is_none_or(|b| b.load(Ordering::Relaxed))
    }

    /// Record a verdict.
    pub fn set(&self, upstream: usize, server: usize, up: bool) {
        if let Some(b) = self.up.get(upstream).and_then(|s| s.get(server)) {
            b.store(up, Ordering::Relaxed);
        }
    }
}

impl Loaded {
    /// Make `image` servable: resolve upstream servers and build plugin factories. `previous`
    /// is the config being replaced (reload), whose factories hand their state over by
    /// `state_key`.
    pub fn load(
        image: ConfigImage,
        registry: &Registry,
        previous: Option<&Loaded>,
    ) -> Result<Loaded, LoadError> {
        let mut messages = Vec::new();
        let mut machine = Vec::new();
        // the compiler verified it too; an image that fails here is a compiler bug, and is not
        // served
        if let Err(e) = gw_program::verify_image(&image) {
            messages.push(format!("the compiled config failed verification: {e}"));
        }
        let resumption = match previous {
            Some(p) => Ok(p.resumption.clone()),
            None => crate::tls::Resumption::new().map(Arc::new),
        };
        let resumption = match resumption {
            Ok(r) => r,
            Err(e) => {
                return Err(LoadError {
                    messages: vec![format!("tls: cannot make session ticket keys: {e}")],
                    machine: Vec::new(),
                });
            }
        };
        // certificate files are read on every load, so a reload picks up renewed ones; one that
        // does not load refuses the config (on a reload, the old one keeps serving)
        let mut tls = Vec::with_capacity(image.listeners.len());
        for l in &image.listeners {
            tls.push(match &l.tls {
                Some(t) => match crate::tls::server_config(t, &resumption) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        messages.push(format!("listen {} tls: {e}", l.addr));
                        None
                    }
                },
                None => None,
            });
        }
        let mut addrs = Vec::with_capacity(image.upstreams.len());
        let mut up_tls = Vec::with_capacity(image.upstreams.len());
        let mut system_roots = crate::tls::SystemRoots::default();
        for up in &image.upstreams {
            let mut servers = Vec::with_capacity(up.servers.len());
            let mut tls = Vec::with_capacity(up.servers.len());
            for s in &up.servers {
                // like a listener's certificates, every file is read again on a reload
                tls.push(match &s.tls {
                    Some(t) => match crate::tls::upstream_tls(&s.host, t, &mut system_roots) {
                        Ok(c) => Some(Arc::new(c)),
                        Err(e) => {
                            messages.push(format!(
                                "upstream {}: server {}:{} tls: {e}",
                                up.name, s.host, s.port
                            ));
                            None
                        }
                    },
                    None => None,
                });
                match resolve(&s.host, s.port) {
                    Ok(a) => servers.push(a),
                    Err(e) => {
                        machine.push(messages.len());
                        messages.push(format!(
                            "upstream {}: cannot resolve {}:{}: {e}",
                            up.name, s.host, s.port
                        ));
                    }
                }
            }
            addrs.push(servers);
            up_tls.push(tls);
        }
        let mut factories: Vec<Box<dyn Factory>> = Vec::with_capacity(image.plugins.len());
        for spec in &image.plugins {
            let Some(plugin) = registry.get(&spec.plugin) else {
                messages.push(format!(
                    "{}: policy `{}` is not served by this build",
                    spec.origin, spec.plugin
                ));
                continue;
            };
            let same = |s: &&PluginSpec| s.plugin == spec.plugin && s.state_key == spec.state_key;
            // uses of one state key share it (`throttle … name login` on two routes): an
            // earlier use in this config first, else the config being replaced
            let sibling = image
                .plugins
                .iter()
                .zip(&factories)
                .find(|(s, _)| same(s))
                .map(|(_, f)| f.as_ref());
            let prev = sibling.or_else(|| {
                previous.and_then(|p| {
                    p.image
                        .plugins
                        .iter()
                        .zip(&p.factories)
                        .find(|(s, _)| same(s))
                        .map(|(_, f)| f.as_ref())
                })
            });
            match plugin.build(spec, prev) {
                Ok(f) => factories.push(f),
                Err(e) => messages.push(format!("{}: {}", e.origin, e.message)),
            }
        }
        let plugin_tls = if factories.iter().any(|f| f.https()) {
            match crate::tls::plugin_tls(&mut system_roots) {
                Ok(c) => Some(c),
                Err(e) => {
                    messages.push(format!("https:// calls of policies: {e}"));
                    None
                }
            }
        } else {
            None
        };
        if !messages.is_empty() {
            return Err(LoadError { messages, machine });
        }
        let health = Arc::new(HealthBoard::new(&addrs));
        let exporter = match image
            .tracing
            .as_ref()
            .and_then(|t| Some((t.otlp.as_ref()?, &t.service)))
        {
            Some((url, service)) => match crate::trace::Exporter::start(url, service) {
                Ok(e) => Some(e),
                Err(e) => {
                    return Err(LoadError {
                        messages: vec![format!("tracing: cannot start the span exporter: {e}")],
                        machine: Vec::new(),
                    });
                }
            },
            None => None,
        };
        Ok(Loaded {
            exporter,
            tls,
            resumption,
            up_tls,
            plugin_tls,
            image: Arc::new(image),
            factories,
            addrs,
            health,
            meta: ConfigMeta {
                loaded_at: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                generation: previous.map_or(1, |p| p.meta.generation + 1),
                ..ConfigMeta::default()
            },
        })
    }
}

impl Loaded {
    /// The TLS config of the listener whose socket is bound to `local` (`None`: plain). A
    /// listener on port 0 is matched by its address alone.
    pub fn server_tls(&self, local: SocketAddr) -> Option<Arc<rustls::ServerConfig>> {
        let listeners = &self.image.listeners;
        let i = listeners.iter().position(|l| l.addr == local).or_else(|| {
            listeners
                .iter()
                .position(|l| l.addr.port() == 0 && l.addr.ip() == local.ip())
        })?;
        self.tls.get(i)?.clone()
    }
}

/// Resolve `host:port` to its first address (IP literals never touch DNS).
fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gw_program::{Balance, PluginSpec, Server, Upstream};

    fn upstream(host: &str) -> Upstream {
        Upstream {
            name: "app".into(),
            servers: vec![Server {
                host: host.into(),
                port: 9000,
                weight: 1,
                tls: None,
            }],
            balance: Balance::RoundRobin,
            connect_timeout: None,
            request_timeout: None,
            health: None,
            max_fails: 3,
            fail_on: Default::default(),
            fail_timeout: 10_000,
            host_header: None,
        }
    }

    #[test]
    fn resolves_servers_at_load() {
        let image = ConfigImage {
            upstreams: vec![upstream("127.0.0.1"), upstream("localhost")],
            ..ConfigImage::default()
        };
        let loaded = Loaded::load(image, &Registry::new(), None).unwrap();
        assert_eq!(loaded.addrs[0][0], "127.0.0.1:9000".parse().unwrap());
        assert!(loaded.addrs[1][0].ip().is_loopback());
        assert!(loaded.health.is_up(0, 0));
        loaded.health.set(0, 0, false);
        assert!(!loaded.health.is_up(0, 0));
        assert!(loaded.health.is_up(9, 9));
    }

    #[test]
    fn unknown_plugins_and_bad_hosts_are_refused_together() {
        let image = ConfigImage {
            upstreams: vec![upstream("no-such-host.invalid")],
            plugins: vec![PluginSpec {
                plugin: "jwt".into(),
                state_key: "users".into(),
                args: vec![],
                origin: "api.gw:3:3".into(),
            }],
            ..ConfigImage::default()
        };
        let err = Loaded::load(image, &Registry::new(), None).unwrap_err();
        assert_eq!(err.messages.len(), 2, "{err}");
        assert!(err.to_string().contains("policy `jwt` is not served"));
        // only the name is this machine's business
        assert_eq!(err.machine, [0], "{err}");
    }

    #[test]
    fn an_image_that_fails_verification_is_not_served() {
        use gw_program::{Op, Program, RoutePlan};
        use std::sync::Arc;
        // `forward` to upstream 5 of an image that has none
        let request = Program {
            ops: vec![Op::Forward {
                up: 5,
                hash: gw_program::NO_REG,
            }],
            locs: vec![Default::default()],
            ..Program::default()
        };
        let route = RoutePlan {
            name: "GET /x".into(),
            method: "GET".into(),
            pattern: "/x".into(),
            request: Arc::new(request),
            ..RoutePlan::default()
        };
        let image = ConfigImage {
            routes: vec![route],
            ..ConfigImage::default()
        };
        let err = Loaded::load(image, &Registry::new(), None).unwrap_err();
        assert!(err.to_string().contains("failed verification"), "{err}");
    }
}
