//! Each route statement lowers to its typed `StmtKind`.

use super::support::{parse_ok, sexp, stmt, stmts};
use crate::ast::{
    Auth, HeaderOp, ItemKind, LitValue, RespondBody, StmtKind, TemplateKey, TemplateValue,
};
use crate::strip_spans;

#[test]
fn use_auth_require() {
    assert!(matches!(stmt("use signed_in").kind, StmtKind::Use(i) if i.name == "signed_in"));
    let auths: Vec<String> = stmts("auth jwt users\nauth api_key partners\nauth authorizer chat_auth\nauth any(users, partners)")
        .into_iter()
        .map(|s| match s.kind {
            StmtKind::Auth(Auth::Jwt(i)) => format!("jwt {}", i.name),
            StmtKind::Auth(Auth::ApiKey(i)) => format!("key {}", i.name),
            StmtKind::Auth(Auth::Authorizer(i)) => format!("authz {}", i.name),
            StmtKind::Auth(Auth::Any(is)) => format!("any {}", is.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(",")),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        auths,
        [
            "jwt users",
            "key partners",
            "authz chat_auth",
            "any users,partners"
        ]
    );
    let StmtKind::Require {
        cond,
        status,
        message,
    } = stmt("require \"pets:write\" in auth.scopes  else 403 \"no\"").kind
    else {
        panic!()
    };
    assert_eq!(sexp(&cond), "(in 'pets:write' auth.scopes)");
    assert_eq!(status.map(|s| s.value), Some(LitValue::Int(403)));
    assert_eq!(message.and_then(|m| m.as_plain()).as_deref(), Some("no"));
    let StmtKind::Require {
        status: None,
        message: None,
        ..
    } = stmt("require !auth.ctx.banned").kind
    else {
        panic!()
    };
}

#[test]
fn validate_buffer_throttle() {
    let StmtKind::ValidateParams(ps) = stmt(
        "validate params {\n  query.limit: int 1..100 = 20  # typed\n  query.species: string?\n}",
    )
    .kind
    else {
        panic!()
    };
    let ps: Vec<String> = ps
        .iter()
        .map(|p| {
            format!(
                "{} {}{} {:?} {:?}",
                sexp(&p.field),
                p.ty.name.name,
                if p.ty.optional { "?" } else { "" },
                p.ty.range,
                p.default.as_ref().map(sexp)
            )
        })
        .collect();
    assert_eq!(
        ps,
        [
            "query.limit int Some((1, 100)) Some(\"20\")",
            "query.species string? None None"
        ]
    );
    assert!(
        matches!(stmt("validate body NewPet").kind, StmtKind::ValidateBody(i) if i.name == "NewPet")
    );
    assert!(
        matches!(stmt("buffer body 512KiB").kind, StmtKind::BufferBody(l) if l.value == LitValue::Size(512 * 1024))
    );
    assert!(matches!(stmt("throttle plan").kind, StmtKind::ThrottlePlan));
    let StmtKind::Throttle {
        rate,
        burst,
        by,
        name,
        scope: None,
    } = stmt("throttle 50/s burst 100 by client.ip name login").kind
    else {
        panic!()
    };
    assert_eq!(
        rate.value,
        LitValue::Rate {
            count: 50,
            per_ms: 1000
        }
    );
    assert_eq!(burst.map(|b| b.value), Some(LitValue::Int(100)));
    assert_eq!(by.as_ref().map(sexp).as_deref(), Some("client.ip"));
    assert_eq!(name.map(|n| n.name).as_deref(), Some("login"));
    let StmtKind::Throttle {
        burst: None,
        by: None,
        name: None,
        ..
    } = stmt("throttle 5/min").kind
    else {
        panic!()
    };
    let StmtKind::Throttle {
        scope: Some(scope), ..
    } = stmt("throttle 5/s name n store redis \"redis://h:1\" on_store_down allow").kind
    else {
        panic!()
    };
    assert_eq!(
        scope.store.and_then(|u| u.as_plain()).as_deref(),
        Some("redis://h:1")
    );
    assert_eq!(
        scope.on_store_down.map(|d| d.name).as_deref(),
        Some("allow")
    );
    let StmtKind::Throttle {
        scope: Some(scope), ..
    } = stmt("throttle 5/s scope node").kind
    else {
        panic!()
    };
    assert!(scope.store.is_none() && scope.on_store_down.is_none());
    for line in [
        "throttle 5/s burst 5 by client.ip name n store redis \"redis://h:1\" on_store_down allow",
        "throttle 5/s scope node",
    ] {
        let src = format!("route GET /t {{\n  {line}\n  respond 204\n}}\n");
        assert_eq!(
            crate::format_source("t.gw", &src).as_deref(),
            Ok(src.as_str())
        );
    }
}

/// The statement of a one-statement route, with every span reset.
fn spanless(body: &str) -> StmtKind {
    let mut c = parse_ok(&format!("route GET /x {{\n{body}\n}}\n"));
    strip_spans(&mut c);
    match c.items.into_iter().next().map(|i| i.kind) {
        Some(ItemKind::Route(r)) => r
            .body
            .into_iter()
            .next()
            .map(|s| s.kind)
            .unwrap_or(StmtKind::CorsOff),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cache_line_and_block_forms_are_the_same_tree() {
    let line = spanless("cache ttl 60s key [query.limit, query.species] vary claim.tenant");
    let block =
        spanless("cache {\n  ttl 60s\n  key [query.limit, query.species]\n  vary claim.tenant\n}");
    assert_eq!(line, block);
    let StmtKind::Cache(c) = line else { panic!() };
    assert_eq!(
        (c.ttl.map(|t| t.value), c.key.len(), c.vary.len()),
        (Some(LitValue::Duration(60_000)), 2, 1)
    );
    let StmtKind::Cache(c) = stmt("cache { ttl 5s; key [path.id]; max_entry 1MiB }").kind else {
        panic!()
    };
    assert_eq!((c.key.len(), c.vary.len(), c.settings.len()), (1, 0, 1));
    assert_eq!(c.settings[0].name.name, "max_entry");
    let StmtKind::Cache(c) = stmt("cache ttl 1s vary [a.b, c.d]").kind else {
        panic!()
    };
    assert_eq!((c.key.len(), c.vary.len()), (0, 2));
}

#[test]
fn canary_line_and_block_forms_are_the_same_tree_but_for_the_flag() {
    let StmtKind::Canary(mut short) = spanless("canary 10% to v2 sticky by header.x-user") else {
        panic!()
    };
    let StmtKind::Canary(block) =
        spanless("canary v2 {\n  weight 10%\n  sticky by header.x-user\n}")
    else {
        panic!()
    };
    assert!(short.short && !block.short);
    short.short = false;
    assert_eq!(short, block);
}

#[test]
fn header_query_rewrite_body_status() {
    let ops: Vec<(String, HeaderOp, String, Option<String>)> = stmts(
        "set header x-user-id = claim.sub\nappend header via = \"gw\"\nremove header authorization\nset query page = \"1\"\nremove query debug\nset header \"odd.name\" = 1",
    )
    .into_iter()
    .map(|s| match s.kind {
        StmtKind::Header { op, name, value } => ("header".into(), op, name.name, value.as_ref().map(sexp)),
        StmtKind::Query { op, name, value } => ("query".into(), op, name.name, value.as_ref().map(sexp)),
        other => panic!("{other:?}"),
    })
    .collect();
    assert_eq!(
        ops,
        vec![
            (
                "header".into(),
                HeaderOp::Set,
                "x-user-id".into(),
                Some("claim.sub".into())
            ),
            (
                "header".into(),
                HeaderOp::Append,
                "via".into(),
                Some("'gw'".into())
            ),
            (
                "header".into(),
                HeaderOp::Remove,
                "authorization".into(),
                None
            ),
            (
                "query".into(),
                HeaderOp::Set,
                "page".into(),
                Some("'1'".into())
            ),
            ("query".into(), HeaderOp::Remove, "debug".into(), None),
            (
                "header".into(),
                HeaderOp::Set,
                "odd.name".into(),
                Some("1".into())
            ),
        ]
    );
    let StmtKind::Rewrite(s) = stmt("rewrite path \"/v2/users/{path.id}\"").kind else {
        panic!()
    };
    assert_eq!(s.parts.len(), 2);
    let StmtKind::SetStatus(e) = stmt("set status 201").kind else {
        panic!()
    };
    assert_eq!(sexp(&e), "201");
    let StmtKind::BodyJson(t) = stmt(
        "body json {\n  user: claim.sub,\n  \"x-y\": [1, { a: 2 }]\n  nested: { ok: true }\n}",
    )
    .kind
    else {
        panic!()
    };
    assert_eq!(t.fields.len(), 3);
    assert!(
        matches!(&t.fields[1], (TemplateKey::Str(_), TemplateValue::List(items, _)) if matches!(items[1], TemplateValue::Object(_)))
    );
    assert!(matches!(&t.fields[2].1, TemplateValue::Object(o) if o.fields.len() == 1));
}

#[test]
fn targets_upstream_canary_respond() {
    let all = stmts(
        "upstream a when path.rest starts_with \"archive/\"\nupstream chat hash by query.room ?? \"lobby\"",
    );
    assert!(matches!(&all[0].kind, StmtKind::Upstream { name, hash_by: None } if name.name == "a"));
    assert_eq!(
        all[0].guard.as_ref().map(sexp).as_deref(),
        Some("(starts_with path.rest 'archive/')")
    );
    assert!(
        matches!(&all[1].kind, StmtKind::Upstream { hash_by: Some(h), .. } if sexp(h) == "(?? query.room 'lobby')")
    );

    let StmtKind::Canary(short) = stmt("canary 10% to v2 sticky by header.x-user").kind else {
        panic!()
    };
    let StmtKind::Canary(block) =
        stmt("canary v2 {\n  weight 10%\n  sticky by header.x-user\n}").kind
    else {
        panic!()
    };
    for c in [&short, &block] {
        assert_eq!(c.upstream.name, "v2");
        assert_eq!(
            c.weight.as_ref().map(|w| w.value.clone()),
            Some(LitValue::Percent(1000))
        );
        assert_eq!(
            c.sticky.as_ref().map(sexp).as_deref(),
            Some("header.x-user")
        );
        assert!(c.force.is_none() && c.body.is_empty());
    }
    let StmtKind::Canary(full) = stmt("canary v2 { weight 12.5%; force when header.x-canary == \"always\"; set header x-canary = \"1\" }").kind else { panic!() };
    assert_eq!(full.weight.map(|w| w.value), Some(LitValue::Percent(1250)));
    assert_eq!(
        full.force.as_ref().map(sexp).as_deref(),
        Some("(== header.x-canary 'always')")
    );
    assert_eq!(full.body.len(), 1);

    let StmtKind::Respond { status, body: Some(RespondBody::Json(t)), headers } = stmt("respond 200 json { status: \"ok\", id: request.id } headers { cache-control: \"no-store\", \"x-a\": 1 }").kind else { panic!() };
    assert_eq!((status.value, t.fields.len()), (LitValue::Int(200), 2));
    assert_eq!(
        headers
            .iter()
            .map(|(n, v)| format!("{}={}", n.name, sexp(v)))
            .collect::<Vec<_>>(),
        ["cache-control='no-store'", "x-a=1"]
    );
    assert!(matches!(
        stmt("respond 200 text \"ok\"").kind,
        StmtKind::Respond {
            body: Some(RespondBody::Text(_)),
            ..
        }
    ));
    assert!(
        matches!(stmt("respond 204").kind, StmtKind::Respond { body: None, ref headers, .. } if headers.is_empty())
    );
}

#[test]
fn settings_statements() {
    let StmtKind::Timeout(t) = stmt("timeout 3s").kind else {
        panic!()
    };
    assert_eq!((t.len(), t[0].name.name.as_str()), (1, "request"));
    let StmtKind::Timeout(t) = stmt("timeout connect 1s request 10s").kind else {
        panic!()
    };
    assert_eq!(
        t.iter().map(|s| s.name.name.as_str()).collect::<Vec<_>>(),
        ["connect", "request"]
    );
    let StmtKind::Retry { count, on } = stmt("retry 2 on connect_error, 502").kind else {
        panic!()
    };
    assert_eq!(
        (
            count.value,
            on.iter().map(|i| i.name.as_str()).collect::<Vec<_>>()
        ),
        (LitValue::Int(2), vec!["connect_error", "502"])
    );
    let StmtKind::Websocket(w) =
        stmt("websocket {\n  idle_timeout 10m\n  max_message 1MiB\n  ping_every 30s\n}").kind
    else {
        panic!()
    };
    assert_eq!(w.len(), 3);
    assert!(
        matches!(stmt("budget 20_000").kind, StmtKind::Budget(l) if l.value == LitValue::Int(20_000))
    );
    assert!(matches!(stmt("cors off").kind, StmtKind::CorsOff));
    assert!(matches!(stmt("defaults off").kind, StmtKind::DefaultsOff));
    let StmtKind::OnResponse(b) = stmt("on response {\n  set header x-served-by = upstream.name; remove header server\n  set status 201\n}").kind else { panic!() };
    assert_eq!(b.len(), 3);
}

#[test]
fn statements_split_on_newlines_and_semicolons_and_continue_in_brackets() {
    let all = stmts(
        "set header a = 1; set header b = 2\n\n  require x in [\n    \"a\",\n    \"b\",\n  ] else 403\n  respond 200 json {\n    a: 1\n    b: f(1,\n      2)\n  }",
    );
    assert_eq!(all.len(), 4);
    let StmtKind::Require { cond, .. } = &all[2].kind else {
        panic!()
    };
    assert_eq!(sexp(cond), "(in x ['a' 'b'])");
    let c = parse_ok("route GET /x {\n  require (a &&\n    b) || c\n  respond 200\n}");
    assert_eq!(c.items.len(), 1);
}
