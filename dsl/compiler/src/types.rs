//! The types of the expression language (grammar/README.md#types-and-literals) and how
//! written types map to them.

use std::fmt;

use gw_syntax::ast::TypeExpr;

/// A static type. `Opt` is `T?`; `Err` stands for an expression that already failed to
/// type-check and is compatible with everything, so one mistake gives one diagnostic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Int,
    Bool,
    Duration,
    Size,
    Timestamp,
    Ip,
    Cidr,
    Rate,
    Percent,
    List(Box<Ty>),
    Json,
    Opt(Box<Ty>),
    Err,
}

impl Ty {
    /// `T?` of this type (idempotent).
    pub(crate) fn opt(self) -> Ty {
        match self {
            Ty::Opt(_) | Ty::Err => self,
            t => Ty::Opt(Box::new(t)),
        }
    }

    pub(crate) fn is_opt(&self) -> bool {
        matches!(self, Ty::Opt(_))
    }

    /// The type without its `?`.
    pub(crate) fn base(&self) -> &Ty {
        match self {
            Ty::Opt(t) => t,
            t => t,
        }
    }

    pub(crate) fn is_err(&self) -> bool {
        matches!(self.base(), Ty::Err)
    }

    /// `self` and `other` can be compared or combined (same base type, `json` with anything
    /// scalar, `Err` with everything).
    pub(crate) fn compatible(&self, other: &Ty) -> bool {
        let (a, b) = (self.base(), other.base());
        match (a, b) {
            (Ty::Err, _) | (_, Ty::Err) => true,
            (Ty::Json, _) | (_, Ty::Json) => true,
            (Ty::List(x), Ty::List(y)) => x.compatible(y),
            _ => a == b,
        }
    }

    /// Types whose values are ordered by `<`.
    pub(crate) fn ordered(&self) -> bool {
        matches!(
            self.base(),
            Ty::Int | Ty::Duration | Ty::Size | Ty::Timestamp | Ty::Str | Ty::Json | Ty::Err
        )
    }

    /// Worst-case text length of a value of this type, for template output bounds.
    pub(crate) fn text_bound(&self) -> u32 {
        match self.base() {
            Ty::Bool => 5,
            Ty::Int | Ty::Duration | Ty::Size | Ty::Timestamp => 20,
            Ty::Ip | Ty::Cidr => 43,
            Ty::Rate | Ty::Percent => 24,
            Ty::Str | Ty::Json | Ty::List(_) | Ty::Err | Ty::Opt(_) => crate::cost::STR_BOUND,
        }
    }

    /// Name used in plugin arguments (`out.claim.email = [id, "string"]`).
    pub(crate) fn arg_name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Str => f.write_str("string"),
            Ty::Int => f.write_str("int"),
            Ty::Bool => f.write_str("bool"),
            Ty::Duration => f.write_str("duration"),
            Ty::Size => f.write_str("size"),
            Ty::Timestamp => f.write_str("timestamp"),
            Ty::Ip => f.write_str("ip"),
            Ty::Cidr => f.write_str("cidr"),
            Ty::Rate => f.write_str("rate"),
            Ty::Percent => f.write_str("percent"),
            Ty::List(t) => write!(f, "list<{t}>"),
            Ty::Json => f.write_str("json"),
            Ty::Opt(t) => write!(f, "{t}?"),
            Ty::Err => f.write_str("{error}"),
        }
    }
}

/// Type names a file may write, for did-you-mean.
pub(crate) const TYPE_NAMES: &[&str] = &[
    "string",
    "int",
    "bool",
    "duration",
    "size",
    "timestamp",
    "ip",
    "cidr",
    "rate",
    "json",
    "list",
    "uuid",
];

/// A written type, checked: the type plus the refinements `validate params` enforces.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Written {
    pub ty: Ty,
    /// `uuid` refinement (the value stays a string).
    pub uuid: bool,
    pub range: Option<(i64, i64)>,
    /// `in ["a", "b"]`: the values a string may take.
    pub one_of: Vec<String>,
    /// `matches "…"`: the pattern a string must match (compiled by the caller).
    pub pattern: Option<String>,
}

/// Why a written type was rejected.
#[derive(Debug, PartialEq)]
pub(crate) enum TypeError {
    /// Unknown type name, with a suggestion.
    Unknown(String, Option<&'static str>),
    /// `list` without exactly one argument, or arguments on a scalar.
    Arity(String),
    /// `1..100` on a non-int, or min > max.
    Range(String),
}

/// Maps a written type (`string`, `list<string>`, `int 1..100`, `uuid`, `T?`).
pub(crate) fn written(t: &TypeExpr) -> Result<Written, TypeError> {
    let name = t.name.name.as_str();
    let mut uuid = false;
    let ty = match name {
        "string" => Ty::Str,
        "int" => Ty::Int,
        "bool" => Ty::Bool,
        "duration" => Ty::Duration,
        "size" => Ty::Size,
        "timestamp" => Ty::Timestamp,
        "ip" => Ty::Ip,
        "cidr" => Ty::Cidr,
        "rate" => Ty::Rate,
        "json" => Ty::Json,
        "uuid" => {
            uuid = true;
            Ty::Str
        }
        "list" => match t.args.as_slice() {
            [inner] => Ty::List(Box::new(written(inner)?.ty)),
            _ => {
                return Err(TypeError::Arity(
                    "`list` takes one type: `list<string>`".into(),
                ));
            }
        },
        other => {
            let hint = gw_syntax::diag::did_you_mean(other, TYPE_NAMES.iter().copied());
            return Err(TypeError::Unknown(other.to_string(), hint));
        }
    };
    if name != "list" && !t.args.is_empty() {
        return Err(TypeError::Arity(format!(
            "`{name}` takes no type arguments"
        )));
    }
    if let Some((lo, hi)) = t.range {
        if ty != Ty::Int {
            return Err(TypeError::Range(format!(
                "a range `{lo}..{hi}` needs `int`, not `{ty}`"
            )));
        }
        if lo > hi {
            return Err(TypeError::Range(format!(
                "empty range `{lo}..{hi}`: {lo} > {hi}"
            )));
        }
    }
    let one_of = t
        .one_of
        .iter()
        .map(|s| {
            s.as_plain()
                .ok_or_else(|| TypeError::Range("`in [...]` takes plain strings".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let pattern = match &t.pattern {
        Some(s) => Some(s.as_plain().ok_or_else(|| {
            TypeError::Range(
                "`matches` takes a plain string: `{…}` interpolates, so write a pattern \
                         with braces as a raw string, `r\"^[A-Z]{3}$\"`"
                    .into(),
            )
        })?),
        None => None,
    };
    if (!one_of.is_empty() || pattern.is_some()) && (ty != Ty::Str || uuid) {
        return Err(TypeError::Range(format!(
            "`in [...]` and `matches` refine `string`, not `{name}`"
        )));
    }
    let ty = if t.optional { ty.opt() } else { ty };
    Ok(Written {
        ty,
        uuid,
        range: t.range,
        one_of,
        pattern,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gw_syntax::ast::Ident;
    use gw_syntax::span::Span;

    fn te(name: &str, args: Vec<TypeExpr>, optional: bool, range: Option<(i64, i64)>) -> TypeExpr {
        let span = Span::default();
        TypeExpr {
            name: Ident {
                name: name.into(),
                span,
            },
            args,
            optional,
            range,
            one_of: Vec::new(),
            pattern: None,
            span,
        }
    }

    #[test]
    fn maps_written_types() {
        assert_eq!(
            written(&te("string", vec![], true, None)).map(|w| w.ty),
            Ok(Ty::Str.opt())
        );
        let list = te("list", vec![te("string", vec![], false, None)], false, None);
        assert_eq!(
            written(&list).map(|w| w.ty),
            Ok(Ty::List(Box::new(Ty::Str)))
        );
        let r = written(&te("int", vec![], false, Some((1, 100)))).unwrap();
        assert_eq!((r.ty, r.range), (Ty::Int, Some((1, 100))));
        assert!(written(&te("uuid", vec![], false, None)).unwrap().uuid);
    }

    #[test]
    fn rejects_bad_types() {
        assert_eq!(
            written(&te("strng", vec![], false, None)),
            Err(TypeError::Unknown("strng".into(), Some("string")))
        );
        assert!(matches!(
            written(&te("string", vec![], false, Some((1, 2)))),
            Err(TypeError::Range(_))
        ));
        assert!(matches!(
            written(&te("int", vec![], false, Some((5, 2)))),
            Err(TypeError::Range(_))
        ));
        assert!(matches!(
            written(&te("list", vec![], false, None)),
            Err(TypeError::Arity(_))
        ));
    }

    #[test]
    fn compatibility_ignores_optional_and_json() {
        assert!(Ty::Str.opt().compatible(&Ty::Str));
        assert!(Ty::Json.compatible(&Ty::Int));
        assert!(!Ty::Int.compatible(&Ty::Str));
        assert_eq!(Ty::Str.opt().opt(), Ty::Str.opt());
        assert_eq!(Ty::Str.opt().to_string(), "string?");
    }
}
