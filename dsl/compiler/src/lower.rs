//! The state shared while lowering: the image-wide [`Global`] (symbols, locals, plugin specs)
//! and the per-program [`Lower`] (builder and [`Scope`]: phase, facts, narrowing).

use gw_program::{Field, PluginSpec, Reg, Upstream, Value};
use gw_syntax::ast::Stmt;
use gw_syntax::{Diagnostic, Span};

use crate::authz::AuthzDecl;
use crate::consts::Vars;
use crate::ctx::Ctx;
use crate::decls::JwtDecl;
use crate::emit::Builder;
use crate::files::SchemaTy;
use crate::keys::{ApiKeysDecl, PlanDecl};
use crate::resolve::Table;
use crate::types::Ty;

/// `schema NAME = file "…"`, read.
#[derive(Debug)]
pub(crate) struct SchemaDecl {
    pub path: String,
    pub text: String,
    pub shape: SchemaTy,
}

/// Every declaration, checked.
pub(crate) struct Syms<'a> {
    pub vars: Vars,
    pub upstreams: Table<Upstream>,
    pub jwts: Table<JwtDecl>,
    pub api_keys: Table<ApiKeysDecl>,
    pub authorizers: Table<AuthzDecl<'a>>,
    pub plans: Table<PlanDecl>,
    pub schemas: Table<SchemaDecl>,
    pub policies: Table<&'a [Stmt]>,
    pub cors: Option<Vec<(String, Value)>>,
    pub defaults: Option<&'a [Stmt]>,
}

/// Values plugins produce (`claim.sub`, `key.id`, …), numbered image-wide so every program and
/// every plugin spec agrees on `Field::Local` ids.
#[derive(Debug, Default)]
pub(crate) struct Locals {
    pub names: Vec<String>,
    index: ahash::AHashMap<String, u16>,
}

impl Locals {
    pub(crate) fn id(&mut self, name: &str) -> u16 {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        let id = u16::try_from(self.names.len()).unwrap_or(u16::MAX);
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), id);
        id
    }

    /// The id of a local, if any program reads it.
    pub(crate) fn find(&self, name: &str) -> Option<u16> {
        self.index.get(name).copied()
    }
}

/// A plugin spec and the statement that uses it (for E0801).
#[derive(Debug)]
pub(crate) struct SlotUse {
    pub spec: PluginSpec,
    pub span: Span,
}

/// Image-wide state.
pub(crate) struct Global<'a> {
    pub cx: Ctx<'a>,
    pub syms: Syms<'a>,
    pub locals: Locals,
    pub slots: Vec<SlotUse>,
    /// Canary splits so far (their ids are dense across the image).
    pub canaries: u16,
    /// JSON pointers read per schema (`body./name`), for the `validate.body` specs.
    pub body_reads: Vec<(u16, String, Ty)>,
    /// `limits { body }`: the largest request body, bounding `body.*` strings.
    pub body_limit: u64,
    /// Where `throttle plan` keeps its quota counters (`limits { usage_file }`).
    pub usage_file: String,
}

impl Global<'_> {
    /// Adds a plugin use; returns its slot.
    pub(crate) fn slot(&mut self, spec: PluginSpec, span: Span) -> u16 {
        self.slots.push(SlotUse { spec, span });
        u16::try_from(self.slots.len() - 1).unwrap_or(u16::MAX)
    }

    /// The slot of a declaration-wide plugin (`jwt users`), created on first use.
    pub(crate) fn decl_slot(
        &mut self,
        plugin: &str,
        state_key: &str,
        span: Span,
        args: impl FnOnce() -> Vec<(String, Value)>,
    ) -> u16 {
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.spec.plugin == plugin && s.spec.state_key == state_key)
        {
            return u16::try_from(i).unwrap_or(u16::MAX);
        }
        let origin = self.cx.origin_text(span);
        self.slot(
            PluginSpec {
                plugin: plugin.into(),
                state_key: state_key.into(),
                args: args(),
                origin,
            },
            span,
        )
    }
}

/// Which program is being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Request,
    Response,
    Error,
}

/// What an earlier statement must have established before a field can be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    Claims,
    Key,
    Ctx,
    Body,
}

/// The request body as the statements so far made it readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyState {
    None,
    /// `buffer body`: `body.*` is `json?`.
    Json,
    /// `validate body SCHEMA`: `body.*` typed from the schema.
    Schema(u16),
}

/// Facts established by the statements lowered so far (the order check,
/// docs/architecture.md#compiling).
#[derive(Clone, Debug)]
pub(crate) struct Facts {
    /// The `auth` statement of the route, once lowered.
    pub auth: Option<Span>,
    pub jwts: Vec<u16>,
    pub key: bool,
    pub authzs: Vec<u16>,
    /// `auth any(…)`: member-produced fields may be absent.
    pub any: bool,
    pub body: BodyState,
    /// `cache` statements so far (E0503 when an auth or require follows).
    pub caches: Vec<Span>,
}

impl Facts {
    pub(crate) fn new() -> Self {
        Facts {
            auth: None,
            jwts: Vec::new(),
            key: false,
            authzs: Vec::new(),
            any: false,
            body: BodyState::None,
            caches: Vec::new(),
        }
    }
}

/// The statement that will establish a need later in the route, for E0501's second label.
#[derive(Clone, Debug, Default)]
pub(crate) struct Producers {
    pub claims: Option<(Span, Vec<u16>)>,
    pub key: Option<Span>,
    pub ctx: Option<(Span, Vec<u16>)>,
    pub body: Option<(Span, Option<u16>)>,
}

/// A field retyped by `validate params`: reads go to the plugin's local.
#[derive(Clone, Debug)]
pub(crate) struct Retyped {
    pub key: String,
    pub ty: Ty,
    pub local: u16,
}

/// Per-program context of expressions.
pub(crate) struct Scope {
    pub phase: Phase,
    /// `GET /pets/{id}` (with host).
    pub route: String,
    pub params: Vec<String>,
    /// The name of the pattern's greedy `{name+}`, if it ends with one.
    pub greedy: Option<String>,
    pub websocket: bool,
    pub facts: Facts,
    pub producers: Producers,
    /// Field keys (`resp.json.id`) narrowed to non-optional by `has(x)` in the current guard.
    pub narrowed: Vec<String>,
    pub retyped: Vec<Retyped>,
    /// Keyword of the statement being lowered (`throttle`), for help texts.
    pub stmt_kw: &'static str,
    /// Span of the statement being lowered.
    pub stmt_span: Span,
    /// `var.*` only: no fields, no ops (vars and settings).
    pub const_only: bool,
    /// Throttles so far (their ordinal names unnamed buckets).
    pub throttles: u32,
    /// `resp.json.*` was read: the route buffers upstream responses.
    pub reads_resp_json: bool,
    /// Largest request body this route reads (`buffer body`, or the global limit).
    pub body_bound: u64,
    /// Registers holding strings longer than the cost table's bound, with a description
    /// (`body.text ≤ 1 MiB`), for the input-aware part of E0601. Reset per statement.
    pub bounds: Vec<(gw_program::Reg, u64, String)>,
    /// Set by a field resolution whose value has such a bound, for the register it loads.
    pub pending_bound: Option<(u64, String)>,
}

impl Scope {
    pub(crate) fn new(phase: Phase, route: String) -> Self {
        Scope {
            phase,
            route,
            params: Vec::new(),
            greedy: None,
            websocket: false,
            facts: Facts::new(),
            producers: Producers::default(),
            narrowed: Vec::new(),
            retyped: Vec::new(),
            stmt_kw: "",
            stmt_span: Span::default(),
            const_only: false,
            throttles: 0,
            reads_resp_json: false,
            body_bound: gw_program::Limits::default().body,
            bounds: Vec::new(),
            pending_bound: None,
        }
    }
}

/// Building one program.
pub(crate) struct Lower<'g, 'a> {
    pub g: &'g mut Global<'a>,
    pub b: Builder<'a>,
    pub sc: Scope,
}

/// An operand: a folded constant or a register.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Opnd {
    K(Value),
    R(Reg),
}

/// A typed expression result.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Val {
    pub ty: Ty,
    pub o: Opnd,
}

impl Val {
    pub(crate) fn k(v: Value, ty: Ty) -> Val {
        Val { ty, o: Opnd::K(v) }
    }

    pub(crate) fn err() -> Val {
        Val {
            ty: Ty::Err,
            o: Opnd::K(Value::Absent),
        }
    }

    pub(crate) fn konst(&self) -> Option<&Value> {
        match &self.o {
            Opnd::K(v) => Some(v),
            Opnd::R(_) => None,
        }
    }
}

impl<'g, 'a> Lower<'g, 'a> {
    pub(crate) fn emit(&mut self, d: Diagnostic) {
        self.g.cx.emit(d);
    }

    /// Puts a value in a register (loading a constant if needed).
    pub(crate) fn reg_of(&mut self, v: &Val, span: Span) -> Reg {
        match &v.o {
            Opnd::R(r) => *r,
            Opnd::K(k) => {
                let dst = self.b.reg();
                let k = self.b.konst(k.clone());
                self.b.op(gw_program::Op::LdConst { dst, k }, span);
                dst
            }
        }
    }

    /// Loads a field into a fresh register.
    pub(crate) fn load(&mut self, field: Field, span: Span) -> Reg {
        let dst = self.b.reg();
        self.b.op(gw_program::Op::LdField { dst, field }, span);
        dst
    }

    /// Makes `regs` consecutive for a call's argument window: returns the first register, moving
    /// the values into a fresh block only when they are not already adjacent.
    pub(crate) fn window(&mut self, regs: &[Reg], span: Span) -> Reg {
        let Some(&first) = regs.first() else { return 0 };
        let adjacent = regs
            .iter()
            .enumerate()
            .all(|(i, r)| usize::from(*r) == usize::from(first) + i);
        if adjacent {
            return first;
        }
        let n = u8::try_from(regs.len()).unwrap_or(u8::MAX);
        let base = self.b.regs(n);
        for (i, r) in regs.iter().enumerate() {
            let dst = base.saturating_add(u8::try_from(i).unwrap_or(0));
            self.b.op(gw_program::Op::Mov { dst, src: *r }, span);
        }
        base
    }

    /// A constant-pool index holding a string (names, pointers).
    pub(crate) fn name_const(&mut self, s: &str) -> u16 {
        self.b.konst(Value::str(s))
    }
}
