//! `file` input: tails (or reads once) every file matching `path` globs, minus
//! `exclude`, with Logstash's settings where they make sense.
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `path` | required | glob or array of globs |
//! | `exclude` | none | file-name globs to skip |
//! | `mode` | `tail` | `tail` follows files as they grow; `read` reads each file to its end (its last line needs no newline) |
//! | `start_position` | `end` | where to start in files found at start-up that have no checkpoint (`beginning` or `end`); files that appear later are always read from the beginning |
//! | `sincedb_path` | `<data dir>/sincedb/<id or hash of path>.json` | checkpoint file; `/dev/null` keeps no checkpoints |
//! | `stat_interval` | 1 s | how often idle files are polled for growth |
//! | `discover_interval` | 15 | look for new, rotated or deleted files every this many `stat_interval`s |
//! | `close_older` | 1 hour | close a file idle this long (it is reopened when it grows) |
//! | `rotation_grace` | 5 s | a file renamed away from the globs or deleted is read to its end, then closed once idle this long |
//! | `max_line_bytes` | 1 MiB | longer lines are truncated and tagged `_line_truncated` |
//!
//! `*.gz` files are decompressed (flate2) and read once, to their end; a rotated file
//! compressed after it was read is recognised by its content and not read again.
//! Reading itself lives in [`tail`].

pub mod tail;

use super::codec::InputCodec;
use crate::line_codec::DEFAULT_MAX_LINE_BYTES;
use pipeline_dsl::settings::Settings;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a file input follows its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Follow files as they grow, through rotation and truncation.
    Tail,
    /// Read each file to its end; a final line without a newline is complete.
    Read,
}

/// Where to start in a file found at start-up without a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    /// At its first byte.
    Beginning,
    /// At its current end: only new lines are read.
    End,
}

/// Where checkpoints are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SincedbPath {
    /// Under the agent's data directory, named after the input.
    Default,
    /// An explicit file.
    File(PathBuf),
    /// Nowhere (`/dev/null`): every start reads afresh.
    Disabled,
}

/// Reads files matching globs.
pub struct FileInput {
    /// The plugin id (`id` setting, or `file` followed by its position).
    pub id: String,
    /// Glob patterns.
    pub paths: Vec<String>,
    /// File-name globs to skip.
    pub exclude: Vec<glob::Pattern>,
    /// Tags added to every event.
    pub tags: Vec<String>,
    /// Maximum line size in bytes.
    pub max_line_bytes: usize,
    /// Directory relative paths are resolved against.
    pub base_dir: PathBuf,
    /// How lines become events.
    pub codec: InputCodec,
    /// Tail or read.
    pub mode: Mode,
    /// Start of files first seen at start-up without a checkpoint.
    pub start_position: StartPosition,
    /// Checkpoint file.
    pub sincedb_path: SincedbPath,
    /// Poll period of idle files.
    pub stat_interval: Duration,
    /// Number of `stat_interval`s between looks for new files.
    pub discover_interval: u32,
    /// Idle time after which a file is closed.
    pub close_older: Duration,
    /// Idle time after which a file renamed away or deleted is closed.
    pub rotation_grace: Duration,
}

impl FileInput {
    /// Reads the settings listed in the module documentation.
    pub fn from_settings(s: &mut Settings) -> Self {
        s.accept(&[
            "type",
            "ignore_older",
            "sincedb_write_interval",
            "delimiter",
            "file_sort_by",
            "file_sort_direction",
        ]);
        let paths: Vec<String> = s.strings("path").into_iter().map(|p| p.node).collect();
        if paths.is_empty() {
            s.error("`file` input needs `path`", s.plugin_span(), "add `path => \"/var/log/*.log\"`");
        }
        let mut exclude = Vec::new();
        for e in s.strings("exclude") {
            match glob::Pattern::new(&e.node) {
                Ok(p) => exclude.push(p),
                Err(err) => s.error(format!("bad exclude glob: {err}"), e.span, "invalid glob"),
            }
        }
        let mode = match s.choice("mode", &["tail", "read"]) {
            "read" => Mode::Read,
            _ => Mode::Tail,
        };
        let start_position = match s.choice("start_position", &["end", "beginning"]) {
            "beginning" => StartPosition::Beginning,
            _ => StartPosition::End,
        };
        let sincedb_path = match s.string("sincedb_path") {
            None => SincedbPath::Default,
            Some(p) if p.node == "/dev/null" || p.node.eq_ignore_ascii_case("NUL") => SincedbPath::Disabled,
            Some(p) => SincedbPath::File(PathBuf::from(p.node)),
        };
        if let Some(action) = s.string("file_completed_action") {
            if action.node != "log" {
                s.error(
                    format!("file_completed_action `{}` is not supported", action.node),
                    action.span,
                    "logship never deletes input files; completed files are remembered in the sincedb",
                );
            }
        }
        s.accept(&["file_completed_log_path"]);
        let id = s.string("id").map(|i| i.node).unwrap_or_default();
        Self {
            id,
            codec: InputCodec::from_settings(s),
            paths,
            exclude,
            tags: s.strings("tags").into_iter().map(|t| t.node).collect(),
            max_line_bytes: s.int("max_line_bytes").map_or(DEFAULT_MAX_LINE_BYTES, |n| n.max(1) as usize),
            base_dir: PathBuf::from("."),
            mode,
            start_position,
            sincedb_path,
            stat_interval: s.duration("stat_interval").unwrap_or(Duration::from_secs(1)),
            discover_interval: s.int("discover_interval").map_or(15, |n| n.clamp(1, u32::MAX as i64) as u32),
            close_older: s.duration("close_older").unwrap_or(Duration::from_secs(3600)),
            rotation_grace: s.duration("rotation_grace").unwrap_or(Duration::from_secs(5)),
        }
    }

    /// The checkpoint file of this input under `data_dir`, if checkpoints are kept.
    pub fn sincedb_file(&self, data_dir: &Path) -> Option<PathBuf> {
        match &self.sincedb_path {
            SincedbPath::Disabled => None,
            SincedbPath::File(p) => Some(p.clone()),
            SincedbPath::Default => {
                let name = if self.id.is_empty() {
                    let key = self.paths.join("\n");
                    format!("file-{:016x}.json", crate::checkpoint::fingerprint(key.as_bytes(), 0))
                } else {
                    format!("{}.json", self.id.replace(['/', '\\'], "_"))
                };
                Some(data_dir.join("sincedb").join(name))
            }
        }
    }

    /// The files matching now, sorted, de-duplicated.
    pub fn discover(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for p in &self.paths {
            let pattern =
                if PathBuf::from(p).is_absolute() { p.clone() } else { self.base_dir.join(p).display().to_string() };
            let Ok(entries) = glob::glob(&pattern) else { continue };
            for path in entries.flatten() {
                let excluded = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| self.exclude.iter().any(|e| e.matches(n)));
                if path.is_file() && !excluded {
                    out.push(path);
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}
