//! Inputs: where lines come from. Each input runs on its own thread, cuts its stream
//! into [`RawBatch`]es and sends them to the filter workers through a bounded channel;
//! a full channel blocks the reader, which is how back-pressure reaches it.

use crate::batch::{BufferPool, RawBatch};
use crate::checkpoint::Checkpoints;
use crate::line_codec::Lines;
use crate::metrics::InputStats;
use crate::shutdown::Shutdown;
use pipeline_dsl::diagnostics::Diagnostic;
use pipeline_dsl::pipeline::PluginDecl;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod codec;
pub mod file;
pub mod replay;
pub mod stdin;

/// Input plugin names logship understands.
pub const INPUT_NAMES: &[&str] = &["file", "stdin", "replay"];

/// A built input.
pub enum Input {
    /// Standard input.
    Stdin(stdin::StdinInput),
    /// Files matching globs.
    File(file::FileInput),
    /// Recorded logs re-emitted as live traffic.
    Replay(replay::ReplayInput),
}

impl Input {
    /// The plugin id: the `id` setting, or the plugin name and its position.
    pub fn id(&self, index: usize) -> String {
        match self {
            Input::File(f) if !f.id.is_empty() => f.id.clone(),
            Input::File(_) => format!("file-{index}"),
            Input::Stdin(_) => format!("stdin-{index}"),
            Input::Replay(_) => format!("replay-{index}"),
        }
    }

    /// Whether what it reads is remembered across runs (files with checkpoints): only
    /// then may the next run treat its events for windows already emitted as late.
    pub fn remembers(&self) -> bool {
        matches!(self, Input::File(f) if f.sincedb_path != file::SincedbPath::Disabled)
    }

    /// Reads until stopped, or, in `--once` mode, until the input is exhausted.
    pub fn run(&self, ctx: &InputContext) -> anyhow::Result<()> {
        match self {
            Input::Stdin(s) => s.run(ctx),
            Input::File(f) => file::tail::run(f, ctx),
            Input::Replay(r) => r.run(ctx),
        }
    }
}

/// What an input thread gets from the runtime.
pub struct InputContext {
    /// Where batches go.
    pub sender: crossbeam_channel::Sender<RawBatch>,
    /// The stop signal.
    pub shutdown: Shutdown,
    /// Read what exists, then finish (tests, batch jobs) instead of following files.
    pub once: bool,
    /// The agent's data directory (default checkpoint location).
    pub data_dir: PathBuf,
    /// Most lines per batch (`--batch-size`).
    pub batch_lines: usize,
    /// This input's counters.
    pub stats: InputStats,
    /// Checkpoint stores, saved one last time when the agent has drained.
    pub checkpoints: Arc<Mutex<Vec<Arc<Checkpoints>>>>,
    /// Text buffers of line batches, handed back by the filter workers.
    pub line_buffers: Arc<BufferPool>,
}

impl InputContext {
    /// An empty batch of lines, its text buffer recycled when one is free.
    pub fn new_lines(&self) -> Lines {
        Lines::with_buffer(self.line_buffers.take(), self.batch_lines)
    }

    /// Sends a batch, waiting while the pipeline is full. Returns false when the agent
    /// is stopping (the batch is then not delivered, and its checkpoint not advanced).
    pub fn send(&self, mut batch: RawBatch) -> bool {
        loop {
            match self.sender.send_timeout(batch, Duration::from_millis(100)) {
                Ok(()) => return true,
                Err(crossbeam_channel::SendTimeoutError::Timeout(b)) => {
                    if self.shutdown.is_triggered() {
                        return false;
                    }
                    batch = b;
                }
                Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return false,
            }
        }
    }

    /// Hands a checkpoint store to the runtime for its final save.
    pub fn keep_checkpoints(&self, c: Arc<Checkpoints>) {
        self.checkpoints.lock().unwrap_or_else(|p| p.into_inner()).push(c);
    }
}

/// Builds an input from its declaration, collecting diagnostics.
pub fn build(decl: &PluginDecl, errors: &mut Vec<(usize, Diagnostic)>) -> Option<Input> {
    let mut s = decl.settings();
    let input = match decl.plugin.name.node.as_str() {
        "stdin" => Some(Input::Stdin(stdin::StdinInput::from_settings(&mut s))),
        "file" => Some(Input::File(file::FileInput::from_settings(&mut s))),
        "replay" => Some(Input::Replay(replay::ReplayInput::from_settings(&mut s))),
        _ => None,
    };
    errors.extend(s.finish().into_iter().map(|d| (decl.file, d)));
    input
}
