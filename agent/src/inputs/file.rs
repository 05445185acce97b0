//! `file` input (read mode): every file matching `path` globs, minus `exclude`, read
//! once from the beginning, in sorted order. Tailing, rotation and checkpoints come
//! with the long-running agent (issue 3).

use super::codec::InputCodec;
use crate::line_codec::DEFAULT_MAX_LINE_BYTES;
use pipeline_dsl::settings::Settings;
use std::path::PathBuf;

/// Reads files matching globs.
pub struct FileInput {
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
}

impl FileInput {
    /// Reads `path`, `exclude`, `tags`, `max_line_bytes`, `codec`; Logstash's tailing
    /// options are accepted so existing configs load.
    pub fn from_settings(s: &mut Settings) -> Self {
        s.accept(&[
            "id",
            "type",
            "start_position",
            "mode",
            "sincedb_path",
            "discover_interval",
            "close_older",
            "stat_interval",
            "ignore_older",
            "file_completed_action",
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
        Self {
            codec: InputCodec::from_settings(s),
            paths,
            exclude,
            tags: s.strings("tags").into_iter().map(|t| t.node).collect(),
            max_line_bytes: s.int("max_line_bytes").map_or(DEFAULT_MAX_LINE_BYTES, |n| n.max(1) as usize),
            base_dir: PathBuf::from("."),
        }
    }

    /// The files to read now, sorted, de-duplicated.
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
