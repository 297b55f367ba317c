//! The compiled configuration: everything the runtime needs, nothing of the DSL.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::program::Program;
use crate::router::Router;
use crate::value::Value;

/// One compiled configuration. Built by gw-compiler, verified, then shared by every worker as
/// an `Arc<ConfigImage>`.
#[derive(Debug, Clone, Default)]
pub struct ConfigImage {
    /// Worker threads; `None` = one per core.
    pub workers: Option<u16>,
    pub listeners: Vec<Listener>,
    pub admin: Option<SocketAddr>,
    pub limits: Limits,
    pub timeouts: Timeouts,
    /// Indexed by upstream id (`up#N` in ops).
    pub upstreams: Vec<Upstream>,
    /// Indexed by route id; the router yields these ids.
    pub routes: Vec<RoutePlan>,
    pub router: Router,
    /// Plugin uses, indexed by slot (`call slot#N` in ops). The runtime builds one factory per
    /// spec from the plugin registry, then one instance per worker.
    pub plugins: Vec<PluginSpec>,
    /// Per-status overrides of gw's own error responses (`on error 429 { .. }`).
    pub error_pages: Vec<ErrorPage>,
    /// Seed for sticky canary hashing, stable across reloads of the same files.
    pub hash_seed: u64,
    /// `log { }`: one JSON line per request.
    pub access_log: Option<AccessLog>,
    /// `tracing { }`: W3C trace context and span export.
    pub tracing: Option<Tracing>,
}

/// `log { format json; fields [...]; to "path" | stdout; sample P% when status < N }`
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLog {
    /// The fields of each line, in order.
    pub fields: Vec<LogField>,
    pub to: LogTarget,
    /// Keep `.0` lines in 10,000 of requests answered with a status under `.1`; the others
    /// are all kept.
    pub sample: Option<(u32, u16)>,
}

/// Where access log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    /// A file, appended to; reopened on SIGUSR1 (log rotation).
    File(std::path::PathBuf),
}

/// One field of an access log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogField {
    Time,
    RequestId,
    ClientIp,
    Caller,
    Method,
    Path,
    Route,
    Status,
    RequestBytes,
    ResponseBytes,
    LatencyUs,
    UpstreamLatencyUs,
    Upstream,
    UserAgent,
    TraceId,
    /// Why a policy denied the request, as the policy put it (never sent to the client).
    Reason,
}

impl LogField {
    /// Every field, in the default order.
    pub const ALL: [LogField; 16] = [
        LogField::Time,
        LogField::RequestId,
        LogField::ClientIp,
        LogField::Caller,
        LogField::Method,
        LogField::Path,
        LogField::Route,
        LogField::Status,
        LogField::RequestBytes,
        LogField::ResponseBytes,
        LogField::LatencyUs,
        LogField::UpstreamLatencyUs,
        LogField::Upstream,
        LogField::UserAgent,
        LogField::TraceId,
        LogField::Reason,
    ];

    /// Its JSON key, as written in `fields [...]`.
    pub fn name(self) -> &'static str {
        match self {
            LogField::Time => "time",
            LogField::RequestId => "requestId",
            LogField::ClientIp => "clientIp",
            LogField::Caller => "caller",
            LogField::Method => "method",
            LogField::Path => "path",
            LogField::Route => "route",
            LogField::Status => "status",
            LogField::RequestBytes => "requestBytes",
            LogField::ResponseBytes => "responseBytes",
            LogField::LatencyUs => "latencyUs",
            LogField::UpstreamLatencyUs => "upstreamLatencyUs",
            LogField::Upstream => "upstream",
            LogField::UserAgent => "userAgent",
            LogField::TraceId => "traceId",
            LogField::Reason => "reason",
        }
    }

    /// The field named `name`.
    pub fn parse(name: &str) -> Option<LogField> {
        LogField::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// `tracing { sample P%; otlp "http://host:4318/v1/traces"; service "gw" }`
#[derive(Debug, Clone, PartialEq)]
pub struct Tracing {
    /// Traces gw starts (no valid `traceparent` came in) that it samples, in 10,000.
    pub sample: u32,
    /// The OTLP/HTTP JSON endpoint spans are exported to.
    pub otlp: Option<String>,
    /// `service.name` of the exported spans.
    pub service: String,
}

/// `listen ADDR [tls { .. }]`
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub addr: SocketAddr,
    pub tls: Option<TlsConfig>,
    /// Path characters served on this listener (`allow_in_path`); others are 400.
    pub path_allow: gw_proto::PathChars,
    /// Request fields whose name holds `_` (`header_underscores`).
    pub underscores: gw_proto::UnderscoreNames,
    /// `redirect https`: every request is answered with a 308 to its `https://` URL.
    pub redirect_https: bool,
    /// `h2c`: a plain listener that also serves HTTP/2 to clients that start with its
    /// connection preface (prior knowledge). TLS listeners offer HTTP/2 through ALPN.
    pub h2c: bool,
}

/// A TLS listener's `tls { }` block. File paths are resolved against the config file's
/// directory; the files are read when the image is loaded (and again on every reload).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    /// One `cert … key …` pair per line, in order: SNI picks among them by each
    /// certificate's names, and the first serves names none of them has.
    pub certs: Vec<CertKey>,
    /// `client_ca`: the CAs whose client certificates are accepted (mutual TLS).
    pub client_ca: Option<std::path::PathBuf>,
    /// `client_auth required|optional` (required when `client_ca` is set without it).
    pub client_auth: ClientAuth,
    /// `unknown_sni default|reject`: what a client gets whose SNI name no certificate has (or
    /// that sends none).
    pub unknown_sni: UnknownSni,
}

/// What a TLS listener does with a client asking for a name none of its certificates has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownSni {
    /// The first certificate serves it.
    #[default]
    Default,
    /// The handshake fails with an alert, as nginx's `ssl_reject_handshake` and HAProxy's
    /// `strict-sni` do.
    Reject,
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq)]
pub struct CertKey {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    /// A listener certificate's OCSP response (DER), stapled to its handshakes.
    pub ocsp: Option<std::path::PathBuf>,
}

/// Whether a TLS listener with a `client_ca` asks clients for a certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// A handshake without a client certificate the CA signed fails.
    #[default]
    Required,
    /// A client without a certificate is served (`tls.client.subject` is absent); one that
    /// presents a certificate the CA did not sign is refused.
    Optional,
}

/// `limits { }`, with the managed gateways' defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Request bodies.
    pub body: u64,
    /// Upstream response bodies (`response_body`): `None` streams them without a limit; a
    /// route that buffers its responses (`resp.json.*`, cache) holds at most this, or `body`
    /// when unset.
    pub response_body: Option<u64>,
    pub url: u32,
    pub headers: u32,
    pub header_count: u32,
    pub connections_per_worker: u32,
    /// Concurrent streams an HTTP/2 client may open on one connection (`streams`).
    pub h2_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body: 10 * 1024 * 1024,
            response_body: None,
            url: 8 * 1024,
            headers: 10 * 1024,
            header_count: 100,
            connections_per_worker: 10_000,
            h2_streams: 128,
        }
    }
}

/// `timeouts { }` in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeouts {
    pub header_read: u64,
    pub idle: u64,
    pub connect: u64,
    pub request: u64,
    pub upstream_idle: u64,
    pub drain: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: 10_000,
            idle: 60_000,
            connect: 5_000,
            request: 29_000,
            upstream_idle: 60_000,
            drain: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    #[default]
    RoundRobin,
    LeastRequest,
    Hash,
    Random,
}

/// `upstream NAME { .. }`
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub name: String,
    pub servers: Vec<Server>,
    pub balance: Balance,
    /// Milliseconds; `None` = the global `timeouts`.
    pub connect_timeout: Option<u64>,
    pub request_timeout: Option<u64>,
    pub health: Option<HealthCheck>,
    /// Passive health: eject a server after this many consecutive failures of the kinds in
    /// `fail_on`...
    pub max_fails: u32,
    pub fail_on: FailOn,
    /// ...for this many milliseconds.
    pub fail_timeout: u64,
    /// Host header sent upstream: `None` passes the client's.
    pub host_header: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// As written (`10.0.1.10:8080`, `archive.internal:8443`); resolved at load.
    pub host: String,
    pub port: u16,
    pub weight: u32,
    /// `tls …`: speak TLS to the server.
    pub tls: Option<ServerTls>,
}

/// How gw speaks TLS to an upstream server (`server host:443 tls sni "…" ca "…"`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerTls {
    /// The name sent as SNI and verified; `None`: the server's host (an IP host sends none
    /// and is verified against the certificate's IP addresses).
    pub sni: Option<String>,
    /// PEM file of the CAs the server's certificate must chain to; `None`: the system roots.
    pub ca: Option<std::path::PathBuf>,
    /// gw's own certificate and key, for a server that asks for one (mutual TLS).
    pub client_cert: Option<CertKey>,
    /// `false` only with `verify off`: any certificate is accepted.
    pub verify: bool,
}

/// What counts as a failure for passive health (`max_fails 3 on connect_error, 5xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailOn {
    /// The connection could not be made (refused, unreachable, connect timeout).
    pub connect_error: bool,
    /// No response head within the request timeout.
    pub timeout: bool,
    /// A 500-599 response.
    pub status_5xx: bool,
}

impl Default for FailOn {
    fn default() -> Self {
        FailOn {
            connect_error: true,
            timeout: false,
            status_5xx: false,
        }
    }
}

/// `health GET /healthz every 5s fail 3 pass 2`
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    pub method: String,
    pub path: String,
    pub interval_ms: u64,
    pub fail: u32,
    pub pass: u32,
}

/// One route: its identity, settings and phase programs.
#[derive(Debug, Clone, Default)]
pub struct RoutePlan {
    /// `GET /pets/{id}` (with `host` prefix when grouped), used in logs and `route.name`.
    pub name: String,
    pub host: Option<String>,
    pub method: String,
    pub pattern: String,
    /// Names of the path parameters, in pattern order (`ld.path r, i` indexes this).
    pub params: Vec<String>,
    pub websocket: Option<WebsocketSettings>,
    pub request: Arc<Program>,
    pub response: Option<Arc<Program>>,
    pub timeout_ms: Option<u64>,
    /// `timeout connect D` in the route: overrides the upstream's connect timeout.
    pub connect_timeout_ms: Option<u64>,
    pub retry: Retry,
    pub cors: bool,
    /// Request body limit for this route (bytes).
    pub body_limit: Option<u64>,
    /// Read the whole request body before the request program runs (`validate body`,
    /// `buffer body`, `body.*` reads, `body json` transforms keep streaming off).
    pub buffer_body: bool,
    /// Read the whole upstream response before the response program runs (`resp.json.*`,
    /// cache store).
    pub buffer_response: bool,
    /// Path characters this route serves beyond its listener's (`allow_in_path`).
    pub path_allow: gw_proto::PathChars,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retry {
    pub count: u8,
    pub on_connect_error: bool,
    pub on_timeout: bool,
    pub on_5xx: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebsocketSettings {
    pub idle_timeout_ms: u64,
    pub max_message: u64,
    pub ping_every_ms: Option<u64>,
}

/// A use of a plugin: which plugin (by registry name) and its compiled arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    /// Registry name: `jwt`, `api_key`, `authorizer`, `throttle`, `throttle.plan`, `cache`,
    /// `validate.params`, `validate.body`, `cors`, ...
    pub plugin: String,
    /// Stable identity across reloads (docs/architecture.md#reload): e.g. `users` for `jwt users`,
    /// `GET /pets#2` for an unnamed throttle.
    pub state_key: String,
    /// Declaration settings and statement arguments, already checked by the compiler.
    pub args: Vec<(String, Value)>,
    /// Source location for diagnostics (`file:line:col`).
    pub origin: String,
}

/// `on error STATUS { .. }`
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub statuses: Vec<u16>,
    /// Runs with `error.*` fields; ends in a `respond`.
    pub program: Arc<Program>,
}

impl ConfigImage {
    /// The program that calls the config's `cors` policy alone, which gw runs on its own
    /// answers (errors, denials) for a route with CORS; `None` without the policy.
    pub fn cors_alone(&self) -> Option<Program> {
        let slot = self
            .plugins
            .iter()
            .position(|p| p.plugin == "cors")
            .and_then(|s| u16::try_from(s).ok())?;
        Some(Program {
            name: "cors alone".into(),
            ops: vec![
                crate::op::Op::Call {
                    slot,
                    arg: 0,
                    argc: 0,
                },
                crate::op::Op::Done,
            ],
            ..Program::default()
        })
    }

    /// Names of every plugin the image uses (deduplicated, in slot order).
    pub fn plugin_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.plugins {
            if !out.contains(&p.plugin.as_str()) {
                out.push(&p.plugin);
            }
        }
        out
    }
}

impl Value {
    /// Convenience for plugin args.
    pub fn find<'a>(args: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
        args.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}
