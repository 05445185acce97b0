//! `stdout` output.

use super::codec::Codec;
use pipeline_dsl::event::Event;
use pipeline_dsl::settings::Settings;
use std::io::{BufWriter, Stdout, Write};

/// Writes encoded events to standard output through a buffer.
pub struct StdoutOutput {
    codec: Codec,
    out: BufWriter<Stdout>,
}

impl StdoutOutput {
    /// Reads `codec` (default `rubydebug`, as in Logstash).
    pub fn from_settings(s: &mut Settings) -> Self {
        Self {
            codec: Codec::from_settings(s, "rubydebug"),
            out: BufWriter::with_capacity(256 * 1024, std::io::stdout()),
        }
    }

    /// Writes one event.
    pub fn write(&mut self, event: &Event) -> std::io::Result<()> {
        self.codec.encode(event, &mut self.out)
    }

    /// Flushes.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
