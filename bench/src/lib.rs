//! gw-bench: inputs shared by the criterion benches (benches/) — the side-by-side proxy
//! benchmark is `bench/run.sh`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use gw_compiler::Options;
use gw_program::{ConfigImage, Field, Value};
use gw_vm::{Call, Effect, Host};

/// A `.gw` file with `n` routes in the shapes real APIs have: literal resources, `{id}`
/// parameters, nested sub-resources and a few greedy pass-throughs, with a realistic statement
/// mix (header transforms, guards, mocks).
pub fn generate_config(n: usize) -> String {
    let mut s = String::with_capacity(n * 120);
    s.push_str("listen 127.0.0.1:8080\n\nupstream api {\n  server 127.0.0.1:9000\n}\n\n");
    for i in 0..n {
        let svc = i / 10;
        let _ = match i % 10 {
            0 => writeln!(s, "route GET /svc{svc}/items {{\n  upstream api\n}}"),
            1 => writeln!(
                s,
                "route POST /svc{svc}/items {{\n  set header x-svc = \"{svc}\"\n  upstream api\n}}"
            ),
            2 => writeln!(
                s,
                "route GET /svc{svc}/items/{{id}} {{\n  require path.id != \"0\" else 404\n  upstream api\n}}"
            ),
            3 => writeln!(s, "route PUT /svc{svc}/items/{{id}} {{\n  upstream api\n}}"),
            4 => writeln!(
                s,
                "route DELETE /svc{svc}/items/{{id}} {{\n  remove header cookie\n  upstream api\n}}"
            ),
            5 => writeln!(
                s,
                "route GET /svc{svc}/items/{{id}}/tags {{\n  upstream api\n}}"
            ),
            6 => writeln!(
                s,
                "route GET /svc{svc}/items/{{id}}/tags/{{tag}} {{\n  respond 200 json {{ id: path.id, tag: path.tag }}\n}}"
            ),
            7 => writeln!(
                s,
                "route GET /svc{svc}/health {{\n  respond 200 json {{ ok: true }}\n}}"
            ),
            8 => writeln!(
                s,
                "route ANY /svc{svc}/files/{{rest+}} {{\n  upstream api\n}}"
            ),
            _ => writeln!(
                s,
                "route PATCH /svc{svc}/items/{{id}} {{\n  set header x-id = path.id when has(header.x-trace)\n  upstream api\n}}"
            ),
        };
    }
    s
}

/// Request paths that hit routes of [`generate_config`] (spread over the whole table).
pub fn sample_paths(n: usize, count: usize) -> Vec<(&'static str, String)> {
    let services = (n / 10).max(1);
    (0..count)
        .map(|i| {
            let svc = (i * 7919) % services;
            match i % 5 {
                0 => ("GET", format!("/svc{svc}/items")),
                1 => ("GET", format!("/svc{svc}/items/{i}")),
                2 => ("GET", format!("/svc{svc}/items/{i}/tags/blue")),
                3 => ("GET", format!("/svc{svc}/files/a/b/c.txt")),
                _ => ("DELETE", format!("/svc{svc}/items/{i}")),
            }
        })
        .collect()
}

/// The workspace root (the parent of `bench/`), for reading `grammar/examples/*.gw`.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Compile options that read nothing from the process: no `env("X")`, files relative to the
/// workspace root. Benches measure the compiler, not the environment.
pub fn options() -> Options {
    Options {
        available_plugins: None,
        signatures: Vec::new(),
        env: Box::new(|_| None),
        base_dir: workspace_root(),
    }
}

/// Parses and compiles `text` as the file `name`; on error, the rendered diagnostics.
pub fn compile_source(name: &str, text: &str) -> Result<ConfigImage, String> {
    let parsed = gw_syntax::parse_source(name, text);
    let compiled = gw_compiler::compile(&parsed, &options());
    let mut diagnostics = parsed.diagnostics;
    diagnostics.extend(compiled.diagnostics);
    match compiled.image {
        Some(image) if !diagnostics.iter().any(gw_syntax::Diagnostic::is_error) => Ok(image),
        _ => Err(gw_syntax::render_all(&diagnostics, &parsed.sources)),
    }
}

/// The route of the execute bench: a header guard, a header set from a path parameter, a
/// header removal and a forward — what a typical proxied route does per request.
pub const EXEC_CONFIG: &str = "listen 127.0.0.1:8080
upstream u { server 127.0.0.1:9000 }
route GET /x/{id} {
  require header.x-a == \"1\" else 403
  set header x-id = path.id
  set header x-user = header.x-b ?? \"anon\"
  set header x-gw = \"1\"
  remove header cookie
  upstream u
}
";

/// Ops in the request program of [`EXEC_CONFIG`] (a test pins it, so the bench's "10 ops"
/// stays true when the compiler changes).
pub const EXEC_OPS: usize = 10;

/// A request as fixed arrays: the execute bench's [`Host`]. Loads clone prebuilt values
/// (short strings are inline, so nothing allocates); effects are only counted.
#[derive(Debug)]
pub struct FixedHost<'a> {
    /// The running program's constants: header names are constant-pool indices.
    pub consts: &'a [Value],
    /// `(lowercase name, value)`.
    pub headers: &'a [(&'a str, Value)],
    /// Path parameters in pattern order.
    pub params: &'a [Value],
    /// Effects applied since the last [`FixedHost::reset`].
    pub effects: u32,
}

impl<'a> FixedHost<'a> {
    /// A host for a program whose constant pool is `consts`.
    pub fn new(consts: &'a [Value], headers: &'a [(&'a str, Value)], params: &'a [Value]) -> Self {
        FixedHost {
            consts,
            headers,
            params,
            effects: 0,
        }
    }

    /// Forget the effects of the previous run.
    pub fn reset(&mut self) {
        self.effects = 0;
    }

    fn header(&self, k: u16) -> Value {
        let name = self
            .consts
            .get(usize::from(k))
            .and_then(Value::as_str)
            .unwrap_or("");
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Value::Absent, |(_, v)| v.clone())
    }
}

impl Host for FixedHost<'_> {
    fn load(&mut self, field: Field) -> Value {
        match field {
            Field::ReqMethod => Value::str("GET"),
            Field::ReqHost => Value::str("api.example.com"),
            Field::ReqScheme => Value::str("http"),
            Field::PathParam(i) => self.params.get(usize::from(i)).cloned().unwrap_or_default(),
            Field::Header(k) => self.header(k),
            _ => Value::Absent,
        }
    }

    fn apply(&mut self, _effect: Effect<'_>) {
        self.effects += 1;
    }

    fn call(&mut self, _slot: u16, _args: &[Value]) -> Call {
        Call::Continue
    }

    fn now_ms(&self) -> i64 {
        1_700_000_000_000
    }

    fn upstream_healthy(&self, _upstream: u16) -> bool {
        true
    }

    fn split_counter(&mut self, _id: u16) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gw_program::{Lookup, Program};
    use gw_vm::{Exit, Frame};

    fn exec_program() -> (ConfigImage, Program) {
        let image = compile_source("exec.gw", EXEC_CONFIG).unwrap();
        let program = image.routes[0].request.as_ref().clone();
        (image, program)
    }

    #[test]
    fn exec_route_compiles_to_ten_ops() {
        let (image, program) = exec_program();
        println!("{}", gw_program::disasm_image(&image, None));
        assert_eq!(program.ops.len(), EXEC_OPS);
    }

    #[test]
    fn fixed_host_forwards_with_four_header_effects() {
        let (_, program) = exec_program();
        let headers = [("x-a", Value::str("1")), ("cookie", Value::str("s=1"))];
        let params = [Value::str("42")];
        let mut host = FixedHost::new(&program.consts, &headers, &params);
        let mut frame = Frame::new();
        let exit = gw_vm::run(&program, 0, &mut frame, &mut host);
        assert!(
            matches!(exit, Exit::Forward { upstream: 0, .. }),
            "{exit:?}"
        );
        assert_eq!(host.effects, 4);
        host.reset();
        assert_eq!(host.effects, 0);
    }

    #[test]
    fn fixed_host_without_the_header_is_denied() {
        let (_, program) = exec_program();
        let params = [Value::str("42")];
        let mut host = FixedHost::new(&program.consts, &[], &params);
        let exit = gw_vm::run(&program, 0, &mut Frame::new(), &mut host);
        assert!(matches!(exit, Exit::Deny { status: 403, .. }), "{exit:?}");
        assert_eq!(host.effects, 0);
    }

    #[test]
    fn generated_config_compiles_and_routes_every_sample() {
        let n = 1_000;
        let image = compile_source("routes.gw", &generate_config(n)).unwrap();
        assert_eq!(image.routes.len(), n);
        let mut params = Vec::new();
        for (method, path) in sample_paths(n, 200) {
            let got = image
                .router
                .lookup("api.example.com", method, &path, &mut params);
            let Lookup::Found { route } = got else {
                panic!("{method} {path}: {got:?}")
            };
            let plan = &image.routes[route as usize];
            assert!(
                plan.method == method || plan.method == "ANY",
                "{method} {path} -> {}",
                plan.name
            );
        }
    }

    #[test]
    fn compile_errors_are_rendered() {
        let err = compile_source("bad.gw", "route GET /x { upstream nope }\n").unwrap_err();
        assert!(err.contains("bad.gw"), "{err}");
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn petstore_example_parses_without_errors() {
        let path = workspace_root().join("grammar/examples/petstore.gw");
        let text = std::fs::read_to_string(path).unwrap();
        let parsed = gw_syntax::parse_source("petstore.gw", &text);
        assert!(
            !parsed
                .diagnostics
                .iter()
                .any(gw_syntax::Diagnostic::is_error)
        );
        assert!(!parsed.config.items.is_empty());
    }
}

/// A request for the plugin benches: its headers and body, the clock, and the locals a
/// plugin stores, overwritten in place so a benchmark loop never grows them. Denials are not
/// recorded: their cost is the plugin's alone.
#[derive(Debug, Default, Clone)]
pub struct PluginRequest {
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Option<Vec<u8>>,
    pub now_ms: i64,
    pub locals: Vec<Value>,
}

impl PluginRequest {
    /// A request with `locals` empty locals.
    pub fn new(locals: usize) -> PluginRequest {
        PluginRequest {
            locals: vec![Value::Absent; locals],
            ..PluginRequest::default()
        }
    }

    /// With a header.
    pub fn header(mut self, name: &str, value: &[u8]) -> PluginRequest {
        self.headers.push((name.to_owned(), value.to_vec()));
        self
    }
}

impl Host for PluginRequest {
    fn load(&mut self, _: Field) -> Value {
        Value::Absent
    }
    fn apply(&mut self, _: Effect<'_>) {}
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
    fn request_header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
    fn request_body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }
    fn set_local(&mut self, key: u16, value: Value) {
        if let Some(slot) = self.locals.get_mut(usize::from(key)) {
            *slot = value;
        }
    }
}
