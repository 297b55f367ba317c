//! gw-compiler: a parsed `.gw` configuration to a verified [`ConfigImage`].
//!
//! The steps of docs/architecture.md#compiling: resolve declarations (`resolve.rs`,
//! `decls.rs`, `keys.rs`, `authz.rs`, `settings.rs`, `listen.rs`), the scheme of fields
//! (`scheme.rs`, `needs.rs`), the order check (`order.rs`), types and expressions (`types.rs`,
//! `expr.rs`, `ops.rs`, `compare.rs`, `sets.rs`, `calls.rs`, `template.rs`), lowering
//! (`stmt.rs`, `transform.rs`, `auth.rs`, `validate.rs`, `policy.rs`, `target.rs`,
//! `response.rs`), cost (`cost.rs`), verification (`verify.rs`), the router and its lints
//! (`routes.rs`, `guards.rs`) and assembly (`image.rs`, `specs.rs`). Every error of a file is
//! reported, not only the first, in source order; the image is `None` when there is any error.
//!
//! # Diagnostic codes
//!
//! | code | meaning |
//! | --- | --- |
//! | E0103 | bad literal: a duration written `1m` where a size is expected (`1MiB` or `1min`) |
//! | E0201 | unknown name: field, claim, function, type, setting, upstream, jwt, policy, schema… (did-you-mean) |
//! | E0202 | duplicate declaration, claim, var, setting or route setting ("first defined here") |
//! | E0203 | undeclared claim or authorizer context field (E0201 instead when it looks like a typo) |
//! | W0204 | unused declaration (upstream, jwt, api_keys, authorizer, plan, schema, policy, var) |
//! | E0301 | mismatched types (`query.limit > "10"`, a list where one value is expected, arity) |
//! | E0302 | optional value used where a value is required, without `??` or a `has()` guard |
//! | E0303 | invalid regex, regex over the size limit, or a non-literal pattern |
//! | E0304 | invalid or out-of-range value (`burst 0`, `weight 0%`, authorizer `ttl` > 3600s, status, port 0, a missing required setting, a non-constant setting, a TLS option on a server without `tls`, `verify off` with a `ca`, an `ocsp` without its `cert … key …`) |
//! | E0401 | overlapping routes (same method, host and pattern modulo parameter names) |
//! | E0402 | invalid pattern: `{x+}` not last, duplicate parameter, empty segment, `{a}{b}` |
//! | E0403 | `path.NAME` with no `{NAME}` in the pattern |
//! | E0501 | field not available yet (`claim.*` before `auth jwt`), labelled with the later producer |
//! | E0502 | field or statement never available here (`resp.*` in the request, `body.*` on a websocket route, `set status` outside `on response`) |
//! | E0503 | `cache` before an `auth`/`require`, or a cache on a jwt/authorizer route whose key has no identity |
//! | E0504 | `throttle plan` without `auth api_key`; a plan in a keys file that is not declared |
//! | E0505 | no target; a statement after the target; a guard where none is allowed; a `canary` without an unguarded `upstream` |
//! | E0506 | unreachable target after an unguarded `upstream`/`respond` |
//! | E0507 | `auth` twice in one route (use `auth any(a, b)`) |
//! | E0601 | program cost over the route's budget, with the costliest statements |
//! | E0602 | program over 4096 ops or 250 registers, or a template over 64 KiB |
//! | E0701 | missing, unreadable or invalid file (cert, key, keys file, JWKS, schema, set) |
//! | E0702 | address conflicts (a port both TLS and plain, a port bound twice, admin on a listener) |
//! | E0703 | a policy that uses itself |
//! | E0801 | a policy this build does not serve (`Options::available_plugins`) |
//! | E0999 | internal: a compiled program failed verification (a compiler bug) |
//! | W0101 | `contains` on `claim.scope` (substring match; use `in auth.scopes`) |
//! | W0102 | a `client.ip` throttle after `auth` (move it up to shed load early) |
//! | W0103 | authorizer `on_error allow` (fail-open) |
//! | W0104 | `{rest+}` route with no route for its bare prefix (`/{proxy+}`: W0107) |
//! | W0105 | `/x/` route with no `/x` route (the reverse is not linted) |
//! | W0106 | a guarded route's bare prefix or other methods served by a broader route without its guards |
//! | W0107 | `/{proxy+}` (any method) while `/` on its host matches no route |
//! | W0108 | `verify off` on a TLS upstream server (any certificate accepted) |
//!
//! # Decisions
//!
//! - Claims are `T?` (`sub` included); context fields are `T` as declared (`T?` under
//!   `auth any`). Comparisons, `??`, `has()`, JSON templates and key expressions (`by`,
//!   `hash by`, `sticky by`, cache keys) accept `T?`; `set header` to an absent value sets
//!   nothing. Arithmetic, functions, conditions and string interpolation need a value, and so
//!   does a header or query edit to a constant: `var.X` from `env("X")` without `??` is
//!   `string?` (E0302) whether or not `X` is set where the compiler runs.
//! - E0503's identity rule applies to `jwt` and `authorizer` routes: their cache key or `vary`
//!   must read a claim, `auth.*` or `header.authorization`. API-key routes may share entries
//!   (partner-level data, as managed gateways cache per method).
//! - `cost` is gw-program's table (the verifier recomputes it); E0601 also charges string
//!   work on `body.*` values at their real bound (`maxLength` × 4 bytes, else the body limit).
//! - `auth`, `validate`, `buffer body`, `cache`, `use`, `canary` and settings take no `when`.
//! - `respond … headers { }` emits `resp.hdr.set` just before `respond` in the request
//!   program (the runtime keeps response-header edits for its own responses).
//! - Route names: `GET /pets/{id}`, or `GET api.example.com/pets/{id}` in a `host` block.
//! - `hash_seed` is FNV-1a of the root file's path: stable across reloads of that file.
//!
//! # Plugin specs
//!
//! Each policy use is an `Op::Call { slot, arg, argc }` with `ConfigImage::plugins[slot]`:
//! `jwt`, `api_key`, `authorizer` (one slot per declaration, `state_key` = its name; the
//! authorizer's identity value is the call argument), `auth.any` (`members` = slots,
//! `argc` = how many of the call's arguments each member takes, in order, `kinds` = each
//! member's plugin; the identities of authorizer members are the arguments), `throttle` (`rate`, `burst`, `key`;
//! the key value is the call argument; `state_key` = the `name ID` or `ROUTE#ordinal`),
//! `throttle.plan` (`plan.NAME` = `[rate, burst, quota, period]`, `keys` = `[[id, plan]…]` of
//! every `api_keys` file, `usage_file` = where quota counters persist; arguments `key.id`,
//! `key.plan`), `cache` (`ttl`, `keys`, `vary`, `max_entry`; arguments `["lookup"|"store",
//! key…, vary…]`, the store call is in the response program; `state_key` = route and a hash of
//! the key spec), `validate.params` (`params` = `[[field, type, min, max, default, local,
//! required, one_of, pattern]…]`, arguments the raw values), `validate.body` (`schema`, `file`, `json`), `cors`
//! (one spec, called at the end of every response program of a route with CORS).
//! A plugin that produces fields gets `out.NAME = [local id, "type"]` args (`out.claim.sub`,
//! `out.key.id`, `out.auth.ctx.user`, `out.body./name`): it stores each value with
//! `Host::set_local(id, …)`; `Program::locals` lists every local of the image in every program.
//! Authorizer context defaults are `default.auth.ctx.NAME` args. A `jwt` spec holds its
//! declaration's settings (`issuer`, `audience`, `jwks` text and `jwks_file`, `jwks_url` and
//! `refresh`, `key_pem` and `key_file`, `secret`, `algorithms`, `leeway`, `cache`,
//! `cache_ttl`, `token_header` | `token_query` | `token_cookie`) and `claims` =
//! `[[name, type, default?]…]`.

mod args;
mod auth;
mod authz;
mod calls;
mod cascade;
mod compare;
mod consts;
mod cost;
mod ctx;
mod decls;
mod emit;
mod expr;
mod files;
mod guards;
mod image;
mod keys;
mod listen;
mod lits;
mod lower;
mod needs;
mod observe;
mod ops;
mod order;
mod policy;
mod resolve;
mod response;
mod route;
mod routes;
mod scheme;
mod sets;
mod settings;
mod specs;
mod stmt;
mod target;
mod template;
mod transform;
mod types;
mod validate;
mod verify;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use gw_program::ConfigImage;
use gw_syntax::ast::Config;
use gw_syntax::{Diagnostic, SourceMap};

/// How to compile.
pub struct Options {
    /// Names of plugins the caller can serve; None = accept every plugin (the language
    /// itself: golden tests, formatting, disasm). `gw check` and `gw run` pass their build's.
    pub available_plugins: Option<Vec<String>>,
    /// The signatures of the plugins that will serve the config: each compiled use of one is
    /// checked against it (E0999 when they disagree). Empty: nothing to check against.
    pub signatures: Vec<gw_plugin::Signature>,
    /// Environment lookup for env("X") (tests inject a map).
    #[allow(clippy::type_complexity)]
    pub env: Box<dyn Fn(&str) -> Option<String>>,
    /// Base directory for relative files when a file has no path (parse_source).
    pub base_dir: PathBuf,
}

impl Default for Options {
    /// Every plugin, the process environment, the current directory.
    fn default() -> Self {
        Options {
            available_plugins: None,
            signatures: Vec::new(),
            env: Box::new(|k| std::env::var(k).ok()),
            base_dir: PathBuf::from("."),
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("available_plugins", &self.available_plugins)
            .field("base_dir", &self.base_dir)
            .finish_non_exhaustive()
    }
}

/// The result of a compilation: the image when there is no error, and every diagnostic.
#[derive(Debug)]
pub struct Compiled {
    pub image: Option<ConfigImage>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Compiles a parsed configuration. A file with syntax errors is not compiled (its AST is
/// partial): the result has no image and no further diagnostics.
pub fn compile(parsed: &gw_syntax::Parsed, opts: &Options) -> Compiled {
    if parsed.diagnostics.iter().any(Diagnostic::is_error) {
        return Compiled {
            image: None,
            diagnostics: Vec::new(),
        };
    }
    compile_config(&parsed.config, &parsed.sources, opts)
}

/// Compiles an AST whose spans point into `sources`.
pub fn compile_config(config: &Config, sources: &SourceMap, opts: &Options) -> Compiled {
    image::build(config, sources, opts)
}

/// Fuzzing entry point (`fuzz/fuzz_targets/parse_compile.rs`): parse arbitrary bytes, compile
/// them with options that read no environment, render every diagnostic and disassemble the
/// image. Relative file names resolve under a directory that does not exist, so the result
/// does not depend on where the fuzzer runs. Must never panic.
pub fn fuzz_compile(data: &[u8]) {
    let parsed = gw_syntax::parse_bytes("fuzz.gw", data);
    let opts = Options {
        available_plugins: None,
        signatures: Vec::new(),
        env: Box::new(|_| None),
        base_dir: PathBuf::from("/nonexistent/gw-fuzz"),
    };
    let compiled = compile(&parsed, &opts);
    let _ = gw_syntax::render_all(&parsed.diagnostics, &parsed.sources);
    let _ = gw_syntax::render_all(&compiled.diagnostics, &parsed.sources);
    if let Some(image) = &compiled.image {
        let _ = gw_program::disasm_image(image, None);
    }
}
