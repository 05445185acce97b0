//! What moves between the pipeline's stages, and the acknowledgement that travels back.
//!
//! An input cuts its stream into [`RawBatch`]es of lines. A filter worker turns one into
//! events, filters them and encodes them once per output ([`Encoded`]); the sequencer
//! hands each output its part in input order. When every output has made its part
//! durable, the batch's [`BatchAck`] tells the source's [`AckTracker`], which moves the
//! file's checkpoint forward over every batch acknowledged without a gap.

use crate::line_codec::Lines;
use pipeline_dsl::value::Str;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How an input's lines become events; shared by every batch of one stream.
#[derive(Debug, Default)]
pub struct Origin {
    /// Decode each line as a JSON object (`json_lines` codec) instead of a `message`.
    pub json: bool,
    /// Tags added to every event.
    pub tags: Vec<String>,
    /// The file read, recorded as `[log][file][path]` and `[log][offset]` (made with
    /// [`shared_text`](pipeline_dsl::value::shared_text), so that events copy it
    /// without allocating).
    pub path: Option<Str>,
    /// Content fingerprint of the file: with the byte offset it makes the default
    /// document id, stable across restarts.
    pub fingerprint: Option<u64>,
}

/// Lines read from one stream, in order.
pub struct RawBatch {
    /// The lines (joined lines, with a multiline codec).
    pub lines: Lines,
    /// Where they come from.
    pub origin: Arc<Origin>,
    /// The checkpoint this batch moves once delivered (none for stdin).
    pub ack: Option<AckPoint>,
}

/// One output's encoding of a batch: records laid end to end in `data`.
#[derive(Debug, Default)]
pub struct Encoded {
    /// The encoded records.
    pub data: Vec<u8>,
    /// End offset in `data` of each record.
    pub ends: Vec<usize>,
    /// A per-record routing key, for outputs that need one (the rendered path of the
    /// `file` output); empty otherwise.
    pub keys: Vec<String>,
}

impl Encoded {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of record `i`.
    pub fn record(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }

    /// Closes the record written since the previous one.
    pub fn end_record(&mut self) {
        self.ends.push(self.data.len());
    }
}

/// What one output receives for one batch.
pub struct OutputBatch {
    /// The records routed to this output.
    pub encoded: Encoded,
    /// Call [`BatchAck::output_done`] once they are durable.
    pub ack: Arc<BatchAck>,
}

/// Reusable byte buffers. Encoded batches and bulk bodies are megabytes each; taking
/// them fresh for every batch costs a page fault and the zeroing of each page (of each
/// 2 MiB huge page, with transparent huge pages), which measured as the largest single
/// cost of the Elasticsearch output. Recycled buffers keep their pages.
#[derive(Debug)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    keep: usize,
    largest: usize,
}

impl BufferPool {
    /// A pool keeping at most `keep` buffers of at most `largest` bytes of capacity.
    pub fn new(keep: usize, largest: usize) -> Self {
        Self { free: Mutex::new(Vec::new()), keep, largest }
    }

    /// An empty buffer, recycled when one is available.
    pub fn take(&self) -> Vec<u8> {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default()
    }

    /// Returns a buffer for reuse.
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > self.largest {
            return;
        }
        buf.clear();
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() < self.keep {
            free.push(buf);
        }
    }
}

/// Where a batch ends in its source, to be acknowledged in order.
pub struct AckPoint {
    /// The source's tracker.
    pub tracker: Arc<AckTracker>,
    /// The ticket [`AckTracker::register`] gave the batch.
    pub ticket: u64,
}

/// Counts the outputs still holding a batch; the last one to finish acknowledges it.
pub struct BatchAck {
    remaining: AtomicUsize,
    point: Option<AckPoint>,
}

impl BatchAck {
    /// A batch to be delivered by `outputs` outputs (zero acknowledges it at once).
    pub fn new(outputs: usize, point: Option<AckPoint>) -> Arc<Self> {
        let ack = Arc::new(Self { remaining: AtomicUsize::new(outputs), point });
        if outputs == 0 {
            ack.complete();
        }
        ack
    }

    /// One output has made its part durable.
    pub fn output_done(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.complete();
        }
    }

    fn complete(&self) {
        if let Some(p) = &self.point {
            p.tracker.ack(p.ticket);
        }
    }
}

/// Orders the acknowledgements of one source: its committed offset is the end of the
/// longest prefix of batches that are all acknowledged, whatever order acks arrive in.
#[derive(Debug)]
pub struct AckTracker {
    inner: Mutex<TrackerState>,
    committed: AtomicU64,
}

#[derive(Debug)]
struct TrackerState {
    /// Ticket of `pending[0]`.
    first_ticket: u64,
    /// (end offset, acknowledged) per batch in flight, oldest first.
    pending: VecDeque<(u64, bool)>,
}

impl AckTracker {
    /// A tracker whose checkpoint starts at `committed`.
    pub fn new(committed: u64) -> Self {
        Self {
            inner: Mutex::new(TrackerState { first_ticket: 0, pending: VecDeque::new() }),
            committed: AtomicU64::new(committed),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, TrackerState> {
        // The state stays consistent under every operation; a panic elsewhere cannot
        // leave it half-updated, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a batch ending at `end`, before it is sent on; returns its ticket.
    pub fn register(&self, end: u64) -> u64 {
        let mut s = self.state();
        s.pending.push_back((end, false));
        s.first_ticket + s.pending.len() as u64 - 1
    }

    /// Acknowledges a ticket and advances the checkpoint over acknowledged batches.
    pub fn ack(&self, ticket: u64) {
        let mut s = self.state();
        let Some(i) = ticket.checked_sub(s.first_ticket) else { return };
        if let Some(entry) = s.pending.get_mut(i as usize) {
            entry.1 = true;
        }
        while let Some(&(end, true)) = s.pending.front() {
            s.pending.pop_front();
            s.first_ticket += 1;
            self.committed.store(end, Ordering::Release);
        }
    }

    /// The offset up to which everything has been delivered.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Batches registered but not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.state().pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_advances_only_over_a_gapless_prefix() {
        let t = Arc::new(AckTracker::new(5));
        let a = t.register(10);
        let b = t.register(20);
        let c = t.register(30);
        t.ack(c);
        assert_eq!(t.committed(), 5, "batch c is done but a and b are not");
        t.ack(a);
        assert_eq!(t.committed(), 10);
        t.ack(b);
        assert_eq!(t.committed(), 30);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn a_batch_is_acknowledged_when_its_last_output_is_done() {
        let t = Arc::new(AckTracker::new(0));
        let ticket = t.register(100);
        let ack = BatchAck::new(2, Some(AckPoint { tracker: t.clone(), ticket }));
        ack.output_done();
        assert_eq!(t.committed(), 0);
        ack.output_done();
        assert_eq!(t.committed(), 100);
        let ticket = t.register(150);
        BatchAck::new(0, Some(AckPoint { tracker: t.clone(), ticket }));
        assert_eq!(t.committed(), 150, "a batch no output holds is delivered at once");
    }
}
