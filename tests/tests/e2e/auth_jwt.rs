//! `jwt NAME { … }` and `auth jwt NAME` through gw: tokens minted here with every algorithm,
//! the RFC 7515 examples, every bad input of the issue (each a 401 with its reason in gw's
//! log and nothing forwarded), scopes, token sources, and a JWKS server that rotates its keys
//! and goes down while gw keeps serving.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::gw::TempDir;
use crate::support::*;

#[path = "../../jwt-keys/mint.rs"]
mod mint;

use mint::Signer;

on_both_drivers! {
    every_algorithm_reaches_the_upstream_with_its_claims => every_algorithm_reaches_the_upstream_with_its_claims_uring, every_algorithm_reaches_the_upstream_with_its_claims_epoll;
    bad_tokens_are_401_with_their_reason_in_the_log => bad_tokens_are_401_with_their_reason_in_the_log_uring, bad_tokens_are_401_with_their_reason_in_the_log_epoll;
    rfc_7515_examples_verify_then_are_refused_as_expired => rfc_7515_examples_verify_then_are_refused_as_expired_uring, rfc_7515_examples_verify_then_are_refused_as_expired_epoll;
    scopes_and_token_sources => scopes_and_token_sources_uring, scopes_and_token_sources_epoll;
    a_pem_key_and_a_secret_file_and_no_key_confusion => a_pem_key_and_a_secret_file_and_no_key_confusion_uring, a_pem_key_and_a_secret_file_and_no_key_confusion_epoll;
    a_jwks_url_is_followed_through_rotation_and_outage => a_jwks_url_is_followed_through_rotation_and_outage_uring, a_jwks_url_is_followed_through_rotation_and_outage_epoll;
    https_calls_are_verified_against_the_trusted_cas => https_calls_are_verified_against_the_trusted_cas_uring, https_calls_are_verified_against_the_trusted_cas_epoll;
}

/// Writes `name` into `dir` and gives its absolute path.
fn file(dir: &TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A JWKS document of `(kid, signer)`.
fn jwks(keys: &[(&str, &Signer)]) -> String {
    let keys: Vec<Value> = keys.iter().map(|(kid, s)| s.jwk(kid)).collect();
    json!({ "keys": keys }).to_string()
}

fn claims(sub: &str) -> Value {
    json!({"iss": "https://issuer.test/", "aud": "api", "sub": sub,
           "exp": mint::now() + 600, "scope": "read"})
}

/// GET `target` with `Authorization: Bearer token` and a request id to find in the log.
fn get(gw: &Gw, target: &str, token: &str, id: &str) -> crate::support::client::Response {
    let auth = format!("Bearer {token}");
    gw.connect().request(
        "GET",
        target,
        &[("authorization", &auth), ("x-request-id", id)],
        b"",
    )
}

/// The log line gw wrote for request `id`.
fn logged(gw: &Gw, id: &str) -> String {
    // the log line is written before the response; allow for the file's buffering anyway
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let key = format!(" gw: {id} GET ");
        if let Some(l) = gw.stderr().lines().find(|l| l.contains(&key)) {
            return l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line for {id}:\n{}",
            gw.stderr()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn standard(up: &Upstream, dir: &TempDir) -> String {
    let set = jwks(&[
        ("hs", &Signer::hmac(mint::SECRET.as_bytes())),
        ("rsa", &Signer::rsa(mint::RSA)),
        ("p256", &Signer::ec256()),
        ("p384", &Signer::ec384()),
        ("ed", &Signer::ed25519()),
    ]);
    let path = file(dir, "jwks.json", &set);
    format!(
        "limits {{ headers 64KiB }}\n{}jwt users {{\n  issuer \"https://issuer.test/\"\n  audience \"api\"\n  jwks file \"{path}\"\n  algorithms {}\n  claims {{ email: string }}\n}}\nroute GET /me {{\n  auth jwt users\n  set header x-user = claim.sub\n  set header x-email = claim.email ?? \"none\"\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], ""),
        mint::ALL.join(" ")
    )
}

fn every_algorithm_reaches_the_upstream_with_its_claims(d: Driver) {
    let up = Upstream::echo("app");
    let dir = TempDir::new();
    let gw = Gw::start(d, &standard(&up, &dir));
    for alg in mint::ALL {
        let mut c = claims(&format!("user-{alg}"));
        c["email"] = json!(format!("{alg}@example.test"));
        let t = mint::token(&Signer::for_alg(alg), alg, Some(mint::kid_of(alg)), &c);
        let r = get(&gw, "/me", &t, &format!("alg-{alg}"));
        assert_eq!(r.status, 200, "{alg}: {}", gw.stderr());
        let seen = up.traffic().pop().unwrap();
        assert_eq!(seen.header("x-user"), Some(format!("user-{alg}").as_str()));
        assert_eq!(
            seen.header("x-email"),
            Some(format!("{alg}@example.test").as_str())
        );
        // the same token again: served from the cache, the same claims
        assert_eq!(get(&gw, "/me", &t, "again").status, 200);
        let again = up.traffic().pop().unwrap();
        assert_eq!(again.header("x-user"), Some(format!("user-{alg}").as_str()));
    }
    assert_eq!(up.count(), 2 * mint::ALL.len());
}

fn bad_tokens_are_401_with_their_reason_in_the_log(d: Driver) {
    let up = Upstream::echo("app");
    let dir = TempDir::new();
    let gw = Gw::start(d, &standard(&up, &dir));
    let rsa = Signer::rsa(mint::RSA);
    let c = claims("ann").to_string();
    let now = mint::now();
    let with = |extra: Value| {
        let mut c = claims("ann");
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        mint::token(&rsa, "RS256", Some("rsa"), &c)
    };
    let unsigned = mint::raw(&rsa, "RS256", r#"{"alg":"none","typ":"JWT"}"#, &c);
    let unsigned = format!("{}.", unsigned.rsplit_once('.').unwrap().0);
    let cases: Vec<(&str, String, &str)> = vec![
        ("none", unsigned, "alg none"),
        (
            "kid-path",
            mint::raw(
                &rsa,
                "RS256",
                r#"{"alg":"RS256","kid":"../../../etc/passwd"}"#,
                &c,
            ),
            "not in the key set",
        ),
        (
            "kid-sql",
            mint::raw(
                &rsa,
                "RS256",
                r#"{"alg":"RS256","kid":"x' UNION SELECT key FROM keys--"}"#,
                &c,
            ),
            "not in the key set",
        ),
        (
            "kid-unknown",
            mint::token(&rsa, "RS256", Some("rsa-2019"), &claims("ann")),
            "not in the key set",
        ),
        (
            "jku",
            mint::raw(
                &rsa,
                "RS256",
                r#"{"alg":"RS256","kid":"rsa","jku":"http://127.0.0.1:1/jwks"}"#,
                &c,
            ),
            "`jku`",
        ),
        (
            "x5u",
            mint::raw(
                &rsa,
                "RS256",
                r#"{"alg":"RS256","kid":"rsa","x5u":"http://127.0.0.1:1/cert"}"#,
                &c,
            ),
            "`x5u`",
        ),
        (
            "crit",
            mint::raw(
                &rsa,
                "RS256",
                r#"{"alg":"RS256","kid":"rsa","crit":["http://example.test/ext"]}"#,
                &c,
            ),
            "crit",
        ),
        (
            "dup-header",
            mint::raw(
                &rsa,
                "RS256",
                r#"{"alg":"RS256","kid":"rsa","kid":"hs"}"#,
                &c,
            ),
            "duplicate",
        ),
        (
            "header-not-json",
            mint::raw(&rsa, "RS256", "{alg: RS256}", &c),
            "header is not JSON",
        ),
        (
            "payload-not-json",
            mint::raw(&rsa, "RS256", r#"{"alg":"RS256","kid":"rsa"}"#, "[1,"),
            "payload is not JSON",
        ),
        (
            "bad-base64",
            format!("{}=.e30.AAAA", mint::b64(br#"{"alg":"RS256"}"#)),
            "base64url",
        ),
        ("bad-base64-chars", "ey+J.e30.AA/A".into(), "base64url"),
        ("big", "a".repeat(20 * 1024), "over the 16384-byte limit"),
        ("expired", with(json!({"exp": now - 60})), "expired"),
        ("not-yet", with(json!({"nbf": now + 600})), "nbf"),
        ("future-iat", with(json!({"iat": now + 600})), "iat"),
        (
            "wrong-iss",
            with(json!({"iss": "https://evil.test/"})),
            "issuer",
        ),
        (
            "wrong-aud",
            with(json!({"aud": ["web", "mobile"]})),
            "audience",
        ),
        ("claim-type", with(json!({"email": ["a@b"]})), "email"),
        (
            "bad-signature",
            mint::token(
                &Signer::rsa(mint::RSA2),
                "RS256",
                Some("rsa"),
                &claims("ann"),
            ),
            "signature",
        ),
        (
            "alg-family",
            mint::token(&Signer::ec256(), "ES256", Some("rsa"), &claims("ann")),
            "needs a P-256 key",
        ),
    ];
    for (id, token, reason) in &cases {
        let r = get(&gw, "/me", token, id);
        assert_eq!(r.status, 401, "{id}");
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#),
            "{id}"
        );
        assert!(
            !r.text().contains("jwt users"),
            "{id}: the reason is not for the client"
        );
        let line = logged(&gw, id);
        assert!(
            line.contains("401 jwt users: ") && line.contains(reason),
            "{id}: {line}"
        );
    }
    // no token at all: the bare challenge (RFC 6750 §3.1)
    let r = gw
        .connect()
        .request("GET", "/me", &[("x-request-id", "none-at-all")], b"");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert!(logged(&gw, "none-at-all").contains("no token"));
    // a 1 MB token never reaches the plugin: over the head limits
    let r = get(&gw, "/me", &"a".repeat(1 << 20), "huge");
    assert_eq!(r.status, 431);
    assert_eq!(up.count(), 0, "nothing was forwarded");
    // gw still serves
    let t = mint::token(&rsa, "RS256", Some("rsa"), &claims("ann"));
    assert_eq!(get(&gw, "/me", &t, "fine").status, 200);
}

fn rfc_7515_examples_verify_then_are_refused_as_expired(d: Driver) {
    let up = Upstream::echo("app");
    let dir = TempDir::new();
    let set = format!(
        r#"{{"keys":[{},{},{}]}}"#,
        mint::A1_JWK,
        mint::A2_JWK,
        mint::A3_JWK
    );
    let path = file(&dir, "rfc.json", &set);
    let config = format!(
        "{}jwt rfc {{\n  jwks file \"{path}\"\n  algorithms HS256 RS256 ES256\n  leeway 1h\n}}\nroute GET /r {{\n  auth jwt rfc\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    // Their exp is in 2011, beyond any leeway: the signature verifies (the reason is the
    // expiry, checked after it), and a flipped signature fails on the signature instead.
    for (n, token) in [mint::A1_TOKEN, mint::A2_TOKEN, mint::A3_TOKEN]
        .iter()
        .enumerate()
    {
        let id = format!("rfc-{n}");
        assert_eq!(get(&gw, "/r", token, &id).status, 401);
        assert!(logged(&gw, &id).contains("expired"), "{}", logged(&gw, &id));
        let mut flipped = token.to_string();
        flipped.replace_range(token.len() - 6.., "AAAAAA");
        let id = format!("rfc-flipped-{n}");
        assert_eq!(get(&gw, "/r", &flipped, &id).status, 401);
        assert!(
            logged(&gw, &id).contains("signature"),
            "{}",
            logged(&gw, &id)
        );
    }
    assert_eq!(up.count(), 0);
}

fn scopes_and_token_sources(d: Driver) {
    let up = Upstream::echo("app");
    let dir = TempDir::new();
    let secret = file(&dir, "secret.txt", &format!("{}\n", mint::SECRET));
    let config = format!(
        "{}jwt users {{\n  secret file \"{secret}\"\n  algorithms HS256\n}}\njwt by_query {{\n  secret file \"{secret}\"\n  algorithms HS256\n  token query \"access_token\"\n}}\njwt by_cookie {{\n  secret file \"{secret}\"\n  algorithms HS256\n  token cookie \"session\"\n}}\njwt by_header {{\n  secret file \"{secret}\"\n  algorithms HS256\n  token header \"X-Token\"\n}}\n\
         route GET /admin {{\n  auth jwt users\n  require \"admin\" in auth.scopes  else 403\n  set header x-user = claim.sub\n  upstream u\n}}\n\
         route GET /q {{\n  auth jwt by_query\n  set header x-user = claim.sub\n  upstream u\n}}\n\
         route GET /c {{\n  auth jwt by_cookie\n  set header x-user = claim.sub\n  upstream u\n}}\n\
         route GET /h {{\n  auth jwt by_header\n  set header x-user = claim.sub\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let hs = Signer::hmac(mint::SECRET.as_bytes());
    let token = |sub: &str, scope: Value| {
        let mut c = json!({"sub": sub, "exp": mint::now() + 600});
        for (k, v) in scope.as_object().unwrap() {
            c[k] = v.clone();
        }
        mint::token(&hs, "HS256", None, &c)
    };
    // `scope` is split into a list, never searched as text ("administrator" is not "admin")
    let reader = token("rita", json!({"scope": "read administrator"}));
    assert_eq!(get(&gw, "/admin", &reader, "reader").status, 403);
    let admin = token("ada", json!({"scope": "read admin"}));
    assert_eq!(get(&gw, "/admin", &admin, "admin").status, 200);
    let scp = token("sam", json!({"scp": ["admin"]}));
    assert_eq!(get(&gw, "/admin", &scp, "scp").status, 200);
    assert_eq!(up.traffic().pop().unwrap().header("x-user"), Some("sam"));
    // from the query, a cookie and a header
    let q = token("quinn", json!({}));
    let r = gw.get(&format!("/q?access_token={q}"));
    assert_eq!(r.status, 200);
    assert_eq!(up.traffic().pop().unwrap().header("x-user"), Some("quinn"));
    assert_eq!(gw.get("/q").status, 401);
    let cookie = format!("theme=dark; session={}", token("cora", json!({})));
    let r = gw
        .connect()
        .request("GET", "/c", &[("cookie", &cookie)], b"");
    assert_eq!(r.status, 200);
    assert_eq!(up.traffic().pop().unwrap().header("x-user"), Some("cora"));
    let h = token("hana", json!({}));
    let r = gw.connect().request("GET", "/h", &[("x-token", &h)], b"");
    assert_eq!(r.status, 200);
    assert_eq!(up.traffic().pop().unwrap().header("x-user"), Some("hana"));
    // a Bearer token does not count where the config names another source
    assert_eq!(get(&gw, "/c", &admin, "bearer-on-cookie").status, 401);
}

fn a_pem_key_and_a_secret_file_and_no_key_confusion(d: Driver) {
    let up = Upstream::echo("app");
    let dir = TempDir::new();
    let pem = file(&dir, "rs256.pub.pem", mint::RSA_PUB);
    let ed = file(&dir, "ed.pub.pem", mint::ED25519_PUB);
    let config = format!(
        "{}jwt rsa {{\n  key file \"{pem}\"\n  algorithms RS256 PS256 HS256\n}}\njwt ed {{\n  key file \"{ed}\"\n  algorithms EdDSA\n}}\n\
         route GET /rsa {{\n  auth jwt rsa\n  upstream u\n}}\nroute GET /ed {{\n  auth jwt ed\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let c = claims("ann");
    let rs = mint::token(&Signer::rsa(mint::RSA), "RS256", None, &c);
    let ps = mint::token(&Signer::rsa(mint::RSA), "PS256", None, &c);
    assert_eq!(get(&gw, "/rsa", &rs, "rs").status, 200);
    assert_eq!(get(&gw, "/rsa", &ps, "ps").status, 200);
    // RS256 -> HS256: the public key's PEM text used as an HMAC secret
    let forged = mint::token(&Signer::hmac(mint::RSA_PUB.as_bytes()), "HS256", None, &c);
    assert_eq!(get(&gw, "/rsa", &forged, "confused").status, 401);
    assert!(logged(&gw, "confused").contains("no key of the set verifies alg HS256"));
    let eddsa = mint::token(&Signer::ed25519(), "EdDSA", None, &c);
    assert_eq!(get(&gw, "/ed", &eddsa, "ed").status, 200);
    // an algorithm the declaration does not allow, whatever the key
    assert_eq!(get(&gw, "/ed", &rs, "not-allowed").status, 401);
    assert!(logged(&gw, "not-allowed").contains("not allowed by the config"));
    assert_eq!(up.count(), 3);
}

fn a_jwks_url_is_followed_through_rotation_and_outage(d: Driver) {
    let up = Upstream::echo("app");
    let (a, b, c) = (Signer::rsa(mint::RSA), Signer::ec256(), Signer::ed25519());
    let sets = Arc::new([
        jwks(&[("a", &a)]),
        jwks(&[("a", &a), ("b", &b)]),
        jwks(&[("c", &c)]),
    ]);
    let phase = Arc::new(AtomicUsize::new(0));
    let (p, s) = (phase.clone(), sets.clone());
    let idp = Upstream::start("idp", move |_| Reply::Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: s[p.load(Ordering::SeqCst)].clone().into_bytes(),
    });
    let down = free_port();
    // `users` refreshes hourly: after its first fetch only an unknown kid refetches, so the
    // rotation below is that refetch's doing; `sched` refreshes every second.
    let config = format!(
        "{}jwt users {{\n  jwks \"http://{idp}/.well-known/jwks.json\" refresh 1h\n  algorithms RS256 ES256 EdDSA\n}}\n\
         jwt sched {{\n  jwks \"http://{idp}/.well-known/jwks.json\" refresh 1s\n  algorithms RS256 ES256 EdDSA\n  cache 100 ttl 1s\n}}\n\
         jwt never {{\n  jwks \"http://127.0.0.1:{down}/jwks.json\"\n  algorithms RS256\n}}\n\
         route GET /me {{\n  auth jwt users\n  set header x-user = claim.sub\n  upstream u\n}}\n\
         route GET /sched {{\n  auth jwt sched\n  upstream u\n}}\n\
         route GET /never {{\n  auth jwt never\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], ""),
        idp = idp.addr()
    );
    let gw = Gw::start(d, &config);
    let mut n = 0;
    let mut fresh = |s: &Signer, alg: &str, kid: &str| {
        n += 1;
        mint::token(s, alg, Some(kid), &claims(&format!("{kid}-{n}")))
    };
    // gw fetches the sets at start; until it has one, 503
    let deadline = Instant::now() + Duration::from_secs(10);
    for route in ["/me", "/sched"] {
        loop {
            let status = get(&gw, route, &fresh(&a, "RS256", "a"), "start").status;
            if status == 200 {
                break;
            }
            assert_eq!(status, 503);
            assert!(
                Instant::now() < deadline,
                "no key set fetched:\n{}",
                gw.stderr()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
    // a key set that never arrives: 503, never 401
    assert_eq!(
        get(&gw, "/never", &fresh(&a, "RS256", "a"), "never").status,
        503
    );
    assert!(logged(&gw, "never").contains("no key set fetched"));

    // rotation: the IdP adds key b; a token naming it makes gw refetch at once, no reload
    phase.store(1, Ordering::SeqCst);
    let r = get(&gw, "/me", &fresh(&b, "ES256", "b"), "rotated");
    assert_eq!(r.status, 200, "{}", gw.stderr());
    let user = up.traffic().pop().unwrap();
    assert!(user.header("x-user").unwrap().starts_with("b-"));

    // the IdP drops a and b for c: the scheduled refresh follows
    phase.store(2, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(15);
    while get(&gw, "/sched", &fresh(&c, "EdDSA", "c"), "follow").status != 200 {
        assert!(
            Instant::now() < deadline,
            "c never verified:\n{}",
            gw.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        get(&gw, "/sched", &fresh(&a, "RS256", "a"), "dropped").status,
        401
    );

    // the IdP goes down: gw keeps the last good sets and keeps serving
    let fetched = idp.count();
    assert!(fetched >= 4, "fetches: {fetched}");
    drop(idp);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gw.stderr().contains("keeping the last good key set") {
        assert!(
            Instant::now() < deadline,
            "no failed refresh:\n{}",
            gw.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    for i in 0..3 {
        let r = get(
            &gw,
            "/sched",
            &fresh(&c, "EdDSA", "c"),
            &format!("down-c-{i}"),
        );
        assert_eq!(r.status, 200, "{}", gw.stderr());
        let r = get(&gw, "/me", &fresh(&b, "ES256", "b"), &format!("down-b-{i}"));
        assert_eq!(r.status, 200, "{}", gw.stderr());
    }
}

/// An HTTPS service on Python's standard library: GET answers with the JWKS file, POST (an
/// authorizer's call) with `{"user": "ann"}`; each request is counted in the log file.
const HTTPS_SERVICE: &str = r#"
import http.server, ssl, sys
cert, key, jwks, log = sys.argv[1:5]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, body):
        with open(log, "a") as f:
            f.write(self.command + " " + self.path + "\n")
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.answer(open(jwks, "rb").read())
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.answer(b'{"user": "ann"}')
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

/// A running [`HTTPS_SERVICE`] with certificate `name` of the upstream test PKI.
struct HttpsService {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
}

impl HttpsService {
    fn start(dir: &TempDir, name: &str, jwks_file: &str) -> HttpsService {
        use std::io::BufRead;
        let p = crate::tls_upstream::pki();
        let script = file(dir, &format!("{name}.py"), HTTPS_SERVICE);
        let log = dir.path().join(format!("{name}.log"));
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .args([
                p.file(&format!("{name}.pem")),
                p.file(&format!("{name}.key")),
            ])
            .arg(jwks_file)
            .arg(&log)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run python3");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no port: {line:?}"));
        HttpsService { child, port, log }
    }

    fn requests(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for HttpsService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `https://` JWKS URLs and authorizers: the service's certificate is verified against the
/// trusted CAs (the test CA through `SSL_CERT_FILE`); one no trusted CA signed is never
/// believed, so its keys never verify a token and its authorizer never allows.
fn https_calls_are_verified_against_the_trusted_cas(d: Driver) {
    let dir = TempDir::new();
    let up = Upstream::echo("app");
    let signer = Signer::rsa(mint::RSA);
    let jwks_file = file(&dir, "jwks.json", &jwks(&[("a", &signer)]));
    let trusted = HttpsService::start(&dir, "up", &jwks_file);
    let stranger = HttpsService::start(&dir, "stranger", &jwks_file);
    let config = format!(
        "{}jwt users {{\n  jwks \"https://127.0.0.1:{t}/.well-known/jwks.json\"\n  algorithms RS256\n}}\n\
         jwt strangers {{\n  jwks \"https://127.0.0.1:{s}/.well-known/jwks.json\"\n  algorithms RS256\n}}\n\
         authorizer checked {{\n  url \"https://127.0.0.1:{t}/authorize\"\n  identity header.authorization\n  context {{\n    user: string\n  }}\n}}\n\
         authorizer unchecked {{\n  url \"https://127.0.0.1:{s}/authorize\"\n  identity header.authorization\n  context {{\n    user: string\n  }}\n}}\n\
         route GET /me {{\n  auth jwt users\n  set header x-user = claim.sub\n  upstream u\n}}\n\
         route GET /stranger {{\n  auth jwt strangers\n  upstream u\n}}\n\
         route GET /authz {{\n  auth authorizer checked\n  set header x-user = auth.ctx.user\n  upstream u\n}}\n\
         route GET /authz-stranger {{\n  auth authorizer unchecked\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], ""),
        t = trusted.port,
        s = stranger.port,
    );
    let ca = crate::tls_upstream::pki().file("ca.pem");
    let gw = Gw::start_env(d, "", &config, &[], &[("SSL_CERT_FILE", &ca)]);
    let token = mint::token(&signer, "RS256", Some("a"), &claims("ann"));
    // gw fetches the set at start; until it has it, 503
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = get(&gw, "/me", &token, "me").status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            Instant::now() < deadline,
            "no key set over https:\n{}",
            gw.stderr()
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(up.traffic().pop().unwrap().header("x-user"), Some("ann"));
    assert!(
        trusted
            .requests()
            .iter()
            .any(|r| r == "GET /.well-known/jwks.json"),
        "{:?}",
        trusted.requests()
    );
    let r = get(&gw, "/authz", &token, "authz");
    assert_eq!(r.status, 200, "{}", gw.stderr());
    assert_eq!(up.traffic().pop().unwrap().header("x-user"), Some("ann"));
    assert!(trusted.requests().iter().any(|r| r == "POST /authorize"));

    // the stranger's certificate is self-signed: no request ever reaches it
    assert_eq!(get(&gw, "/stranger", &token, "stranger").status, 503);
    assert_eq!(
        get(&gw, "/authz-stranger", &token, "authz-stranger").status,
        503
    );
    assert!(stranger.requests().is_empty(), "{:?}", stranger.requests());
    let log = gw.stderr();
    assert!(log.contains("certificate"), "the reason is logged:\n{log}");
}
