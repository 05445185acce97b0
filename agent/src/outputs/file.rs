//! `file` output: appends encoded events to a path that may use sprintf
//! (`/var/log/out-%{+YYYY-MM-dd}.log`). Parent directories are created.

use super::codec::Codec;
use pipeline_dsl::event::Event;
use pipeline_dsl::settings::Settings;
use pipeline_dsl::sprintf::Template;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};

/// Appends events to files.
pub struct FileOutput {
    path: Template,
    codec: Codec,
    open: HashMap<String, BufWriter<File>>,
}

impl FileOutput {
    /// Reads `path` (required) and `codec` (default `json_lines`).
    pub fn from_settings(s: &mut Settings) -> Option<Self> {
        s.accept(&["flush_interval", "create_if_deleted", "dir_mode", "file_mode", "gzip"]);
        let codec = Codec::from_settings(s, "json_lines");
        let Some(path) = s.string("path") else {
            s.error("`file` output needs `path`", s.plugin_span(), "add `path => \"/tmp/out.log\"`");
            return None;
        };
        Some(Self { path: Template::new(&path.node), codec, open: HashMap::new() })
    }

    /// Writes one event to the file its path renders to.
    pub fn write(&mut self, event: &Event) -> std::io::Result<()> {
        let path = self.path.render(event);
        if !self.open.contains_key(path.as_ref()) {
            if let Some(parent) = std::path::Path::new(path.as_ref()).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)?;
                }
            }
            let f = OpenOptions::new().create(true).append(true).open(path.as_ref())?;
            self.open.insert(path.to_string(), BufWriter::new(f));
        }
        match self.open.get_mut(path.as_ref()) {
            Some(w) => self.codec.encode(event, w),
            None => Ok(()),
        }
    }

    /// Flushes every open file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        for w in self.open.values_mut() {
            w.flush()?;
        }
        Ok(())
    }
}
