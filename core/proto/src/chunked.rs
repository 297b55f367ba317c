//! The chunked transfer coding (RFC 9112 §7.1): an incremental decoder that never copies body
//! bytes, and the chunk header writer.
//!
//! Strictness: the size is 1-16 hex digits and at most 2^63; whitespace after it is accepted
//! only before a `;` extension; extensions (per size line) and trailers (in total) are bounded
//! and dropped; every line ends in CRLF, a bare CR or LF is refused.

use crate::{ProtoError, Range};

/// Longest accepted chunk extension, per size line.
pub const MAX_CHUNK_EXT: u32 = 4096;
/// Largest accepted trailer section, in total.
pub const MAX_TRAILERS: u32 = 8192;

const MAX_CHUNK_SIZE: u64 = 1 << 63;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    #[default]
    Size,
    /// Whitespace after the size: only more of it or `;` may follow.
    SizeWs,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line or of the final CRLF.
    TrailerStart,
    TrailerLine,
    TrailerLf,
    EndLf,
    Done,
}

/// Incremental chunked-body decoder.
#[derive(Debug, Clone, Default)]
pub struct ChunkedDecoder {
    state: State,
    /// The size being read, then the data bytes still to come.
    size: u64,
    digits: u8,
    ext: u32,
    trailers: u32,
    /// Errors are the upstream's (`BadResponse`), not the client's (`BadRequest`).
    upstream: bool,
}

/// What one step of the decoder produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// `consumed` input bytes yielded the data range `data` of the input (may be empty).
    Data { consumed: usize, data: Range },
    /// Need more input.
    Partial { consumed: usize },
    /// The terminating chunk and trailers were consumed.
    End { consumed: usize },
}

impl ChunkedDecoder {
    /// A decoder for a request body: errors are `BadRequest`.
    pub fn new() -> Self {
        ChunkedDecoder::default()
    }

    /// A decoder for an upstream response body: errors are `BadResponse`.
    pub fn upstream() -> Self {
        ChunkedDecoder {
            upstream: true,
            ..ChunkedDecoder::default()
        }
    }

    /// True once the last chunk and the trailers have been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decode from `input`; call again with the unconsumed rest.
    pub fn decode(&mut self, input: &[u8]) -> Result<Chunk, ProtoError> {
        let mut pos = 0;
        loop {
            if self.state == State::Done {
                return Ok(Chunk::End { consumed: pos });
            }
            if self.state == State::Data {
                return Ok(self.data(input, pos));
            }
            let Some(&b) = input.get(pos) else {
                return Ok(Chunk::Partial { consumed: pos });
            };
            pos += 1;
            self.step(b)?;
            if self.state == State::Done {
                return Ok(Chunk::End { consumed: pos });
            }
        }
    }

    fn data(&mut self, input: &[u8], pos: usize) -> Chunk {
        let available = input.len().saturating_sub(pos);
        // Ranges are u32: hand out at most what fits, the caller comes back for the rest.
        let room = (u32::MAX as usize).saturating_sub(pos);
        let n = usize::try_from(self.size)
            .unwrap_or(usize::MAX)
            .min(available)
            .min(room);
        if n == 0 {
            return Chunk::Partial { consumed: pos };
        }
        self.size -= n as u64;
        if self.size == 0 {
            self.state = State::DataCr;
        }
        let start = u32::try_from(pos).unwrap_or(u32::MAX);
        let end = u32::try_from(pos + n).unwrap_or(u32::MAX);
        Chunk::Data {
            consumed: pos + n,
            data: Range { start, end },
        }
    }

    fn fail(&self, why: &'static str) -> ProtoError {
        if self.upstream {
            ProtoError::BadResponse(why)
        } else {
            ProtoError::BadRequest(why)
        }
    }

    /// Advance over one framing byte.
    fn step(&mut self, b: u8) -> Result<(), ProtoError> {
        self.state = match (self.state, b) {
            (State::Size, _) if b.is_ascii_hexdigit() => {
                self.digits += 1;
                let digit = u64::from(hex_value(b));
                let size = self.size.checked_mul(16).and_then(|s| s.checked_add(digit));
                match size {
                    Some(s) if self.digits <= 16 && s <= MAX_CHUNK_SIZE => self.size = s,
                    _ => return Err(self.fail("chunk size too large")),
                }
                State::Size
            }
            (State::Size, _) if self.digits == 0 => return Err(self.fail("invalid chunk size")),
            (State::Size, b'\r') => State::SizeLf,
            (State::Size, b';') | (State::SizeWs, b';') => State::Ext,
            (State::Size, b' ' | b'\t') | (State::SizeWs, b' ' | b'\t') => {
                self.count_ext()?;
                State::SizeWs
            }
            (State::Size | State::SizeWs, b'\n') => {
                return Err(self.fail("bare LF in chunked body"));
            }
            (State::Size | State::SizeWs, _) => return Err(self.fail("invalid chunk size line")),
            (State::Ext, b'\r') => State::SizeLf,
            (State::Ext, _) if is_line_byte(b) => {
                self.count_ext()?;
                State::Ext
            }
            (State::SizeLf, b'\n') => {
                self.digits = 0;
                self.ext = 0;
                if self.size == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                }
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataCr, _) => return Err(self.fail("missing CRLF after chunk data")),
            (State::DataLf, b'\n') => State::Size,
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerLine, b'\r') => State::TrailerLf,
            (State::TrailerStart | State::TrailerLine, _) if is_line_byte(b) => {
                self.trailers += 1;
                if self.trailers > MAX_TRAILERS {
                    return Err(self.fail("trailers too large"));
                }
                State::TrailerLine
            }
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::EndLf, b'\n') => State::Done,
            (_, b'\n') => return Err(self.fail("bare LF in chunked body")),
            (State::SizeLf | State::DataLf | State::TrailerLf | State::EndLf, _) => {
                return Err(self.fail("bare CR in chunked body"));
            }
            _ => return Err(self.fail("invalid byte in chunked body")),
        };
        Ok(())
    }

    fn count_ext(&mut self) -> Result<(), ProtoError> {
        self.ext += 1;
        if self.ext > MAX_CHUNK_EXT {
            Err(self.fail("chunk extension too long"))
        } else {
            Ok(())
        }
    }
}

/// Bytes allowed inside an extension or trailer line: HT, visible ASCII, SP and obs-text.
fn is_line_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// Write a chunk header (`{len:x}\r\n`) for `len` data bytes; the caller writes the data and
/// `\r\n`. `len == 0` writes the last chunk `0\r\n\r\n`.
pub fn write_chunk_header(len: usize, out: &mut Vec<u8>) {
    if len == 0 {
        out.extend_from_slice(b"0\r\n\r\n");
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = len;
    while n > 0 && at > 0 {
        at -= 1;
        if let (Some(d), Some(&h)) = (digits.get_mut(at), HEX.get(n % 16)) {
            *d = h;
        }
        n /= 16;
    }
    out.extend_from_slice(digits.get(at..).unwrap_or(&[]));
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
