use std::path::{Path, PathBuf};

use gw_plugin::testing::TestRequest;

use super::*;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("gw-plan-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `plan gold { quota 3 per day }` (and a bucket when `rate` is given) for keys acme and
/// globex, counting into `file`.
fn spec(file: &Path, rate: Option<(u64, u64, i64)>) -> PluginSpec {
    let rate_v = rate.map_or(Value::Absent, |(count, per_ms, _)| Value::Rate {
        count,
        per_ms,
    });
    let burst = rate.map_or(0, |r| r.2);
    let plan =
        Value::List(vec![rate_v, Value::Int(burst), Value::Int(3), Value::str("day")].into());
    let key = |id: &str, plan: Option<&str>| {
        Value::List(vec![Value::str(id), plan.map_or(Value::Absent, Value::str)].into())
    };
    PluginSpec {
        plugin: "throttle.plan".into(),
        state_key: "plans".into(),
        args: vec![
            ("plan.gold".into(), plan),
            (
                "keys".into(),
                Value::List(
                    vec![
                        key("acme", Some("gold")),
                        key("globex", Some("gold")),
                        key("free", None),
                    ]
                    .into(),
                ),
            ),
            ("usage_file".into(), Value::str(&file.to_string_lossy())),
        ],
        origin: "t.gw:9:3".into(),
    }
}

const DAY: i64 = 86_400_000;

fn ask(
    i: &mut Box<dyn Instance>,
    id: &str,
    plan: Option<&str>,
    now_ms: i64,
) -> (Call, TestRequest) {
    let mut req = TestRequest {
        now_ms,
        ..TestRequest::default()
    };
    let args = [Value::str(id), plan.map_or(Value::Absent, Value::str)];
    (i.call(&mut req, &args), req)
}

#[test]
fn a_quota_admits_exactly_n_per_period_and_says_so() {
    let dir = Dir::new("quota");
    let f = ThrottlePlan
        .build(&spec(&dir.0.join("u"), None), None)
        .unwrap();
    let mut i = f.instance(0);
    let t = 20_000 * DAY + 1000 * 3600; // 01:00 UTC
    let (call, req) = ask(&mut i, "acme", Some("gold"), t);
    assert_eq!(call, Call::Continue);
    assert_eq!(
        req.resp_headers,
        vec![
            ("ratelimit-policy".into(), "\"gold/day\";q=3;w=86400".into()),
            ("ratelimit".into(), "\"gold/day\";r=2;t=82800".into()),
        ]
    );
    assert_eq!(ask(&mut i, "acme", Some("gold"), t).0, Call::Continue);
    assert_eq!(ask(&mut i, "acme", Some("gold"), t).0, Call::Continue);
    let (call, req) = ask(&mut i, "acme", Some("gold"), t);
    assert_eq!(
        call,
        Call::Deny {
            status: 429,
            retry_after: Some(82_800)
        }
    );
    assert_eq!(req.deny_headers[1].1, "\"gold/day\";r=0;t=82800");
    // another key counts apart; a key without a plan is not limited; the next day is new
    assert_eq!(ask(&mut i, "globex", Some("gold"), t).0, Call::Continue);
    for _ in 0..10 {
        assert_eq!(ask(&mut i, "free", None, t).0, Call::Continue);
    }
    assert_eq!(ask(&mut i, "acme", Some("gold"), t + DAY).0, Call::Continue);
}

#[test]
fn the_bucket_limits_before_the_quota_counts() {
    let dir = Dir::new("bucket");
    let f = ThrottlePlan
        .build(&spec(&dir.0.join("u"), Some((1, 60_000, 1))), None)
        .unwrap();
    let mut i = f.instance(0);
    assert_eq!(ask(&mut i, "acme", Some("gold"), DAY).0, Call::Continue);
    let (call, _) = ask(&mut i, "acme", Some("gold"), DAY);
    assert!(matches!(call, Call::Deny { status: 429, .. }));
    let pf = f.as_any().downcast_ref::<PlanFactory>().unwrap();
    assert_eq!(
        pf.keys["acme"].quota.used(Period::Day, 1),
        1,
        "a refused request is not counted"
    );
}

#[test]
fn counts_carry_over_a_reload_and_a_restart() {
    let dir = Dir::new("carry");
    let file = dir.0.join("u");
    let first = ThrottlePlan.build(&spec(&file, None), None).unwrap();
    let mut old = first.instance(0);
    assert_eq!(ask(&mut old, "acme", Some("gold"), DAY).0, Call::Continue);
    // a reload: the new config shares the counters, and the old one still counts into them
    let second = ThrottlePlan
        .build(&spec(&file, None), Some(first.as_ref()))
        .unwrap();
    let mut new = second.instance(0);
    assert_eq!(ask(&mut old, "acme", Some("gold"), DAY).0, Call::Continue);
    assert_eq!(ask(&mut new, "acme", Some("gold"), DAY).0, Call::Continue);
    assert!(matches!(
        ask(&mut new, "acme", Some("gold"), DAY).0,
        Call::Deny { .. }
    ));
    // stopping saves; a restart reads the counts back
    drop((old, new, first, second));
    let again = ThrottlePlan.build(&spec(&file, None), None).unwrap();
    let mut i = again.instance(0);
    assert!(matches!(
        ask(&mut i, "acme", Some("gold"), DAY).0,
        Call::Deny { .. }
    ));
    assert_eq!(ask(&mut i, "globex", Some("gold"), DAY).0, Call::Continue);
    let report = usage_report(&spec(&file, None), "acme", DAY).unwrap();
    assert!(
        report
            .contains("quota: 3 of 3 used this day (UTC), 0 left, resets at 1970-01-03T00:00:00Z"),
        "{report}"
    );
}

#[test]
fn a_damaged_usage_file_keeps_the_other_keys_counts() {
    let dir = Dir::new("damaged");
    let file = dir.0.join("u");
    let f = ThrottlePlan.build(&spec(&file, None), None).unwrap();
    let mut i = f.instance(0);
    for id in ["acme", "globex"] {
        for _ in 0..2 {
            assert_eq!(ask(&mut i, id, Some("gold"), DAY).0, Call::Continue);
        }
    }
    drop((i, f));
    let text = std::fs::read_to_string(&file).unwrap();
    let used = |file: &Path, id: &str| {
        let f = ThrottlePlan.build(&spec(file, None), None).unwrap();
        let pf = f.as_any().downcast_ref::<PlanFactory>().unwrap();
        pf.keys[id].quota.used(Period::Day, 1)
    };
    // acme's record damaged: acme starts over, globex keeps its count
    std::fs::write(&file, text.replacen("acme ", "acme 9", 1)).unwrap();
    assert_eq!(used(&file, "acme"), 0);
    assert_eq!(used(&file, "globex"), 2);
    // the file cut off inside globex's record (the last): acme keeps its count
    std::fs::write(&file, &text[..text.len() - 3]).unwrap();
    assert_eq!(used(&file, "acme"), 2);
    assert_eq!(used(&file, "globex"), 0);
    // a file that is not a usage file at all: gw starts with fresh counts
    std::fs::write(&file, b"\x00\xffnot a usage file\n").unwrap();
    assert!(ThrottlePlan.build(&spec(&file, None), None).is_ok());
}

#[test]
fn a_key_outside_the_table_is_refused_and_plans_are_checked() {
    let dir = Dir::new("refused");
    let f = ThrottlePlan
        .build(&spec(&dir.0.join("u"), None), None)
        .unwrap();
    let mut i = f.instance(0);
    assert!(matches!(
        ask(&mut i, "mallory", Some("gold"), DAY).0,
        Call::Deny { status: 503, .. }
    ));
    let mut bad = spec(&dir.0.join("u2"), None);
    bad.args[0].1 = Value::List(
        vec![
            Value::Absent,
            Value::Int(0),
            Value::Int(0),
            Value::str("day"),
        ]
        .into(),
    );
    assert!(ThrottlePlan.build(&bad, None).is_err());
    assert!(usage_report(&spec(&dir.0.join("u"), None), "mallory", DAY).is_err());
}
