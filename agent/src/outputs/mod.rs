//! Outputs: where documents go. Each output is split in two:
//! - an [`Encoder`], shared by the filter workers, which turns an event into the
//!   output's bytes in parallel with the filters;
//! - a sink, run on its own thread (or task), which only does I/O and acknowledges each
//!   batch once it is durable there.

use crate::batch::{BufferPool, Encoded, Origin, OutputBatch};
use crate::metrics::OutputStats;
use pipeline_dsl::diagnostics::Diagnostic;
use pipeline_dsl::event::Event;
use pipeline_dsl::pipeline::PluginDecl;
use pipeline_dsl::settings::Settings;
use std::sync::Arc;

pub mod codec;
pub mod elasticsearch;
pub mod file;
pub mod null;
pub mod stdout;

/// Output plugin names logship understands.
pub const OUTPUT_NAMES: &[&str] = &["stdout", "file", "elasticsearch", "null"];

/// Where an event was read: what the default document id is made of.
#[derive(Debug, Clone, Copy)]
pub struct EventSource<'a> {
    /// The stream it came from.
    pub origin: &'a Origin,
    /// Byte offset of its first line in that stream.
    pub offset: u64,
}

/// Turns events into an output's records; called by every filter worker.
pub trait Encoder: Send + Sync {
    /// Appends `event`'s record (or nothing, if the output skips it) to `out`.
    fn encode(&self, event: &Event, source: EventSource<'_>, out: &mut Encoded);
}

/// The I/O half of an output.
pub enum Sink {
    /// A sink doing blocking I/O on a thread of its own.
    Blocking(BlockingSink),
    /// Elasticsearch bulk indexing, on the async runtime.
    Elasticsearch(Box<elasticsearch::ElasticsearchSink>),
}

/// The sinks that run on a thread of their own.
pub enum BlockingSink {
    /// Standard output.
    Stdout(stdout::StdoutSink),
    /// Files named by a sprintf path.
    File(file::FileSink),
    /// Discards everything.
    Null(null::NullSink),
}

impl BlockingSink {
    /// Writes batches until the sequencer closes the channel.
    pub fn run(self, ctx: SinkContext) -> anyhow::Result<()> {
        match self {
            BlockingSink::Stdout(s) => Ok(s.run(ctx)?),
            BlockingSink::File(s) => s.run(ctx),
            BlockingSink::Null(s) => {
                s.run(ctx);
                Ok(())
            }
        }
    }
}

/// A built output.
pub struct Output {
    /// Plugin id (`id` setting, or name and position).
    pub id: String,
    /// Shared encoder.
    pub encoder: Arc<dyn Encoder>,
    /// Its I/O half.
    pub sink: Sink,
}

/// What a sink thread gets: batches in input order, and its counters.
pub struct SinkContext {
    /// Batches for this output.
    pub receiver: tokio::sync::mpsc::Receiver<OutputBatch>,
    /// Its counters.
    pub stats: OutputStats,
    /// The agent's data directory (default dead-letter location).
    pub data_dir: std::path::PathBuf,
    /// Where encoded buffers go back once written.
    pub buffers: Arc<BufferPool>,
}

/// Builds an output from its declaration, collecting diagnostics.
pub fn build(decl: &PluginDecl, index: usize, errors: &mut Vec<(usize, Diagnostic)>) -> Option<Output> {
    let mut s: Settings = decl.settings();
    s.accept(&["workers", "enable_metric"]);
    let name = decl.plugin.name.node.as_str();
    let id = s.string("id").map_or_else(|| format!("{name}-{index}"), |i| i.node);
    let out = match name {
        "stdout" => Some(stdout::build(&mut s)),
        "file" => file::build(&mut s),
        "elasticsearch" => elasticsearch::build(&mut s, &id),
        "null" => Some(null::build()),
        _ => None,
    };
    errors.extend(s.finish().into_iter().map(|d| (decl.file, d)));
    out.map(|(encoder, sink)| Output { id, encoder, sink })
}
