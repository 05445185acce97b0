//! `null` output: accepts and discards every event (as Logstash's). Useful to measure
//! the pipeline without an output's cost, and to silence a branch of a config.

use super::{Encoder, EventSource, Sink, SinkContext};
use crate::batch::Encoded;
use pipeline_dsl::event::Event;
use std::sync::Arc;

/// Counts events without encoding them.
pub struct NullEncoder;

impl Encoder for NullEncoder {
    fn encode(&self, _: &Event, _: EventSource<'_>, out: &mut Encoded) {
        out.end_record();
    }
}

/// Acknowledges batches at once.
pub struct NullSink;

/// Builds the output (it has no settings of its own).
pub fn build() -> (Arc<dyn Encoder>, Sink) {
    (Arc::new(NullEncoder), Sink::Blocking(super::BlockingSink::Null(NullSink)))
}

impl NullSink {
    /// Acknowledges every batch as it comes.
    pub fn run(self, mut ctx: SinkContext) {
        while let Some(batch) = ctx.receiver.blocking_recv() {
            ctx.stats.events.inc_by(batch.encoded.len() as u64);
            batch.ack.output_done();
            ctx.buffers.give(batch.encoded.data);
        }
    }
}
