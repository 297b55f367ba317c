//! `body.PATH` and `resp.json.PATH`: a buffered body parsed once per request with simd-json,
//! then read by JSON pointer (RFC 6901) as many times as the programs ask.
//!
//! simd-json's tape borrows the (mutated) input, so it cannot outlive one `Host::load` call.
//! The tape is therefore flattened into a [`Doc`] that owns its nodes and strings and lives
//! on the connection, cached until the request ends. The parser's scratch copy, tape and
//! buffers are per worker thread. All of them keep their capacity across requests.

use std::cell::RefCell;

use gw_program::{Program, Value};
use simd_json::{Buffers, StaticNode, Tape};

mod pointer;

/// Deepest nesting parsed; a deeper document reads as invalid (every field `Absent`). Bounds
/// the recursion that builds `Value::Json` trees.
pub const MAX_DEPTH: usize = 256;

/// Buffers grown past this (bytes, or nodes for a [`Doc`]) are dropped after use, so one huge
/// body does not pin its memory on the worker or on an idle keep-alive connection.
const KEEP: usize = 1 << 20;

/// One flattened tape node. Containers count the nodes after them that belong to them
/// (object keys included), so a subtree is skipped in O(1).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Node {
    /// A byte range of [`Doc::text`].
    Str(usize, usize),
    Obj {
        len: usize,
        count: usize,
    },
    Arr {
        len: usize,
        count: usize,
    },
    Null,
    Bool(bool),
    Int(i64),
    /// A number that is not an i64.
    Num(f64),
}

impl Node {
    /// Nodes this one spans, itself included.
    fn size(self) -> usize {
        match self {
            Node::Obj { count, .. } | Node::Arr { count, .. } => count.saturating_add(1),
            _ => 1,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Unparsed,
    Parsed,
    /// Not JSON (or too deep): every pointer reads `Absent`.
    Invalid,
}

/// A buffered body, parsed on the first read and cached until [`Doc::clear`].
#[derive(Debug, Default)]
pub struct Doc {
    nodes: Vec<Node>,
    /// Every string of the document (keys and values), unescaped, back to back.
    text: String,
    state: State,
}

/// The documents of the current request: its buffered body and its upstream's response.
#[derive(Debug, Default)]
pub struct JsonDocs {
    /// `body.*` (`RoutePlan::buffer_body`).
    pub body: Doc,
    /// `resp.json.*` (`RoutePlan::buffer_response`).
    pub resp: Doc,
}

impl JsonDocs {
    /// Forget both documents: the next request parses its own.
    pub fn clear(&mut self) {
        self.body.clear();
        self.resp.clear();
    }
}

/// The value of `Field::Body(k)` / `Field::RespJson(k)`: the JSON pointer in `prog.consts[k]`
/// resolved in `body` (parsed into `doc` on first use). `Absent` when there is no buffered
/// body, it is not JSON, or the pointer leads nowhere.
pub fn load(doc: &mut Doc, prog: &Program, k: u16, body: Option<&[u8]>) -> Value {
    match (
        prog.consts.get(usize::from(k)).and_then(Value::as_str),
        body,
    ) {
        (Some(ptr), Some(body)) => doc.get(body, ptr),
        _ => Value::Absent,
    }
}

impl Doc {
    /// The value at `ptr` in `body`, parsing `body` if this document has not been yet.
    pub fn get(&mut self, body: &[u8], ptr: &str) -> Value {
        if self.state == State::Unparsed {
            self.parse(body);
        }
        if self.state != State::Parsed {
            return Value::Absent;
        }
        self.resolve(ptr).map_or(Value::Absent, |at| self.value(at))
    }

    /// Parse `body`, replacing whatever this document held.
    pub fn parse(&mut self, body: &[u8]) {
        self.nodes.clear();
        self.text.clear();
        let ok = PARSER
            .try_with(|p| match p.try_borrow_mut() {
                Ok(mut p) => p.fill(body, self),
                // loads never nest, but a fresh parser keeps this correct if one ever does
                Err(_) => Parser::new().fill(body, self),
            })
            .unwrap_or_else(|_| Parser::new().fill(body, self));
        self.state = if ok && !self.nodes.is_empty() {
            State::Parsed
        } else {
            State::Invalid
        };
    }

    /// Back to unparsed, keeping modest buffers for the next request.
    pub fn clear(&mut self) {
        if self.state == State::Unparsed {
            return;
        }
        self.state = State::Unparsed;
        if self.nodes.capacity() > KEEP / size_of::<Node>() {
            self.nodes = Vec::new();
        }
        if self.text.capacity() > KEEP {
            self.text = String::new();
        }
        self.nodes.clear();
        self.text.clear();
    }

    /// Copy simd-json's tape into owned nodes. False on a node this build cannot represent.
    fn flatten(&mut self, tape: &[simd_json::Node<'_>]) -> bool {
        self.nodes.reserve(tape.len());
        for n in tape {
            let node = match *n {
                simd_json::Node::String(s) => {
                    let start = self.text.len();
                    self.text.push_str(s);
                    Node::Str(start, self.text.len())
                }
                simd_json::Node::Object { len, count } => Node::Obj { len, count },
                simd_json::Node::Array { len, count } => Node::Arr { len, count },
                simd_json::Node::Static(s) => match s {
                    StaticNode::I64(i) => Node::Int(i),
                    StaticNode::U64(u) => i64::try_from(u).map_or(Node::Num(u as f64), Node::Int),
                    StaticNode::F64(f) => Node::Num(f),
                    StaticNode::Bool(b) => Node::Bool(b),
                    StaticNode::Null => Node::Null,
                    // 128-bit integers exist only if some crate enables value-trait's `128bit`
                    #[allow(unreachable_patterns)]
                    _ => return false,
                },
            };
            self.nodes.push(node);
        }
        true
    }
}

/// simd-json's reusable state: a padded scratch copy of the body (it unescapes strings in
/// place, and the body itself is still to be forwarded), its buffers and its tape.
struct Parser {
    scratch: Vec<u8>,
    buffers: Buffers,
    tape: Tape<'static>,
}

thread_local! {
    /// One parser per worker thread.
    static PARSER: RefCell<Parser> = RefCell::new(Parser::new());
}

impl Parser {
    fn new() -> Parser {
        Parser {
            scratch: Vec::new(),
            buffers: Buffers::with_max_depth(0, MAX_DEPTH),
            tape: Tape(Vec::new()),
        }
    }

    /// Parse `body` into `doc`. False when it is not JSON.
    fn fill(&mut self, body: &[u8], doc: &mut Doc) -> bool {
        self.scratch.clear();
        self.scratch.extend_from_slice(body);
        self.scratch
            .resize(body.len().saturating_add(simd_json::INPUT_PADDING), 0);
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let ok = simd_json::fill_tape_padded(
            &mut self.scratch,
            body.len(),
            &mut self.buffers,
            &mut tape,
        )
        .is_ok()
            && doc.flatten(&tape.0);
        self.tape = tape.reset();
        if self.scratch.capacity() > KEEP {
            self.scratch = Vec::new();
            self.buffers = Buffers::with_max_depth(0, MAX_DEPTH);
        }
        if self.tape.0.capacity() > KEEP / size_of::<simd_json::Node<'_>>() {
            self.tape = Tape(Vec::new());
        }
        ok
    }
}

#[cfg(test)]
mod tests;
