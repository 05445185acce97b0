//! `replay` input: re-emits recorded logs at their original pace, shifted to now, so
//! that sample logs look like live traffic (the quickstart uses it).
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `path` | required | glob or array of globs of the files to replay |
//! | `speed` | `1.0` | time factor: `10` plays ten times faster |
//! | `loop` | `false` | start again after the last line, shifted once more |
//!
//! Every timestamp found in a line is rewritten to its replay time, in the format it
//! was written in: nginx `[20/Nov/2026:20:00:00 +0000]`, ISO 8601 (`"timestamp":
//! "2026-11-20T20:00:00.469Z"` in JSON lines) and CloudFront's leading
//! `2026-11-20<TAB>20:00:00`. Lines of all files are merged in time order; a line without
//! a timestamp (a CloudFront header) goes out with the line before it. Replayed lines
//! are synthetic traffic: they have no checkpoints, and each pass gets its own document
//! ids.

use super::codec::InputCodec;
use super::InputContext;
use crate::batch::{Origin, RawBatch};
use crate::line_codec::{Line, LineSplitter, Lines, DEFAULT_MAX_LINE_BYTES};
use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use pipeline_dsl::settings::Settings;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Replays files in real time.
pub struct ReplayInput {
    /// Glob patterns.
    pub paths: Vec<String>,
    /// Time factor.
    pub speed: f64,
    /// Replay again and again.
    pub repeat: bool,
    /// Tags added to every event.
    pub tags: Vec<String>,
    /// `json_lines` decoding.
    pub json: bool,
}

/// How a timestamp was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `20/Nov/2026:20:00:00 +0000`
    Nginx,
    /// `2026-11-20T20:00:00.469Z`
    Iso,
    /// `2026-11-20\t20:00:00`
    CloudFront,
}

/// A timestamp found in a line.
#[derive(Debug, Clone, PartialEq)]
struct Stamp {
    at: Range<usize>,
    format: Format,
    time: DateTime<Utc>,
}

/// One line of one file, with its time.
struct Recorded {
    file: usize,
    line: Line,
    stamp: Option<Stamp>,
    time: DateTime<Utc>,
}

impl ReplayInput {
    /// Reads `path`, `speed`, `loop`, `tags` and `codec` (`line` or `json_lines`).
    pub fn from_settings(s: &mut Settings) -> Self {
        s.accept(&["id", "type"]);
        let paths: Vec<String> = s.strings("path").into_iter().map(|p| p.node).collect();
        if paths.is_empty() {
            s.error("`replay` input needs `path`", s.plugin_span(), "add `path => \"sample-logs/*.log\"`");
        }
        let speed = match s.raw("speed") {
            None => 1.0,
            Some(v) => match pipeline_dsl::settings::scalar_text(&v.node).and_then(|t| t.parse::<f64>().ok()) {
                Some(x) if x > 0.0 && x.is_finite() => x,
                _ => {
                    s.error("`speed` must be a positive number", v.span, "e.g. 1, 10 or 0.5");
                    1.0
                }
            },
        };
        let codec = InputCodec::from_settings(s);
        if matches!(codec, InputCodec::Multiline(_)) {
            s.error("the replay input does not take a multiline codec", s.plugin_span(), "use line or json_lines");
        }
        Self {
            paths,
            speed,
            repeat: s.bool_or("loop", false),
            tags: s.strings("tags").into_iter().map(|t| t.node).collect(),
            json: codec.is_json(),
        }
    }

    /// Replays until done (or, with `loop`, until the agent stops).
    pub fn run(&self, ctx: &InputContext) -> anyhow::Result<()> {
        let (files, timeline) = self.load()?;
        let Some(first) = timeline.iter().map(|r| r.time).min() else {
            tracing::warn!(paths = ?self.paths, "Nothing to replay");
            return Ok(());
        };
        let last = timeline.iter().map(|r| r.time).max().unwrap_or(first);
        let run_id = super::stdin::random_stream_id();
        let mut pass = 0u64;
        loop {
            let origins: Vec<Arc<Origin>> = files
                .iter()
                .enumerate()
                .map(|(i, path)| {
                    Arc::new(Origin {
                        json: self.json,
                        tags: self.tags.clone(),
                        path: Some(pipeline_dsl::value::shared_text(&path.display().to_string())),
                        fingerprint: Some(crate::checkpoint::fingerprint(&[i as u8], run_id ^ pass.rotate_left(17))),
                    })
                })
                .collect();
            let started = Instant::now();
            let wall_start = Utc::now();
            let mut pending: Vec<Lines> = files.iter().map(|_| ctx.new_lines()).collect();
            for r in &timeline {
                let offset = (r.time - first).to_std().unwrap_or_default().div_f64(self.speed);
                let due = started + offset;
                if due > Instant::now() {
                    if !flush(&mut pending, &origins, ctx) {
                        return Ok(());
                    }
                    if ctx.shutdown.sleep(due.saturating_duration_since(Instant::now())) {
                        return Ok(());
                    }
                }
                let now = wall_start + chrono::Duration::from_std(offset).unwrap_or_default();
                let mut line = r.line.clone();
                if let Some(stamp) = &r.stamp {
                    line.text.replace_range(stamp.at.clone(), &render(stamp.format, now));
                }
                pending[r.file].push(line);
                if pending[r.file].len() >= ctx.batch_lines && !flush(&mut pending, &origins, ctx) {
                    return Ok(());
                }
            }
            if !flush(&mut pending, &origins, ctx) || !self.repeat {
                return Ok(());
            }
            // The next pass starts one average line-gap after the last line.
            let gap = (last - first).to_std().unwrap_or_default().div_f64(self.speed * timeline.len().max(1) as f64);
            let rest = (started + (last - first).to_std().unwrap_or_default().div_f64(self.speed) + gap)
                .saturating_duration_since(Instant::now());
            if ctx.shutdown.sleep(rest) {
                return Ok(());
            }
            pass += 1;
        }
    }

    /// Every line of every file, sorted by time (stable, so lines without a timestamp
    /// stay after the line before them).
    fn load(&self) -> anyhow::Result<(Vec<PathBuf>, Vec<Recorded>)> {
        let mut files = Vec::new();
        for p in &self.paths {
            let entries = glob::glob(p).with_context(|| format!("bad glob `{p}`"))?;
            files.extend(entries.flatten().filter(|f| f.is_file()));
        }
        files.sort();
        files.dedup();
        let mut timeline = Vec::new();
        for (i, path) in files.iter().enumerate() {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let mut splitter = LineSplitter::new(DEFAULT_MAX_LINE_BYTES, 0);
            let mut lines = Vec::new();
            splitter.push(&bytes, &mut lines);
            splitter.finish(&mut lines);
            let mut previous: Option<DateTime<Utc>> = None;
            for line in lines {
                let stamp = find_stamp(&line.text);
                let Some(time) = stamp.as_ref().map(|s| s.time).or(previous) else {
                    // Leading lines without a time (headers) go out first.
                    timeline.push(Recorded { file: i, line, stamp: None, time: DateTime::<Utc>::MIN_UTC });
                    continue;
                };
                previous = Some(time);
                timeline.push(Recorded { file: i, line, stamp, time });
            }
        }
        let first_real = timeline.iter().map(|r| r.time).filter(|t| *t != DateTime::<Utc>::MIN_UTC).min();
        if let Some(first) = first_real {
            for r in timeline.iter_mut().filter(|r| r.time == DateTime::<Utc>::MIN_UTC) {
                r.time = first;
            }
        }
        timeline.sort_by_key(|r| r.time);
        Ok((files, timeline))
    }
}

/// Sends the lines gathered per file; false when the agent is stopping.
fn flush(pending: &mut [Lines], origins: &[Arc<Origin>], ctx: &InputContext) -> bool {
    for (lines, origin) in pending.iter_mut().zip(origins) {
        if lines.is_empty() {
            continue;
        }
        ctx.stats.events.inc_by(lines.len() as u64);
        ctx.stats.bytes.inc_by((lines.text_len() + lines.len()) as u64);
        let batch = RawBatch { lines: std::mem::replace(lines, ctx.new_lines()), origin: origin.clone(), ack: None };
        if !ctx.send(batch) {
            return false;
        }
    }
    true
}

/// Finds the first timestamp of a known format in `line`.
fn find_stamp(line: &str) -> Option<Stamp> {
    let b = line.as_bytes();
    // CloudFront: the line starts with date TAB time.
    if b.len() >= 19 && b[10] == b'\t' && b[4] == b'-' && b[13] == b':' {
        // `get`: byte 19 may fall inside a multi-byte character of a malformed line.
        if let Some(Ok(t)) = line.get(..19).map(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d\t%H:%M:%S")) {
            return Some(Stamp { at: 0..19, format: Format::CloudFront, time: Utc.from_utc_datetime(&t) });
        }
    }
    // nginx: [dd/MMM/yyyy:HH:mm:ss +zzzz]
    if let Some(open) = line.find('[') {
        let end = open + 1 + 26;
        if let Some(text) = line.get(open + 1..end) {
            if let Ok(t) = DateTime::parse_from_str(text, "%d/%b/%Y:%H:%M:%S %z") {
                return Some(Stamp { at: open + 1..end, format: Format::Nginx, time: t.with_timezone(&Utc) });
            }
        }
    }
    // JSON lines: "timestamp":"<RFC 3339>"
    let key = "\"timestamp\":\"";
    let start = line.find(key)? + key.len();
    let len = line[start..].find('"')?;
    let t = DateTime::parse_from_rfc3339(&line[start..start + len]).ok()?;
    Some(Stamp { at: start..start + len, format: Format::Iso, time: t.with_timezone(&Utc) })
}

fn render(format: Format, t: DateTime<Utc>) -> String {
    match format {
        Format::Nginx => t.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
        Format::Iso => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        Format::CloudFront => t.format("%Y-%m-%d\t%H:%M:%S").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_of_the_three_formats_are_found_and_rewritten_in_place() {
        let t = Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap();
        let cases = [
            (
                "1.2.3.4 - - [20/Nov/2026:20:00:00 +0000] \"GET / HTTP/1.1\" 200 1",
                Format::Nginx,
                "1.2.3.4 - - [02/Jan/2030:03:04:05 +0000] \"GET / HTTP/1.1\" 200 1",
            ),
            (
                "{\"timestamp\":\"2026-11-20T20:00:00.469Z\",\"event\":\"stop\"}",
                Format::Iso,
                "{\"timestamp\":\"2030-01-02T03:04:05.000Z\",\"event\":\"stop\"}",
            ),
            ("2026-11-20\t20:00:00\tIAD89-C1\t700", Format::CloudFront, "2030-01-02\t03:04:05\tIAD89-C1\t700"),
        ];
        for (line, format, want) in cases {
            let stamp = find_stamp(line).unwrap_or_else(|| panic!("no timestamp in {line}"));
            assert_eq!(stamp.format, format);
            let mut text = line.to_string();
            text.replace_range(stamp.at, &render(format, t));
            assert_eq!(text, want);
        }
        assert_eq!(find_stamp("#Version: 1.0"), None);
        // Malformed lines never panic: a multi-byte character across byte 19.
        assert_eq!(find_stamp("2026-11-20\t20:00:0é rest"), None);
        assert_eq!(find_stamp("[20/Nov/2026:20:00:00 +00é"), None);
    }
}
