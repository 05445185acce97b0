//! Splits a byte stream into events' `message` lines: bounded line length, UTF-8
//! repair, CRLF handling. Nothing is dropped: an over-long line is truncated and tagged,
//! invalid UTF-8 is repaired and tagged.
//!
//! The splitter is fed chunks as they are read, so a tailed file's last line stays
//! pending until its newline arrives; [`LineSplitter::finish`] hands it over when the
//! stream is known to be complete (end of stdin, a rotated-away file, read mode).
//!
//! Lines go to a [`LineSink`]: a `Vec` of single [`Line`]s (for the multiline codec and
//! the replay input), or a [`Lines`] batch, the form in which lines travel to the
//! filter workers, their text back to back in one recycled buffer.

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

/// Where a [`LineSplitter`] puts completed lines.
pub trait LineSink {
    /// Takes one line: its text without the terminator, its stream offset, the offset
    /// just past its terminator, and the tags of repairs made.
    fn line(&mut self, text: &str, offset: u64, end: u64, tags: Vec<&'static str>);
}

/// Lines one by one, each with its own text (for the multiline codec and the replay
/// input, which work on single lines).
impl LineSink for Vec<Line> {
    fn line(&mut self, text: &str, offset: u64, end: u64, tags: Vec<&'static str>) {
        self.push(Line { text: text.to_string(), offset, end, tags });
    }
}

/// A batch of lines with their text back to back in one buffer: reading a batch costs
/// a few allocations instead of one per line, and each line's text is copied into its
/// event by the filter worker, so it is allocated and freed on that one thread.
#[derive(Debug, Default)]
pub struct Lines {
    text: String,
    meta: Vec<LineMeta>,
}

#[derive(Debug)]
struct LineMeta {
    /// Where the line's text ends in the batch's buffer (it starts where the one before
    /// it ends).
    text_end: usize,
    offset: u64,
    end: u64,
    tags: Vec<&'static str>,
}

/// One line of a [`Lines`] batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRef<'a> {
    /// The text, without its line terminator.
    pub text: &'a str,
    /// Byte offset of the line's start in the stream.
    pub offset: u64,
    /// Byte offset just past the line's terminator.
    pub end: u64,
    /// Tags describing repairs made.
    pub tags: &'a [&'static str],
}

impl Lines {
    /// An empty batch with room for `lines` lines, its text kept in `buffer` (a
    /// recycled one keeps its pages: see [`BufferPool`](crate::batch::BufferPool)).
    pub fn with_buffer(mut buffer: Vec<u8>, lines: usize) -> Self {
        buffer.clear();
        Self { text: String::from_utf8(buffer).unwrap_or_default(), meta: Vec::with_capacity(lines) }
    }

    /// The text buffer, for reuse once the batch is done with.
    pub fn into_buffer(self) -> Vec<u8> {
        self.text.into_bytes()
    }

    /// Adds a line made elsewhere (a joined multiline event, a replayed line).
    pub fn push(&mut self, line: Line) {
        self.line(&line.text, line.offset, line.end, line.tags);
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// Whether there are no lines.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Bytes of text held (terminators excluded).
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// The end offset of the last line: where reading resumes after the batch.
    pub fn last_end(&self) -> Option<u64> {
        self.meta.last().map(|m| m.end)
    }

    /// The lines in order.
    pub fn iter(&self) -> impl Iterator<Item = LineRef<'_>> {
        let mut start = 0;
        self.meta.iter().map(move |m| {
            let text = self.text.get(start..m.text_end).unwrap_or_default();
            start = m.text_end;
            LineRef { text, offset: m.offset, end: m.end, tags: &m.tags }
        })
    }
}

impl LineSink for Lines {
    fn line(&mut self, text: &str, offset: u64, end: u64, tags: Vec<&'static str>) {
        self.text.push_str(text);
        self.meta.push(LineMeta { text_end: self.text.len(), offset, end, tags });
    }
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

    /// Splits `data`, handing every completed line to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut impl LineSink) {
        while !data.is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    self.offset += i as u64 + 1;
                    if self.in_line {
                        self.append(&data[..i]);
                        let text = std::mem::take(&mut self.pending);
                        self.emit(&text, out);
                        self.pending = text;
                        self.pending.clear();
                    } else {
                        // The whole line is in this chunk: decode it straight from it.
                        self.emit(&data[..i], out);
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

    /// Hands the pending partial line to `out`, when the stream is complete.
    pub fn finish(&mut self, out: &mut impl LineSink) {
        if !self.in_line {
            return;
        }
        let text = std::mem::take(&mut self.pending);
        self.emit(&text, out);
        self.line_start = self.offset;
        self.in_line = false;
        self.truncated = false;
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

    fn emit(&mut self, raw: &[u8], out: &mut impl LineSink) {
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
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => {
                tags.push(TAG_UTF8);
                String::from_utf8_lossy(body)
            }
        };
        out.line(&text, self.line_start, self.offset, tags);
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
        s.finish(&mut out);
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
    fn a_batch_holds_the_same_lines_as_single_lines() {
        let input = b"ab\r\ncd\xff\n\n0123456789\n\xc3\xa9t\xc3\xa9\nlast";
        for chunk in [1, 2, 5, 100] {
            let single = lines(input, 5, chunk);
            let mut s = LineSplitter::new(5, 0);
            let mut batch = Lines::with_buffer(b"stale".to_vec(), 2);
            for c in input.chunks(chunk) {
                s.push(c, &mut batch);
            }
            s.finish(&mut batch);
            let got: Vec<Line> = batch
                .iter()
                .map(|l| Line { text: l.text.to_string(), offset: l.offset, end: l.end, tags: l.tags.to_vec() })
                .collect();
            assert_eq!(got, single, "chunk {chunk}");
            assert_eq!(batch.len(), 6);
            assert_eq!(batch.last_end(), Some(input.len() as u64));
            assert_eq!(batch.text_len(), single.iter().map(|l| l.text.len()).sum::<usize>());
        }
        let mut joined = Lines::default();
        joined.push(Line { text: "a\nb".into(), offset: 3, end: 7, tags: vec!["multiline"] });
        let first = joined.iter().next().unwrap();
        assert_eq!((first.text, first.offset, first.end, first.tags), ("a\nb", 3, 7, &["multiline"][..]));
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
        s.finish(&mut out);
        assert_eq!(out.len(), 2);
    }
}
