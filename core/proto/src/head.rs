//! The line structure httparse leaves to us: it takes a bare LF as a line end, which some
//! servers do and others do not (request smuggling). [`lines_end_in_crlf`] checks a head after
//! httparse has accepted it; the tests check the whole parsers against a byte-by-byte
//! statement of our line rules on generated heads.

/// After httparse accepted `head` (exactly its `Complete` length) with fields whose names
/// start at `name_starts`: whether every line of it ends in CRLF.
///
/// httparse refuses every control character but HT inside a line (NUL, DEL, a CR not followed
/// by LF) and a field line starting with SP or HT (obs-fold), so the LFs it accepted are
/// exactly the line ends: one before each field name and the two of the blank last line.
/// Checking the two bytes before each line start costs a few instructions per field instead of
/// a scan of every byte.
pub(crate) fn lines_end_in_crlf(head: &[u8], name_starts: impl IntoIterator<Item = usize>) -> bool {
    let Some(last) = head.len().checked_sub(2) else {
        return false;
    };
    let ends = |at: usize| at >= 2 && head.get(at - 2..at) == Some(b"\r\n".as_slice());
    // the blank line, the line before it, then every field's preceding line
    head.get(last..) == Some(b"\r\n".as_slice()) && ends(last) && name_starts.into_iter().all(ends)
}

#[cfg(test)]
mod tests;
