//! A request for testing and benchmarking plugins without the runtime: it answers header,
//! query, cookie and body reads from what the test gives it, and records what the plugin
//! stores and says about a denial.
//!
//! ```
//! use gw_plugin::Host;
//! use gw_plugin::testing::TestRequest;
//!
//! let req = TestRequest::new().header("x-api-key", "k1").query("limit", "5");
//! assert_eq!(req.request_header(b"X-Api-Key"), Some(&b"k1"[..]));
//! assert_eq!(req.request_query("limit").as_str(), Some("5"));
//! ```

use gw_program::{Field, Value};
use gw_vm::{Call, Effect, Host};

/// See the [module](self) documentation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestRequest {
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub cookies: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// What `load` answers, by field; others are absent.
    pub fields: Vec<(Field, Value)>,
    pub now_ms: i64,
    pub request_id: String,
    /// The values the plugin stored, by local id (a second store replaces the first).
    pub locals: Vec<(u16, Value)>,
    /// What the plugin said about its denial.
    pub deny_headers: Vec<(String, String)>,
    pub deny_body: Option<(String, String)>,
    pub reason: String,
    /// Response header edits (`RespSetHeader`, `RespAppendHeader`), in order.
    pub resp_headers: Vec<(String, String)>,
}

impl TestRequest {
    /// A request with nothing in it.
    pub fn new() -> TestRequest {
        TestRequest::default()
    }

    /// With a header.
    pub fn header(mut self, name: &str, value: &str) -> TestRequest {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// With a query parameter (already decoded).
    pub fn query(mut self, name: &str, value: &str) -> TestRequest {
        self.query.push((name.into(), value.into()));
        self
    }

    /// With a cookie.
    pub fn cookie(mut self, name: &str, value: &str) -> TestRequest {
        self.cookies.push((name.into(), value.into()));
        self
    }

    /// With a buffered body.
    pub fn body(mut self, body: &[u8]) -> TestRequest {
        self.body = Some(body.to_vec());
        self
    }

    /// With `load(field)` answering `value`.
    pub fn field(mut self, field: Field, value: Value) -> TestRequest {
        self.fields.push((field, value));
        self
    }

    /// The value stored in local `id`, if any.
    pub fn local(&self, id: u16) -> Option<&Value> {
        self.locals.iter().find(|(k, _)| *k == id).map(|(_, v)| v)
    }

    /// Forget what a previous call recorded (locals and denial), keeping the request.
    pub fn reset(&mut self) {
        self.locals.clear();
        self.deny_headers.clear();
        self.deny_body = None;
        self.reason.clear();
        self.resp_headers.clear();
    }
}

fn find<'a>(list: &'a [(String, String)], name: &str, fold_case: bool) -> Option<&'a str> {
    list.iter()
        .find(|(n, _)| {
            if fold_case {
                n.eq_ignore_ascii_case(name)
            } else {
                n == name
            }
        })
        .map(|(_, v)| v.as_str())
}

impl Host for TestRequest {
    fn load(&mut self, field: Field) -> Value {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(Value::Absent, |(_, v)| v.clone())
    }

    fn apply(&mut self, effect: Effect<'_>) {
        match effect {
            Effect::DenyHeader(n, v) => self.deny_headers.push((n.into(), v.into())),
            Effect::DenyBody(t, b) => self.deny_body = Some((t.into(), b.into())),
            Effect::DenyReason(r) => self.reason = r.into(),
            Effect::RespSetHeader(n, v) | Effect::RespAppendHeader(n, v) => {
                self.resp_headers.push((n.into(), v.into()));
            }
            _ => {}
        }
    }

    fn call(&mut self, _: u16, _: &[Value]) -> Call {
        Call::Continue
    }

    fn now_ms(&self) -> i64 {
        self.now_ms
    }

    fn upstream_healthy(&self, _: u16) -> bool {
        true
    }

    fn split_counter(&mut self, _: u16) -> u64 {
        0
    }

    fn request_body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    fn set_local(&mut self, key: u16, value: Value) {
        match self.locals.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.locals.push((key, value)),
        }
    }

    fn request_header(&self, name: &[u8]) -> Option<&[u8]> {
        let name = std::str::from_utf8(name).ok()?;
        find(&self.headers, name, true).map(str::as_bytes)
    }

    fn request_query(&self, name: &str) -> Value {
        find(&self.query, name, false).map_or(Value::Absent, Value::str)
    }

    fn request_cookie(&self, name: &str) -> Value {
        find(&self.cookies, name, false).map_or(Value::Absent, Value::str)
    }

    fn for_each_request_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        for (n, v) in &self.headers {
            f(n.as_bytes(), v.as_bytes());
        }
    }

    fn request_id(&self) -> &str {
        &self.request_id
    }
}
