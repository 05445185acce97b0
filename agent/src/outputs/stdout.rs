//! `stdout` output: encoded events on standard output, flushed after every batch.

use super::codec::Codec;
use super::{Encoder, EventSource, Sink, SinkContext};
use crate::batch::Encoded;
use pipeline_dsl::event::Event;
use pipeline_dsl::settings::Settings;
use std::io::Write;
use std::sync::Arc;

/// Encodes events with the output's codec.
pub struct CodecEncoder(pub Codec);

impl Encoder for CodecEncoder {
    fn encode(&self, event: &Event, _: EventSource<'_>, out: &mut Encoded) {
        // A fault to contain, for the end-to-end fault tests; half a record is written
        // first, as a real bug would leave it.
        #[cfg(feature = "fault-injection")]
        if event.has_tag("_fault_injection_encoder") {
            out.data.extend_from_slice(b"{\"half");
            panic!("fault_injection: encoder");
        }
        self.0.encode(event, &mut out.data);
        out.end_record();
    }
}

/// Writes batches to standard output.
pub struct StdoutSink;

/// Reads `codec` (default `rubydebug`, as in Logstash).
pub fn build(s: &mut Settings) -> (Arc<dyn Encoder>, Sink) {
    (
        Arc::new(CodecEncoder(Codec::from_settings(s, "rubydebug"))),
        Sink::Blocking(super::BlockingSink::Stdout(StdoutSink)),
    )
}

/// `stdout { codec => json_lines }`, as `--stdout` uses it.
pub fn json_lines() -> super::Output {
    super::Output {
        id: "stdout".to_string(),
        encoder: Arc::new(CodecEncoder(Codec::JsonLines)),
        sink: Sink::Blocking(super::BlockingSink::Stdout(StdoutSink)),
    }
}

impl StdoutSink {
    /// Writes every batch, acknowledging each once flushed. A closed standard output
    /// (`logship … | head`) ends the sink with the `BrokenPipe` error.
    pub fn run(self, mut ctx: SinkContext) -> std::io::Result<()> {
        let stdout = std::io::stdout();
        while let Some(batch) = ctx.receiver.blocking_recv() {
            let mut out = stdout.lock();
            out.write_all(&batch.encoded.data)?;
            out.flush()?;
            ctx.stats.events.inc_by(batch.encoded.len() as u64);
            batch.ack.output_done();
            ctx.buffers.give(batch.encoded.data);
        }
        Ok(())
    }
}
