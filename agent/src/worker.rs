//! Filter workers: turn a [`RawBatch`] of lines into events, run the compiled filters,
//! route each event and encode it for every output it goes to.
//!
//! Each worker owns its own compiled [`Pipeline`] (filters keep per-worker caches), so
//! workers share nothing but the channels. Batches are numbered as they are taken,
//! under one lock, so the sequencer can restore input order after parallel filtering.

use crate::batch::{AckPoint, BufferPool, Encoded, Origin, RawBatch};
use crate::line_codec::{LineRef, Lines};
use crate::metrics::{FilterPluginStats, FilterStats};
use crate::outputs::{Encoder, EventSource};
use crate::shutdown::Shutdown;
use chrono::{DateTime, Utc};
use pipeline_dsl::event::Event;
use pipeline_dsl::field_ref::FieldRef;
use pipeline_dsl::filters::Flush;
use pipeline_dsl::filters::NodeCounts;
use pipeline_dsl::pipeline::Pipeline;
use pipeline_dsl::value::{Str, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A filtered batch, encoded once per output.
pub struct ProcessedBatch {
    /// Position in input order.
    pub seq: u64,
    /// One encoding per output, in output order; none for a turn that produced nothing.
    pub parts: Vec<Encoded>,
    /// The checkpoint it moves once delivered.
    pub ack: Option<AckPoint>,
}

/// Where workers take batches from: the channel and the next sequence number, behind
/// one lock so that numbering follows taking order.
pub struct Intake {
    inner: Mutex<(crossbeam_channel::Receiver<RawBatch>, u64)>,
    /// Workers still running: the last one to finish flushes the filters' windows.
    active: AtomicUsize,
}

/// What a worker got from the intake.
enum Taken {
    /// A batch and its sequence number.
    Batch(u64, RawBatch),
    /// Nothing came for [`IDLE_TICK`].
    Idle,
    /// Every input has finished.
    Closed,
}

/// How long a worker waits for a batch before giving aggregating filters an idle tick.
const IDLE_TICK: Duration = Duration::from_secs(1);

/// Events run through the filters together (see [`Pipeline::filter_batch`]). 32 to 128
/// measured alike on `pipeline.conf`, about 10 % faster than one at a time; 256 was
/// slower again, as the events no longer fit the cache beside the filters' own data.
const FILTER_BATCH: usize = 64;

impl Intake {
    /// Wraps the inputs' channel, for `workers` workers.
    pub fn new(receiver: crossbeam_channel::Receiver<RawBatch>, workers: usize) -> Self {
        Self { inner: Mutex::new((receiver, 0)), active: AtomicUsize::new(workers) }
    }

    /// The next batch and its sequence number, waiting at most `timeout`.
    fn take(&self, timeout: Duration) -> Taken {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match guard.0.recv_timeout(timeout) {
            Ok(batch) => {
                let seq = guard.1;
                guard.1 += 1;
                Taken::Batch(seq, batch)
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Taken::Idle,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Taken::Closed,
        }
    }

    /// A sequence number for a batch of events the filters made by themselves.
    fn next_seq(&self) -> u64 {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.1 += 1;
        guard.1 - 1
    }

    /// Marks one worker finished; true for the last one.
    fn leave(&self) -> bool {
        self.active.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// Everything a worker thread needs.
pub struct Worker {
    /// Its own compiled pipeline.
    pub pipeline: Pipeline,
    /// Encoders of every output, in output order.
    pub encoders: Vec<Arc<dyn Encoder>>,
    /// Shared intake.
    pub intake: Arc<Intake>,
    /// Slots limiting batches between intake and sequencer (one taken per batch).
    pub permits: crossbeam_channel::Receiver<()>,
    /// Where processed batches go.
    pub done: crossbeam_channel::Sender<ProcessedBatch>,
    /// Filter stage counters.
    pub stats: FilterStats,
    /// Per filter plugin counters, in [`Pipeline::filter_ids`] order.
    pub plugin_stats: Vec<FilterPluginStats>,
    /// Send every event to every output instead of following the config's conditions.
    pub route_all: bool,
    /// Recycled buffers for encoded records.
    pub buffers: Arc<BufferPool>,
    /// Where the text buffers of filtered line batches go back to the inputs.
    pub line_buffers: Arc<BufferPool>,
    /// The agent's stop flag. When the inputs close because it was set, the last turn
    /// is [`Flush::Stop`]: open windows stay open, to be saved for the next start.
    pub stopping: Shutdown,
}

impl Worker {
    /// Processes batches until the inputs are exhausted. Events the filters make by
    /// themselves (window metrics) travel with the batch that closed their window, or
    /// in a batch of their own after an idle tick or at the end.
    pub fn run(mut self) {
        let log_path = FieldRef::from_segments(["log", "file", "path"]);
        let log_offset = FieldRef::from_segments(["log", "offset"]);
        let mut counts = vec![NodeCounts::default(); self.plugin_stats.len()];
        // Metric events still waiting to be emitted (a large window goes out over many
        // turns): turns come at once instead of after an idle tick.
        let mut more = false;
        let mut finishing = false;
        loop {
            // A permit before a sequence number: the sequencer's reorder buffer stays bounded.
            if self.permits.recv().is_err() {
                return;
            }
            // Every turn has a sequence number, even an idle one: aggregating filters fold
            // their observations in sequence order, so parallel workers cannot make
            // events look late to them.
            let taken =
                if finishing { Taken::Closed } else { self.intake.take(if more { Duration::ZERO } else { IDLE_TICK }) };
            let (mut parts, ack, when) = match taken {
                Taken::Batch(seq, batch) => {
                    self.pipeline.source(source_number(&batch.origin));
                    let parts = self.process(&batch.lines, &batch.origin, &log_path, &log_offset);
                    self.line_buffers.give(batch.lines.into_buffer());
                    (parts, batch.ack, Flush::Batch(seq))
                }
                Taken::Idle => (Vec::new(), None, Flush::Idle(self.intake.next_seq())),
                Taken::Closed => {
                    if !finishing && !self.intake.leave() {
                        return;
                    }
                    finishing = true;
                    // The last worker: every batch has been filtered.
                    let seq = self.intake.next_seq();
                    (Vec::new(), None, if self.stopping.is_triggered() { Flush::Stop(seq) } else { Flush::Final(seq) })
                }
            };
            more = self.flush(when, &mut parts);
            self.pipeline.drain_counts(&mut counts);
            for (stats, c) in self.plugin_stats.iter().zip(counts.iter_mut()) {
                stats.add(std::mem::take(c));
            }
            // A batch without parts (an idle turn) only moves the sequence on.
            if self.done.send(ProcessedBatch { seq: when.seq(), parts, ack }).is_err() || (finishing && !more) {
                return;
            }
        }
    }

    /// Filters a batch's lines and encodes the surviving events for their outputs.
    fn process(&mut self, lines: &Lines, origin: &Origin, log_path: &FieldRef, log_offset: &FieldRef) -> Vec<Encoded> {
        let now = Utc::now();
        let stamp = Str::from(pipeline_dsl::event::format_timestamp(now));
        let mut parts = empty_parts(&self.encoders, &self.buffers);
        let mut routes = Vec::new();
        let (mut kept_count, mut dropped, mut failed) = (0, 0, 0);
        let count = lines.len() as u64;
        let mut events = Vec::with_capacity(FILTER_BATCH);
        let mut offsets = Vec::with_capacity(FILTER_BATCH);
        let mut kept = [true; FILTER_BATCH];
        let mut pending = lines.iter().peekable();
        while pending.peek().is_some() {
            for line in pending.by_ref().take(FILTER_BATCH) {
                offsets.push(line.offset);
                events.push(line_to_event(line, origin, now, &stamp, log_path, log_offset));
            }
            kept.fill(true);
            self.pipeline.filter_batch(&mut events, &mut kept);
            for ((event, offset), &k) in events.drain(..).zip(offsets.drain(..)).zip(&kept) {
                if !k {
                    dropped += 1;
                    continue;
                }
                kept_count += 1;
                failed += u64::from(event.has_failure_tag());
                self.routes_of(&event, &mut routes);
                let source = EventSource { origin, offset };
                for &i in &routes {
                    if !encode_contained(self.encoders[i].as_ref(), &event, source, &mut parts[i]) {
                        self.stats.encode_faults.inc();
                    }
                }
            }
        }
        self.stats.events_in.inc_by(count);
        self.stats.events_out.inc_by(kept_count);
        self.stats.dropped.inc_by(dropped);
        self.stats.failures.inc_by(failed);
        parts
    }

    /// Routes and encodes the events the filters make by themselves this turn (no
    /// source file: no default document id), one at a time as they come.
    fn flush(&mut self, when: Flush, parts: &mut Vec<Encoded>) -> bool {
        let origin = Origin::default();
        let (encoders, buffers, route_all) = (&self.encoders, &self.buffers, self.route_all);
        let encode_faults = &self.stats.encode_faults;
        let mut emit = |event: &Event, routes: &[usize]| {
            if parts.is_empty() {
                *parts = empty_parts(encoders, buffers);
            }
            let all: Vec<usize>;
            let routes = if route_all {
                all = (0..encoders.len()).collect();
                &all
            } else {
                routes
            };
            for &i in routes {
                if !encode_contained(
                    encoders[i].as_ref(),
                    event,
                    EventSource { origin: &origin, offset: 0 },
                    &mut parts[i],
                ) {
                    encode_faults.inc();
                }
            }
        };
        self.pipeline.flush(when, &mut emit)
    }

    fn routes_of(&self, event: &Event, routes: &mut Vec<usize>) {
        if self.route_all {
            routes.clear();
            routes.extend(0..self.encoders.len());
        } else {
            self.pipeline.route(event, routes);
        }
    }
}

/// A stable number for a batch's source, for the aggregating filters' watermark per
/// source: the file's content fingerprint (which a rename keeps), else its path, else 0
/// (standard input, replays).
fn source_number(origin: &Origin) -> u64 {
    match (origin.fingerprint, &origin.path) {
        (Some(f), _) => f,
        (None, Some(path)) => {
            use std::hash::{BuildHasher, BuildHasherDefault};
            BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(path.as_str())
        }
        (None, None) => 0,
    }
}

/// Encodes `event` into `part`, containing a panic in the encoder: the half-written
/// record is cut off, the event is lost to this output (and logged), and false is
/// returned. The worker and the rest of the batch carry on.
fn encode_contained(encoder: &dyn Encoder, event: &Event, source: EventSource<'_>, part: &mut Encoded) -> bool {
    let (data, records, keys) = (part.data.len(), part.ends.len(), part.keys.len());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| encoder.encode(event, source, part)));
    if let Err(payload) = outcome {
        part.data.truncate(data);
        part.ends.truncate(records);
        part.keys.truncate(keys);
        let message = pipeline_dsl::filters::panic_message(payload.as_ref());
        let fields = serde_json::to_string(event.fields()).unwrap_or_default();
        tracing::error!(error = %message, event = %fields, "An output's encoder panicked; the event is lost to that output");
        return false;
    }
    true
}

/// One empty encoding per output, in recycled buffers.
fn empty_parts(encoders: &[Arc<dyn Encoder>], buffers: &BufferPool) -> Vec<Encoded> {
    encoders.iter().map(|_| Encoded { data: buffers.take(), ..Encoded::default() }).collect()
}

/// The event for one line: `message` (or the decoded JSON object), the input's tags and
/// the repair tags of the line, and `[log][file][path]` / `[log][offset]` for files.
fn line_to_event(
    line: LineRef<'_>,
    origin: &Origin,
    now: DateTime<Utc>,
    stamp: &Str,
    path: &FieldRef,
    offset: &FieldRef,
) -> Event {
    let mut event = if origin.json {
        decode_json(line.text, now)
    } else {
        Event::from_message_stamped(line.text.to_string(), stamp)
    };
    if let Some(p) = &origin.path {
        event.set(path, Value::String(p.clone()));
        event.set(offset, Value::from(line.offset));
    }
    for t in origin.tags.iter().map(String::as_str).chain(line.tags.iter().copied()) {
        event.add_tag(t);
    }
    event
}

/// A `json_lines` event: the object's fields, `@timestamp` from the object when it is a
/// valid time, else the read time (an invalid one moves to `_@timestamp`, tagged
/// `_timestampparsefailure`). A line that is not a JSON object is kept as
/// `message` and tagged `_jsonparsefailure`, as Logstash's codec does.
fn decode_json(text: &str, now: DateTime<Utc>) -> Event {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(mut fields)) => {
            let decoded_ts = fields.remove(pipeline_dsl::event::TIMESTAMP);
            let mut event = Event::from_fields(fields);
            event.set_timestamp(now);
            if let Some(ts) = decoded_ts {
                event.set_timestamp_from(ts);
            }
            event
        }
        _ => {
            let mut event = Event::from_message(text.to_string(), now);
            event.add_tag("_jsonparsefailure");
            event
        }
    }
}
