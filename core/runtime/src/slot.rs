//! A worker's plugin instances. A call runs to its answer without awaiting anything, so an
//! instance is borrowed only for the call itself; what a call must wait for is an operation
//! the request owns (`Host::pend`), and any number of requests await theirs at once.

use std::cell::RefCell;

use gw_plugin::{Call, Host, Instance, Value};

/// One plugin instance of a worker.
pub struct Slot {
    inst: RefCell<Box<dyn Instance>>,
}

impl Slot {
    pub fn new(inst: Box<dyn Instance>) -> Slot {
        Slot {
            inst: RefCell::new(inst),
        }
    }

    /// How often the instance asks to tick.
    pub fn every(&self) -> Option<std::time::Duration> {
        self.inst.try_borrow().ok().and_then(|i| i.every())
    }

    /// Its periodic work (skipped in the unlikely case a call holds it), and what it left to
    /// run in the background.
    pub fn tick(
        &self,
        http: Option<&std::rc::Rc<dyn gw_plugin::HttpClient>>,
    ) -> Option<gw_plugin::Background> {
        self.inst
            .try_borrow_mut()
            .ok()
            .and_then(|mut inst| inst.tick(http))
    }

    /// Run the instance. A call made from inside the same instance's call (a plugin calling
    /// itself through the host) cannot borrow it again and answers 500.
    pub fn call(&self, host: &mut dyn Host, args: &[Value]) -> Call {
        match self.inst.try_borrow_mut() {
            Ok(mut inst) => inst.call(host, args),
            Err(_) => Call::Deny {
                status: 500,
                retry_after: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use gw_plugin::Effect;
    use gw_program::Field;

    use super::*;

    struct Reentrant;

    struct Host1<'a>(&'a Slot);

    impl Host for Host1<'_> {
        fn load(&mut self, _: Field) -> Value {
            Value::Absent
        }
        fn apply(&mut self, _: Effect<'_>) {}
        fn call(&mut self, _: u16, args: &[Value]) -> Call {
            let slot = self.0;
            slot.call(self, args)
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
    }

    impl Instance for Reentrant {
        fn call(&mut self, host: &mut dyn Host, args: &[Value]) -> Call {
            if args.is_empty() {
                return Call::Continue;
            }
            host.call(0, &[])
        }
    }

    #[test]
    fn a_call_runs_and_a_reentrant_one_is_refused() {
        let slot = Slot::new(Box::new(Reentrant));
        assert_eq!(slot.call(&mut Host1(&slot), &[]), Call::Continue);
        assert_eq!(
            slot.call(&mut Host1(&slot), &[Value::Bool(true)]),
            Call::Deny {
                status: 500,
                retry_after: None
            }
        );
    }
}
