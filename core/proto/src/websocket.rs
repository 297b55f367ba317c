//! WebSocket frames (RFC 6455 §5) read as they stream by, for a relay that never holds a
//! whole message: a [`FrameReader`] takes whatever bytes arrived and says what they are — a
//! data frame's header, payload bytes of the current data frame, a whole control frame (at
//! most 131 bytes, kept so its payload can be read), or the first violation of the protocol
//! with the close code it calls for. Headers are checked before a byte of their frame is
//! passed on, so a relay can refuse a frame without having sent any of it.
//!
//! "Not enough bytes yet" is [`Step::Partial`], never an error; no input panics, and after a
//! violation the reader only repeats it.

/// 1000: the purpose of the connection was fulfilled.
pub const NORMAL: u16 = 1000;
/// 1001: an endpoint is going away (gw closing a tunnel on its own account).
pub const GOING_AWAY: u16 = 1001;
/// 1002: a protocol error.
pub const PROTOCOL_ERROR: u16 = 1002;
/// 1007: data inconsistent with its type (a close reason that is not UTF-8).
pub const INVALID_DATA: u16 = 1007;
/// 1009: a message too big to process.
pub const TOO_BIG: u16 = 1009;

/// Opcodes (RFC 6455 §5.2).
pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Largest control frame payload.
pub const MAX_CONTROL: usize = 125;

/// Who sends the frames a reader reads: every client frame is masked, no server frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Client,
    Server,
}

/// The extensions the handshake negotiated, read from the 101's
/// `Sec-WebSocket-Extensions`: they decide which reserved bits a frame may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extensions {
    /// permessage-deflate (RFC 7692): RSV1 on the first frame of a message.
    pub deflate: bool,
    /// An extension gw does not know: its frames may set any reserved bit.
    pub other: bool,
}

impl Extensions {
    /// The extensions named by the values of every `Sec-WebSocket-Extensions` field.
    pub fn from_fields<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Extensions {
        let mut e = Extensions::default();
        for v in values {
            for ext in v.split(|&b| b == b',') {
                let name = ext.split(|&b| b == b';').next().unwrap_or(&[]).trim_ascii();
                if name.is_empty() {
                    continue;
                }
                if name.eq_ignore_ascii_case(b"permessage-deflate") {
                    e.deflate = true;
                } else {
                    e.other = true;
                }
            }
        }
        e
    }
}

/// A peer broke the protocol: the close code and reason it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

const fn violation(code: u16, reason: &'static str) -> Violation {
    Violation { code, reason }
}

/// What the bytes a [`FrameReader::read`] took were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Part of a header or of a control frame, kept by the reader: nothing to pass on yet.
    Partial,
    /// A data frame's header is complete: [`FrameReader::header`] has its bytes as received.
    Header,
    /// Payload of the current data frame, as received (still masked).
    Payload,
    /// A whole control frame: [`FrameReader::control`] and [`FrameReader::control_raw`].
    Control,
    /// The peer broke the protocol; the reader takes nothing more.
    Violation(Violation),
}

/// Reads the frames one peer sends, incrementally. See the module documentation.
#[derive(Debug, Clone)]
pub struct FrameReader {
    sender: Sender,
    ext: Extensions,
    max_message: u64,
    /// The header being read (or the last one read), and how much of it there is.
    head: [u8; 14],
    head_len: usize,
    /// The current frame's opcode and FIN bit, its masking key, payload bytes still to come.
    op: u8,
    fin: bool,
    mask: [u8; 4],
    remaining: u64,
    /// Whether a frame's payload is being read (its header is complete).
    in_payload: bool,
    /// A control frame's payload as received, then unmasked when complete.
    control: [u8; MAX_CONTROL],
    control_len: usize,
    /// A fragmented message is open (its last frame had no FIN), and its size so far.
    fragmented: bool,
    message_len: u64,
    /// A data message's final frame ended with the last read.
    message_ended: bool,
    failed: Option<Violation>,
}

impl FrameReader {
    /// A reader of the frames `sender` sends, under the negotiated extensions, refusing a data
    /// message whose frames add up to more than `max_message` payload bytes (1009).
    pub fn new(sender: Sender, ext: Extensions, max_message: u64) -> FrameReader {
        FrameReader {
            sender,
            ext,
            max_message,
            head: [0; 14],
            head_len: 0,
            op: 0,
            fin: false,
            mask: [0; 4],
            remaining: 0,
            in_payload: false,
            control: [0; MAX_CONTROL],
            control_len: 0,
            fragmented: false,
            message_len: 0,
            message_ended: false,
            failed: None,
        }
    }

    /// Take what `input` starts with: how many bytes were taken, and what they were. Taking
    /// nothing happens only for an empty input or after a violation.
    pub fn read(&mut self, input: &[u8]) -> (usize, Step) {
        self.message_ended = false;
        if let Some(v) = self.failed {
            return (0, Step::Violation(v));
        }
        if input.is_empty() {
            return (0, Step::Partial);
        }
        let (n, step) = if self.in_payload {
            self.payload(input)
        } else {
            self.header_bytes(input)
        };
        if let Step::Violation(v) = step {
            self.failed = Some(v);
        }
        (n, step)
    }

    /// Whether the bytes taken so far end a frame: a frame of the relay's own can go next.
    pub fn at_boundary(&self) -> bool {
        !self.in_payload && (self.head_len == 0 || self.head_complete())
    }

    /// Payload bytes of the current data frame still to come (0 outside a data frame's
    /// payload): that many bytes can be passed on without looking at them.
    pub fn data_payload_left(&self) -> u64 {
        if self.in_payload && self.op & 0x08 == 0 {
            self.remaining
        } else {
            0
        }
    }

    /// Whether the last read ended a data message (its final frame's last byte).
    pub fn message_ended(&self) -> bool {
        self.message_ended
    }

    /// The last data frame header, as received.
    pub fn header(&self) -> &[u8] {
        self.head.get(..self.head_len).unwrap_or(&[])
    }

    /// The last control frame: its opcode and its payload, unmasked.
    pub fn control(&self) -> (u8, &[u8]) {
        (self.op, self.control.get(..self.control_len).unwrap_or(&[]))
    }

    /// The last control frame as received: header and payload (masked again when it was).
    pub fn control_raw(&self, out: &mut Vec<u8>) {
        let (op, payload) = self.control();
        let mask = (self.sender == Sender::Client).then_some(self.mask);
        control_frame(op, payload, mask, out);
    }

    fn head_complete(&self) -> bool {
        self.head_len >= 2 && self.head_len == self.head_needed()
    }

    /// Header length as far as its first two bytes tell (2 until they are there).
    fn head_needed(&self) -> usize {
        let Some(&b1) = self.head.get(1).filter(|_| self.head_len >= 2) else {
            return 2;
        };
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
    }

    fn header_bytes(&mut self, input: &[u8]) -> (usize, Step) {
        if self.head_complete() {
            // the previous frame is done: this is a new header
            self.head_len = 0;
        }
        let mut used = 0;
        loop {
            let need = self.head_needed();
            let take = (need - self.head_len).min(input.len() - used);
            let (Some(dst), Some(src)) = (
                self.head.get_mut(self.head_len..self.head_len + take),
                input.get(used..used + take),
            ) else {
                return (used, Step::Partial);
            };
            dst.copy_from_slice(src);
            let first = self.head_len < 2;
            self.head_len += take;
            used += take;
            if first && self.head_len >= 2 {
                if let Err(v) = self.check_first_bytes() {
                    return (used, Step::Violation(v));
                }
                // the length field and mask may follow
                continue;
            }
            if self.head_len < self.head_needed() {
                return (used, Step::Partial);
            }
            return match self.start_frame() {
                Err(v) => (used, Step::Violation(v)),
                Ok(step) => (used, step),
            };
        }
    }

    /// Opcode, reserved bits, mask and control-frame rules: all known from two bytes.
    fn check_first_bytes(&self) -> Result<(), Violation> {
        let [b0, b1, ..] = self.head;
        let op = b0 & 0x0f;
        let fin = b0 & 0x80 != 0;
        let rsv = b0 & 0x70;
        let control = op & 0x08 != 0;
        if !matches!(
            op,
            OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
        ) {
            return Err(violation(PROTOCOL_ERROR, "reserved opcode"));
        }
        let allowed = if self.ext.other {
            0x70
        } else if self.ext.deflate && matches!(op, OP_TEXT | OP_BINARY) {
            0x40
        } else {
            0
        };
        if rsv & !allowed != 0 {
            return Err(violation(PROTOCOL_ERROR, "reserved bit set"));
        }
        let masked = b1 & 0x80 != 0;
        match self.sender {
            Sender::Client if !masked => {
                return Err(violation(PROTOCOL_ERROR, "unmasked client frame"));
            }
            Sender::Server if masked => {
                return Err(violation(PROTOCOL_ERROR, "masked server frame"));
            }
            _ => {}
        }
        if control {
            if !fin {
                return Err(violation(PROTOCOL_ERROR, "fragmented control frame"));
            }
            if usize::from(b1 & 0x7f) > MAX_CONTROL {
                return Err(violation(PROTOCOL_ERROR, "control frame over 125 bytes"));
            }
        } else if op == OP_CONTINUATION && !self.fragmented {
            return Err(violation(PROTOCOL_ERROR, "continuation outside a message"));
        } else if op != OP_CONTINUATION && self.fragmented {
            return Err(violation(
                PROTOCOL_ERROR,
                "new message inside a fragmented one",
            ));
        }
        Ok(())
    }

    /// The header is complete: its length, the message's size, the frame's state.
    fn start_frame(&mut self) -> Result<Step, Violation> {
        let [b0, b1, ..] = self.head;
        let (len, at) = match b1 & 0x7f {
            126 => (
                u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
                4,
            ),
            127 => {
                let mut l = [0u8; 8];
                l.copy_from_slice(self.head.get(2..10).unwrap_or(&[0; 8]));
                (u64::from_be_bytes(l), 10)
            }
            n => (u64::from(n), 2),
        };
        if len >> 63 != 0 {
            return Err(violation(
                PROTOCOL_ERROR,
                "frame length with its top bit set",
            ));
        }
        if b1 & 0x80 != 0 {
            self.mask
                .copy_from_slice(self.head.get(at..at + 4).unwrap_or(&[0; 4]));
        } else {
            self.mask = [0; 4];
        }
        self.op = b0 & 0x0f;
        self.fin = b0 & 0x80 != 0;
        self.remaining = len;
        if self.op & 0x08 != 0 {
            self.control_len = 0;
            self.in_payload = len > 0;
            return if len == 0 {
                self.end_control()
            } else {
                Ok(Step::Partial)
            };
        }
        let start = if self.op == OP_CONTINUATION {
            self.message_len
        } else {
            0
        };
        let total = start.saturating_add(len);
        if total > self.max_message {
            return Err(violation(TOO_BIG, "message too big"));
        }
        self.message_len = total;
        self.fragmented = !self.fin;
        self.in_payload = len > 0;
        if len == 0 {
            self.message_ended = self.fin;
        }
        Ok(Step::Header)
    }

    fn payload(&mut self, input: &[u8]) -> (usize, Step) {
        let n = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(input.len());
        self.remaining -= n as u64;
        let done = self.remaining == 0;
        if self.op & 0x08 == 0 {
            if done {
                self.in_payload = false;
                self.message_ended = self.fin;
            }
            return (n, Step::Payload);
        }
        let (Some(dst), Some(src)) = (
            self.control.get_mut(self.control_len..self.control_len + n),
            input.get(..n),
        ) else {
            return (
                n,
                Step::Violation(violation(PROTOCOL_ERROR, "control frame")),
            );
        };
        dst.copy_from_slice(src);
        self.control_len += n;
        if !done {
            return (n, Step::Partial);
        }
        self.in_payload = false;
        match self.end_control() {
            Ok(step) => (n, step),
            Err(v) => (n, Step::Violation(v)),
        }
    }

    /// A control frame's payload is all there: unmask it and check a Close's code and reason.
    fn end_control(&mut self) -> Result<Step, Violation> {
        let payload = self.control.get_mut(..self.control_len).unwrap_or(&mut []);
        if self.sender == Sender::Client {
            apply_mask(payload, self.mask);
        }
        if self.op == OP_CLOSE {
            check_close(payload)?;
        }
        Ok(Step::Control)
    }
}

/// A Close payload: empty, or a code a peer may send and a UTF-8 reason.
fn check_close(payload: &[u8]) -> Result<(), Violation> {
    let code = match payload {
        [] => return Ok(()),
        [_] => return Err(violation(PROTOCOL_ERROR, "close payload of one byte")),
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
    };
    if !close_code_sendable(code) {
        return Err(violation(PROTOCOL_ERROR, "close code not allowed"));
    }
    if std::str::from_utf8(payload.get(2..).unwrap_or(&[])).is_err() {
        return Err(violation(INVALID_DATA, "close reason not UTF-8"));
    }
    Ok(())
}

/// Whether a peer may send `code` in a Close (RFC 6455 §7.4 and the IANA registry): 1005,
/// 1006 and 1015 only report what happened locally, and unassigned codes are refused.
pub fn close_code_sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The code and reason of a Close payload (1005, "no status", for an empty one).
pub fn close_status(payload: &[u8]) -> (u16, &[u8]) {
    match payload {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => (1005, &[]),
    }
}

/// XOR `data` with the masking key, starting at the key's first byte.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    for (b, m) in data.iter_mut().zip(mask.iter().cycle()) {
        *b ^= m;
    }
}

/// Append a control frame (`op` with FIN) carrying `payload` (cut at 125 bytes), masked with
/// `mask` when given (a frame gw sends upstream, as a client does).
pub fn control_frame(op: u8, payload: &[u8], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let payload = payload.get(..MAX_CONTROL).unwrap_or(payload);
    out.push(0x80 | (op & 0x0f));
    let masked = if mask.is_some() { 0x80 } else { 0 };
    out.push(masked | payload.len() as u8);
    let start = out.len();
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend_from_slice(payload);
            if let Some(p) = out.get_mut(start + 4..) {
                apply_mask(p, m);
            }
        }
        None => out.extend_from_slice(payload),
    }
}

/// Append a Close frame with `code` and `reason` (the reason cut to fit, at a character).
pub fn close_frame(code: u16, reason: &str, mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let mut cut = reason.len().min(MAX_CONTROL - 2);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = [0u8; MAX_CONTROL];
    let [a, b] = code.to_be_bytes();
    payload[0] = a;
    payload[1] = b;
    let text = reason.as_bytes().get(..cut).unwrap_or(&[]);
    if let Some(dst) = payload.get_mut(2..2 + text.len()) {
        dst.copy_from_slice(text);
    }
    control_frame(
        OP_CLOSE,
        payload.get(..2 + text.len()).unwrap_or(&[]),
        mask,
        out,
    );
}

#[cfg(test)]
mod tests;
