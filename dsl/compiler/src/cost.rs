//! Step 6, cost: the static cost of ops (gw-program's table, so the verifier recomputes the
//! same figure) and the E0601 report with its per-statement breakdown.

use gw_program::{Op, Program};
use gw_syntax::{Diagnostic, Span};

use crate::ctx::{Ctx, group_digits};
use crate::lower::Lower;

/// Bound on a string operand, in bytes (the URL / header limit).
pub(crate) const STR_BOUND: u32 = gw_program::cost::STR_BOUND as u32;
/// Default cost budget of a route (`budget N` overrides).
pub(crate) const DEFAULT_BUDGET: u64 = gw_program::cost::DEFAULT_BUDGET;
/// Largest `budget N` a route may ask for.
pub(crate) const MAX_BUDGET: u64 = gw_program::cost::MAX_BUDGET;

/// Cost of one op, in units of ~1 ns: gw-program's table, which the verifier recomputes.
pub(crate) fn op_cost(op: &Op, p: &Program) -> u64 {
    gw_program::cost::op_cost(op, p)
}

/// `1048576` -> `1 MiB`.
pub(crate) fn fmt_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (n, u) in UNITS {
        if bytes >= n && bytes.is_multiple_of(n) {
            return format!("{} {u}", bytes / n);
        }
    }
    format!("{bytes} B")
}

impl Lower<'_, '_> {
    /// The cost table bounds strings at [`STR_BOUND`]; an operand known to be longer (a body
    /// field) makes the op cost proportionally more. The excess is charged to the statement
    /// for the budget check (E0601); the program's recorded cost stays the table's.
    pub(crate) fn surcharge(&mut self, regs: &[gw_program::Reg]) {
        let Some((bound, what)) = self
            .sc
            .bounds
            .iter()
            .filter(|(r, _, _)| regs.contains(r))
            .max_by_key(|(_, b, _)| *b)
            .map(|(_, b, w)| (*b, w.clone()))
        else {
            return;
        };
        let Some(op) = self.b.p.ops.last() else {
            return;
        };
        let base = op_cost(op, &self.b.p);
        let scaled = base.saturating_mul(bound) / u64::from(STR_BOUND);
        if scaled > base {
            self.b.extra.push((self.sc.stmt_span, scaled - base, what));
        }
    }
}

/// One costed statement: its span, units, and why it may cost more than the table says.
pub(crate) struct Item {
    pub span: Span,
    pub cost: u64,
    pub why: Option<String>,
}

/// Per-statement costs with the input-aware excess merged in.
pub(crate) fn items(stmt_costs: &[(Span, u64)], extra: &[(Span, u64, String)]) -> Vec<Item> {
    let mut out: Vec<Item> = stmt_costs
        .iter()
        .map(|&(span, cost)| Item {
            span,
            cost,
            why: None,
        })
        .collect();
    for (span, c, why) in extra {
        match out.iter_mut().find(|i| i.span == *span) {
            Some(i) => {
                i.cost = i.cost.saturating_add(*c);
                i.why = Some(why.clone());
            }
            None => out.push(Item {
                span: *span,
                cost: *c,
                why: Some(why.clone()),
            }),
        }
    }
    out
}

/// E0601: a program over its budget, with the statements that cost most as labels.
pub(crate) fn over_budget(
    cx: &mut Ctx<'_>,
    route: &str,
    phase: &str,
    total: u64,
    budget: u64,
    mut items: Vec<Item>,
) {
    items.sort_by_key(|i| std::cmp::Reverse(i.cost));
    let Some(top) = items.first() else {
        return;
    };
    let label = |i: &Item| match &i.why {
        Some(w) => format!("up to {} units: {w}", group_digits(i.cost)),
        None => format!("up to {} units", group_digits(i.cost)),
    };
    let mut d = Diagnostic::error(
        "E0601",
        top.span,
        format!(
            "route `{route}` is too expensive: worst case {} units, budget {}",
            group_digits(total),
            group_digits(budget)
        ),
    )
    .with_label(label(top));
    for i in items.iter().skip(1).take(3) {
        d = d.with_secondary(i.span, label(i));
    }
    if phase != "request" {
        d = d.with_note(format!("in the {phase} program"));
    }
    let help = match &top.why {
        Some(w) if w.starts_with("body.") => {
            let field = w.split(' ').next().unwrap_or(w).trim_start_matches("body.");
            format!(
                "give `{field}` a `maxLength` in the schema, or lower the body limit for this route (`buffer body SIZE`)"
            )
        }
        _ => format!(
            "bound the input, drop work from this route, or raise its budget with `budget N` (strings are costed at {} bytes)",
            STR_BOUND
        ),
    };
    cx.emit(d.with_help(help));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_in_iec_units() {
        assert_eq!(fmt_size(1 << 20), "1 MiB");
        assert_eq!(fmt_size(10 << 20), "10 MiB");
        assert_eq!(fmt_size(256), "256 B");
        assert_eq!(fmt_size(1536), "1536 B");
    }

    #[test]
    fn excess_merges_into_its_statement() {
        let s = Span::new(gw_syntax::FileId(0), 1, 2);
        let t = Span::new(gw_syntax::FileId(0), 3, 4);
        let it = items(&[(s, 10), (t, 5)], &[(s, 100, "body.text ≤ 1 MiB".into())]);
        assert_eq!(it[0].cost, 110);
        assert_eq!(it[0].why.as_deref(), Some("body.text ≤ 1 MiB"));
        assert!(it[1].why.is_none());
    }
}
