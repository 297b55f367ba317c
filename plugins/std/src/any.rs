//! `auth any(a, b, …)`: the members are tried in order and the first that accepts wins; its
//! fields (`claim.*`, `key.*`, `auth.ctx.*`) are set, the others' stay absent.
//!
//! ```gw
//! route GET /reports {
//!   auth any(users, partners)          # a JWT, or else an API key
//!   upstream reports
//! }
//! ```
//!
//! A member that must wait (an authorizer's call, a key set's refetch) hands the request its
//! operation; `any` takes it back (`Host::take_pending`) and awaits it in its own, then goes
//! on with the next member if that one refused. When every member refuses, the answer is
//! one 401 (with `WWW-Authenticate: Bearer` when a member is a JWT verifier), unless a member
//! could not decide at all (a 5xx: an authorizer that is down, a key set never fetched): then
//! that status, since the caller may well hold a good credential.

use std::rc::Rc;

use gw_plugin::{
    ArgSpec, ArgType, BuildError, Call, Completion, Effect, Factory, Host, Instance, Plugin,
    PluginSpec, Signature, Value,
};

static SIGNATURE: Signature = Signature {
    name: "auth.any",
    mnemonic: "auth.any",
    args: &[
        ArgSpec {
            name: "members",
            ty: ArgType::List,
            required: true,
        },
        ArgSpec {
            name: "argc",
            ty: ArgType::List,
            required: true,
        },
        ArgSpec {
            name: "kinds",
            ty: ArgType::List,
            required: true,
        },
    ],
};

/// The `auth.any` policy.
pub struct Any;

/// One member: its slot and the range of the call's arguments it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Member {
    slot: u16,
    args: (usize, usize),
}

#[derive(Debug, Clone)]
struct Members {
    list: Vec<Member>,
    /// A member is a JWT verifier: the final 401 challenges for a bearer token.
    bearer: bool,
}

struct AnyFactory(Members);

struct AnyInstance(Rc<Members>);

fn ints(spec: &PluginSpec, name: &str) -> Option<Vec<i64>> {
    match Value::find(&spec.args, name)? {
        Value::List(l) => l
            .iter()
            .map(|v| match v {
                Value::Int(i) => Some(*i),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

impl Plugin for Any {
    fn signature(&self) -> &Signature {
        &SIGNATURE
    }

    fn build(
        &self,
        spec: &PluginSpec,
        _previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError> {
        let (Some(slots), Some(argc)) = (ints(spec, "members"), ints(spec, "argc")) else {
            return Err(BuildError::at(
                spec,
                "auth any needs its members and their arguments",
            ));
        };
        if slots.len() != argc.len() || slots.is_empty() {
            return Err(BuildError::at(
                spec,
                "auth any: members and arguments disagree",
            ));
        }
        let mut list = Vec::with_capacity(slots.len());
        let mut at = 0usize;
        for (slot, n) in slots.iter().zip(&argc) {
            let (Ok(slot), Ok(n)) = (u16::try_from(*slot), usize::try_from(*n)) else {
                return Err(BuildError::at(spec, "auth any: a member is out of range"));
            };
            list.push(Member {
                slot,
                args: (at, at + n),
            });
            at += n;
        }
        let bearer = match Value::find(&spec.args, "kinds") {
            Some(Value::List(k)) => k.iter().any(|v| v.as_str() == Some("jwt")),
            _ => false,
        };
        Ok(Box::new(AnyFactory(Members { list, bearer })))
    }
}

impl Factory for AnyFactory {
    fn instance(&self, _worker: usize) -> Box<dyn Instance> {
        Box::new(AnyInstance(Rc::new(self.0.clone())))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// What the members said so far.
#[derive(Debug, Clone, Copy, Default)]
struct Refusals {
    /// A member that could not decide (5xx), the first one's status.
    undecided: Option<u16>,
}

/// Try the members from `i` on. The arguments are borrowed: they are copied only when a
/// member's answer is awaited, for the completion to own.
fn from(host: &mut dyn Host, m: Rc<Members>, i: usize, args: &[Value], r: Refusals) -> Call {
    let Some(member) = m.list.get(i).copied() else {
        return refused(host, &m, r);
    };
    let answer = {
        let a = args.get(member.args.0..member.args.1).unwrap_or(&[]);
        host.call(member.slot, a)
    };
    after(host, answer, m, i, args, r)
}

/// Member `i` answered `answer`.
fn after(
    host: &mut dyn Host,
    answer: Call,
    m: Rc<Members>,
    i: usize,
    args: &[Value],
    mut r: Refusals,
) -> Call {
    match answer {
        Call::Continue | Call::Respond(_) => answer,
        Call::Deny { status, .. } => {
            if status >= 500 && r.undecided.is_none() {
                r.undecided = Some(status);
            }
            from(host, m, i + 1, args, r)
        }
        Call::Pending => {
            let Some(op) = host.take_pending() else {
                return Call::Deny {
                    status: 500,
                    retry_after: None,
                };
            };
            let args: Rc<[Value]> = Rc::from(args);
            let wrapped = async move {
                let done = op.await;
                let next: Completion = Box::new(move |host: &mut dyn Host| {
                    let answer = done(host);
                    after(host, answer, m, i, &args, r)
                });
                next
            };
            if host.pend(Box::pin(wrapped)) {
                Call::Pending
            } else {
                Call::Deny {
                    status: 500,
                    retry_after: None,
                }
            }
        }
    }
}

fn refused(host: &mut dyn Host, m: &Members, r: Refusals) -> Call {
    let status = r.undecided.unwrap_or(401);
    if status == 401 && m.bearer {
        host.apply(Effect::DenyHeader("www-authenticate", "Bearer"));
    }
    host.apply(Effect::DenyReason(match r.undecided {
        Some(_) => "auth any: no member accepted and one could not decide",
        None => "auth any: no member accepted",
    }));
    Call::Deny {
        status,
        retry_after: None,
    }
}

impl Instance for AnyInstance {
    fn call(&mut self, host: &mut dyn Host, args: &[Value]) -> Call {
        from(host, self.0.clone(), 0, args, Refusals::default())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use gw_program::Field;

    use super::*;

    /// Members by slot: each answers from a script; slot 2 pends and then answers.
    struct Req {
        answers: Vec<Call>,
        calls: RefCell<Vec<(u16, Vec<Value>)>>,
        pending: Option<gw_plugin::PendingOp>,
        reason: String,
        headers: Vec<(String, String)>,
    }

    impl Host for Req {
        fn load(&mut self, _: Field) -> Value {
            Value::Absent
        }
        fn apply(&mut self, e: Effect<'_>) {
            match e {
                Effect::DenyReason(r) => self.reason = r.into(),
                Effect::DenyHeader(n, v) => self.headers.push((n.into(), v.into())),
                _ => {}
            }
        }
        fn call(&mut self, slot: u16, args: &[Value]) -> Call {
            self.calls.borrow_mut().push((slot, args.to_vec()));
            let answer = self
                .answers
                .get(usize::from(slot))
                .cloned()
                .unwrap_or(Call::Continue);
            if answer == Call::Pending {
                let late: Completion = Box::new(|_| Call::Deny {
                    status: 401,
                    retry_after: None,
                });
                self.pending = Some(Box::pin(async move { late }));
            }
            answer
        }
        fn now_ms(&self) -> i64 {
            0
        }
        fn upstream_healthy(&self, _: u16) -> bool {
            true
        }
        fn split_counter(&mut self, _: u16) -> u64 {
            0
        }
        fn pend(&mut self, op: gw_plugin::PendingOp) -> bool {
            self.pending = Some(op);
            true
        }
        fn take_pending(&mut self) -> Option<gw_plugin::PendingOp> {
            self.pending.take()
        }
    }

    fn deny(status: u16) -> Call {
        Call::Deny {
            status,
            retry_after: None,
        }
    }

    fn any(members: &[i64], argc: &[i64], kinds: &[&str]) -> Box<dyn Instance> {
        let list = |v: &[i64]| Value::List(v.iter().map(|i| Value::Int(*i)).collect());
        let spec = PluginSpec {
            plugin: "auth.any".into(),
            state_key: "GET /r#any".into(),
            args: vec![
                ("members".into(), list(members)),
                ("argc".into(), list(argc)),
                (
                    "kinds".into(),
                    Value::List(kinds.iter().map(|k| Value::str(k)).collect()),
                ),
            ],
            origin: "api.gw:1:1".into(),
        };
        assert!(SIGNATURE.check(&spec).is_ok());
        Any.build(&spec, None).unwrap().instance(0)
    }

    fn req(answers: Vec<Call>) -> Req {
        Req {
            answers,
            calls: RefCell::default(),
            pending: None,
            reason: String::new(),
            headers: Vec::new(),
        }
    }

    /// Awaits what the request was handed, as the runtime does, and runs its completion.
    fn settle(req: &mut Req, mut answer: Call) -> Call {
        while answer == Call::Pending {
            let op = req.pending.take().unwrap();
            let done = poll_once(op);
            answer = done(req);
        }
        answer
    }

    /// The operations in these tests are ready at once: one poll completes them.
    fn poll_once(mut op: gw_plugin::PendingOp) -> Completion {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match op.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(done) => done,
            std::task::Poll::Pending => panic!("a test operation pended"),
        }
    }

    #[test]
    fn the_first_member_that_accepts_wins() {
        let mut i = any(&[0, 1], &[0, 1], &["jwt", "authorizer"]);
        let mut r = req(vec![deny(401), Call::Continue]);
        let id = Value::str("tok");
        assert_eq!(i.call(&mut r, std::slice::from_ref(&id)), Call::Continue);
        assert_eq!(*r.calls.borrow(), [(0, vec![]), (1, vec![id])]);
        let mut r = req(vec![Call::Continue, deny(401)]);
        assert_eq!(i.call(&mut r, &[Value::str("x")]), Call::Continue);
        assert_eq!(r.calls.borrow().len(), 1);
    }

    #[test]
    fn all_refusing_is_one_401_or_the_undecided_status() {
        let mut i = any(&[0, 1], &[0, 0], &["jwt", "api_key"]);
        let mut r = req(vec![deny(401), deny(401)]);
        assert_eq!(i.call(&mut r, &[]), deny(401));
        assert_eq!(r.reason, "auth any: no member accepted");
        assert_eq!(
            r.headers,
            [("www-authenticate".to_string(), "Bearer".to_string())]
        );
        let mut r = req(vec![deny(503), deny(401)]);
        assert_eq!(i.call(&mut r, &[]), deny(503));
        assert!(r.headers.is_empty());
    }

    #[test]
    fn a_pending_member_is_awaited_then_the_next_is_tried() {
        // slot 0 pends and then refuses; slot 1 accepts
        let mut i = any(&[0, 1], &[1, 0], &["authorizer", "api_key"]);
        let mut r = req(vec![Call::Pending, Call::Continue]);
        let first = i.call(&mut r, &[Value::str("id")]);
        assert_eq!(first, Call::Pending);
        assert_eq!(settle(&mut r, first), Call::Continue);
        assert_eq!(r.calls.borrow().len(), 2);
        // nobody accepts after the wait: one 401
        let mut r = req(vec![Call::Pending, deny(401)]);
        let first = i.call(&mut r, &[Value::str("id")]);
        assert_eq!(settle(&mut r, first), deny(401));
    }

    #[test]
    fn malformed_specs_are_refused() {
        let spec = PluginSpec {
            plugin: "auth.any".into(),
            state_key: "k".into(),
            args: vec![
                ("members".into(), Value::List(vec![Value::Int(0)].into())),
                ("argc".into(), Value::List(vec![].into())),
                ("kinds".into(), Value::List(vec![].into())),
            ],
            origin: "o".into(),
        };
        assert!(Any.build(&spec, None).is_err());
    }
}
