//! What the programs asked to change, recorded without per-edit allocation: header edits in
//! gw-proto's [`HeaderEdits`] (which refuses names and values that could inject a line), the
//! rest in one reused text buffer referred to by range.

use gw_proto::HeaderEdits;
use gw_vm::Effect;

/// A span of [`Edits::text`].
pub type Span = (u32, u32);

/// One header or query edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOp {
    Set,
    Append,
    Remove,
}

/// One recorded edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    pub op: EditOp,
    pub name: Span,
    pub value: Span,
}

/// What a plugin said about its own denial, used only if the request is denied: headers for
/// gw's answer, the body in place of gw's default, and the reason for the log. Survives the
/// `on error` page, which clears [`Edits`].
#[derive(Debug, Default)]
pub struct Denial {
    pub headers: HeaderEdits,
    /// Content type and body.
    pub body: Option<(String, Vec<u8>)>,
    pub reason: String,
}

impl Denial {
    /// Forget everything (keeps capacity): each plugin call starts with none.
    pub fn clear(&mut self) {
        self.headers.clear();
        self.body = None;
        self.reason.clear();
    }

    /// Record a `Deny*` effect; `false` for any other effect. A header that cannot be written
    /// is dropped (the denial stands without it).
    pub fn apply(&mut self, effect: Effect<'_>) -> bool {
        match effect {
            Effect::DenyHeader(n, v) => {
                if self.headers.set(n.as_bytes(), v.as_bytes()).is_err() {
                    let _ = self.headers.remove(n.as_bytes());
                }
            }
            Effect::DenyBody(ctype, b) => {
                self.body = Some((ctype.to_owned(), b.as_bytes().to_vec()));
            }
            Effect::DenyReason(r) => {
                self.reason.clear();
                self.reason.push_str(r);
            }
            _ => return false,
        }
        true
    }
}

/// The effects of one request's programs. Reused across the requests of a connection.
#[derive(Debug, Default)]
pub struct Edits {
    pub text: String,
    pub req_headers: HeaderEdits,
    pub query: Vec<Edit>,
    /// The upstream query string, built from the client's and `query` (reused buffer).
    pub query_out: Vec<u8>,
    pub path: Option<Span>,
    pub body: Option<Span>,
    pub status: Option<u16>,
    pub resp_headers: HeaderEdits,
    pub resp_body: Option<Span>,
    /// `Effect::RespSetBodyBytes`: the body of a plugin's own answer, in place of `resp_body`.
    pub resp_bytes: Option<Vec<u8>>,
    /// The name of a request header edit refused because its value cannot be written (a
    /// control character from the request): the request fails rather than forward the
    /// client's own field in its place.
    pub refused_request: Option<Span>,
    /// Response header edits refused as invalid: each such field is removed instead.
    pub refused_response: u32,
}

impl Edits {
    /// Forget everything (keeps capacity).
    pub fn clear(&mut self) {
        self.text.clear();
        self.req_headers.clear();
        self.query.clear();
        self.path = None;
        self.body = None;
        self.status = None;
        self.resp_headers.clear();
        self.resp_body = None;
        self.resp_bytes = None;
        self.query_out.clear();
        self.refused_request = None;
        self.refused_response = 0;
    }

    fn push(&mut self, s: &str) -> Span {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        (start, self.text.len() as u32)
    }

    /// Text of a span.
    pub fn get(&self, span: Span) -> &str {
        self.text
            .get(span.0 as usize..span.1 as usize)
            .unwrap_or("")
    }

    /// Record one effect. An edit that cannot be applied fails closed: the field is removed
    /// (so the message's own value never stands in for it), and a request edit is recorded
    /// in `refused_request` for the caller to fail the request.
    pub fn apply(&mut self, effect: Effect<'_>) {
        match effect {
            Effect::SetHeader(n, v) | Effect::AppendHeader(n, v) => {
                let r = if matches!(effect, Effect::SetHeader(..)) {
                    self.req_headers.set(n.as_bytes(), v.as_bytes())
                } else {
                    self.req_headers.append(n.as_bytes(), v.as_bytes())
                };
                if r.is_err() {
                    let _ = self.req_headers.remove(n.as_bytes());
                    if self.refused_request.is_none() {
                        self.refused_request = Some(self.push(n));
                    }
                }
            }
            Effect::RemoveHeader(n) => {
                let _ = self.req_headers.remove(n.as_bytes());
            }
            Effect::RespSetHeader(n, v) | Effect::RespAppendHeader(n, v) => {
                let r = if matches!(effect, Effect::RespSetHeader(..)) {
                    self.resp_headers.set(n.as_bytes(), v.as_bytes())
                } else {
                    self.resp_headers.append(n.as_bytes(), v.as_bytes())
                };
                if r.is_err() {
                    let _ = self.resp_headers.remove(n.as_bytes());
                    self.refused_response += 1;
                }
            }
            Effect::RespRemoveHeader(n) => {
                let _ = self.resp_headers.remove(n.as_bytes());
            }
            other => self.apply_other(other),
        }
    }

    fn apply_other(&mut self, effect: Effect<'_>) {
        let edit = |this: &mut Edits, op, name: &str, value: &str| Edit {
            op,
            name: this.push(name),
            value: this.push(value),
        };
        match effect {
            Effect::SetQuery(n, v) => {
                let e = edit(self, EditOp::Set, n, v);
                self.query.push(e);
            }
            Effect::RemoveQuery(n) => {
                let e = edit(self, EditOp::Remove, n, "");
                self.query.push(e);
            }
            Effect::RewritePath(p) => self.path = Some(self.push(p)),
            Effect::SetBody(b) => self.body = Some(self.push(b)),
            Effect::SetStatus(s) => self.status = Some(s),
            Effect::RespSetBody(b) => self.resp_body = Some(self.push(b)),
            Effect::RespSetBodyBytes(b) => self.resp_bytes = Some(b.to_vec()),
            _ => {}
        }
    }
}

/// Resolving a list of edits against original name/value pairs.
#[derive(Debug, Clone, Copy)]
pub struct EditList<'a> {
    pub edits: &'a [Edit],
    pub text: &'a Edits,
}

impl<'a> EditList<'a> {
    /// True when some Set or Remove edit replaces the original values of `name`.
    pub fn replaces(&self, name: &[u8]) -> bool {
        self.edits.iter().any(|e| {
            e.op != EditOp::Append && self.text.get(e.name).as_bytes().eq_ignore_ascii_case(name)
        })
    }

    /// The edits that add a value, in order, as `(name, value)`: a Set or Append survives
    /// unless a later Set or Remove of the same name overrides it.
    pub fn additions(self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let text = self.text;
        let edits = self.edits;
        edits.iter().enumerate().filter_map(move |(i, e)| {
            if e.op == EditOp::Remove {
                return None;
            }
            let name = text.get(e.name);
            let overridden = edits
                .get(i + 1..)
                .unwrap_or(&[])
                .iter()
                .any(|l| l.op != EditOp::Append && text.get(l.name).eq_ignore_ascii_case(name));
            (!overridden).then(|| (name, text.get(e.value)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_edits_go_to_proto_and_bad_values_are_refused() {
        let mut e = Edits::default();
        e.apply(Effect::SetHeader("x-a", "1"));
        e.apply(Effect::SetHeader("x-a", "2"));
        e.apply(Effect::SetHeader("x-bad", "a\r\nx-injected: 1"));
        e.apply(Effect::RespRemoveHeader("server"));
        let added: Vec<_> = e.req_headers.added().collect();
        assert_eq!(added, vec![(&b"x-a"[..], &b"2"[..])]);
        assert_eq!(e.get(e.refused_request.unwrap()), "x-bad");
        assert!(
            e.req_headers.drops(b"X-Bad"),
            "the client's own x-bad is not forwarded"
        );
        assert!(e.resp_headers.drops(b"Server"));
        e.apply(Effect::RespSetHeader("x-up", "a\nb"));
        assert_eq!(e.refused_response, 1);
        assert!(
            e.resp_headers.drops(b"x-up"),
            "the upstream's own x-up is not relayed"
        );
    }

    #[test]
    fn query_edits_resolve_in_order() {
        let mut e = Edits::default();
        e.apply(Effect::SetQuery("a", "1"));
        e.apply(Effect::SetQuery("a", "2"));
        e.apply(Effect::SetQuery("b", "x"));
        e.apply(Effect::RemoveQuery("b"));
        let list = EditList {
            edits: &e.query,
            text: &e,
        };
        assert_eq!(list.additions().collect::<Vec<_>>(), vec![("a", "2")]);
        assert!(list.replaces(b"b"));
    }

    #[test]
    fn body_path_status_are_recorded() {
        let mut e = Edits::default();
        e.apply(Effect::RewritePath("/v2/x"));
        e.apply(Effect::SetBody("{}"));
        e.apply(Effect::SetStatus(201));
        e.apply(Effect::RespSetBody("[]"));
        e.apply(Effect::RespSetBodyBytes(&[0, 255]));
        assert_eq!(e.resp_bytes.as_deref(), Some(&[0u8, 255][..]));
        assert_eq!(e.get(e.path.unwrap()), "/v2/x");
        assert_eq!(e.get(e.body.unwrap()), "{}");
        assert_eq!(e.get(e.resp_body.unwrap()), "[]");
        assert_eq!(e.status, Some(201));
        e.clear();
        assert!(e.path.is_none() && e.text.is_empty() && e.resp_bytes.is_none());
    }
}
