//! `file` output: appends encoded events to a path that may use sprintf
//! (`/var/log/out-%{+YYYY-MM-dd}.log`). Parent directories are created. A batch is
//! acknowledged once written and flushed to every file it touched.

use super::codec::Codec;
use super::{Encoder, EventSource, Sink, SinkContext};
use crate::batch::Encoded;
use anyhow::Context;
use pipeline_dsl::event::Event;
use pipeline_dsl::settings::Settings;
use pipeline_dsl::sprintf::Template;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::sync::Arc;

/// Encodes an event and renders its file path.
pub struct FileEncoder {
    path: Template,
    codec: Codec,
}

impl Encoder for FileEncoder {
    fn encode(&self, event: &Event, _: EventSource<'_>, out: &mut Encoded) {
        self.codec.encode(event, &mut out.data);
        out.end_record();
        out.keys.push(self.path.render(event).into_owned());
    }
}

/// Appends records to their files.
#[derive(Default)]
pub struct FileSink {
    open: HashMap<String, BufWriter<File>>,
}

/// Reads `path` (required) and `codec` (default `json_lines`).
pub fn build(s: &mut Settings) -> Option<(Arc<dyn Encoder>, Sink)> {
    s.accept(&["flush_interval", "create_if_deleted", "dir_mode", "file_mode", "gzip"]);
    let codec = Codec::from_settings(s, "json_lines");
    let Some(path) = s.string("path") else {
        s.error("`file` output needs `path`", s.plugin_span(), "add `path => \"/tmp/out.log\"`");
        return None;
    };
    Some((
        Arc::new(FileEncoder { path: Template::new(&path.node), codec }),
        Sink::Blocking(super::BlockingSink::File(FileSink::default())),
    ))
}

impl FileSink {
    /// Writes every batch; a write error stops the output (and so, through
    /// back-pressure, the agent) rather than losing events.
    pub fn run(mut self, mut ctx: SinkContext) -> anyhow::Result<()> {
        while let Some(batch) = ctx.receiver.blocking_recv() {
            let e = &batch.encoded;
            for i in 0..e.len() {
                let path = &e.keys[i];
                self.writer(path)?.write_all(e.record(i)).with_context(|| format!("writing {path}"))?;
            }
            for (path, w) in &mut self.open {
                w.flush().with_context(|| format!("writing {path}"))?;
            }
            ctx.stats.events.inc_by(e.len() as u64);
            batch.ack.output_done();
            ctx.buffers.give(batch.encoded.data);
        }
        Ok(())
    }

    fn writer(&mut self, path: &str) -> anyhow::Result<&mut BufWriter<File>> {
        if !self.open.contains_key(path) {
            if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            let f =
                OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {path}"))?;
            self.open.insert(path.to_string(), BufWriter::new(f));
        }
        self.open.get_mut(path).context("file output: writer vanished")
    }
}
