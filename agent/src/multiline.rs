//! The `multiline` codec of inputs: joins continuation lines (stack traces, wrapped
//! records) into one event, with Logstash's settings and semantics.
//!
//! A line "matches" when the pattern (grok syntax allowed) is found in it, inverted by
//! `negate`. With `what => previous` a matching line belongs to the event before it; with
//! `what => next` it belongs to the event after it. Joined lines are separated by `\n`
//! and the event is tagged `multiline`. `max_lines` and `max_bytes` bound an event: past
//! them it is emitted as it is and tagged, so nothing is lost and memory stays bounded.

use crate::line_codec::{Line, LineSplitter, Lines};
use pipeline_dsl::ast::Spanned;
use pipeline_dsl::filters::grok::library::{Flavour, Library};
use pipeline_dsl::filters::grok::GrokPattern;
use pipeline_dsl::settings::Settings;

/// Tag of an event made of several lines.
pub const TAG_MULTILINE: &str = "multiline";
/// Tag of an event cut at `max_lines`.
pub const TAG_MAX_LINES: &str = "multiline_codec_max_lines_reached";
/// Tag of an event cut at `max_bytes`.
pub const TAG_MAX_BYTES: &str = "multiline_codec_max_bytes_reached";

/// Which event a matching line joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// The one before it.
    Previous,
    /// The one after it.
    Next,
}

/// Settings of a multiline codec.
pub struct MultilineConfig {
    /// A pending event is emitted once its stream has been idle this long
    /// (`auto_flush_interval`, default 5 s), so the last event of a quiet log is not
    /// held back until the next line.
    pub auto_flush_interval: std::time::Duration,
    pattern: GrokPattern,
    negate: bool,
    what: What,
    max_lines: usize,
    max_bytes: usize,
}

impl MultilineConfig {
    /// Reads `pattern` (required), `negate`, `what`, `patterns_dir`, `max_lines`
    /// (default 500) and `max_bytes` (default 10 MiB) from the codec block.
    pub fn from_settings(s: &mut Settings) -> Option<Self> {
        s.accept(&["charset", "ecs_compatibility"]);
        let auto_flush_interval = s.duration("auto_flush_interval").unwrap_or(std::time::Duration::from_secs(5));
        let mut library = Library::builtin(Flavour::EcsV1);
        for dir in s.strings("patterns_dir") {
            if let Err(e) = library.add_path(std::path::Path::new(&dir.node)) {
                s.error(
                    format!("cannot read patterns_dir `{}`: {e}", dir.node),
                    dir.span,
                    "unreadable pattern directory",
                );
            }
        }
        let what = match s.string("what") {
            None => None,
            Some(Spanned { node, .. }) if node == "previous" => Some(What::Previous),
            Some(Spanned { node, .. }) if node == "next" => Some(What::Next),
            Some(other) => {
                s.error("`what` must be `previous` or `next`", other.span, "expected previous or next");
                None
            }
        };
        let negate = s.bool_or("negate", false);
        let max_lines = s.int("max_lines").map_or(500, |n| n.max(1) as usize);
        let max_bytes = s.int("max_bytes").map_or(10 * 1024 * 1024, |n| n.max(1) as usize);
        let pattern = match s.string("pattern") {
            Some(p) => match GrokPattern::compile(&p.node, &library, true) {
                Ok(g) => Some(g),
                Err(e) => {
                    s.error(format!("multiline pattern does not compile: {e}"), p.span, "in this pattern");
                    None
                }
            },
            None => {
                s.error("the multiline codec needs `pattern`", s.plugin_span(), "add `pattern => \"^\\\\s\"`");
                None
            }
        };
        if what.is_none() && s.raw("what").is_none() {
            s.error("the multiline codec needs `what => previous` or `what => next`", s.plugin_span(), "add `what`");
        }
        Some(Self { auto_flush_interval, pattern: pattern?, negate, what: what?, max_lines, max_bytes })
    }
}

/// Splits `data` into `out`: straight into the batch for a stream without a multiline
/// codec, else line by line through `joiner` (`scratch` holds the single lines between).
pub fn split_into(
    splitter: &mut LineSplitter,
    data: &[u8],
    joiner: Option<&mut Multiline>,
    scratch: &mut Vec<Line>,
    out: &mut Lines,
) {
    match joiner {
        None => splitter.push(data, out),
        Some(joiner) => {
            splitter.push(data, scratch);
            join_into(joiner, scratch.drain(..), out);
        }
    }
}

/// The stream is complete: its partial last line and the event still being joined go
/// to `out`.
pub fn finish_into(splitter: &mut LineSplitter, joiner: Option<&mut Multiline>, out: &mut Lines) {
    match joiner {
        None => splitter.finish(out),
        Some(joiner) => {
            let mut last = Vec::new();
            splitter.finish(&mut last);
            join_into(joiner, last, out);
            if let Some(event) = joiner.flush() {
                out.push(event);
            }
        }
    }
}

/// Feeds `lines` through `joiner`, adding the events they complete to `out`.
fn join_into(joiner: &mut Multiline, lines: impl IntoIterator<Item = Line>, out: &mut Lines) {
    for line in lines {
        if let Some(event) = joiner.push(line) {
            out.push(event);
        }
    }
}

/// Joins lines into events according to a [`MultilineConfig`]; one per stream, since
/// an event never spans two files.
pub struct Multiline<'a> {
    config: &'a MultilineConfig,
    pending: Option<Line>,
    lines: usize,
    spans: Vec<Option<(usize, usize)>>,
}

impl<'a> Multiline<'a> {
    /// A joiner with nothing pending.
    pub fn new(config: &'a MultilineConfig) -> Self {
        Self { config, pending: None, lines: 0, spans: Vec::new() }
    }

    /// Feeds one line; returns the event it completes, if any.
    pub fn push(&mut self, line: Line) -> Option<Line> {
        let matched = self.config.pattern.match_into(&line.text, &mut self.spans) != self.config.negate;
        match (self.config.what, matched) {
            (What::Previous, true) if self.pending.is_some() => self.append(line),
            (What::Previous, _) => {
                let done = self.flush();
                self.start(line);
                done
            }
            (What::Next, true) => {
                if self.pending.is_some() {
                    self.append(line)
                } else {
                    self.start(line);
                    None
                }
            }
            (What::Next, false) => {
                if self.pending.is_some() {
                    let cut = self.append(line);
                    // The line ends its event (unless appending already emitted it).
                    cut.or_else(|| self.flush())
                } else {
                    Some(line)
                }
            }
        }
    }

    /// The event still being joined, at end of input.
    pub fn flush(&mut self) -> Option<Line> {
        let mut event = self.pending.take()?;
        if self.lines > 1 {
            event.tags.push(TAG_MULTILINE);
        }
        self.lines = 0;
        Some(event)
    }

    fn start(&mut self, line: Line) {
        self.pending = Some(line);
        self.lines = 1;
    }

    /// Appends to the pending event; emits it first when a bound would be exceeded.
    fn append(&mut self, line: Line) -> Option<Line> {
        let Some(pending) = self.pending.as_mut() else {
            self.start(line);
            return None;
        };
        let too_many_lines = self.lines >= self.config.max_lines;
        let too_many_bytes = pending.text.len() + 1 + line.text.len() > self.config.max_bytes;
        if too_many_lines || too_many_bytes {
            pending.tags.push(if too_many_lines { TAG_MAX_LINES } else { TAG_MAX_BYTES });
            let done = self.flush();
            self.start(line);
            return done;
        }
        pending.text.push('\n');
        pending.text.push_str(&line.text);
        pending.end = line.end;
        for t in line.tags {
            if !pending.tags.contains(&t) {
                pending.tags.push(t);
            }
        }
        self.lines += 1;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(settings: &str) -> MultilineConfig {
        let cfg =
            pipeline_dsl::parser::parse_config(&format!("input {{ stdin {{ codec => multiline {{ {settings} }} }} }}"))
                .unwrap();
        let pipeline_dsl::ast::Statement::Plugin(p) = &cfg.sections[0].body[0] else { panic!("not a plugin") };
        let pipeline_dsl::ast::Value::Plugin(codec) = &p.attributes[0].value.node else { panic!("not a codec") };
        let mut s = Settings::new(codec);
        let config = MultilineConfig::from_settings(&mut s);
        assert!(s.finish().is_empty());
        config.unwrap()
    }

    fn run(m: &mut Multiline, lines: &[&str]) -> Vec<(String, Vec<&'static str>)> {
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            out.extend(m.push(Line { text: l.to_string(), offset: i as u64, end: i as u64 + 1, tags: vec![] }));
        }
        out.extend(m.flush());
        out.into_iter().map(|l| (l.text, l.tags)).collect()
    }

    #[test]
    fn previous_joins_continuations_like_a_stack_trace() {
        let c = config(r#"pattern => "^\s" what => "previous""#);
        let mut m = Multiline::new(&c);
        let got = run(&mut m, &["Exception: boom", "  at a.b(C.java:1)", "  at d.e(F.java:2)", "next event"]);
        assert_eq!(
            got[0],
            ("Exception: boom\n  at a.b(C.java:1)\n  at d.e(F.java:2)".to_string(), vec![TAG_MULTILINE])
        );
        assert_eq!(got[1], ("next event".to_string(), vec![]));
    }

    #[test]
    fn negate_with_grok_pattern_starts_events_only_at_an_address() {
        let c = config(r#"pattern => "^%{IPV4}" negate => true what => "previous""#);
        let mut m = Multiline::new(&c);
        let got = run(&mut m, &["1.2.3.4 - a", "unix: - b", "5.6.7.8 - c"]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "1.2.3.4 - a\nunix: - b");
    }

    #[test]
    fn next_joins_lines_ending_with_a_backslash_and_bounds_hold() {
        let c = config(r#"pattern => "\\$" what => "next""#);
        let mut m = Multiline::new(&c);
        let got = run(&mut m, &["a \\", "b \\", "c", "d"]);
        assert_eq!(got[0].0, "a \\\nb \\\nc");
        assert_eq!(got[1].0, "d");
        let c = config(r#"pattern => "^\s" what => "previous" max_lines => 2"#);
        let mut m = Multiline::new(&c);
        let got = run(&mut m, &["x", " 1", " 2", " 3"]);
        assert_eq!(got[0], ("x\n 1".to_string(), vec![TAG_MAX_LINES, TAG_MULTILINE]));
        assert_eq!(got.len(), 2, "the rest is a new event, nothing is lost: {got:?}");
    }
}
