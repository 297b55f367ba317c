//! Reading declaration bodies (`Vec<Setting>`) by keyword.
//!
//! The parser keeps a body line as a keyword plus loose arguments, so `cert "a" key "b"` may
//! arrive as one setting or two. [`entries`] splits a setting's arguments at every word that is
//! itself a keyword of the block, and [`Cursor`] reads the arguments of one entry.

use gw_syntax::ast::{Addr, Arg, Expr, ExprKind, FieldDecl, Ident, Lit, Setting, StrLit};
use gw_syntax::{Diagnostic, Span};

use crate::ctx::Ctx;

/// One keyword of a body with its arguments.
#[derive(Clone, Debug)]
pub(crate) struct Entry<'a> {
    pub name: &'a Ident,
    pub args: &'a [Arg],
    pub span: Span,
}

/// A word argument: `Arg::Word` or a bare name written as an expression.
pub(crate) fn word_of(arg: &Arg) -> Option<&Ident> {
    match arg {
        Arg::Word(w) => Some(w),
        Arg::Expr(Expr {
            kind: ExprKind::Name(w),
            ..
        }) => Some(w),
        _ => None,
    }
}

pub(crate) fn arg_span(arg: &Arg) -> Span {
    match arg {
        Arg::Word(w) => w.span,
        Arg::Expr(e) => e.span,
        Arg::Addr(a) => a.span,
        Arg::Path(p) => p.span,
        Arg::Block(b) => b.first().map(|s| s.span).unwrap_or_default(),
        Arg::Fields(f) => f.first().map(|s| s.span).unwrap_or_default(),
        Arg::On(ws) => match (ws.first(), ws.last()) {
            (Some(a), Some(b)) => a.span.to(b.span),
            _ => Span::default(),
        },
    }
}

/// Splits every setting at words that are keywords of the block. Unknown keywords are
/// reported (E0201, with did-you-mean) and dropped.
pub(crate) fn entries<'a>(
    cx: &mut Ctx<'_>,
    what: &str,
    settings: &'a [Setting],
    keywords: &[&str],
) -> Vec<Entry<'a>> {
    let mut out = Vec::new();
    for s in settings {
        let mut name = &s.name;
        let mut start = 0;
        for (i, a) in s.args.iter().enumerate() {
            if let Some(w) = word_of(a)
                && keywords.contains(&w.name.as_str())
            {
                push(&mut out, name, s.args.get(start..i).unwrap_or(&[]), s.span);
                name = w;
                start = i + 1;
            }
        }
        push(&mut out, name, s.args.get(start..).unwrap_or(&[]), s.span);
    }
    out.retain(|e| {
        if keywords.contains(&e.name.name.as_str()) {
            return true;
        }
        let mut d = Diagnostic::error(
            "E0201",
            e.name.span,
            format!("unknown setting `{}` in {what}", e.name.name),
        )
        .with_label(format!("not a setting of {what}"));
        if let Some(s) = gw_syntax::diag::did_you_mean(&e.name.name, keywords.iter().copied()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else {
            d = d.with_help(format!("{what} takes: {}", keywords.join(", ")));
        }
        cx.emit(d);
        false
    });
    out
}

/// An entry spans its keyword and arguments (a split entry starts at its own keyword).
fn push<'a>(out: &mut Vec<Entry<'a>>, name: &'a Ident, args: &'a [Arg], span: Span) {
    let end = args.last().map_or(name.span, arg_span);
    let span = if name.span.start >= span.start {
        name.span.to(end)
    } else {
        span
    };
    out.push(Entry { name, args, span });
}

/// Reports the second and later entries of a keyword that may appear once (E0202).
pub(crate) fn check_unique(cx: &mut Ctx<'_>, entries: &[Entry<'_>], once: &[&str]) {
    let mut first_of: ahash::AHashMap<&str, Span> = ahash::AHashMap::new();
    for e in entries {
        if !once.contains(&e.name.name.as_str()) {
            continue;
        }
        let first = *first_of.entry(e.name.name.as_str()).or_insert(e.name.span);
        if first != e.name.span {
            cx.emit(
                Diagnostic::error(
                    "E0202",
                    e.name.span,
                    format!("`{}` is set twice", e.name.name),
                )
                .with_label("set again here")
                .with_secondary(first, "first set here"),
            );
        }
    }
}

/// Reads the arguments of one entry in order.
pub(crate) struct Cursor<'a> {
    args: &'a [Arg],
    pos: usize,
    /// Where "missing argument" errors point.
    pub at: Span,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(e: &Entry<'a>) -> Self {
        Cursor {
            args: e.args,
            pos: 0,
            at: e.name.span,
        }
    }

    pub(crate) fn peek(&self) -> Option<&'a Arg> {
        self.args.get(self.pos)
    }

    pub(crate) fn next(&mut self) -> Option<&'a Arg> {
        let a = self.args.get(self.pos);
        if let Some(a) = a {
            self.pos += 1;
            self.at = arg_span(a);
        }
        a
    }

    pub(crate) fn is_done(&self) -> bool {
        self.pos >= self.args.len()
    }

    /// Consumes the word `w` if it comes next.
    pub(crate) fn eat_word(&mut self, w: &str) -> bool {
        if self.peek().and_then(word_of).is_some_and(|i| i.name == w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn word(&mut self) -> Option<&'a Ident> {
        let w = self.peek().and_then(word_of)?;
        self.next();
        Some(w)
    }

    pub(crate) fn expr(&mut self) -> Option<&'a Expr> {
        match self.peek()? {
            Arg::Expr(e) => {
                self.next();
                Some(e)
            }
            _ => None,
        }
    }

    pub(crate) fn lit(&mut self) -> Option<&'a Lit> {
        match self.peek()? {
            Arg::Expr(Expr {
                kind: ExprKind::Lit(l),
                ..
            }) => {
                self.next();
                Some(l)
            }
            _ => None,
        }
    }

    pub(crate) fn str_lit(&mut self) -> Option<&'a StrLit> {
        match self.peek()? {
            Arg::Expr(Expr {
                kind: ExprKind::Str(s),
                ..
            }) => {
                self.next();
                Some(s)
            }
            Arg::Path(p) => {
                self.next();
                Some(p)
            }
            _ => None,
        }
    }

    pub(crate) fn addr(&mut self) -> Option<&'a Addr> {
        match self.peek()? {
            Arg::Addr(a) => {
                self.next();
                Some(a)
            }
            _ => None,
        }
    }

    /// An `on a, b` list.
    pub(crate) fn on_list(&mut self) -> Option<&'a [Ident]> {
        match self.peek()? {
            Arg::On(ws) => {
                self.next();
                Some(ws)
            }
            _ => None,
        }
    }

    pub(crate) fn fields(&mut self) -> Option<&'a [FieldDecl]> {
        match self.peek()? {
            Arg::Fields(f) => {
                self.next();
                Some(f)
            }
            _ => None,
        }
    }

    /// Reports what is left (E0201) — an argument this setting does not take.
    pub(crate) fn finish(&mut self, cx: &mut Ctx<'_>, what: &str, subwords: &[&str]) {
        if let Some(a) = self.peek() {
            let span = arg_span(a);
            let text = cx.snippet(span).to_string();
            let mut d = Diagnostic::error("E0201", span, format!("unexpected `{text}` in {what}"))
                .with_label("not understood here");
            if let Some(s) = gw_syntax::diag::did_you_mean(&text, subwords.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            cx.emit(d);
            self.pos = self.args.len();
        }
    }
}

/// Error for a missing or wrongly shaped argument.
pub(crate) fn expected(cx: &mut Ctx<'_>, at: Span, what: &str, example: &str) {
    cx.emit(
        Diagnostic::error("E0304", at, format!("expected {what}"))
            .with_label(format!("{what} expected here"))
            .with_help(format!("for example: {example}")),
    );
}

/// A plain (non-interpolated) string argument.
pub(crate) fn plain(s: &StrLit) -> Option<String> {
    s.as_plain()
}
