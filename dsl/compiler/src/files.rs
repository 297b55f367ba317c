//! Files a configuration references (certificates, keys files, JWKS, schemas, `file("x")`
//! sets): read at compile time, relative to the naming file's directory. E0701 when missing,
//! unreadable or invalid.

use std::path::PathBuf;

use gw_syntax::{Diagnostic, Span};

use crate::ctx::Ctx;
use crate::types::Ty;

/// Largest file the compiler reads (a schema, keys file or set).
const MAX_FILE: u64 = 16 * 1024 * 1024;

fn unreadable(cx: &mut Ctx<'_>, span: Span, path: &std::path::Path, why: &str) {
    cx.emit(
        Diagnostic::error(
            "E0701",
            span,
            format!("cannot read `{}`: {why}", path.display()),
        )
        .with_label("file named here")
        .with_note("relative paths are resolved against the directory of the .gw file"),
    );
}

/// The resolved path of a file that must exist.
pub(crate) fn existing(cx: &mut Ctx<'_>, span: Span, path: &str) -> Option<PathBuf> {
    let p = cx.resolve_path(span, path);
    match std::fs::metadata(&p) {
        Ok(m) if m.is_file() => Some(p),
        Ok(_) => {
            unreadable(cx, span, &p, "not a regular file");
            None
        }
        Err(e) => {
            unreadable(cx, span, &p, &io_reason(&e));
            None
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Reads a UTF-8 text file.
pub(crate) fn read(cx: &mut Ctx<'_>, span: Span, path: &str) -> Option<(PathBuf, String)> {
    let p = existing(cx, span, path)?;
    if std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0) > MAX_FILE {
        unreadable(cx, span, &p, "larger than 16 MiB");
        return None;
    }
    match std::fs::read_to_string(&p) {
        Ok(t) => Some((p, t)),
        Err(e) => {
            unreadable(cx, span, &p, &io_reason(&e));
            None
        }
    }
}

/// One line of an `api_keys` file: `sha256:<hex> id=<id> plan=<plan>`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KeyLine {
    pub hash: String,
    pub id: String,
    pub plan: Option<String>,
    pub line: usize,
}

/// Parses a keys file. Blank lines and `#` comments are skipped.
pub(crate) fn parse_keys(text: &str) -> Result<Vec<KeyLine>, (usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let hash = parts
            .next()
            .and_then(|h| h.strip_prefix("sha256:"))
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or((i + 1, "expected `sha256:<64 hex digits>` first".to_string()))?;
        let (mut id, mut plan) = (None, None);
        for p in parts {
            match p.split_once('=') {
                Some(("id", v)) if !v.is_empty() => id = Some(v.to_string()),
                Some(("plan", v)) if !v.is_empty() => plan = Some(v.to_string()),
                _ => {
                    return Err((
                        i + 1,
                        format!("unexpected `{p}`: expected `id=<id>` or `plan=<plan>`"),
                    ));
                }
            }
        }
        let id = id.ok_or((i + 1, "missing `id=<id>`".to_string()))?;
        out.push(KeyLine {
            hash: hash.to_ascii_lowercase(),
            id,
            plan,
            line: i + 1,
        });
    }
    Ok(out)
}

/// The shape of a JSON Schema, as far as `body.*` typing needs it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SchemaTy {
    Scalar(Ty),
    /// A string, with its `maxLength` (characters) when the schema bounds it.
    Text(Option<u64>),
    /// Properties with their required flag.
    Object(Vec<(String, SchemaTy, bool)>),
}

impl SchemaTy {
    /// The expression type of a value of this shape.
    pub(crate) fn ty(&self) -> Ty {
        match self {
            SchemaTy::Scalar(t) => t.clone(),
            SchemaTy::Text(_) => Ty::Str,
            SchemaTy::Object(_) => Ty::Json,
        }
    }
}

/// Reads the shape of a JSON Schema document (`properties`, `required`, `type`, `items`).
pub(crate) fn schema_shape(v: &serde_json::Value) -> SchemaTy {
    let ty = v.get("type").and_then(|t| match t {
        serde_json::Value::String(s) => Some(s.as_str()),
        _ => None,
    });
    let props = v.get("properties").and_then(serde_json::Value::as_object);
    match (ty, props) {
        (Some("object") | None, Some(props)) => {
            let required: Vec<&str> = v
                .get("required")
                .and_then(serde_json::Value::as_array)
                .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
                .unwrap_or_default();
            let fields = props
                .iter()
                .map(|(k, p)| (k.clone(), schema_shape(p), required.contains(&k.as_str())))
                .collect();
            SchemaTy::Object(fields)
        }
        (Some("string"), _) => {
            SchemaTy::Text(v.get("maxLength").and_then(serde_json::Value::as_u64))
        }
        (Some("integer"), _) => SchemaTy::Scalar(Ty::Int),
        (Some("boolean"), _) => SchemaTy::Scalar(Ty::Bool),
        (Some("array"), _) => {
            let item = v
                .get("items")
                .map(schema_shape)
                .map_or(Ty::Json, |s| s.ty());
            let item = if matches!(item, Ty::Str | Ty::Int | Ty::Bool) {
                item
            } else {
                Ty::Json
            };
            SchemaTy::Scalar(Ty::List(Box::new(item)))
        }
        _ => SchemaTy::Scalar(Ty::Json),
    }
}

/// Reads and parses a schema file: (resolved path, JSON text, shape).
pub(crate) fn schema(
    cx: &mut Ctx<'_>,
    span: Span,
    path: &str,
) -> Option<(PathBuf, String, SchemaTy)> {
    let (p, text) = read(cx, span, path)?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        // `true` and `false` are schemas too (draft 6 on): everything, nothing
        Ok(v) if v.is_object() || v.is_boolean() => {
            let shape = schema_shape(&v);
            Some((p, text, shape))
        }
        Ok(_) => {
            unreadable(cx, span, &p, "a JSON Schema is a JSON object or a boolean");
            None
        }
        Err(e) => {
            unreadable(
                cx,
                span,
                &p,
                // serde_json's message already ends in "at line L column C"
                &format!("invalid JSON: {e}"),
            );
            None
        }
    }
}

/// A `file("x")` set: one entry per line, `#` comments skipped.
pub(crate) fn set_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_files() {
        let h = "a".repeat(64);
        let text = format!("# partners\nsha256:{h} id=acme plan=free\n\nsha256:{h} id=x\n");
        let keys = parse_keys(&text).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].plan.as_deref(), Some("free"));
        assert_eq!(keys[0].line, 2);
        assert_eq!(keys[1].plan, None);
        assert_eq!(parse_keys("sha256:zz id=a").unwrap_err().0, 1);
        assert!(parse_keys(&format!("sha256:{h} plan=free")).is_err());
        assert!(parse_keys(&format!("sha256:{h} id=a colour=red")).is_err());
    }

    #[test]
    fn reads_schema_shapes() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"type":"object","required":["name"],"properties":{
                "name":{"type":"string"},"nick":{"type":"string","maxLength":8},"age":{"type":"integer"},
                "tags":{"type":"array","items":{"type":"string"}},
                "owner":{"type":"object","properties":{"id":{"type":"string"}}}}}"#,
        )
        .unwrap();
        let SchemaTy::Object(props) = schema_shape(&v) else {
            panic!("object expected")
        };
        let get = |n: &str| props.iter().find(|p| p.0 == n).unwrap().clone();
        assert_eq!(get("name"), ("name".into(), SchemaTy::Text(None), true));
        assert_eq!(get("age").1, SchemaTy::Scalar(Ty::Int));
        assert_eq!(get("nick").1, SchemaTy::Text(Some(8)));
        assert!(!get("age").2);
        assert_eq!(get("tags").1, SchemaTy::Scalar(Ty::List(Box::new(Ty::Str))));
        assert!(matches!(get("owner").1, SchemaTy::Object(_)));
    }

    #[test]
    fn set_files_skip_comments() {
        assert_eq!(
            set_lines("10.0.0.0/8 # lan\n\n# x\n192.168.0.1\n"),
            vec!["10.0.0.0/8", "192.168.0.1"]
        );
    }
}
