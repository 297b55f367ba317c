use super::*;

/// A plugin whose factory remembers its spec's state key and `tag` argument.
struct Named {
    sig: Signature,
    tag: &'static str,
}

fn named(name: &'static str, tag: &'static str) -> Box<dyn Plugin> {
    Box::new(Named {
        sig: Signature {
            name,
            mnemonic: name,
            args: &[ArgSpec {
                name: "fail",
                ty: ArgType::Bool,
                required: false,
            }],
        },
        tag,
    })
}

struct Built {
    tag: &'static str,
    key: String,
    previous_key: Option<String>,
}

struct Inert;

impl Plugin for Named {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn build(
        &self,
        spec: &PluginSpec,
        previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError> {
        if Value::find(&spec.args, "fail").is_some() {
            return Err(BuildError {
                origin: spec.origin.clone(),
                message: "asked to fail".into(),
            });
        }
        let previous_key = previous
            .and_then(|p| p.as_any().downcast_ref::<Built>())
            .map(|b| b.key.clone());
        Ok(Box::new(Built {
            tag: self.tag,
            key: spec.state_key.clone(),
            previous_key,
        }))
    }
}

impl Factory for Built {
    fn instance(&self, _worker: usize) -> Box<dyn Instance> {
        Box::new(Inert)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Instance for Inert {
    fn call(&mut self, _host: &mut dyn Host, args: &[Value]) -> Call {
        match args.first().and_then(Value::as_str) {
            Some("deny") => Call::Respond(403),
            _ => Call::Continue,
        }
    }
}

fn spec(plugin: &str, key: &str) -> PluginSpec {
    PluginSpec {
        plugin: plugin.into(),
        state_key: key.into(),
        args: vec![],
        origin: "api.gw:7:3".into(),
    }
}

fn tag_of(f: &dyn Factory) -> &'static str {
    f.as_any().downcast_ref::<Built>().map_or("?", |b| b.tag)
}

#[test]
fn an_empty_registry_has_no_names_and_finds_nothing() {
    let r = Registry::new();
    assert_eq!(r.names().count(), 0);
    assert!(r.get("jwt").is_none());
    assert!(r.get("").is_none());
}

#[test]
fn registered_plugins_are_found_by_exact_name_in_registration_order() {
    let mut r = Registry::new();
    r.register(named("jwt", "a"));
    r.register(named("throttle", "b"));
    r.register(named("throttle.plan", "c"));
    assert_eq!(
        r.names().collect::<Vec<_>>(),
        ["jwt", "throttle", "throttle.plan"]
    );
    let p = r.get("throttle.plan").unwrap();
    assert_eq!(p.signature().name, "throttle.plan");
    assert_eq!(
        tag_of(p.build(&spec("x", "k"), None).unwrap().as_ref()),
        "c"
    );
    // no prefix or case-insensitive matching
    assert!(r.get("throttle.").is_none());
    assert!(r.get("JWT").is_none());
}

#[test]
fn the_first_registration_of_a_name_wins() {
    let mut r = Registry::new();
    r.register(named("cache", "first"));
    r.register(named("cache", "second"));
    let p = r.get("cache").unwrap();
    assert_eq!(
        tag_of(p.build(&spec("cache", "k"), None).unwrap().as_ref()),
        "first"
    );
    assert_eq!(r.names().filter(|n| *n == "cache").count(), 2);
}

#[test]
fn build_sees_the_previous_factory_and_reports_errors_with_the_origin() {
    let mut r = Registry::new();
    r.register(named("jwt", "a"));
    let p = r.get("jwt").unwrap();
    let old = p.build(&spec("jwt", "users"), None).unwrap();
    let new = p.build(&spec("jwt", "users"), Some(old.as_ref())).unwrap();
    let new = new.as_any().downcast_ref::<Built>().unwrap();
    assert_eq!(new.previous_key.as_deref(), Some("users"));
    let mut bad = spec("jwt", "users");
    bad.args.push(("fail".into(), Value::Bool(true)));
    let err = p.build(&bad, None).err().unwrap();
    assert_eq!(err.origin, "api.gw:7:3");
    assert_eq!(err.message, "asked to fail");
}

#[test]
fn instances_answer_calls() {
    let mut r = Registry::new();
    r.register(named("api_key", "a"));
    let f = r
        .get("api_key")
        .unwrap()
        .build(&spec("api_key", "k"), None)
        .unwrap();
    let mut inst = f.instance(3);
    assert_eq!(
        inst.call(&mut testing::TestRequest::new(), &[]),
        Call::Continue
    );
    assert_eq!(
        inst.call(&mut testing::TestRequest::new(), &[Value::str("deny")]),
        Call::Respond(403)
    );
    // a host that cannot await refuses a pending operation
    assert!(!testing::TestRequest::new().pend(Box::pin(async {
        let done: gw_vm::Completion = Box::new(|_| Call::Continue);
        done
    })));
}

#[test]
fn signatures_check_names_types_and_required_arguments() {
    static SIG: Signature = Signature {
        name: "jwt",
        mnemonic: "auth.jwt",
        args: &[
            ArgSpec {
                name: "issuer",
                ty: ArgType::Str,
                required: true,
            },
            ArgSpec {
                name: "leeway",
                ty: ArgType::Duration,
                required: false,
            },
            ArgSpec {
                name: "claim.*",
                ty: ArgType::Int,
                required: false,
            },
        ],
    };
    let with = |args: Vec<(&str, Value)>| PluginSpec {
        plugin: "jwt".into(),
        state_key: "users".into(),
        args: args.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        origin: "api.gw:1:1".into(),
    };
    assert_eq!(
        SIG.check(&with(vec![
            ("issuer", Value::str("https://a")),
            ("leeway", Value::Duration(30_000)),
            ("claim.email", Value::Int(3)),
        ])),
        Ok(())
    );
    assert!(SIG.check(&with(vec![])).unwrap_err().contains("`issuer`"));
    assert!(
        SIG.check(&with(vec![("issuer", Value::Int(1))]))
            .unwrap_err()
            .contains("not a Str")
    );
    assert!(
        SIG.check(&with(vec![
            ("issuer", Value::str("a")),
            ("audience", Value::str("b"))
        ]))
        .unwrap_err()
        .contains("`audience`")
    );
    assert!(
        SIG.check(&with(vec![
            ("issuer", Value::str("a")),
            ("claimx", Value::Int(1))
        ]))
        .is_err(),
        "a prefix needs its dot"
    );
}
