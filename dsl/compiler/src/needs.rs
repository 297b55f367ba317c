//! Fields produced by earlier statements: claims, authorizer context and the request body,
//! typed from their declarations, and the order check of their reads (E0501, E0502).

use gw_program::Field;
use gw_syntax::Diagnostic;
use gw_syntax::ast::Expr;

use crate::decls::REGISTERED_CLAIMS;
use crate::lower::{BodyState, Lower, Need, Phase};
use crate::scheme::{Seg, Src, pointer};
use crate::types::Ty;

impl<'g, 'a> Lower<'g, 'a> {
    /// Checks a need; E0501 (with the later producing statement) when it is not met yet.
    pub(crate) fn need(&mut self, e: &Expr, need: Need) -> Option<()> {
        let f = &self.sc.facts;
        let met = match need {
            Need::Claims => !f.jwts.is_empty(),
            Need::Key => f.key,
            Need::Ctx => !f.authzs.is_empty(),
            Need::Body => f.body != BodyState::None,
        };
        if met {
            return Some(());
        }
        if need == Need::Body && self.sc.websocket {
            self.emit(
                Diagnostic::error(
                    "E0502",
                    e.span,
                    "`body.*` is never available on a websocket route",
                )
                .with_label("frames are relayed, not buffered"),
            );
            return None;
        }
        crate::order::not_yet(self, e, need);
        None
    }

    pub(crate) fn claim(&mut self, e: &Expr, n: &str) -> Option<(Src, Ty)> {
        let mut jwts = self.sc.facts.jwts.clone();
        if jwts.is_empty() {
            jwts = self
                .sc
                .producers
                .claims
                .as_ref()
                .map(|(_, j)| j.clone())
                .unwrap_or_default();
            self.need(e, Need::Claims)?;
        }
        if let Some((_, t)) = REGISTERED_CLAIMS.iter().find(|(c, _)| *c == n) {
            return Some((Src::Local(format!("claim.{n}")), t.clone().opt()));
        }
        for j in &jwts {
            if let Some(c) = self
                .g
                .syms
                .jwts
                .get(*j)
                .and_then(|d| d.value.claims.iter().find(|c| c.name == n))
            {
                return Some((Src::Local(format!("claim.{n}")), c.ty.clone().opt()));
            }
        }
        crate::order::unknown_claim(self, e, n, &jwts);
        None
    }

    pub(crate) fn ctx_field(&mut self, e: &Expr, n: &str) -> Option<(Src, Ty)> {
        let mut authzs = self.sc.facts.authzs.clone();
        if authzs.is_empty() {
            authzs = self
                .sc
                .producers
                .ctx
                .as_ref()
                .map(|(_, a)| a.clone())
                .unwrap_or_default();
            self.need(e, Need::Ctx)?;
        }
        for a in &authzs {
            if let Some(c) = self
                .g
                .syms
                .authorizers
                .get(*a)
                .and_then(|d| d.value.context.iter().find(|c| c.name == n))
            {
                let ty = if self.sc.facts.any {
                    c.ty.clone().opt()
                } else {
                    c.ty.clone()
                };
                return Some((Src::Local(format!("auth.ctx.{n}")), ty));
            }
        }
        crate::order::unknown_ctx(self, e, n, &authzs);
        None
    }

    pub(crate) fn body(&mut self, e: &Expr, segs: &[Seg<'_>]) -> Option<(Src, Ty, usize, String)> {
        if self.sc.phase == Phase::Error {
            self.phase_only(e, Phase::Request, "requests");
            return None;
        }
        self.need(e, Need::Body)?;
        let texts: Vec<String> = segs.iter().map_while(Seg::text).collect();
        let key = format!("body.{}", texts.join("."));
        match self.sc.facts.body {
            BodyState::Schema(id) => {
                let (ty, used, max) = crate::order::schema_path(self, e, id, &texts)?;
                let ptr = pointer(texts.get(..used).unwrap_or(&[]));
                let bound = max.map_or(self.sc.body_bound, |m| m.saturating_mul(4));
                self.sc.pending_bound =
                    Some((bound, format!("{key} ≤ {}", crate::cost::fmt_size(bound))));
                self.g.body_reads.push((id, ptr.clone(), ty.clone()));
                Some((Src::Local(format!("body.{ptr}")), ty, used, key))
            }
            _ => {
                let bound = self.sc.body_bound;
                self.sc.pending_bound =
                    Some((bound, format!("{key} ≤ {}", crate::cost::fmt_size(bound))));
                let k = self.name_const(&pointer(&texts));
                Some((Src::Field(Field::Body(k)), Ty::Json.opt(), texts.len(), key))
            }
        }
    }
}
