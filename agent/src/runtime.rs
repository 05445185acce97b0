//! The long-running agent: inputs → filter workers → sequencer → outputs, every hop a
//! bounded channel, and acknowledgements flowing back to the file checkpoints.
//!
//! ```text
//! input threads ──RawBatch──► workers (N threads, own Pipeline each) ──► sequencer ──► sink per output
//!       ▲                                                                             │
//!       └────────────── checkpoint trackers ◄──────── BatchAck (all outputs done) ◄───┘
//! ```
//!
//! Every channel is bounded, so a slow output fills the queues behind it and the readers
//! stop reading: memory stays bounded and nothing is dropped. The sequencer restores
//! input order after parallel filtering, so events from one file reach every output in
//! the order they were written. On SIGINT/SIGTERM the inputs stop, the queues drain,
//! the sinks finish their in-flight requests and the checkpoints are written; if that
//! takes longer than the shutdown timeout the agent exits anyway, and what was not
//! delivered is read again at the next start (the document ids make that harmless).

use crate::batch::{BatchAck, OutputBatch, RawBatch};
use crate::checkpoint::Checkpoints;
use crate::inputs::{Input, InputContext};
use crate::metrics::{FilterStats, InputStats, OutputStats};
use crate::outputs::{Output, Sink, SinkContext};
use crate::shutdown::Shutdown;
use crate::worker::{Intake, ProcessedBatch, Worker};
use anyhow::Context;
use pipeline_dsl::pipeline::Pipeline;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the agent runs.
pub struct AgentConfig {
    /// Built inputs.
    pub inputs: Vec<Input>,
    /// Built outputs.
    pub outputs: Vec<Output>,
    /// Filter worker threads.
    pub workers: usize,
    /// Read what exists and exit, instead of following files.
    pub once: bool,
    /// Where checkpoints and dead-letter files live by default.
    pub data_dir: PathBuf,
    /// Most lines per batch.
    pub batch_lines: usize,
    /// Longest time to drain after a stop signal.
    pub shutdown_timeout: Duration,
}

/// Every component's counters, shared with the control API.
#[derive(Default)]
pub struct AgentStats {
    /// Per input, in config order.
    pub inputs: Vec<Arc<InputStats>>,
    /// The filter stage.
    pub filters: Arc<FilterStats>,
    /// Per output, in config order.
    pub outputs: Vec<Arc<OutputStats>>,
}

/// How a run ended.
pub struct RunSummary {
    /// Counters at the end.
    pub stats: AgentStats,
    /// Whether everything read was delivered before exit.
    pub drained: bool,
    /// The first error that stopped the agent, if any.
    pub error: Option<anyhow::Error>,
}

/// Batches queued between inputs and workers, per worker.
const QUEUE_PER_WORKER: usize = 2;
/// Batches between intake and sequencer, per worker (bounds the reorder buffer).
const IN_FLIGHT_PER_WORKER: usize = 4;
/// Batches queued in front of each output.
const OUTPUT_QUEUE: usize = 4;

/// Runs the agent until its inputs are exhausted (`--once`, stdin) or a stop signal.
/// `make_pipeline` compiles one filter pipeline per worker.
pub fn run(
    config: AgentConfig,
    make_pipeline: &(dyn Fn() -> anyhow::Result<Pipeline> + Sync),
) -> anyhow::Result<RunSummary> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("logship-io")
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    let shutdown = Shutdown::default();
    rt.spawn(stop_on_signal(shutdown.clone()));

    let workers = config.workers.max(1);
    let stats = AgentStats {
        inputs: config.inputs.iter().enumerate().map(|(i, input)| Arc::new(InputStats::new(&input.id(i)))).collect(),
        filters: Arc::new(FilterStats::default()),
        outputs: config.outputs.iter().map(|o| Arc::new(OutputStats::new(&o.id))).collect(),
    };
    let first_error: Arc<Mutex<Option<anyhow::Error>>> = Arc::default();
    let fail = {
        let first_error = first_error.clone();
        let shutdown = shutdown.clone();
        move |e: anyhow::Error| {
            let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(e);
            }
            shutdown.trigger();
        }
    };

    // Outputs: one sink each, fed in input order by the sequencer.
    let (sink_done_tx, sink_done_rx) = std::sync::mpsc::channel::<()>();
    let mut output_senders = Vec::new();
    let mut encoders = Vec::new();
    for (output, out_stats) in config.outputs.into_iter().zip(&stats.outputs) {
        let (tx, rx) = tokio::sync::mpsc::channel::<OutputBatch>(OUTPUT_QUEUE);
        output_senders.push(tx);
        encoders.push(output.encoder);
        let ctx = SinkContext { receiver: rx, stats: out_stats.clone(), data_dir: config.data_dir.clone() };
        let (done, fail) = (sink_done_tx.clone(), fail.clone());
        let id = output.id.clone();
        match output.sink {
            Sink::Stdout(sink) => {
                spawn_thread(&format!("out-{id}"), move || {
                    if let Err(e) = sink.run(ctx) {
                        fail(anyhow::Error::new(e).context(format!("output {id}")));
                    }
                    drop(done);
                })?;
            }
            Sink::File(sink) => {
                spawn_thread(&format!("out-{id}"), move || {
                    if let Err(e) = sink.run(ctx) {
                        fail(e.context(format!("output {id}")));
                    }
                    drop(done);
                })?;
            }
            Sink::Elasticsearch(sink) => {
                let shutdown = shutdown.clone();
                rt.spawn(async move {
                    if let Err(e) = sink.run(ctx, shutdown).await {
                        fail(e.context(format!("output {id}")));
                    }
                    drop(done);
                });
            }
        }
    }
    drop(sink_done_tx);

    // Sequencer: restores input order and fans batches out to the outputs.
    let (done_tx, done_rx) = crossbeam_channel::bounded::<ProcessedBatch>(workers * IN_FLIGHT_PER_WORKER);
    let (permit_tx, permit_rx) = crossbeam_channel::bounded::<()>(workers * IN_FLIGHT_PER_WORKER);
    for _ in 0..workers * IN_FLIGHT_PER_WORKER {
        let _ = permit_tx.send(());
    }
    spawn_thread("sequencer", move || sequence(done_rx, output_senders, permit_tx))?;

    // Filter workers.
    let (raw_tx, raw_rx) = crossbeam_channel::bounded::<RawBatch>(workers * QUEUE_PER_WORKER);
    let intake = Arc::new(Intake::new(raw_rx));
    for n in 0..workers {
        let worker = Worker {
            pipeline: make_pipeline().context("compiling the pipeline for a filter worker")?,
            encoders: encoders.clone(),
            intake: intake.clone(),
            permits: permit_rx.clone(),
            done: done_tx.clone(),
            stats: stats.filters.clone(),
        };
        spawn_thread(&format!("filter-{n}"), move || worker.run())?;
    }
    drop((done_tx, permit_rx, intake));

    // Inputs, each on its own thread.
    let checkpoints: Arc<Mutex<Vec<Arc<Checkpoints>>>> = Arc::default();
    let mut input_threads = Vec::new();
    for (input, in_stats) in config.inputs.into_iter().zip(&stats.inputs) {
        let ctx = InputContext {
            sender: raw_tx.clone(),
            shutdown: shutdown.clone(),
            once: config.once,
            data_dir: config.data_dir.clone(),
            batch_lines: config.batch_lines.max(1),
            stats: in_stats.clone(),
            checkpoints: checkpoints.clone(),
        };
        let fail = fail.clone();
        let id = in_stats.id.clone();
        input_threads.push(spawn_thread(&format!("in-{id}"), move || {
            if let Err(e) = input.run(&ctx) {
                fail(e.context(format!("input {id}")));
            }
        })?);
    }
    drop(raw_tx);
    for t in input_threads {
        let _ = t.join();
    }

    // Drain: the channels close behind the inputs; wait for every sink to finish, at
    // most `shutdown_timeout` from the stop signal.
    let mut deadline: Option<Instant> = None;
    let drained = loop {
        if deadline.is_none() && shutdown.is_triggered() {
            deadline = Some(Instant::now() + config.shutdown_timeout);
        }
        match sink_done_rx.recv_timeout(Duration::from_millis(100)) {
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break true,
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            tracing::warn!(
                timeout_s = config.shutdown_timeout.as_secs_f64(),
                "Shutdown timeout reached before every event was delivered; undelivered events will be read again at the next start"
            );
            break false;
        }
    };
    for c in checkpoints.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        if let Err(e) = c.save() {
            fail(e.context("saving checkpoints at exit"));
        }
    }
    rt.shutdown_background();
    let error = first_error.lock().unwrap_or_else(|p| p.into_inner()).take();
    Ok(RunSummary { stats, drained, error })
}

/// Hands processed batches to the outputs in sequence order, each with one
/// acknowledgement shared by all outputs.
fn sequence(
    done: crossbeam_channel::Receiver<ProcessedBatch>,
    outputs: Vec<tokio::sync::mpsc::Sender<OutputBatch>>,
    permits: crossbeam_channel::Sender<()>,
) {
    let mut waiting: BTreeMap<u64, ProcessedBatch> = BTreeMap::new();
    let mut next = 0u64;
    for batch in done.iter() {
        waiting.insert(batch.seq, batch);
        while let Some(batch) = waiting.remove(&next) {
            next += 1;
            let ack = BatchAck::new(outputs.len(), batch.ack);
            for (part, tx) in batch.parts.into_iter().zip(&outputs) {
                // A sink that has failed no longer receives: its part is never
                // acknowledged, so the checkpoint stays put and nothing is lost.
                let _ = tx.blocking_send(OutputBatch { encoded: part, ack: ack.clone() });
            }
            let _ = permits.send(());
        }
    }
}

fn spawn_thread<F: FnOnce() + Send + 'static>(name: &str, f: F) -> anyhow::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(name.to_string()).spawn(f).with_context(|| format!("starting thread {name}"))
}

/// Triggers `shutdown` on SIGINT or SIGTERM.
async fn stop_on_signal(shutdown: Shutdown) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "Cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; stopping"),
        _ = term.recv() => tracing::info!("SIGTERM received; stopping"),
    }
    shutdown.trigger();
}
