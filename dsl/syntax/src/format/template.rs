//! JSON templates and `headers { .. }` maps: inline when the source had them on one line,
//! else one field per line with JSON-style commas.

use super::Printer;
use super::expr::{expr, string};
use crate::ast::{Template, TemplateKey, TemplateValue};
use crate::span::Span;

/// `{ a, b }` or one item per line with commas, like JSON.
pub(super) fn braced<T>(
    p: &mut Printer<'_>,
    open: usize,
    o: char,
    c: char,
    items: &[T],
    span: fn(&T) -> Span,
    item: fn(&mut Printer<'_>, &T),
) {
    let close = if o == '{' {
        p.close_of(open)
    } else {
        close_bracket(p, open)
    };
    if p.same_line(open, close) || items.is_empty() {
        if items.is_empty() {
            return p.w(&format!("{o}{c}"));
        }
        let (l, r) = if o == '[' { ("[", "]") } else { ("{ ", " }") };
        p.w(l);
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                p.w(", ");
            }
            item(p, it);
        }
        return p.w(r);
    }
    p.w(&o.to_string());
    p.end_line(open + 1);
    p.indent();
    for (i, it) in items.iter().enumerate() {
        let s = span(it);
        p.start_item(s.start as usize);
        item(p, it);
        if i + 1 < items.len() {
            p.w(",");
        }
        p.end_line(s.end as usize);
    }
    p.flush_comments(close);
    p.dedent();
    p.start_raw();
    p.w(&c.to_string());
}

/// The `]` matching the `[` at `open`: the end of a template list's span.
fn close_bracket(p: &Printer<'_>, open: usize) -> usize {
    let bytes = p.src().as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            b'"' => {
                i += 1;
                while bytes.get(i).is_some_and(|&c| c != b'"' && c != b'\n') {
                    i += if bytes.get(i) == Some(&b'\\') { 2 } else { 1 };
                }
            }
            _ => {}
        }
        i += 1;
    }
    open
}

pub(super) fn template(p: &mut Printer<'_>, t: &Template) {
    braced(
        p,
        t.span.start as usize,
        '{',
        '}',
        &t.fields,
        field_span,
        tpl_field,
    );
}

fn key_span(k: &TemplateKey) -> Span {
    match k {
        TemplateKey::Ident(i) => i.span,
        TemplateKey::Str(s) => s.span,
    }
}

fn value_span(v: &TemplateValue) -> Span {
    match v {
        TemplateValue::Expr(e) => e.span,
        TemplateValue::Object(t) => t.span,
        TemplateValue::List(_, s) => *s,
    }
}

fn field_span(f: &(TemplateKey, TemplateValue)) -> Span {
    key_span(&f.0).to(value_span(&f.1))
}

fn tpl_field(p: &mut Printer<'_>, f: &(TemplateKey, TemplateValue)) {
    let key = match &f.0 {
        TemplateKey::Ident(i) => i.name.clone(),
        TemplateKey::Str(s) => string(p, s),
    };
    p.w(&format!("{key}: "));
    tpl_value(p, &f.1);
}

fn tpl_value(p: &mut Printer<'_>, v: &TemplateValue) {
    match v {
        TemplateValue::Expr(e) => {
            let text = expr(p, e);
            p.w(&text);
        }
        TemplateValue::Object(t) => template(p, t),
        TemplateValue::List(items, span) => braced(
            p,
            span.start as usize,
            '[',
            ']',
            items,
            value_span,
            tpl_value,
        ),
    }
}
