use serde_json::json;

use super::*;

#[path = "../../../../tests/jwt-keys/mint.rs"]
mod mint;

use mint::Signer;

use mint::{A_NOW_MS, A1_JWK, A1_TOKEN, A2_JWK, A2_TOKEN, A3_JWK, A3_TOKEN};

/// The request side of a call: its Authorization field, what the plugin stored and denied.
type Req = gw_plugin::testing::TestRequest;

/// A request with `Authorization: Bearer TOKEN` at `now_ms`.
fn bearer(token: &str, now_ms: i64) -> Req {
    Req {
        now_ms,
        ..Req::new().header("authorization", &format!("Bearer {token}"))
    }
}

fn spec(args: Vec<(&str, Value)>) -> PluginSpec {
    PluginSpec {
        plugin: "jwt".into(),
        state_key: "users".into(),
        args: args.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        origin: "t.gw:1:1".into(),
    }
}

fn algs(list: &[&str]) -> Value {
    Value::List(
        list.iter()
            .map(|a| Value::str(a))
            .collect::<Vec<_>>()
            .into(),
    )
}

fn out(id: i64, ty: &str) -> Value {
    Value::List(vec![Value::Int(id), Value::str(ty)].into())
}

/// Every signer of the test keys in one JWKS, kid = its family's name.
fn all_keys() -> String {
    let keys: Vec<_> = [
        ("hs", Signer::hmac(mint::SECRET.as_bytes())),
        ("rsa", Signer::rsa(mint::RSA)),
        ("p256", Signer::ec256()),
        ("p384", Signer::ec384()),
        ("ed", Signer::ed25519()),
    ]
    .iter()
    .map(|(kid, s)| s.jwk(kid))
    .collect();
    json!({ "keys": keys }).to_string()
}

fn instance(args: Vec<(&str, Value)>) -> Box<dyn Instance> {
    Jwt.build(&spec(args), None).unwrap().instance(0)
}

fn standard() -> Box<dyn Instance> {
    instance(vec![
        ("jwks", Value::str(&all_keys())),
        ("algorithms", algs(&mint::ALL)),
        ("issuer", Value::str("https://issuer.test/")),
        ("audience", Value::str("api")),
        ("out.claim.sub", out(0, "string")),
        ("out.auth.scopes", out(1, "list<string>")),
        ("out.claim.exp", out(2, "timestamp")),
    ])
}

fn good_claims() -> serde_json::Value {
    json!({"iss": "https://issuer.test/", "aud": ["other", "api"], "sub": "ann",
           "exp": mint::now() + 600, "scope": "read write", "scp": ["admin"]})
}

fn call(i: &mut Box<dyn Instance>, token: &str) -> (Call, Req) {
    let mut req = bearer(token, mint::now() * 1000);
    let c = i.call(&mut req, &[]);
    (c, req)
}

fn denied(i: &mut Box<dyn Instance>, token: &str, reason: &str) {
    let (c, req) = call(i, token);
    assert_eq!(
        c,
        Call::Deny {
            status: 401,
            retry_after: None
        },
        "{token}: {}",
        req.reason
    );
    assert!(
        req.reason.contains(reason),
        "reason {:?} lacks {reason:?}",
        req.reason
    );
    assert_eq!(
        req.deny_headers,
        [(
            "www-authenticate".into(),
            r#"Bearer error="invalid_token""#.into()
        )]
    );
    assert!(req.locals.is_empty());
}

#[test]
fn every_algorithm_verifies_and_stores_claims_and_scopes() {
    let mut i = standard();
    for alg in mint::ALL {
        let t = mint::token(
            &Signer::for_alg(alg),
            alg,
            Some(mint::kid_of(alg)),
            &good_claims(),
        );
        let (c, req) = call(&mut i, &t);
        assert_eq!(c, Call::Continue, "{alg}: {}", req.reason);
        assert_eq!(req.locals[0].0, 1);
        assert_eq!(
            req.locals[0].1,
            Value::List(vec![Value::str("read"), Value::str("write"), Value::str("admin")].into())
        );
        assert!(req.locals.contains(&(0, Value::str("ann"))), "{alg}");
        assert!(matches!(
            req.locals.iter().find(|l| l.0 == 2),
            Some((_, Value::Timestamp(_)))
        ));
    }
}

#[test]
fn a_token_without_kid_finds_its_key_by_family() {
    let mut i = standard();
    let t = mint::token(&Signer::ec256(), "ES256", None, &good_claims());
    assert_eq!(call(&mut i, &t).0, Call::Continue);
}

#[test]
fn rfc_7515_examples_verify_and_are_expired() {
    for (jwk, token) in [(A1_JWK, A1_TOKEN), (A2_JWK, A2_TOKEN), (A3_JWK, A3_TOKEN)] {
        let mut i = instance(vec![
            ("jwks", Value::str(&format!(r#"{{"keys":[{jwk}]}}"#))),
            ("algorithms", algs(&["HS256", "RS256", "ES256"])),
        ]);
        let mut req = bearer(token, A_NOW_MS);
        assert_eq!(i.call(&mut req, &[]), Call::Continue, "{}", req.reason);
        // today: the signature verifies, then the 2011 exp refuses it
        denied(&mut i, token, "expired");
        let mut tampered = token.to_string();
        tampered.replace_range(token.len() - 3.., "AAA");
        let mut req = bearer(&tampered, A_NOW_MS);
        assert_eq!(
            i.call(&mut req, &[]),
            Call::Deny {
                status: 401,
                retry_after: None
            }
        );
        assert!(req.reason.contains("bad"), "{}", req.reason);
    }
}

#[test]
fn bad_tokens_are_401_with_a_reason() {
    let mut i = standard();
    let rsa = Signer::rsa(mint::RSA);
    let c = good_claims().to_string();
    let now = mint::now();
    let cases: Vec<(String, &str)> = vec![
        (
            mint::raw(&rsa, "RS256", r#"{"alg":"none"}"#, &c)
                .rsplit_once('.')
                .unwrap()
                .0
                .to_string()
                + ".",
            "alg none",
        ),
        (
            mint::raw(
                &rsa,
                "RS256",
                r#"{"alg":"RS256","kid":"../../etc/passwd"}"#,
                &c,
            ),
            "not in the key set",
        ),
        (
            mint::raw(&rsa, "RS256", r#"{"alg":"RS256","kid":"1' OR '1'='1"}"#, &c),
            "not in the key set",
        ),
        (
            mint::raw(
                &rsa,
                "RS256",
                r#"{"alg":"RS256","kid":"rsa","jku":"http://evil/"}"#,
                &c,
            ),
            "jku",
        ),
        (
            mint::raw(
                &rsa,
                "RS256",
                r#"{"alg":"RS256","kid":"rsa","x5u":"http://evil/"}"#,
                &c,
            ),
            "x5u",
        ),
        (
            mint::raw(
                &rsa,
                "RS256",
                r#"{"alg":"RS256","kid":"rsa","crit":["exp"]}"#,
                &c,
            ),
            "crit",
        ),
        (
            mint::raw(
                &rsa,
                "RS256",
                r#"{"alg":"RS256","kid":"rsa","alg":"HS256"}"#,
                &c,
            ),
            "duplicate",
        ),
        (
            mint::raw(
                &rsa,
                "RS256",
                r#"{"alg":"RS256","kid":"rsa"}"#,
                r#"{"sub":"a","sub":"b"}"#,
            ),
            "duplicate",
        ),
        (
            mint::raw(&rsa, "RS256", r#"["RS256"]"#, &c),
            "not a JSON object",
        ),
        (
            mint::raw(&rsa, "RS256", r#"{"alg":"RS256","kid":"rsa"}"#, "not json"),
            "payload is not JSON",
        ),
        ("eyJhbGciOiJSUzI1NiJ9=.e30.AAAA".into(), "base64url"),
        ("e*J.e30.AAAA".into(), "base64url"),
        ("abc".into(), "compact JWS"),
        ("a.b.c.d.e".into(), "compact JWS"),
        ("a".repeat(1 << 20), "limit"),
        (
            mint::token(
                &rsa,
                "RS256",
                Some("rsa"),
                &json!({"iss": "https://issuer.test/", "aud": "api", "exp": now - 10}),
            ),
            "expired",
        ),
        (
            mint::token(
                &rsa,
                "RS256",
                Some("rsa"),
                &json!({"iss": "https://issuer.test/", "aud": "api", "nbf": now + 600}),
            ),
            "nbf",
        ),
        (
            mint::token(
                &rsa,
                "RS256",
                Some("rsa"),
                &json!({"iss": "https://other/", "aud": "api"}),
            ),
            "issuer",
        ),
        (
            mint::token(
                &rsa,
                "RS256",
                Some("rsa"),
                &json!({"iss": "https://issuer.test/", "aud": ["x"]}),
            ),
            "audience",
        ),
        (
            mint::token(
                &rsa,
                "RS256",
                Some("rsa"),
                &json!({"iss": "https://issuer.test/", "aud": "api", "sub": 7}),
            ),
            "sub",
        ),
        (
            mint::token(
                &rsa,
                "RS256",
                Some("rsa"),
                &json!({"iss": "https://issuer.test/", "aud": "api", "scp": 7}),
            ),
            "scp",
        ),
        (
            mint::token(
                &Signer::rsa(mint::RSA2),
                "RS256",
                Some("rsa"),
                &good_claims(),
            ),
            "bad RS256 signature",
        ),
        // the right key, the wrong family for the header's alg
        (
            mint::token(&Signer::ec256(), "ES256", Some("rsa"), &good_claims()),
            "needs a P-256 key",
        ),
    ];
    for (token, reason) in &cases {
        denied(&mut i, token, reason);
    }
}

#[test]
fn rs256_to_hs256_confusion_fails() {
    // HS256 allowed and an RSA public key configured: the token is "signed" with the PEM
    let mut i = instance(vec![
        ("key_pem", Value::str(mint::RSA_PUB)),
        ("algorithms", algs(&["RS256", "HS256"])),
    ]);
    let forged = mint::token(
        &Signer::hmac(mint::RSA_PUB.as_bytes()),
        "HS256",
        None,
        &good_claims(),
    );
    denied(&mut i, &forged, "no key of the set verifies alg HS256");
    let good = mint::token(&Signer::rsa(mint::RSA), "RS256", None, &good_claims());
    assert_eq!(call(&mut i, &good).0, Call::Continue);
}

#[test]
fn a_missing_token_is_a_bare_challenge() {
    let mut i = standard();
    for auth in [None, Some("Basic abc"), Some("Bearer ")] {
        let mut req = match auth {
            Some(a) => Req::new().header("authorization", a),
            None => Req::new(),
        };
        assert_eq!(
            i.call(&mut req, &[]),
            Call::Deny {
                status: 401,
                retry_after: None
            }
        );
        assert_eq!(
            req.deny_headers,
            [("www-authenticate".into(), "Bearer".into())]
        );
        assert!(req.reason.contains("no token"));
    }
}

#[test]
fn the_token_comes_from_the_place_the_config_names() {
    let t = mint::token(&Signer::ed25519(), "EdDSA", Some("ed"), &good_claims());
    for (arg, name) in [
        ("token_header", "x-token"),
        ("token_query", "access_token"),
        ("token_cookie", "session"),
    ] {
        let mut i = instance(vec![
            ("jwks", Value::str(&all_keys())),
            ("algorithms", algs(&["EdDSA"])),
            (arg, Value::str(name)),
        ]);
        let mut req = Req {
            now_ms: mint::now() * 1000,
            ..Req::new()
                .header("x-token", &t)
                .query("access_token", &t)
                .cookie("session", &t)
        };
        assert_eq!(
            i.call(&mut req, &[]),
            Call::Continue,
            "{arg}: {}",
            req.reason
        );
        // a Bearer token does not count where the config names another place
        let mut req = bearer(&t, 0);
        assert_eq!(
            i.call(&mut req, &[]),
            Call::Deny {
                status: 401,
                retry_after: None
            }
        );
        assert_eq!(
            req.deny_headers,
            [("www-authenticate".into(), "Bearer".into())]
        );
    }
}

#[test]
fn declared_claims_are_typed_and_defaulted() {
    let claims = Value::List(
        vec![
            Value::List(vec![Value::str("email"), Value::str("string")].into()),
            Value::List(vec![Value::str("tier"), Value::str("int"), Value::Int(1)].into()),
        ]
        .into(),
    );
    let mut i = instance(vec![
        ("secret", Value::str(mint::SECRET)),
        ("algorithms", algs(&["HS256"])),
        ("claims", claims),
        ("out.claim.tier", out(4, "int")),
    ]);
    let hs = Signer::hmac(mint::SECRET.as_bytes());
    let (c, req) = call(
        &mut i,
        &mint::token(&hs, "HS256", None, &json!({"email": "a@b"})),
    );
    assert_eq!(c, Call::Continue);
    assert_eq!(req.locals, [(4, Value::Int(1))], "the default");
    let (c, req) = call(
        &mut i,
        &mint::token(&hs, "HS256", None, &json!({"tier": 3})),
    );
    assert_eq!(c, Call::Continue);
    assert_eq!(req.locals, [(4, Value::Int(3))]);
    denied(
        &mut i,
        &mint::token(&hs, "HS256", None, &json!({"email": 5})),
        "email",
    );
}

#[test]
fn a_repeated_token_is_a_cache_hit_until_it_expires() {
    let mut cache = TokenCache::new(2, 60_000);
    let locals: Rc<[(u16, Value)]> = vec![(0, Value::str("ann"))].into();
    cache.put(b"t1", 0, Some(30_000), locals.clone());
    assert_eq!(cache.get(b"t1", 29_999).as_deref(), Some(&locals[..]));
    assert!(cache.get(b"t1", 30_000).is_none(), "exp bounds it");
    cache.put(b"t2", 0, None, locals.clone());
    assert!(cache.get(b"t2", 59_999).is_some());
    assert!(cache.get(b"t2", 60_000).is_none(), "the TTL bounds it");
    for n in 0..100u32 {
        cache.put(&n.to_be_bytes(), 0, None, locals.clone());
        assert!(cache.len() <= 2);
    }
    cache.sweep(60_000);
    assert_eq!(cache.len(), 0);
}

#[test]
fn a_verified_token_is_served_from_the_cache() {
    let mut i = standard();
    let t = mint::token(
        &Signer::rsa(mint::RSA),
        "RS256",
        Some("rsa"),
        &good_claims(),
    );
    let (first, a) = call(&mut i, &t);
    let (again, b) = call(&mut i, &t);
    assert_eq!((first, again), (Call::Continue, Call::Continue));
    assert_eq!(a.locals, b.locals);
    // a different token of the same bytes' length is not confused with it
    let mut other = t.clone();
    other.replace_range(t.len() - 4.., "AAAA");
    denied(&mut i, &other, "signature");
}

#[test]
fn pem_keys_of_each_type_parse() {
    for (pem, family) in [
        (mint::RSA_PUB, keys::Family::Rsa),
        (mint::EC256_PUB, keys::Family::P256),
        (mint::ED25519_PUB, keys::Family::Ed25519),
    ] {
        assert_eq!(keys::parse_pem(pem).unwrap().family(), family);
    }
    assert!(keys::parse_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
    assert!(
        keys::parse_pem(mint::RSA).is_err(),
        "a private key is refused"
    );
}

#[test]
fn bad_configs_are_refused_at_load() {
    let build = |args| {
        Jwt.build(&spec(args), None)
            .err()
            .map(|e| e.message)
            .unwrap_or_default()
    };
    let e = build(vec![
        ("jwks_url", Value::str("ftp://127.0.0.1/jwks")),
        ("algorithms", algs(&["RS256"])),
    ]);
    assert!(e.contains("not an http:// or https:// URL"), "{e}");
    // an https:// URL is fetched over TLS, and says so to the config at load
    let f = Jwt
        .build(
            &spec(vec![
                ("jwks_url", Value::str("https://127.0.0.1:8443/jwks")),
                ("algorithms", algs(&["RS256"])),
            ]),
            None,
        )
        .unwrap();
    assert!(f.https());
    let e = build(vec![
        ("jwks", Value::str("{\"keys\":[]}")),
        ("algorithms", algs(&["RS256"])),
    ]);
    assert!(e.contains("no signing key"), "{e}");
    let e = build(vec![
        ("key_pem", Value::str("junk")),
        ("algorithms", algs(&["RS256"])),
    ]);
    assert!(e.contains("BEGIN"), "{e}");
    let e = build(vec![
        ("secret", Value::str("short")),
        ("algorithms", algs(&["HS256"])),
    ]);
    assert!(e.contains("32 bytes") && !e.contains("short"), "{e}");
    let e = build(vec![
        ("key_pem", Value::str(mint::RSA_PUB)),
        ("algorithms", algs(&["ES256"])),
    ]);
    assert!(e.contains("none of its keys"), "{e}");
}

#[test]
fn a_remote_key_set_resolves_at_load_and_carries_over_a_reload() {
    let args = || {
        vec![
            ("jwks_url", Value::str("http://127.0.0.1:9/jwks.json")),
            ("refresh", Value::Duration(60_000)),
            ("algorithms", algs(&["RS256"])),
        ]
    };
    let first = Jwt.build(&spec(args()), None).unwrap();
    let again = Jwt.build(&spec(args()), Some(first.as_ref())).unwrap();
    let remote = |f: &dyn Factory| match &f.as_any().downcast_ref::<JwtFactory>().unwrap().v.source
    {
        Source::Remote(r) => r.clone(),
        Source::Static(_) => panic!("static"),
    };
    assert!(Arc::ptr_eq(
        &remote(first.as_ref()),
        &remote(again.as_ref())
    ));
    // never fetched: 503, not 401
    let mut i = again.instance(0);
    let t = mint::token(
        &Signer::rsa(mint::RSA),
        "RS256",
        Some("rsa"),
        &good_claims(),
    );
    let (c, req) = call(&mut i, &t);
    assert_eq!(
        c,
        Call::Deny {
            status: 503,
            retry_after: None
        }
    );
    assert!(req.reason.contains("no key set"), "{}", req.reason);
}

#[test]
fn claims_stand_in_for_a_token_with_the_same_checks() {
    let args = vec![
        ("secret", Value::str("s")),
        ("algorithms", algs(&["HS256"])),
        ("issuer", Value::str("https://issuer.test/")),
        ("audience", Value::str("api")),
        ("out.claim.sub", out(0, "string")),
        ("out.auth.scopes", out(1, "list<string>")),
    ];
    let spec = spec(args);
    let now = mint::now() * 1000;
    let locals = super::claims_locals(&spec, &good_claims(), now).unwrap();
    assert!(locals.contains(&(0, Value::str("ann"))), "{locals:?}");
    let scopes =
        Value::List(vec![Value::str("read"), Value::str("write"), Value::str("admin")].into());
    assert!(locals.contains(&(1, scopes)), "{locals:?}");
    let foreign = json!({"iss": "https://other.test/", "aud": "api", "sub": "ann"});
    let why = super::claims_locals(&spec, &foreign, now).unwrap_err();
    assert!(why.contains("issuer"), "{why}");
    assert!(super::claims_locals(&spec, &json!([1]), now).is_err());
}
