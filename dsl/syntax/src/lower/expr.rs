//! Expressions: a Pratt parser over pest's flat `prefix* operand (infix prefix* operand)*`.
//!
//! Precedence, high to low: postfix (`.x`, `[e]`, in the operand) · `!` unary `-` · `* / %` ·
//! `+ -` · comparisons (`== != < <= > >= in contains starts_with ends_with matches ~=`) · `&&`
//! · `||` · `??` · `c ? a : b`. `??` and `?:` associate to the right, the rest to the left.
//! Trees deeper than [`MAX_EXPR_DEPTH`] are cut (E0106) so that no later recursive walk over
//! the AST (lowering, formatting, compiling, dropping) can exhaust the stack.

use std::iter::Peekable;

use super::{Lower, P, child, children};
use crate::ast::{BinOp, Expr, ExprKind, Lit, LitValue, UnOp};
use crate::diag::Diagnostic;
use crate::grammar::Rule;
use crate::span::Span;

/// Deepest expression tree accepted (brackets nest at most 64 deep; a list or call inside them
/// adds a level, so the tree may be deeper than the brackets).
pub const MAX_EXPR_DEPTH: u32 = 128;
/// Most operators in one flat operator sequence.
pub const MAX_OPERATORS: usize = 256;

enum Tok<'i> {
    Prefix(UnOp, Span),
    Operand(P<'i>),
    /// A binary operator, or a ternary whose middle expression is the pair.
    Infix(Infix, Option<P<'i>>),
}

#[derive(Clone, Copy)]
enum Infix {
    Bin(BinOp),
    Ternary,
}

const PREFIX_BP: u8 = 16;

/// (left, right) binding powers.
fn binding(op: Infix) -> (u8, u8) {
    let level = |lvl: u8, right: bool| {
        if right {
            (2 * lvl + 1, 2 * lvl)
        } else {
            (2 * lvl, 2 * lvl + 1)
        }
    };
    match op {
        Infix::Ternary => level(1, true),
        Infix::Bin(BinOp::Coalesce) => level(2, true),
        Infix::Bin(BinOp::Or) => level(3, false),
        Infix::Bin(BinOp::And) => level(4, false),
        Infix::Bin(BinOp::Add | BinOp::Sub) => level(6, false),
        Infix::Bin(BinOp::Mul | BinOp::Div | BinOp::Rem) => level(7, false),
        Infix::Bin(_) => level(5, false),
    }
}

fn bin_op(text: &str) -> Option<BinOp> {
    Some(match text {
        "??" => BinOp::Coalesce,
        "||" => BinOp::Or,
        "&&" => BinOp::And,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "<=" => BinOp::Le,
        ">=" => BinOp::Ge,
        "<" => BinOp::Lt,
        ">" => BinOp::Gt,
        "~=" => BinOp::IEq,
        "in" => BinOp::In,
        "contains" => BinOp::Contains,
        "starts_with" => BinOp::StartsWith,
        "ends_with" => BinOp::EndsWith,
        "matches" => BinOp::Matches,
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Rem,
        _ => return None,
    })
}

type Node = (Expr, u32);

impl Lower<'_> {
    /// Lowers an `expr` or `expr_nl` pair.
    pub(crate) fn expr(&mut self, p: &P<'_>) -> Expr {
        self.depth_reported = false;
        self.expr_d(p).0
    }

    fn placeholder(span: Span) -> Node {
        (
            Expr {
                kind: ExprKind::Lit(Lit {
                    value: LitValue::Bool(false),
                    span,
                }),
                span,
            },
            1,
        )
    }

    fn too_deep(&mut self, span: Span, what: String) {
        if !self.depth_reported {
            self.depth_reported = true;
            let d = Diagnostic::error("E0106", span, "expression is nested too deeply")
                .with_label(what)
                .with_help("split the expression, or use `in [..]` instead of long `||` chains");
            self.error(d);
        }
    }

    /// Wraps a new node, cutting the tree (E0106) when it gets too deep.
    fn node(&mut self, kind: ExprKind, span: Span, depth: u32) -> Node {
        if depth > MAX_EXPR_DEPTH {
            self.too_deep(
                span,
                format!("more than {MAX_EXPR_DEPTH} levels of operators"),
            );
            return Self::placeholder(span);
        }
        (Expr { kind, span }, depth)
    }

    pub(super) fn expr_d(&mut self, p: &P<'_>) -> Node {
        let span = self.span(p);
        let mut toks = Vec::new();
        for c in p.clone().into_inner() {
            let s = self.span(&c);
            let tok = match c.as_rule() {
                Rule::operand => Tok::Operand(c),
                Rule::op_prefix if c.as_str() == "!" => Tok::Prefix(UnOp::Not, s),
                Rule::op_prefix => Tok::Prefix(UnOp::Neg, s),
                Rule::op_ternary | Rule::op_ternary_nl => {
                    let mid = c
                        .clone()
                        .into_inner()
                        .find(|m| matches!(m.as_rule(), Rule::expr | Rule::expr_nl));
                    Tok::Infix(Infix::Ternary, mid)
                }
                Rule::op_bin => match bin_op(c.as_str()) {
                    Some(op) => Tok::Infix(Infix::Bin(op), None),
                    None => continue,
                },
                _ => continue,
            };
            toks.push(tok);
        }
        if toks.len() > 2 * MAX_OPERATORS + 1 {
            self.too_deep(
                span,
                format!("more than {MAX_OPERATORS} operators in one expression"),
            );
            return Self::placeholder(span);
        }
        let mut it = toks.into_iter().peekable();
        self.pratt(&mut it, 0, span)
    }

    fn pratt<'i, I: Iterator<Item = Tok<'i>>>(
        &mut self,
        toks: &mut Peekable<I>,
        min_bp: u8,
        whole: Span,
    ) -> Node {
        let (mut lhs, mut depth) = match toks.next() {
            Some(Tok::Operand(p)) => self.operand(&p),
            Some(Tok::Prefix(op, s)) => {
                let (rhs, d) = self.pratt(toks, PREFIX_BP, whole);
                let span = s.to(rhs.span);
                self.node(ExprKind::Unary(op, Box::new(rhs)), span, d + 1)
            }
            // The grammar never starts an expression with an infix operator.
            _ => Self::placeholder(whole),
        };
        while let Some(Tok::Infix(op, _)) = toks.peek() {
            let op = *op;
            let (l_bp, r_bp) = binding(op);
            if l_bp < min_bp {
                break;
            }
            let Some(Tok::Infix(_, mid)) = toks.next() else {
                break;
            };
            let mid = mid.map(|m| self.expr_d(&m));
            let (rhs, rd) = self.pratt(toks, r_bp, whole);
            let span = lhs.span.to(rhs.span);
            (lhs, depth) = match (op, mid) {
                (Infix::Ternary, Some((m, md))) => {
                    let d = depth.max(md).max(rd) + 1;
                    self.node(
                        ExprKind::Ternary(Box::new(lhs), Box::new(m), Box::new(rhs)),
                        span,
                        d,
                    )
                }
                (Infix::Bin(b), _) => self.node(
                    ExprKind::Binary(b, Box::new(lhs), Box::new(rhs)),
                    span,
                    depth.max(rd) + 1,
                ),
                (Infix::Ternary, None) => Self::placeholder(span),
            };
        }
        (lhs, depth)
    }

    /// A primary followed by `.name` and `[index]` postfixes.
    pub(crate) fn operand(&mut self, p: &P<'_>) -> Node {
        let mut parts = p.clone().into_inner();
        let Some(first) = parts.next() else {
            return Self::placeholder(self.span(p));
        };
        let (mut base, mut depth) = self.primary(&first);
        for post in parts {
            let span = base.span.to(self.span(&post));
            (base, depth) = match post.as_rule() {
                Rule::member => match child(&post, Rule::name_seg) {
                    Some(n) => {
                        let name = self.ident(&n);
                        self.node(ExprKind::Member(Box::new(base), name), span, depth + 1)
                    }
                    None => (base, depth),
                },
                Rule::index => match post
                    .clone()
                    .into_inner()
                    .find(|c| c.as_rule() == Rule::expr_nl)
                {
                    Some(i) => {
                        let (idx, id) = self.expr_d(&i);
                        self.node(
                            ExprKind::Index(Box::new(base), Box::new(idx)),
                            span,
                            depth.max(id) + 1,
                        )
                    }
                    None => (base, depth),
                },
                _ => (base, depth),
            };
        }
        (base, depth)
    }

    fn primary(&mut self, p: &P<'_>) -> Node {
        let span = self.span(p);
        match p.as_rule() {
            Rule::paren => match child(p, Rule::expr_nl) {
                Some(e) => self.expr_d(&e),
                None => Self::placeholder(span),
            },
            Rule::list => {
                let (items, depth) = self.expr_list(p);
                self.node(ExprKind::List(items), span, depth + 1)
            }
            Rule::call => {
                let func =
                    self.child_ident(p, Rule::call_name)
                        .unwrap_or_else(|| crate::ast::Ident {
                            name: String::new(),
                            span,
                        });
                let (args, depth) = self.expr_list(p);
                self.node(ExprKind::Call { func, args }, span, depth + 1)
            }
            Rule::string | Rule::raw_string => {
                let (s, depth) = self.string_d(p);
                self.node(ExprKind::Str(s), span, depth + 1)
            }
            Rule::name => (
                Expr {
                    kind: ExprKind::Name(self.ident(p)),
                    span,
                },
                1,
            ),
            _ => {
                let lit = self.num_lit(p);
                (
                    Expr {
                        kind: ExprKind::Lit(lit),
                        span,
                    },
                    1,
                )
            }
        }
    }

    /// The `expr_nl` children of a list or call, with the deepest one's depth.
    fn expr_list(&mut self, p: &P<'_>) -> (Vec<Expr>, u32) {
        let mut depth = 0;
        let items = children(p, Rule::expr_nl)
            .map(|e| {
                let (x, d) = self.expr_d(&e);
                depth = depth.max(d);
                x
            })
            .collect();
        (items, depth)
    }
}
