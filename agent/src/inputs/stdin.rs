//! `stdin` input: reads standard input to its end. Events get document ids from a
//! per-run random stream id and their byte offset, so a bulk retried within the run
//! can never index a line twice.

use super::codec::InputCodec;
use super::InputContext;
use crate::batch::{Origin, RawBatch};
use crate::line_codec::{LineSplitter, Lines, DEFAULT_MAX_LINE_BYTES};
use crate::multiline;
use pipeline_dsl::settings::Settings;
use std::io::Read;
use std::sync::Arc;

/// Reads standard input once.
pub struct StdinInput {
    /// Tags added to every event.
    pub tags: Vec<String>,
    /// Maximum line size in bytes.
    pub max_line_bytes: usize,
    /// How lines become events.
    pub codec: InputCodec,
}

impl StdinInput {
    /// Reads `tags`, `max_line_bytes` and `codec`.
    pub fn from_settings(s: &mut Settings) -> Self {
        s.accept(&["id", "type"]);
        Self {
            codec: InputCodec::from_settings(s),
            tags: s.strings("tags").into_iter().map(|t| t.node).collect(),
            max_line_bytes: s.int("max_line_bytes").map_or(DEFAULT_MAX_LINE_BYTES, |n| n.max(1) as usize),
        }
    }

    /// The default input when none is configured or `--stdin` is given.
    pub fn default_input() -> Self {
        Self { tags: Vec::new(), max_line_bytes: DEFAULT_MAX_LINE_BYTES, codec: InputCodec::Line }
    }

    /// Reads standard input to its end (or until the agent stops).
    pub fn run(&self, ctx: &InputContext) -> anyhow::Result<()> {
        let origin = Arc::new(Origin {
            json: self.codec.is_json(),
            tags: self.tags.clone(),
            path: None,
            fingerprint: Some(random_stream_id()),
        });
        let mut multiline = self.codec.joiner();
        let mut splitter = LineSplitter::new(self.max_line_bytes, 0);
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 256 * 1024];
        let mut scratch = Vec::new();
        let mut batch = ctx.new_lines();
        let send = |batch: &mut Lines| {
            if batch.is_empty() {
                return true;
            }
            ctx.stats.events.inc_by(batch.len() as u64);
            let lines = std::mem::replace(batch, ctx.new_lines());
            ctx.send(RawBatch { lines, origin: origin.clone(), ack: None })
        };
        loop {
            if ctx.shutdown.is_triggered() {
                return Ok(());
            }
            let n = match stdin.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                break;
            }
            ctx.stats.bytes.inc_by(n as u64);
            multiline::split_into(&mut splitter, &buf[..n], multiline.as_mut(), &mut scratch, &mut batch);
            // Send what was read at once when the input is slow (interactive use), in
            // full batches when it is fast.
            if (batch.len() >= ctx.batch_lines || n < buf.len()) && !send(&mut batch) {
                return Ok(());
            }
        }
        multiline::finish_into(&mut splitter, multiline.as_mut(), &mut batch);
        send(&mut batch);
        Ok(())
    }
}

/// A random id for a stream read once in this run (from the standard library's hashing
/// seed, which is random per process, mixed with the time).
pub(crate) fn random_stream_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}
