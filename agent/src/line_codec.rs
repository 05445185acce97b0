//! Splits a byte stream into events' `message` lines: bounded line length, UTF-8
//! repair, CRLF handling. Nothing is dropped: an over-long line is truncated and tagged,
//! invalid UTF-8 is repaired and tagged.
//!
//! The splitter is fed chunks as they are read, so a tailed file's last line stays
//! pending until its newline arrives; [`LineSplitter::finish`] hands it over when the
//! stream is known to be complete (end of stdin, a rotated-away file, read mode).

/// Tag added when a line exceeded the maximum size and was truncated.
pub const TAG_TRUNCATED: &str = "_line_truncated";
/// Tag added when a line held invalid UTF-8 (replaced by U+FFFD).
pub const TAG_UTF8: &str = "_utf8_repaired";

/// Default maximum line size in bytes.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

/// One decoded line (or, after the multiline codec, several joined lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The text, without its line terminator.
    pub text: String,
    /// Byte offset of the line's start in the stream.
    pub offset: u64,
    /// Byte offset just past the line's terminator: where reading resumes after it.
    pub end: u64,
    /// Tags describing repairs made.
    pub tags: Vec<&'static str>,
}

/// Turns chunks of bytes into [`Line`]s, at most `max_bytes` per line (the rest of an
/// over-long line is skipped up to its newline).
#[derive(Debug)]
pub struct LineSplitter {
    max_bytes: usize,
    /// Stream offset of the next byte pushed.
    offset: u64,
    /// Stream offset where the pending line starts.
    line_start: u64,
    pending: Vec<u8>,
    /// Whether any byte has been pushed since the last line ended.
    in_line: bool,
    truncated: bool,
}

impl LineSplitter {
    /// A splitter whose first pushed byte is at stream offset `start`.
    pub fn new(max_bytes: usize, start: u64) -> Self {
        Self {
            max_bytes: max_bytes.max(1),
            offset: start,
            line_start: start,
            pending: Vec::new(),
            in_line: false,
            truncated: false,
        }
    }

    /// Stream offset of the next byte to push.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether part of a line is held, waiting for its newline.
    pub fn has_pending(&self) -> bool {
        self.in_line
    }

    /// Splits `data`, appending every completed line to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Line>) {
        while !data.is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    self.offset += i as u64 + 1;
                    if self.in_line {
                        self.append(&data[..i]);
                        let text = std::mem::take(&mut self.pending);
                        out.push(self.make_line(&text));
                        self.pending = text;
                        self.pending.clear();
                    } else {
                        // The whole line is in this chunk: decode it straight from it.
                        out.push(self.make_line(&data[..i]));
                    }
                    self.line_start = self.offset;
                    self.in_line = false;
                    self.truncated = false;
                    data = &data[i + 1..];
                }
                None => {
                    self.offset += data.len() as u64;
                    self.in_line = true;
                    self.append(data);
                    break;
                }
            }
        }
    }

    /// The pending partial line, when the stream is complete.
    pub fn finish(&mut self) -> Option<Line> {
        if !self.in_line {
            return None;
        }
        let text = std::mem::take(&mut self.pending);
        let line = self.make_line(&text);
        self.line_start = self.offset;
        self.in_line = false;
        self.truncated = false;
        Some(line)
    }

    /// Adds bytes to the pending line, keeping one byte beyond the limit so that a
    /// final `\r` can still be recognised as part of a CRLF.
    fn append(&mut self, bytes: &[u8]) {
        let room = (self.max_bytes + 1).saturating_sub(self.pending.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.pending.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn make_line(&mut self, raw: &[u8]) -> Line {
        let mut body = raw;
        if body.last() == Some(&b'\r') {
            body = &body[..body.len() - 1];
        }
        let mut tags = Vec::new();
        if body.len() > self.max_bytes {
            body = &body[..self.max_bytes];
            self.truncated = true;
        }
        if self.truncated {
            tags.push(TAG_TRUNCATED);
        }
        let text = match std::str::from_utf8(body) {
            Ok(s) => s.to_string(),
            Err(_) => {
                tags.push(TAG_UTF8);
                String::from_utf8_lossy(body).into_owned()
            }
        };
        Line { text, offset: self.line_start, end: self.offset, tags }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in chunks of `chunk` bytes, then finishes the stream.
    fn lines(input: &[u8], max: usize, chunk: usize) -> Vec<Line> {
        let mut s = LineSplitter::new(max, 0);
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            s.push(c, &mut out);
        }
        out.extend(s.finish());
        out
    }

    #[test]
    fn splits_repairs_and_truncates_whatever_the_chunking() {
        for chunk in [1, 2, 3, 4, 7, 100] {
            let got = lines(b"ab\r\ncd\xff\n0123456789\nlast", 5, chunk);
            assert_eq!(got[0], Line { text: "ab".into(), offset: 0, end: 4, tags: vec![] }, "chunk {chunk}");
            assert_eq!(got[1].text, "cd\u{fffd}");
            assert_eq!(got[1].tags, [TAG_UTF8]);
            assert_eq!(got[2], Line { text: "01234".into(), offset: 8, end: 19, tags: vec![TAG_TRUNCATED] });
            assert_eq!(got[3], Line { text: "last".into(), offset: 19, end: 23, tags: vec![] });
            assert_eq!(got.len(), 4);
        }
    }

    #[test]
    fn a_line_exactly_at_the_limit_is_whole_even_with_crlf() {
        for chunk in [1, 3, 100] {
            let got = lines(b"12345\r\n123456\n", 5, chunk);
            assert_eq!(got[0].text, "12345", "chunk {chunk}");
            assert!(got[0].tags.is_empty(), "chunk {chunk}: {:?}", got[0].tags);
            assert_eq!(got[1].text, "12345");
            assert_eq!(got[1].tags, [TAG_TRUNCATED]);
        }
    }

    #[test]
    fn a_partial_line_waits_for_its_newline() {
        let mut s = LineSplitter::new(100, 10);
        let mut out = Vec::new();
        s.push(b"one\ntw", &mut out);
        assert_eq!(out.len(), 1);
        assert!(s.has_pending());
        s.push(b"o\n", &mut out);
        assert_eq!(out[1], Line { text: "two".into(), offset: 14, end: 18, tags: vec![] });
        assert!(!s.has_pending());
        assert_eq!(s.finish(), None);
    }
}
