//! Body typing, auth, plugin specs, upstreams, and robustness.

use super::*;

#[test]
fn body_fields_are_typed_from_the_schema() {
    let head = [
        "schema Pet = file \"schemas/pet.json\"",
        "route POST /p {",
        "  validate body Pet",
    ];
    let with = |line: &str| with_head(&[head[0], head[1], head[2], line, "  upstream app", "}"]);
    let img = image(&with("  set header x-name = body.name"));
    let spec = img
        .plugins
        .iter()
        .find(|p| p.plugin == "validate.body")
        .unwrap();
    let out = Value::find(&spec.args, "out.body./name").expect("output for body.name");
    assert!(matches!(out, Value::List(l) if l[1] == Value::str("string")));
    assert!(img.routes[0].buffer_body);
    diag(&with("  require body.name == 1"), "E0301", 6, 11);
    let d = diag(&with("  set header x = body.nmae"), "E0201", 6, 18);
    assert_eq!(d.help, ["did you mean `name`?"]);
    // `age` is not required: an optional int, fine in a comparison, not in arithmetic.
    image(&with("  require body.age > 1"));
    diag(
        &with("  set header x = string(body.age + 1)"),
        "E0302",
        6,
        25,
    );
}

#[test]
fn e0601_counts_unbounded_body_strings() {
    let base = [
        "schema Pet = file \"schemas/pet.json\"",
        "route POST /p {",
        "  validate body Pet",
    ];
    let text = with_head(&[
        base[0],
        base[1],
        base[2],
        "  require body.bio matches r\"(spam|scam)+\" else 400",
        "  upstream app",
        "}",
    ]);
    let d = diag(&text, "E0601", 6, 3);
    assert!(d.label.ends_with("body.bio ≤ 10 MiB"), "{}", d.label);
    assert_eq!(
        d.help,
        [
            "give `bio` a `maxLength` in the schema, or lower the body limit for this route (`buffer body SIZE`)"
        ]
    );
    // `name` has a maxLength: bounded, no error.
    image(&with_head(&[
        base[0],
        base[1],
        base[2],
        "  require body.name matches r\"^[a-z]+$\" else 400",
        "  upstream app",
        "}",
    ]));
}

#[test]
fn auth_any_makes_member_fields_optional() {
    let keys = "api_keys partners { file \"keys/plain.txt\" }";
    let img = image(&with_head(&[
        JWT,
        keys,
        "route GET /a {",
        "  auth any(users, partners)",
        "  set header x = key.id ?? claim.sub ?? \"anon\"",
        "  upstream app",
        "}",
    ]));
    let any = img.plugins.iter().find(|p| p.plugin == "auth.any").unwrap();
    let Some(Value::List(members)) = Value::find(&any.args, "members") else {
        panic!()
    };
    assert_eq!(members.len(), 2);
    diag(
        &with_head(&[
            JWT,
            keys,
            "route GET /a {",
            "  auth any(users, partners)",
            "  set header x = lower(key.id)",
            "  upstream app",
            "}",
        ]),
        "E0302",
        7,
        24,
    );
}

#[test]
fn throttle_state_keys_are_stable_names() {
    let img = image(&with_head(&[
        "route GET /a {",
        "  throttle 5/s",
        "  throttle 9/s burst 3 by client.ip name per_ip",
        "  upstream app",
        "}",
    ]));
    let keys: Vec<&str> = img
        .plugins
        .iter()
        .filter(|p| p.plugin == "throttle")
        .map(|p| p.state_key.as_str())
        .collect();
    assert_eq!(keys, ["GET /a#1", "per_ip"]);
    let second = img
        .plugins
        .iter()
        .find(|p| p.state_key == "per_ip")
        .unwrap();
    assert_eq!(Value::find(&second.args, "burst"), Some(&Value::Int(3)));
    assert_eq!(
        Value::find(&second.args, "rate"),
        Some(&Value::Rate {
            count: 9,
            per_ms: 1000
        })
    );
}

#[test]
fn upstream_settings_become_the_image() {
    let img = image(&src(&[
        "listen :8080",
        "upstream u {",
        "  server 10.0.0.1:8080 weight 3",
        "  server b.internal:8443 tls sni \"b.internal\"",
        "  balance hash",
        "  timeout connect 1s request 10s",
        "  health GET /healthz every 5s fail 3 pass 2",
        "  host \"api.internal\"",
        "}",
        "route GET /a { upstream u hash by header.x-user ?? \"\" }",
    ]));
    let u = &img.upstreams[0];
    assert_eq!(
        (
            u.servers[0].weight,
            u.servers[1].tls.is_some(),
            u.servers[1].port
        ),
        (3, true, 8443)
    );
    assert_eq!(u.balance, gw_program::Balance::Hash);
    assert_eq!(
        (u.connect_timeout, u.request_timeout),
        (Some(1000), Some(10_000))
    );
    assert_eq!(
        u.health.as_ref().map(|h| (h.path.as_str(), h.fail, h.pass)),
        Some(("/healthz", 3, 2))
    );
    assert_eq!(u.host_header.as_deref(), Some("api.internal"));
    assert_eq!((u.max_fails, u.fail_timeout), (3, 10_000));
    assert!(
        matches!(request(&img, "GET /a").ops.last(), Some(Op::Forward { hash, .. }) if *hash != NO_REG)
    );
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let (c, _) = run(&with_head(&[
        "route GET /a { upstream nope }",
        "route GET /b { require header.x > 1; upstream app }",
        "route GET /c { set header x = path.q; upstream app }",
    ]));
    let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E0201", "E0301", "E0403"]);
}

#[test]
fn nothing_panics_on_odd_input() {
    for text in [
        "",
        "route GET / { respond 200 }",
        "listen :1\nroute ANY /{p+} { upstream x }",
        "vars { a = var.a }\nroute GET /a { respond 200 json { a: var.a } }",
        "route GET /a { respond 200 json { a: [[[1]]], b: { c: { d: req.path } } } }",
        "route GET /a { require (1 ? 2 : 3) == 2; respond 200 }",
        "route GET /a { require true ? header.a == \"x\" : false; respond 200 }",
        "route GET /a { require len(auth.scopes) > 0; respond 200 }",
    ] {
        let parsed = gw_syntax::parse_source("t.gw", text);
        let _ = compile(&parsed, &opts());
    }
}

#[test]
fn large_configs_compile_and_long_routes_are_refused() {
    let mut lines: Vec<String> = HEAD.iter().map(|s| s.to_string()).collect();
    for i in 0..2000 {
        lines.push(format!("route GET /r{i}/{{id}} {{ set header x-{i} = \"v\" when header.a == \"{i}\"; upstream app }}"));
    }
    let img = image(&(lines.join("\n") + "\n"));
    assert_eq!(img.routes.len(), 2000);
    lines.push("route GET /big {".into());
    for i in 0..1500 {
        lines.push(format!("  set header h{i} = header.x{i} ?? \"{i}\""));
    }
    lines.push("  upstream app".into());
    lines.push("}".into());
    let text = lines.join("\n") + "\n";
    let d = diag(&text, "E0602", 2003, 7);
    assert!(d.message.contains("4501 ops"), "{}", d.message);
}

#[test]
fn limits_bound_body_strings() {
    let text = src(&[
        "listen :8080",
        "limits { body 16KiB }",
        "upstream app { server 127.0.0.1:9000 }",
        "schema Pet = file \"schemas/pet.json\"",
        "route POST /p {",
        "  validate body Pet",
        "  require body.bio matches r\"(spam|scam)+\" else 400",
        "  upstream app",
        "}",
    ]);
    image(&text);
}

/// Line and word mutations of the example files: whatever parses must compile without panic.
#[test]
fn mutated_examples_never_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../grammar/examples");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let o = Options {
        base_dir: dir.clone(),
        ..opts()
    };
    let mut compiled = 0;
    for name in [
        "petstore.gw",
        "checkout.gw",
        "chat.gw",
        "mock.gw",
        "limits.gw",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let words: Vec<&str> = text.split_whitespace().collect();
        for _ in 0..150 {
            let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            match next(4) {
                0 => {
                    l.remove(next(l.len()));
                }
                1 => {
                    let i = next(l.len());
                    l.insert(next(l.len()), l[i].clone());
                }
                2 => {
                    let (i, j) = (next(l.len()), next(l.len()));
                    l.swap(i, j);
                }
                _ => {
                    let i = next(l.len());
                    let w: Vec<&str> = l[i].split(' ').collect();
                    let k = next(w.len());
                    let mut w: Vec<String> = w.iter().map(|s| s.to_string()).collect();
                    w[k] = words[next(words.len())].to_string();
                    l[i] = w.join(" ");
                }
            }
            let parsed = gw_syntax::parse_source(name, &(l.join("\n") + "\n"));
            if parsed.diagnostics.iter().all(|d| !d.is_error()) {
                let c = compile(&parsed, &o);
                compiled += 1;
                if let Some(img) = &c.image {
                    assert!(gw_program::verify_image(img).is_ok());
                }
            }
        }
    }
    assert!(compiled > 100, "too few mutants parsed: {compiled}");
}

#[test]
fn a_tls_block_takes_several_certificates_in_order() {
    let img = image(&src(&[
        "listen :443 tls {",
        "  cert \"certs/a.pem\" key \"certs/a.key\"",
        "  cert \"certs/a.pem\"  key \"certs/a.key\"  client_ca \"certs/a.pem\"",
        "  client_auth optional",
        "}",
        "route GET /a { respond 200 }",
    ]));
    let tls = img.listeners[0].tls.as_ref().unwrap();
    assert_eq!(tls.certs.len(), 2);
    assert!(
        tls.certs[0].cert.ends_with("certs/a.pem") && tls.certs[1].key.ends_with("certs/a.key")
    );
    assert!(tls.client_ca.is_some());
    assert_eq!(tls.client_auth, gw_program::ClientAuth::Optional);
}

#[test]
fn unknown_sni_is_default_or_reject() {
    let tls = |line: &str| {
        let img = image(&src(&[
            "listen :443 tls {",
            "  cert \"certs/a.pem\" key \"certs/a.key\"",
            line,
            "}",
            "route GET /a { respond 200 }",
        ]));
        img.listeners[0].tls.as_ref().unwrap().unknown_sni
    };
    assert_eq!(tls(""), gw_program::UnknownSni::Default);
    assert_eq!(
        tls("  unknown_sni default"),
        gw_program::UnknownSni::Default
    );
    assert_eq!(tls("  unknown_sni reject"), gw_program::UnknownSni::Reject);
    diag(
        &src(&[
            "listen :443 tls { cert \"certs/a.pem\" key \"certs/a.key\" unknown_sni alert }",
            "route GET /a { respond 200 }",
        ]),
        "E0304",
        1,
        56,
    );
}

#[test]
fn a_tls_block_pairs_each_cert_with_a_key() {
    // a `cert` without its `key`, a `key` without a `cert`
    diag(
        &src(&[
            "listen :443 tls { cert \"certs/a.pem\" cert \"certs/a.pem\" key \"certs/a.key\" }",
            "route GET /a { respond 200 }",
        ]),
        "E0304",
        1,
        19,
    );
    diag(
        &src(&[
            "listen :443 tls { key \"certs/a.key\" cert \"certs/a.pem\" key \"certs/a.key\" }",
            "route GET /a { respond 200 }",
        ]),
        "E0304",
        1,
        19,
    );
    diag(
        &src(&[
            "listen :443 tls { cert \"certs/a.pem\" key \"certs/a.key\" client_auth sometimes }",
            "route GET /a { respond 200 }",
        ]),
        "E0304",
        1,
        56,
    );
}

#[test]
fn a_plain_listener_redirects_to_https_only() {
    let img = image(&src(&[
        "listen :80 { redirect https }",
        "route GET /a { respond 200 }",
    ]));
    assert!(img.listeners[0].redirect_https);
    diag(
        &src(&[
            "listen :80 { redirect http }",
            "route GET /a { respond 200 }",
        ]),
        "E0304",
        1,
        14,
    );
    // not a setting of a TLS listener
    diag(
        &src(&[
            "listen :443 tls { cert \"certs/a.pem\" key \"certs/a.key\" redirect https }",
            "route GET /a { respond 200 }",
        ]),
        "E0201",
        1,
        56,
    );
}

#[test]
fn h2c_is_a_plain_listeners_option_and_streams_a_limit() {
    let img = image(&src(&[
        "listen :8080 { h2c }",
        "listen :8081",
        "limits { streams 64 }",
        "route GET /a { respond 200 }",
    ]));
    assert!(img.listeners[0].h2c);
    assert!(!img.listeners[1].h2c);
    assert_eq!(img.limits.h2_streams, 64);
    let img = image(&src(&["listen :8080", "route GET /a { respond 200 }"]));
    assert_eq!(img.limits.h2_streams, 128);
    // a TLS listener offers HTTP/2 by ALPN: `h2c` there is refused
    diag(
        &src(&[
            "listen :443 tls { cert \"certs/a.pem\" key \"certs/a.key\" h2c }",
            "route GET /a { respond 200 }",
        ]),
        "E0201",
        1,
        56,
    );
    diag(
        &src(&["limits { streams 0 }", "route GET /a { respond 200 }"]),
        "E0304",
        1,
        18,
    );
}
