//! Each top-level declaration lowers to the expected AST.

use super::support::{parse_ok, sexp};
use crate::ast::{Arg, ItemKind, Method, Segment, Setting, StrPart};

fn arg_text(a: &Arg) -> String {
    match a {
        Arg::Word(w) => format!("w:{}", w.name),
        Arg::Expr(e) => format!("e:{}", sexp(e)),
        Arg::Addr(x) => format!("a:{}:{}", x.host, x.port),
        Arg::Path(p) => format!("p:{}", p.as_plain().unwrap_or_default()),
        Arg::Block(b) => format!("block{{{}}}", settings_text(b)),
        Arg::On(ws) => {
            let names: Vec<&str> = ws.iter().map(|w| w.name.as_str()).collect();
            format!("on:{}", names.join(","))
        }
        Arg::Fields(f) => {
            let fs: Vec<String> = f
                .iter()
                .map(|f| {
                    let mut t = format!("{}:{}", f.name.name, f.ty.name.name);
                    if let Some(d) = &f.default {
                        t.push_str(&format!("={}", sexp(d)));
                    }
                    t
                })
                .collect();
            format!("fields{{{}}}", fs.join(" "))
        }
    }
}

/// `name arg arg; name arg` with each argument tagged by its shape.
fn settings_text(ss: &[Setting]) -> String {
    ss.iter()
        .map(|s| {
            let mut t = s.name.name.clone();
            for a in &s.args {
                t.push(' ');
                t.push_str(&arg_text(a));
            }
            t
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn only(src: &str) -> ItemKind {
    let c = parse_ok(src);
    assert_eq!(c.items.len(), 1, "{:?}", c.items);
    c.items
        .into_iter()
        .next()
        .map(|i| i.kind)
        .unwrap_or(ItemKind::Vars(Vec::new()))
}

#[test]
fn listen_admin_workers() {
    let ItemKind::Listen {
        addr,
        tls: Some(tls),
        options: None,
    } = only("listen :443 tls {\n  cert \"a.pem\"  key \"a.key\"\n  client_ca \"ca.pem\"\n}")
    else {
        panic!()
    };
    assert_eq!((addr.host.as_str(), addr.port), ("", 443));
    assert_eq!(
        settings_text(&tls),
        "cert e:'a.pem' w:key e:'a.key'; client_ca e:'ca.pem'"
    );
    let ItemKind::Listen {
        addr,
        tls: None,
        options: None,
    } = only("listen 127.0.0.1:8080")
    else {
        panic!()
    };
    assert_eq!((addr.host.as_str(), addr.port), ("127.0.0.1", 8080));
    let ItemKind::Listen {
        tls: None,
        options: Some(o),
        ..
    } = only("listen :8080 { allow_in_path \"%2F\" \";\"; header_underscores keep }")
    else {
        panic!()
    };
    assert_eq!(
        settings_text(&o),
        "allow_in_path e:'%2F' e:';'; header_underscores w:keep"
    );
    let ItemKind::Upstream { body, .. } =
        only("upstream u {\n  server :80\n  max_fails 3 on connect_error, 5xx fail_timeout 5s\n}")
    else {
        panic!()
    };
    assert_eq!(
        settings_text(&body),
        "server a::80; max_fails e:3 on:connect_error,5xx w:fail_timeout e:5000ms"
    );
    let ItemKind::Admin(a) = only("admin [::1]:9901") else {
        panic!()
    };
    assert_eq!((a.host.as_str(), a.port), ("::1", 9901));
    let ItemKind::Workers(l) = only("workers 2") else {
        panic!()
    };
    assert_eq!(l.value, crate::ast::LitValue::Int(2));
}

#[test]
fn limits_timeouts_vars() {
    let ItemKind::Limits(s) =
        only("limits { body 10MiB; url 8KiB; headers 10KiB; header_count 100; connections 10000 }")
    else {
        panic!()
    };
    assert_eq!(
        settings_text(&s),
        "body e:10485760B; url e:8192B; headers e:10240B; header_count e:100; connections e:10000"
    );
    let ItemKind::Timeouts(s) = only(
        "timeouts {\n  header_read 10s; idle 60s\n  connect 5s\n  request 29s; upstream_idle 60s; drain 10s\n}",
    ) else {
        panic!()
    };
    assert_eq!(
        settings_text(&s),
        "header_read e:10000ms; idle e:60000ms; connect e:5000ms; request e:29000ms; upstream_idle e:60000ms; drain e:10000ms"
    );
    let ItemKind::Vars(v) =
        only("vars {\n  issuer   = \"https://a/\"\n  audience = env(\"AUD\") ?? \"pets\"\n}")
    else {
        panic!()
    };
    let v: Vec<String> = v
        .iter()
        .map(|d| format!("{}={}", d.name.name, sexp(&d.value)))
        .collect();
    assert_eq!(
        v,
        ["issuer='https://a/'", "audience=(?? env('AUD') 'pets')"]
    );
}

#[test]
fn upstream_settings_keep_their_argument_shapes() {
    let src = "upstream pets {\n  server 10.0.1.10:8080  weight 3\n  server archive.internal:8443 tls  sni \"archive.internal\"\n  balance least_request\n  timeout connect 1s  request 10s\n  health  GET /healthz every 5s  fail 3  pass 2\n  host \"x.internal\"\n}";
    let ItemKind::Upstream { name, body } = only(src) else {
        panic!()
    };
    assert_eq!(name.name, "pets");
    assert_eq!(
        settings_text(&body),
        "server a:10.0.1.10:8080 w:weight e:3; server a:archive.internal:8443 w:tls w:sni e:'archive.internal'; \
         balance w:least_request; timeout w:connect e:1000ms w:request e:10000ms; \
         health w:GET p:/healthz w:every e:5000ms w:fail e:3 w:pass e:2; host e:'x.internal'"
    );
}

#[test]
fn jwt_api_keys_authorizer_plan_schema() {
    let ItemKind::Jwt { name, body } = only(
        "jwt users {\n  issuer var.issuer\n  jwks \"https://x/jwks\"  refresh 10m\n  algorithms RS256 ES256\n  claims {  # typed\n    email: string\n    verified: bool\n  }\n}",
    ) else {
        panic!()
    };
    assert_eq!(name.name, "users");
    assert_eq!(
        settings_text(&body),
        "issuer e:var.issuer; jwks e:'https://x/jwks' w:refresh e:600000ms; algorithms w:RS256 w:ES256; claims fields{email:string verified:bool}"
    );
    let ItemKind::ApiKeys { body, .. } =
        only("api_keys partners { file \"keys.txt\"; header \"x-api-key\" }")
    else {
        panic!()
    };
    assert_eq!(
        settings_text(&body),
        "file e:'keys.txt'; header e:'x-api-key'"
    );
    let ItemKind::Authorizer { body, .. } = only(
        "authorizer a {\n  identity header.authorization ?? query.token\n  on_error deny 503\n  context { user: string; rooms: list<string>; banned: bool = false }\n}",
    ) else {
        panic!()
    };
    assert_eq!(
        settings_text(&body),
        "identity e:(?? header.authorization query.token); on_error w:deny e:503; context fields{user:string rooms:list banned:bool=false}"
    );
    let ItemKind::Plan { body, .. } =
        only("plan free { rate 10/s  burst 20;   quota 10_000 per month }")
    else {
        panic!()
    };
    assert_eq!(
        settings_text(&body),
        "rate e:10/1000ms w:burst e:20; quota e:10000 w:per w:month"
    );
    let ItemKind::Schema { name, file } = only("schema NewPet = file \"schemas/new-pet.json\"")
    else {
        panic!()
    };
    assert_eq!(
        (name.name.as_str(), file.as_plain().as_deref()),
        ("NewPet", Some("schemas/new-pet.json"))
    );
}

#[test]
fn field_types_keep_arguments_options_and_ranges() {
    let ItemKind::Jwt { body, .. } =
        only("jwt j { claims { a: list<string>?; b: int 1..100; c: map<string, int> } }")
    else {
        panic!()
    };
    let Some(Arg::Fields(f)) = body.first().and_then(|s| s.args.first()) else {
        panic!()
    };
    let t = |i: usize| &f[i].ty;
    assert_eq!(
        (t(0).args[0].name.name.as_str(), t(0).optional),
        ("string", true)
    );
    assert_eq!(t(1).range, Some((1, 100)));
    assert_eq!(t(2).args.len(), 2);
}

#[test]
fn policy_defaults_cors_on_error() {
    let ItemKind::Policy { name, body } =
        only("policy signed_in {\n  auth jwt users\n  require claim.ok ?? false else 403\n}")
    else {
        panic!()
    };
    assert_eq!((name.name.as_str(), body.len()), ("signed_in", 2));
    let ItemKind::Defaults(b) = only("defaults { set header x-region = var.region }") else {
        panic!()
    };
    assert_eq!(b.len(), 1);
    let ItemKind::Cors(s) = only(
        "cors {\n  origins \"https://a\" \"https://*.b\"\n  methods GET POST\n  headers authorization content-type x-api-key\n  credentials true\n  max_age 10m\n}",
    ) else {
        panic!()
    };
    assert_eq!(
        settings_text(&s),
        "origins e:'https://a' e:'https://*.b'; methods w:GET w:POST; headers w:authorization w:content-type w:x-api-key; credentials e:true; max_age e:600000ms"
    );
    let ItemKind::OnError { statuses, body } = only(
        "on error 429, 503 {\n  set header retry-after = \"{error.retry_after ?? 1}\"\n  body json { message: error.message }\n}",
    ) else {
        panic!()
    };
    assert_eq!(
        statuses.iter().map(|l| l.value.clone()).collect::<Vec<_>>(),
        [
            crate::ast::LitValue::Int(429),
            crate::ast::LitValue::Int(503)
        ]
    );
    assert_eq!(body.len(), 2);
}

#[test]
fn host_blocks_hold_routes() {
    let ItemKind::Host { pattern, items } = only(
        "host \"api.example.com\" {\n  route GET /a { respond 200 }\n  route POST /b { respond 201 }\n}",
    ) else {
        panic!()
    };
    assert_eq!(pattern.parts, vec![StrPart::Text("api.example.com".into())]);
    assert_eq!(items.len(), 2);
    assert!(matches!(&items[1].kind, ItemKind::Route(r) if r.method == Method::Post));
}

fn route_of(src: &str) -> crate::ast::Route {
    match only(src) {
        ItemKind::Route(r) => r,
        other => panic!("{other:?}"),
    }
}

fn segs(r: &crate::ast::Route) -> Vec<String> {
    r.pattern
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(t, _) => t.clone(),
            Segment::Param(i) => format!("<{}>", i.name),
            Segment::Greedy(i) => format!("<{}+>", i.name),
        })
        .collect()
}

#[test]
fn routes_methods_patterns_websocket() {
    let r = route_of("route ANY /checkout/{rest+} { upstream a }");
    assert_eq!(
        (r.method, segs(&r), r.pattern.trailing_slash, r.websocket),
        (
            Method::Any,
            vec!["checkout".into(), "<rest+>".into()],
            false,
            false
        )
    );
    let r = route_of("route GET /chat websocket {\n  upstream chat\n}");
    assert!(r.websocket);
    let r = route_of("route GET / { respond 200 }");
    assert!(r.pattern.segments.is_empty() && !r.pattern.trailing_slash);
    let r = route_of("route DELETE /pets/{id}/ { respond 204 }");
    assert_eq!(
        (segs(&r), r.pattern.trailing_slash),
        (vec!["pets".into(), "<id>".into()], true)
    );
    let r = route_of("route GET /users//{id} { respond 200 }");
    assert_eq!(segs(&r), ["users", "", "<id>"]);
    for (m, want) in [
        ("HEAD", Method::Head),
        ("PUT", Method::Put),
        ("PATCH", Method::Patch),
        ("OPTIONS", Method::Options),
    ] {
        assert_eq!(
            route_of(&format!("route {m} /x {{ respond 200 }}")).method,
            want
        );
    }
}

#[test]
fn separators_comments_and_blank_lines() {
    let c = parse_ok(
        "# head\n\nworkers 2; admin :9901 # trailing\n\n\nroute GET /a { respond 200; cors off } # end\n",
    );
    assert_eq!(c.items.len(), 3);
    let c = parse_ok("\u{feff}workers 1\r\nadmin :1\r\n");
    assert_eq!(c.items.len(), 2);
}
