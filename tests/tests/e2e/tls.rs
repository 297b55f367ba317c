//! TLS listeners: certificates by SNI with a default, TLS 1.2 and 1.3 with curl and a rustls
//! client, keep-alive, `https` as the scheme, garbage and byte-by-byte handshakes, a silent
//! handshake timed out. Certificates are made at test time with `openssl`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::support::gw::TempDir;
use crate::support::tools::{curl, find_program};
use crate::support::{Driver, Gw, Upstream, proxy_all};

on_both_drivers! {
    sni_picks_the_certificate_and_unknown_names_get_the_first => sni_picks_the_certificate_and_unknown_names_get_the_first_uring, sni_picks_the_certificate_and_unknown_names_get_the_first_epoll;
    unknown_sni_reject_ends_the_handshake_with_an_alert => unknown_sni_reject_ends_the_handshake_with_an_alert_uring, unknown_sni_reject_ends_the_handshake_with_an_alert_epoll;
    curl_over_tls_1_2_and_1_3_keeps_the_connection_alive => curl_over_tls_1_2_and_1_3_keeps_the_connection_alive_uring, curl_over_tls_1_2_and_1_3_keeps_the_connection_alive_epoll;
    garbage_instead_of_a_handshake_closes_that_connection_only => garbage_instead_of_a_handshake_closes_that_connection_only_uring, garbage_instead_of_a_handshake_closes_that_connection_only_epoll;
    records_split_one_byte_at_a_time_are_served => records_split_one_byte_at_a_time_are_served_uring, records_split_one_byte_at_a_time_are_served_epoll;
    a_silent_handshake_times_out => a_silent_handshake_times_out_uring, a_silent_handshake_times_out_epoll;
    a_reload_serves_new_certificates_to_new_connections_only => a_reload_serves_new_certificates_to_new_connections_only_uring, a_reload_serves_new_certificates_to_new_connections_only_epoll;
    a_certificate_that_does_not_load_refuses_the_reload => a_certificate_that_does_not_load_refuses_the_reload_uring, a_certificate_that_does_not_load_refuses_the_reload_epoll;
    a_redirect_listener_answers_308_to_https => a_redirect_listener_answers_308_to_https_uring, a_redirect_listener_answers_308_to_https_epoll;
    mutual_tls_required_serves_verified_clients_only => mutual_tls_required_serves_verified_clients_only_uring, mutual_tls_required_serves_verified_clients_only_epoll;
    mutual_tls_optional_serves_clients_without_a_certificate => mutual_tls_optional_serves_clients_without_a_certificate_uring, mutual_tls_optional_serves_clients_without_a_certificate_epoll;
}

/// The test PKI: a CA, server certificates for `a.test` (and `*.a.test`) and `b.test` (and
/// `*.b.test`), a client certificate. Made once per test run.
pub struct Pki {
    _dir: TempDir,
    pub path: PathBuf,
}

impl Pki {
    /// The files made in `dir`, which lives as long as the `Pki`.
    pub fn new(dir: TempDir) -> Pki {
        let path = dir.path().to_path_buf();
        Pki { _dir: dir, path }
    }

    pub fn file(&self, name: &str) -> String {
        self.path.join(name).display().to_string()
    }
}

/// Run `openssl` in `dir` (failing the test when it fails); its standard output.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let bin = find_program("openssl").expect("openssl is not installed");
    let out = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sign `name.pem` (key `name.key`) by the CA in `dir`, for `cn` with the extensions `ext`.
pub fn issue(dir: &Path, name: &str, cn: &str, ext: &str, days: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            days,
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

/// Make `name.pem` and `name.key`: a self-signed P-256 certificate for `cn`, with `ext`
/// (more `openssl req` arguments).
pub fn self_signed(dir: &Path, name: &str, cn: &str, ext: &[&str]) {
    let (key, pem, subj) = (
        format!("{name}.key"),
        format!("{name}.pem"),
        format!("/CN={cn}"),
    );
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &pem,
        "-days",
        "30",
        "-subj",
        &subj,
    ];
    args.extend_from_slice(ext);
    openssl(dir, &args);
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = TempDir::new();
        let path = dir.path().to_path_buf();
        self_signed(&path, "ca", "gw test CA", &[]);
        for n in ["a", "b"] {
            issue(
                &path,
                n,
                &format!("{n}.test"),
                &format!("subjectAltName=DNS:{n}.test,DNS:*.{n}.test\n"),
                "30",
            );
        }
        issue(
            &path,
            "client",
            "client one",
            "extendedKeyUsage=clientAuth\n",
            "30",
        );
        // expired yesterday; and one its own CA signed
        issue(
            &path,
            "expired",
            "old client",
            "extendedKeyUsage=clientAuth\n",
            "-1",
        );
        self_signed(&path, "stranger", "stranger", &[]);
        Pki::new(dir)
    })
}

/// The `tls { }` block serving `a` then `b`.
pub fn tls_block(p: &Pki) -> String {
    format!(
        "tls {{\n  cert \"{}\" key \"{}\"\n  cert \"{}\" key \"{}\"\n}}",
        p.file("a.pem"),
        p.file("a.key"),
        p.file("b.pem"),
        p.file("b.key")
    )
}

const HELLO: &str = "route GET /hi { respond 200 json { scheme: req.scheme } }\n";

fn start(d: Driver, config: &str) -> Gw {
    Gw::start_listening(d, &tls_block(pki()), config, &[])
}

/// A rustls client trusting the test CA.
pub fn client_config(alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(pki().path.join("ca.pem")).unwrap();
    for c in rustls::pki_types::pem::PemObject::pem_slice_iter(&ca) {
        roots.add(c.unwrap()).unwrap();
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    Arc::new(c)
}

/// Connect with rustls as `name` and finish the handshake.
pub fn tls_connect(
    addr: SocketAddr,
    name: &str,
    config: Arc<rustls::ClientConfig>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let conn = rustls::ClientConnection::new(config, name.to_owned().try_into().unwrap()).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).unwrap();
    }
    s
}

/// Send a GET and read one response (Content-Length framed) off a TLS stream.
pub fn tls_get(s: &mut impl ReadWrite, host: &str, target: &str) -> (String, String) {
    s.write_all(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    s.flush().unwrap();
    read_response(s)
}

pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// One response: its head and body (Content-Length framed).
pub fn read_response(s: &mut impl Read) -> (String, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "closed mid-head: {buf:?}");
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

/// What `openssl s_client` prints (standard output, standard error) when it connects to
/// `addr` asking for `name` (none: no SNI).
fn s_client(addr: SocketAddr, name: Option<&str>) -> (String, String) {
    let bin = find_program("openssl").unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["s_client", "-connect", &addr.to_string()]);
    match name {
        Some(n) => cmd.args(["-servername", n]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The subject line `openssl s_client` prints for the certificate gw sends for `name`.
fn served_subject(addr: SocketAddr, name: Option<&str>) -> String {
    let (text, _) = s_client(addr, name);
    text.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or_else(|| panic!("no subject in s_client output:\n{text}"))
        .replace(' ', "")
}

fn sni_picks_the_certificate_and_unknown_names_get_the_first(d: Driver) {
    let gw = start(d, HELLO);
    // a verifying client: the right certificate for each name, exact and wildcard
    for name in ["a.test", "b.test", "x.b.test", "www.a.test"] {
        let mut s = tls_connect(gw.addr, name, client_config(&[b"http/1.1"]));
        assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        let (head, body) = tls_get(&mut s, name, "/hi");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, r#"{"scheme":"https"}"#);
    }
    assert_eq!(served_subject(gw.addr, Some("b.test")), "subject=CN=b.test");
    assert_eq!(
        served_subject(gw.addr, Some("unknown.example")),
        "subject=CN=a.test"
    );
    assert_eq!(served_subject(gw.addr, None), "subject=CN=a.test");
    // two labels below a wildcard are not its names
    assert_eq!(
        served_subject(gw.addr, Some("y.x.b.test")),
        "subject=CN=a.test"
    );
}

/// `unknown_sni reject`: a name no certificate has, or none at all, gets an alert and no
/// certificate, and the listener goes on serving its own names.
fn unknown_sni_reject_ends_the_handshake_with_an_alert(d: Driver) {
    let block = tls_block(pki()).replace("\n}", "\n  unknown_sni reject\n}");
    let gw = Gw::start_listening(d, &block, HELLO, &[]);
    let refused = |name: Option<&str>| {
        let (stdout, stderr) = s_client(gw.addr, name);
        assert!(
            !stdout.lines().any(|l| l.starts_with("subject=")),
            "{name:?} got a certificate:\n{stdout}"
        );
        assert!(
            stderr.contains("alert access denied"),
            "{name:?}: no alert:\n{stderr}"
        );
    };
    refused(Some("unknown.example"));
    refused(Some("y.x.b.test"));
    refused(None);
    for name in ["a.test", "x.b.test"] {
        let mut s = tls_connect(gw.addr, name, client_config(&[b"http/1.1"]));
        let (head, _) = tls_get(&mut s, name, "/hi");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    assert_eq!(served_subject(gw.addr, Some("b.test")), "subject=CN=b.test");
}

fn curl_over_tls_1_2_and_1_3_keeps_the_connection_alive(d: Driver) {
    let up = Upstream::echo("app");
    let gw = start(d, &proxy_all(up.addr()));
    let p = pki();
    let port = gw.addr.port();
    let resolve = format!("b.test:{port}:127.0.0.1");
    let url = format!("https://b.test:{port}/x");
    for (min, max, want) in [
        ("--tlsv1.2", "1.2", "TLSv1.2"),
        ("--tlsv1.3", "1.3", "TLSv1.3"),
    ] {
        let out = curl(&[
            "-v",
            "--cacert",
            &p.file("ca.pem"),
            "--resolve",
            &resolve,
            min,
            "--tls-max",
            max,
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{num_connects}\n",
            &url,
            &url,
        ]);
        assert_eq!(out.stdout, "200 1\n200 0\n", "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("SSL connection using {want}")),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("subject: CN=b.test"), "{}", out.stderr);
    }
    let reqs = up.requests();
    assert_eq!(reqs.len(), 4);
    for r in &reqs {
        assert_eq!(r.header("x-forwarded-proto"), Some("https"));
    }
}

fn garbage_instead_of_a_handshake_closes_that_connection_only(d: Driver) {
    let gw = start(d, HELLO);
    // plain HTTP, and bytes that are not TLS at all
    let garbage: [&[u8]; 3] = [
        b"GET /hi HTTP/1.1\r\nHost: a\r\n\r\n",
        &[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8],
        &[0xab; 4096],
    ];
    for bytes in garbage {
        let mut c = gw.connect();
        let _ = c.try_send(bytes);
        let got = c.wait_closed(Duration::from_secs(20)).unwrap();
        // at most an alert record (content type 21), never an HTTP answer
        assert!(got.is_empty() || got[0] == 21, "{got:?}");
    }
    let mut s = tls_connect(gw.addr, "a.test", client_config(&[]));
    let (head, _) = tls_get(&mut s, "a.test", "/hi");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

fn records_split_one_byte_at_a_time_are_served(d: Driver) {
    let gw = start(d, HELLO);
    let tcp = TcpStream::connect(gw.addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut conn =
        rustls::ClientConnection::new(client_config(&[b"http/1.1"]), "a.test".try_into().unwrap())
            .unwrap();
    conn.writer()
        .write_all(b"GET /hi HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .unwrap();
    let mut sock = tcp;
    // every record this client writes goes out one byte per send
    let dribble = |conn: &mut rustls::ClientConnection, sock: &mut TcpStream| {
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out).unwrap();
        }
        for b in out {
            sock.write_all(&[b]).unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
    };
    while conn.is_handshaking() {
        dribble(&mut conn, &mut sock);
        if conn.is_handshaking() {
            conn.read_tls(&mut sock).unwrap();
            conn.process_new_packets().unwrap();
        }
    }
    // the request, queued before the handshake, goes out now, a byte at a time
    dribble(&mut conn, &mut sock);
    let mut s = rustls::StreamOwned::new(conn, sock);
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, r#"{"scheme":"https"}"#);
}

fn a_silent_handshake_times_out(d: Driver) {
    let gw = start(d, &format!("{HELLO}timeouts {{\n  header_read 1s\n}}\n"));
    let mut quiet = gw.connect();
    // half a ClientHello header, then nothing
    quiet.send(&[0x16, 0x03]);
    assert!(quiet.wait_closed(Duration::from_secs(30)).is_ok());
    let mut s = tls_connect(gw.addr, "a.test", client_config(&[]));
    let (head, _) = tls_get(&mut s, "a.test", "/hi");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

/// A `tls { }` block over `site.pem`/`site.key` in `dir`, holding the `name` certificate.
fn site(dir: &Path, name: &str) -> String {
    let p = pki();
    std::fs::copy(p.path.join(format!("{name}.pem")), dir.join("site.pem")).unwrap();
    std::fs::copy(p.path.join(format!("{name}.key")), dir.join("site.key")).unwrap();
    format!(
        "tls {{ cert \"{}\" key \"{}\" }}",
        dir.join("site.pem").display(),
        dir.join("site.key").display()
    )
}

pub fn wait_for_log(gw: &Gw, what: &str, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while gw.stderr().matches(what).count() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "no `{what}` in gw's log:\n{}",
            gw.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a verifying client gets through the handshake as `name`.
fn verifies_as(addr: SocketAddr, name: &str) -> bool {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let conn =
        rustls::ClientConnection::new(client_config(&[]), name.to_owned().try_into().unwrap())
            .unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        if s.conn.complete_io(&mut s.sock).is_err() {
            return false;
        }
    }
    true
}

fn a_reload_serves_new_certificates_to_new_connections_only(d: Driver) {
    let certs = TempDir::new();
    let gw = Gw::start_listening(d, &site(certs.path(), "a"), HELLO, &[]);
    let mut open = tls_connect(gw.addr, "a.test", client_config(&[]));
    assert!(
        tls_get(&mut open, "a.test", "/hi")
            .0
            .starts_with("HTTP/1.1 200")
    );
    assert!(!verifies_as(gw.addr, "b.test"));
    // the files are renewed in place, then gw reloads
    site(certs.path(), "b");
    gw.proc.signal("HUP");
    wait_for_log(&gw, "reloaded", 1);
    assert!(verifies_as(gw.addr, "b.test"));
    assert!(!verifies_as(gw.addr, "a.test"));
    // the connection opened before keeps its TLS state and is served
    let (head, body) = tls_get(&mut open, "a.test", "/hi");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, r#"{"scheme":"https"}"#);
}

fn a_certificate_that_does_not_load_refuses_the_reload(d: Driver) {
    let certs = TempDir::new();
    let gw = Gw::start_listening(d, &site(certs.path(), "a"), HELLO, &[]);
    assert!(verifies_as(gw.addr, "a.test"));
    std::fs::write(certs.path().join("site.pem"), "not a certificate\n").unwrap();
    gw.proc.signal("HUP");
    wait_for_log(&gw, "site.pem", 1);
    // the key of `b` does not match the certificate of `a` either
    site(certs.path(), "a");
    std::fs::copy(pki().path.join("b.key"), certs.path().join("site.key")).unwrap();
    gw.proc.signal("HUP");
    wait_for_log(&gw, "site.pem", 2);
    assert!(!gw.stderr().contains("reloaded"), "{}", gw.stderr());
    assert!(verifies_as(gw.addr, "a.test"));
    let mut s = tls_connect(gw.addr, "a.test", client_config(&[]));
    assert!(
        tls_get(&mut s, "a.test", "/hi")
            .0
            .starts_with("HTTP/1.1 200")
    );
}

fn a_redirect_listener_answers_308_to_https(d: Driver) {
    let gw = Gw::start_listening(d, "{ redirect https }", HELLO, &[]);
    let mut c = gw.connect();
    for (target, host, want) in [
        (
            "/hi?a=1&b=2",
            "api.example:8080",
            "https://api.example/hi?a=1&b=2",
        ),
        ("/no/route", "api.example", "https://api.example/no/route"),
    ] {
        c.send(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        let r = c.read_response("GET").unwrap();
        assert_eq!(r.status, 308);
        assert_eq!(r.header("location"), Some(want));
    }
    // a body is read past, and the connection goes on
    c.send(b"POST /hi HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        c.read_response("POST").unwrap().header("location"),
        Some("https://h/hi")
    );
    assert_eq!(
        c.read_response("GET").unwrap().header("location"),
        Some("https://h/x")
    );
}

/// A rustls client presenting the `name` certificate (None: none).
fn mtls_config(name: Option<&str>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let base = client_config(&[]);
    let Some(name) = name else { return base };
    let p = pki();
    let chain =
        rustls::pki_types::CertificateDer::pem_file_iter(p.path.join(format!("{name}.pem")))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(p.path.join(format!("{name}.key")))
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(p.path.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap(),
    )
}

/// GET /who as `a.test` with `config`: the body, or why it failed (a refused handshake shows
/// on the client's first read in TLS 1.3).
fn who(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Result<String, String> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let conn = rustls::ClientConnection::new(config, "a.test".try_into().unwrap()).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.write_all(b"GET /who HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .and_then(|()| s.flush())
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Err(format!("closed after {got:?}")),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e.to_string()),
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n")
            && head.contains("Content-Length")
        {
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            if body.len() >= len {
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                return Ok(body.to_owned());
            }
        }
    }
}

const WHO: &str =
    "route GET /who { respond 200 json { subject: tls.client.subject ?? \"none\" } }\n";

fn mtls_block(auth: &str) -> String {
    let p = pki();
    format!(
        "tls {{\n  cert \"{}\" key \"{}\"\n  client_ca \"{}\"{auth}\n}}",
        p.file("a.pem"),
        p.file("a.key"),
        p.file("ca.pem")
    )
}

fn mutual_tls_required_serves_verified_clients_only(d: Driver) {
    let gw = Gw::start_listening(d, &mtls_block(""), WHO, &[]);
    assert_eq!(
        who(gw.addr, mtls_config(Some("client"))).unwrap(),
        r#"{"subject":"CN=client one"}"#
    );
    for refused in [None, Some("expired"), Some("stranger")] {
        let r = who(gw.addr, mtls_config(refused));
        assert!(r.is_err(), "{refused:?}: {r:?}");
    }
    // the worker goes on serving
    assert!(who(gw.addr, mtls_config(Some("client"))).is_ok());
}

fn mutual_tls_optional_serves_clients_without_a_certificate(d: Driver) {
    let gw = Gw::start_listening(d, &mtls_block("\n  client_auth optional"), WHO, &[]);
    assert_eq!(
        who(gw.addr, mtls_config(None)).unwrap(),
        r#"{"subject":"none"}"#
    );
    assert_eq!(
        who(gw.addr, mtls_config(Some("client"))).unwrap(),
        r#"{"subject":"CN=client one"}"#
    );
    // a certificate is still verified when one is presented
    for refused in ["expired", "stranger"] {
        let r = who(gw.addr, mtls_config(Some(refused)));
        assert!(r.is_err(), "{refused}: {r:?}");
    }
}
