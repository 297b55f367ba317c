//! The example files of grammar/examples compile, to programs of the shape their routes ask
//! for (plugin calls, targets, response programs).

use super::*;

fn example(name: &str) -> Compiled {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../grammar/examples");
    let parsed = gw_syntax::parse_file(&dir.join(name));
    assert!(
        parsed.diagnostics.iter().all(|d| !d.is_error()),
        "{}",
        gw_syntax::render_all(&parsed.diagnostics, &parsed.sources)
    );
    let env = Options {
        env: Box::new(|_| None),
        ..Options::default()
    };
    let c = compile(&parsed, &env);
    let errs: Vec<_> = c.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(
        errs.is_empty(),
        "{name}:\n{}",
        gw_syntax::render_all(&c.diagnostics, &parsed.sources)
    );
    c
}

#[test]
fn petstore_compiles_to_the_expected_programs() {
    let img = example("petstore.gw").image.unwrap();
    assert_eq!(img.routes.len(), 5);
    assert_eq!(img.listeners.len(), 1);
    assert!(img.admin.is_some());
    let post = request(&img, "POST /pets");
    let calls: Vec<&str> = post
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::Call { slot, .. } => Some(img.plugins[usize::from(*slot)].plugin.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(calls, ["throttle", "jwt", "validate.body", "throttle"]);
    assert!(matches!(
        post.ops.last(),
        Some(Op::Forward {
            up: 0,
            hash: NO_REG
        })
    ));
    assert!(
        post.ops
            .iter()
            .any(|op| matches!(op, Op::DenyIfNot { status: 403, .. }))
    );
    assert_eq!(post.notes.len(), 1, "policy expansion note");
    let resp = img
        .routes
        .iter()
        .find(|r| r.name == "POST /pets")
        .unwrap()
        .response
        .as_ref()
        .unwrap();
    assert!(
        resp.ops
            .iter()
            .any(|op| matches!(op, Op::RespHdrSet { .. }))
    );
    assert!(
        img.routes
            .iter()
            .find(|r| r.name == "POST /pets")
            .unwrap()
            .buffer_response
    );
    // The jwt spec carries the locals its routes read.
    let jwt = img.plugins.iter().find(|p| p.plugin == "jwt").unwrap();
    assert_eq!(jwt.state_key, "users");
    assert!(jwt.args.iter().any(|(k, _)| k == "out.claim.sub"));
    assert!(jwt.args.iter().any(|(k, _)| k == "out.auth.scopes"));
    let get = img.routes.iter().find(|r| r.name == "GET /pets").unwrap();
    assert!(get.response.is_some(), "cache store");
}

#[test]
fn checkout_lowers_the_canary_group() {
    let c = example("checkout.gw");
    let img = c.image.unwrap();
    let p = request(&img, "ANY /checkout/{rest+}");
    let split = p
        .ops
        .iter()
        .position(|op| matches!(op, Op::Split { .. }))
        .unwrap();
    let Op::Split {
        threshold,
        sticky,
        off,
        ..
    } = p.ops[split]
    else {
        unreachable!()
    };
    assert_eq!(threshold, 1000);
    assert_ne!(sticky, NO_REG);
    // split -> stable forward; L_force: canary.mark; L_canary: header, forward canary.
    assert!(matches!(p.ops[split + 1], Op::Forward { .. }));
    assert!(matches!(p.ops[split + 2], Op::CanaryMark));
    assert_eq!(split + 1 + usize::from(off), split + 3);
    assert!(matches!(p.ops[split + 3], Op::HdrSetConst { .. }));
    assert!(matches!(p.ops.last(), Some(Op::Forward { .. })));
    assert!(p.ops.iter().any(|op| matches!(op, Op::HdrEqConst { .. })));
    assert!(
        c.diagnostics.iter().any(|d| d.code == "W0104"),
        "no /checkout route"
    );
    let health = request(&img, "GET /checkout/health");
    assert!(
        !health
            .ops
            .iter()
            .any(|op| matches!(op, Op::HdrSetConst { .. })),
        "defaults off"
    );
    assert_eq!(
        img.upstreams[2].servers[0]
            .tls
            .as_ref()
            .and_then(|t| t.sni.as_deref()),
        Some("archive.internal")
    );
    assert_eq!(
        img.upstreams[0].health.as_ref().map(|h| h.interval_ms),
        Some(5000)
    );
}

#[test]
fn chat_upgrades_with_a_hash() {
    let img = example("chat.gw").image.unwrap();
    let p = request(&img, "GET /chat");
    assert!(matches!(p.ops.last(), Some(Op::Upgrade { hash, .. }) if *hash != NO_REG));
    let r = img.routes.iter().find(|r| r.name == "GET /chat").unwrap();
    assert_eq!(r.websocket.as_ref().map(|w| w.max_message), Some(1 << 20));
    let authz = img
        .plugins
        .iter()
        .find(|p| p.plugin == "authorizer")
        .unwrap();
    assert!(authz.args.iter().any(|(k, _)| k == "out.auth.ctx.rooms"));
    assert!(
        authz
            .args
            .iter()
            .any(|(k, v)| k == "default.auth.ctx.banned" && *v == Value::Bool(false))
    );
}
