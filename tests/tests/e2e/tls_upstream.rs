//! TLS to upstream servers (`server … tls`): a rustls upstream with a certificate of a test CA,
//! verified with `ca`; certificates refused for an unknown issuer (with a `ca`, and against
//! the system's trusted CAs without one) or another name (502, the reason logged, the server
//! ejected by passive health); SNI as configured, none for an IP
//! host; gw's client certificate for an upstream that asks for one; keep-alive reuse of TLS
//! connections; POST bodies; health checks over TLS; a handshake that never ends is a connect
//! timeout; `verify off`. Certificates are made at test time with `openssl`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::support::gw::TempDir;
use crate::support::tools::Nginx;
use crate::support::{Driver, Gw, free_port};
use crate::tls::{Pki, issue, self_signed};

on_both_drivers! {
    a_verified_upstream_serves_keep_alive_requests_and_post_bodies => a_verified_upstream_serves_keep_alive_requests_and_post_bodies_uring, a_verified_upstream_serves_keep_alive_requests_and_post_bodies_epoll;
    an_ip_host_sends_no_sni_and_is_verified_by_its_ip_address => an_ip_host_sends_no_sni_and_is_verified_by_its_ip_address_uring, an_ip_host_sends_no_sni_and_is_verified_by_its_ip_address_epoll;
    untrusted_and_wrong_name_certificates_are_refused_with_502 => untrusted_and_wrong_name_certificates_are_refused_with_502_uring, untrusted_and_wrong_name_certificates_are_refused_with_502_epoll;
    verify_off_accepts_any_certificate => verify_off_accepts_any_certificate_uring, verify_off_accepts_any_certificate_epoll;
    an_upstream_asking_for_a_client_certificate_gets_gws => an_upstream_asking_for_a_client_certificate_gets_gws_uring, an_upstream_asking_for_a_client_certificate_gets_gws_epoll;
    websockets_relay_to_a_tls_upstream_from_plain_and_tls_clients => websockets_relay_to_a_tls_upstream_from_plain_and_tls_clients_uring, websockets_relay_to_a_tls_upstream_from_plain_and_tls_clients_epoll;
    nginx_over_tls_1_2_and_1_3_keeps_one_pooled_connection => nginx_over_tls_1_2_and_1_3_keeps_one_pooled_connection_uring, nginx_over_tls_1_2_and_1_3_keeps_one_pooled_connection_epoll;
    health_checks_run_over_tls => health_checks_run_over_tls_uring, health_checks_run_over_tls_epoll;
    a_handshake_that_never_ends_is_a_connect_timeout => a_handshake_that_never_ends_is_a_connect_timeout_uring, a_handshake_that_never_ends_is_a_connect_timeout_epoll;
}

/// The upstreams' PKI: a CA, `up.pem` for `up.test` and 127.0.0.1, `gw.pem` a client
/// certificate for gw, `stranger.pem` self-signed. Made once per test run.
pub(crate) fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = TempDir::new();
        let path = dir.path().to_path_buf();
        self_signed(&path, "ca", "gw upstream test CA", &[]);
        issue(
            &path,
            "up",
            "up.test",
            "subjectAltName=DNS:up.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
            "30",
        );
        issue(
            &path,
            "gw",
            "gw client",
            "extendedKeyUsage=clientAuth\n",
            "30",
        );
        // an end-entity certificate for up.test that no CA the tests trust signed
        self_signed(
            &path,
            "stranger",
            "up.test",
            &[
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-addext",
                "subjectAltName=DNS:up.test",
            ],
        );
        Pki::new(dir)
    })
}

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    conn: usize,
    sni: Option<String>,
    client_cert: bool,
    target: String,
    body: Vec<u8>,
}

/// A TLS upstream on rustls: it serves `cert`, asks for a client certificate of the test CA
/// when `mtls`, and answers each request with its body and `x-conn` (its connection number).
struct TlsUpstream {
    addr: SocketAddr,
    conns: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TlsUpstream {
    fn start(cert: &str, mtls: bool) -> TlsUpstream {
        let p = pki();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(p.file(&format!("{cert}.pem")))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(p.file(&format!("{cert}.key"))).unwrap();
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if mtls {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(p.file("ca.pem")).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(v)
        } else {
            builder.with_no_client_auth()
        };
        let config = Arc::new(builder.with_single_cert(chain, key).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (c, s) = (conns.clone(), seen.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { return };
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                let (config, seen) = (config.clone(), s.clone());
                std::thread::spawn(move || serve(tcp, config, n, &seen));
            }
        });
        TlsUpstream { addr, conns, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// One connection: HTTP/1.1 keep-alive with Content-Length bodies, until the peer closes or
/// the handshake fails.
fn serve(tcp: TcpStream, config: Arc<rustls::ServerConfig>, n: usize, seen: &Mutex<Vec<Seen>>) {
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        if s.conn.complete_io(&mut s.sock).is_err() {
            return;
        }
    }
    let sni = s.conn.server_name().map(str::to_owned);
    let client_cert = s.conn.peer_certificates().is_some_and(|c| !c.is_empty());
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split(' ').nth(1).unwrap_or("").to_owned();
        let mut len = 0;
        let mut upgrade = false;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
                upgrade |= k.eq_ignore_ascii_case("upgrade");
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        seen.lock().unwrap().push(Seen {
            conn: n,
            sni: sni.clone(),
            client_cert,
            target,
            body: body.clone(),
        });
        if upgrade {
            echo(r);
            return;
        }
        let s = r.get_mut();
        let head = format!(
            "HTTP/1.1 200 OK\r\nx-conn: {n}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if s.write_all(head.as_bytes()).is_err()
            || s.write_all(&body).is_err()
            || s.flush().is_err()
        {
            return;
        }
    }
}

/// After a `101`, a WebSocket echo: each message back as it came, a Pong for a Ping, and a
/// Close answered, until the peer closes.
fn echo(r: BufReader<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>) {
    use crate::support::websocket::{CLOSE, FIN, PING, PONG, Ws, accept_for};
    // the client waits for the 101 before it sends a frame
    assert!(r.buffer().is_empty(), "frames before the 101");
    let mut s = r.into_inner();
    let switched = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: {}\r\n\r\n",
        accept_for("dGhlIHNhbXBsZSBub25jZQ==")
    );
    if s.write_all(switched.as_bytes()).is_err() || s.flush().is_err() {
        return;
    }
    let mut ws = Ws {
        s: Box::new(s),
        client: false,
        head: String::new(),
    };
    while let Ok(f) = ws.recv() {
        let sent = match f.op() {
            CLOSE => {
                let _ = ws.try_send(FIN | CLOSE, &f.payload);
                return;
            }
            PING => ws.try_send(FIN | PONG, &f.payload),
            op => ws.try_send(if f.fin() { FIN | op } else { op }, &f.payload),
        };
        if sent.is_err() {
            return;
        }
    }
}

/// gw proxying everything to one server written `server`.
fn start(d: Driver, server: &str, extra: &str) -> Gw {
    let config = format!(
        "upstream u {{\n  server {server}\n  timeout connect 10s request 20s\n{extra}}}\n\
         route ANY /{{proxy+}} {{\n  upstream u\n}}\n"
    );
    Gw::start(d, &config)
}

fn a_verified_upstream_serves_keep_alive_requests_and_post_bodies(d: Driver) {
    let p = pki();
    let up = TlsUpstream::start("up", false);
    let port = up.addr.port();
    let gw = start(
        d,
        &format!(
            "127.0.0.1:{port} tls sni \"up.test\" ca \"{}\"",
            p.file("ca.pem")
        ),
        "",
    );
    // one client connection is served by one worker, which reuses its pooled TLS connection
    let mut c = gw.connect();
    for i in 0..5 {
        let r = c.get(&format!("/get/{i}"));
        assert_eq!(r.status, 200, "{}", gw.stderr());
        assert_eq!(r.header("x-conn"), Some("1"));
    }
    // bodies larger than a TLS record, both ways
    let body: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let r = c.request("POST", "/post", &[], &body);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
    assert_eq!(r.header("x-conn"), Some("1"));
    assert_eq!(
        up.conns.load(Ordering::SeqCst),
        1,
        "one upstream connection"
    );
    let seen = up.seen();
    assert_eq!(seen.len(), 6);
    for s in &seen {
        assert_eq!(s.conn, 1);
        assert_eq!(s.sni.as_deref(), Some("up.test"));
        assert!(!s.client_cert);
    }
    assert_eq!(seen[0].target, "/get/0");
    assert_eq!(seen[5].target, "/post");
    assert_eq!(seen[5].body, body);
}

fn an_ip_host_sends_no_sni_and_is_verified_by_its_ip_address(d: Driver) {
    let p = pki();
    let up = TlsUpstream::start("up", false);
    let port = up.addr.port();
    let gw = start(
        d,
        &format!("127.0.0.1:{port} tls ca \"{}\"", p.file("ca.pem")),
        "",
    );
    let r = gw.get("/ip");
    assert_eq!(r.status, 200, "{}", gw.stderr());
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].sni, None, "an IP address is never sent as SNI");
}

fn untrusted_and_wrong_name_certificates_are_refused_with_502(d: Driver) {
    let p = pki();
    let ca = p.file("ca.pem");
    let ok = TlsUpstream::start("up", false);
    let stranger = TlsUpstream::start("stranger", false);
    let with_ca = format!(" ca \"{ca}\"");
    let cases = [
        // signed by another CA (self-signed), though it names up.test
        (
            stranger.addr.port(),
            "up.test",
            with_ca.as_str(),
            "invalid peer certificate: UnknownIssuer",
        ),
        // signed by the CA, for another name
        (
            ok.addr.port(),
            "other.test",
            &with_ca,
            "invalid peer certificate: certificate not valid for name",
        ),
        // without a `ca`, the system's trusted CAs, among which the test CA is not
        (
            ok.addr.port(),
            "up.test",
            "",
            "invalid peer certificate: UnknownIssuer",
        ),
    ];
    for (port, name, ca, reason) in cases {
        let gw = start(
            d,
            &format!("127.0.0.1:{port} tls sni \"{name}\"{ca}"),
            "max_fails 1 on connect_error  fail_timeout 1h\n",
        );
        // one connection, so one worker, whose passive health counts the failure
        let mut c = gw.connect();
        let r = c.get("/x");
        assert_eq!(r.status, 502, "{}", r.text());
        // the failed handshake counts for passive health: the only server is ejected
        let r = c.get("/x");
        assert_eq!(r.status, 503, "{}", r.text());
        let log = gw.stderr();
        assert!(log.contains(reason), "no `{reason}` in\n{log}");
        assert!(log.contains("ejected"), "{log}");
    }
    assert!(ok.seen().is_empty() && stranger.seen().is_empty());
}

fn verify_off_accepts_any_certificate(d: Driver) {
    let up = TlsUpstream::start("stranger", false);
    let port = up.addr.port();
    let gw = start(d, &format!("127.0.0.1:{port} tls verify off"), "");
    let r = gw.get("/any");
    assert_eq!(r.status, 200, "{}", gw.stderr());
    assert_eq!(up.seen().len(), 1);
}

fn an_upstream_asking_for_a_client_certificate_gets_gws(d: Driver) {
    let p = pki();
    let ca = p.file("ca.pem");
    let up = TlsUpstream::start("up", true);
    let port = up.addr.port();
    // without one the upstream refuses the handshake
    let gw = start(
        d,
        &format!("127.0.0.1:{port} tls sni \"up.test\" ca \"{ca}\""),
        "",
    );
    let r = gw.get("/mtls");
    assert_eq!(r.status, 502, "{}", r.text());
    drop(gw);
    assert!(up.seen().is_empty());
    let gw = start(
        d,
        &format!(
            "127.0.0.1:{port} tls sni \"up.test\" ca \"{ca}\" client_cert \"{}\" key \"{}\"",
            p.file("gw.pem"),
            p.file("gw.key")
        ),
        "",
    );
    let r = gw.connect().request("POST", "/mtls", &[], b"signed");
    assert_eq!(r.status, 200, "{}", gw.stderr());
    assert_eq!(r.body, b"signed");
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].client_cert);
}

fn health_checks_run_over_tls(d: Driver) {
    let p = pki();
    let up = TlsUpstream::start("up", false);
    let port = up.addr.port();
    let _gw = start(
        d,
        &format!(
            "127.0.0.1:{port} tls sni \"up.test\" ca \"{}\"",
            p.file("ca.pem")
        ),
        "health GET /healthz every 1s fail 1 pass 1\n",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let checks: Vec<Seen> = up
            .seen()
            .into_iter()
            .filter(|s| s.target == "/healthz")
            .collect();
        if let Some(s) = checks.first() {
            assert_eq!(s.sni.as_deref(), Some("up.test"));
            break;
        }
        assert!(Instant::now() < deadline, "no health check arrived");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn a_handshake_that_never_ends_is_a_connect_timeout(d: Driver) {
    // accepts, and never answers the ClientHello
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let h = held.clone();
    std::thread::spawn(move || {
        for s in silent.incoming().map_while(Result::ok) {
            h.lock().unwrap().push(s);
        }
    });
    let config = format!(
        "upstream u {{\n  server 127.0.0.1:{port} tls verify off\n  timeout connect 300ms request 20s\n}}\n\
         route ANY /{{proxy+}} {{\n  upstream u\n}}\n"
    );
    let gw = Gw::start(d, &config);
    let r = gw.get("/slow");
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(
        !held.lock().unwrap().is_empty(),
        "the TCP connect succeeded"
    );
    let log = gw.stderr();
    assert!(log.contains("connect and tls handshake"), "{log}");
}

/// Open a WebSocket on `s`, then send messages of a few sizes and read each back whole.
fn upgrade_and_echo(s: impl Read + Write + Send + 'static) {
    use crate::support::websocket::{BINARY, FIN, handshake};
    let mut ws = handshake(Box::new(s), "/ws");
    for size in [5, 20_000, 100_000] {
        let msg: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        ws.send(FIN | BINARY, &msg);
        let (op, back) = ws.message();
        assert_eq!(op, BINARY);
        assert!(back == msg, "{size} bytes came back changed");
    }
    ws.close(1000, "done");
    assert_eq!(ws.expect_close(), (1000, "done".to_owned()));
}

fn websockets_relay_to_a_tls_upstream_from_plain_and_tls_clients(d: Driver) {
    let p = pki();
    let up = TlsUpstream::start("up", false);
    let port = up.addr.port();
    let config = format!(
        "upstream u {{\n  server 127.0.0.1:{port} tls sni \"up.test\" ca \"{}\"\n}}\n\
         route GET /ws websocket {{\n  upstream u\n}}\n",
        p.file("ca.pem")
    );
    // a plain client
    let gw = Gw::start(d, &config);
    let tcp = TcpStream::connect(gw.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    upgrade_and_echo(tcp);
    drop(gw);
    // a TLS client: TLS on both sides of the tunnel
    let listener = crate::tls::pki();
    let tls = format!(
        "tls {{\n  cert \"{}\" key \"{}\"\n}}",
        listener.file("a.pem"),
        listener.file("a.key")
    );
    let gw = Gw::start_listening(d, &tls, &config, &[]);
    let s = crate::tls::tls_connect(gw.addr, "a.test", crate::tls::client_config(&[b"http/1.1"]));
    upgrade_and_echo(s);
    assert_eq!(up.conns.load(Ordering::SeqCst), 2);
}

fn nginx_over_tls_1_2_and_1_3_keeps_one_pooled_connection(d: Driver) {
    let p = pki();
    for protocol in ["TLSv1.2", "TLSv1.3"] {
        // nginx (OpenSSL) on a TLS port of its own, naming the connection that served
        let port = free_port();
        let body = format!(
            "    listen 127.0.0.1:{port} ssl;\n    ssl_protocols {protocol};\n\
             ssl_certificate {};\n    ssl_certificate_key {};\n\
             location / {{ return 200 \"$connection $ssl_server_name $ssl_protocol\"; }}\n",
            p.file("up.pem"),
            p.file("up.key")
        );
        let _nginx = Nginx::start(&body, &[]).expect("nginx is not installed");
        let gw = start(
            d,
            &format!(
                "127.0.0.1:{port} tls sni \"up.test\" ca \"{}\"",
                p.file("ca.pem")
            ),
            "",
        );
        let mut c = gw.connect();
        let mut seen = Vec::new();
        for i in 0..5 {
            let r = if i % 2 == 0 {
                c.get("/n")
            } else {
                c.request("POST", "/n", &[], b"a body nginx discards")
            };
            assert_eq!(r.status, 200, "{}", gw.stderr());
            seen.push(r.text());
        }
        let first = &seen[0];
        let mut parts = first.split(' ');
        let _conn = parts.next().unwrap();
        assert_eq!(parts.next(), Some("up.test"), "{first}");
        assert_eq!(parts.next(), Some(protocol), "{first}");
        // one upstream connection served them all
        assert!(seen.iter().all(|s| s == first), "{seen:?}");
    }
}
