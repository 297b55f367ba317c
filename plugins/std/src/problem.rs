//! RFC 9457 problem documents for the validation policies: a `title`, the `status`, and one
//! `errors` entry per failure, capped at [`MAX_ERRORS`] so a body with thousands of faults
//! gets a bounded answer.

use gw_plugin::{Call, Effect, Host};
use serde_json::{Map, Value as J, json};

/// The most `errors` entries one answer lists.
pub const MAX_ERRORS: usize = 20;

/// Longest `message` of one entry, in bytes (cut at a character boundary).
const MAX_MESSAGE: usize = 300;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One failure: where (a JSON pointer into the body, or a parameter's name), which keyword
/// refused it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `pointer` for the body, `parameter` for a request parameter.
    pub at: (&'static str, String),
    pub keyword: String,
    pub message: String,
}

/// A problem document under construction.
#[derive(Debug)]
pub struct Problem {
    pub status: u16,
    pub kind: &'static str,
    pub title: String,
    pub detail: Option<String>,
    pub errors: Vec<Failure>,
    /// More failures were found than `errors` lists.
    pub truncated: bool,
}

impl Problem {
    /// A problem with no entries yet.
    pub fn new(status: u16, kind: &'static str, title: impl Into<String>) -> Problem {
        Problem {
            status,
            kind,
            title: title.into(),
            detail: None,
            errors: Vec::new(),
            truncated: false,
        }
    }

    /// Adds an entry, or marks the document truncated past [`MAX_ERRORS`].
    pub fn push(&mut self, f: Failure) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(f);
        } else {
            self.truncated = true;
        }
    }

    /// The document's JSON text.
    pub fn to_json(&self, request_id: &str) -> String {
        let mut doc = Map::new();
        doc.insert(
            "type".into(),
            J::String(format!("urn:gw:problem:{}", self.kind)),
        );
        doc.insert("title".into(), J::String(self.title.clone()));
        doc.insert("status".into(), json!(self.status));
        if let Some(d) = &self.detail {
            doc.insert("detail".into(), J::String(d.clone()));
        }
        if !self.errors.is_empty() {
            let errors = self
                .errors
                .iter()
                .map(|f| {
                    let mut e = Map::new();
                    e.insert(f.at.0.into(), J::String(f.at.1.clone()));
                    e.insert("keyword".into(), J::String(f.keyword.clone()));
                    e.insert("message".into(), J::String(cut(&f.message)));
                    J::Object(e)
                })
                .collect();
            doc.insert("errors".into(), J::Array(errors));
        }
        if self.truncated {
            doc.insert("truncated".into(), J::Bool(true));
        }
        if !request_id.is_empty() {
            doc.insert("requestId".into(), J::String(request_id.into()));
        }
        J::Object(doc).to_string()
    }

    /// Describes the denial to the host (body and log reason) and denies with the status.
    pub fn deny(&self, host: &mut dyn Host, who: &str) -> Call {
        let body = self.to_json(host.request_id());
        host.apply(Effect::DenyBody(PROBLEM_JSON, &body));
        let first = self
            .errors
            .first()
            .map(|f| format!(": {} {} ({})", f.at.1, f.keyword, cut(&f.message)))
            .or_else(|| self.detail.as_ref().map(|d| format!(": {d}")))
            .unwrap_or_default();
        host.apply(Effect::DenyReason(&format!("{who}: {}{first}", self.title)));
        Call::Deny {
            status: self.status,
            retry_after: None,
        }
    }
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s.get(..end).unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_capped_and_messages_cut() {
        let mut p = Problem::new(400, "invalid-body", "Request body does not match `Pet`");
        for i in 0..25 {
            p.push(Failure {
                at: ("pointer", format!("/{i}")),
                keyword: "type".into(),
                message: "é".repeat(400),
            });
        }
        let doc: J = serde_json::from_str(&p.to_json("r1")).unwrap();
        assert_eq!(doc["status"], 400);
        assert_eq!(doc["type"], "urn:gw:problem:invalid-body");
        assert_eq!(doc["errors"].as_array().unwrap().len(), MAX_ERRORS);
        assert_eq!(doc["truncated"], true);
        assert_eq!(doc["requestId"], "r1");
        assert_eq!(doc["errors"][3]["pointer"], "/3");
        let m = doc["errors"][0]["message"].as_str().unwrap();
        assert!(m.len() <= MAX_MESSAGE + 3 && m.ends_with('…'), "{m}");
    }
}
