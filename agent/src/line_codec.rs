//! Splits a byte stream into events' `message` lines: bounded line length, UTF-8
//! repair, CRLF handling. Nothing is dropped: an over-long line is truncated and tagged,
//! invalid UTF-8 is repaired and tagged.

use std::io::BufRead;

/// Tag added when a line exceeded the maximum size and was truncated.
pub const TAG_TRUNCATED: &str = "_line_truncated";
/// Tag added when a line held invalid UTF-8 (replaced by U+FFFD).
pub const TAG_UTF8: &str = "_utf8_repaired";

/// Default maximum line size in bytes.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

/// One decoded line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The text, without its line terminator.
    pub text: String,
    /// Byte offset of the line's start in the stream.
    pub offset: u64,
    /// Tags describing repairs made.
    pub tags: Vec<&'static str>,
}

/// Reads lines from `reader`, at most `max_bytes` per line (the rest of an over-long
/// line is skipped up to its newline).
pub struct LineReader<R> {
    reader: R,
    max_bytes: usize,
    offset: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    /// Wraps a reader.
    pub fn new(reader: R, max_bytes: usize) -> Self {
        Self { reader, max_bytes: max_bytes.max(1), offset: 0, buf: Vec::with_capacity(512) }
    }

    /// The next line, `Ok(None)` at end of input. A final line without a newline is
    /// returned too (the input is read once, so nothing more will follow it).
    pub fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        self.buf.clear();
        let start = self.offset;
        let mut truncated = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if self.buf.is_empty() && !truncated {
                    return Ok(None);
                }
                break;
            }
            let (chunk, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], Some(i + 1)),
                None => (available, None),
            };
            let room = self.max_bytes.saturating_sub(self.buf.len());
            if chunk.len() > room {
                truncated = true;
            }
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let consumed = done.unwrap_or(available.len());
            self.reader.consume(consumed);
            self.offset += consumed as u64;
            if done.is_some() {
                break;
            }
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        let mut tags = Vec::new();
        if truncated {
            tags.push(TAG_TRUNCATED);
        }
        let text = match std::str::from_utf8(&self.buf) {
            Ok(s) => s.to_string(),
            Err(_) => {
                tags.push(TAG_UTF8);
                String::from_utf8_lossy(&self.buf).into_owned()
            }
        };
        Ok(Some(Line { text, offset: start, tags }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Line> {
        let mut r = LineReader::new(std::io::BufReader::with_capacity(4, input), max);
        std::iter::from_fn(|| r.next_line().unwrap()).collect()
    }

    #[test]
    fn splits_repairs_and_truncates() {
        let got = lines(b"ab\r\ncd\xff\n0123456789\nlast", 5);
        assert_eq!(got[0], Line { text: "ab".into(), offset: 0, tags: vec![] });
        assert_eq!(got[1].text, "cd\u{fffd}");
        assert_eq!(got[1].tags, [TAG_UTF8]);
        assert_eq!(got[2], Line { text: "01234".into(), offset: 8, tags: vec![TAG_TRUNCATED] });
        assert_eq!(got[3], Line { text: "last".into(), offset: 19, tags: vec![] });
        assert_eq!(got.len(), 4);
    }
}
