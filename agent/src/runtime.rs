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

use crate::batch::{BatchAck, BufferPool, OutputBatch, RawBatch};
use crate::checkpoint::Checkpoints;
use crate::inputs::{Input, InputContext};
use crate::metrics::Metrics;
use crate::outputs::{Output, Sink, SinkContext};
use crate::shutdown::Shutdown;
use crate::worker::{Intake, ProcessedBatch, Worker};
use anyhow::Context;
use pipeline_dsl::aggregation::Aggregations;
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
    /// Send every event to every output, ignoring the config's output conditions
    /// (its outputs were replaced, as by `--stdout`).
    pub route_all: bool,
    /// Where the control API listens (`None`: no API).
    pub api_addr: Option<std::net::SocketAddr>,
    /// Bearer token the control API requires, if any.
    pub api_token: Option<pipeline_dsl::secret::Secret>,
    /// The aggregating filters' shared state (served by the control API).
    pub aggregations: Arc<Aggregations>,
}

/// How a run ended.
pub struct RunSummary {
    /// Counters at the end.
    pub metrics: Arc<Metrics>,
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

    raise_open_file_limit();
    let workers = config.workers.max(1);
    let metrics = Arc::new(Metrics::new());
    metrics.set_aggregations(config.aggregations.clone());
    if let Some(addr) = config.api_addr {
        start_control_api(&rt, addr, metrics.clone(), config.api_token.clone());
    }
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

    // Every encoded batch that can be in flight at once, plus one per worker.
    let buffers = Arc::new(BufferPool::new(
        workers * (IN_FLIGHT_PER_WORKER + 1) + config.outputs.len() * (OUTPUT_QUEUE + 2),
        64 * 1024 * 1024,
    ));

    // Outputs: one sink each, fed in input order by the sequencer.
    let (sink_done_tx, sink_done_rx) = std::sync::mpsc::channel::<()>();
    let mut output_senders = Vec::new();
    let mut encoders = Vec::new();
    let mut output_queues = Vec::new();
    for output in config.outputs {
        let (tx, rx) = tokio::sync::mpsc::channel::<OutputBatch>(OUTPUT_QUEUE);
        output_queues.push((format!("output:{}", output.id), tx.downgrade()));
        output_senders.push(tx);
        encoders.push(output.encoder);
        let ctx = SinkContext {
            receiver: rx,
            stats: metrics.output(&output.id),
            data_dir: config.data_dir.clone(),
            buffers: buffers.clone(),
        };
        let (done, fail) = (sink_done_tx.clone(), fail.clone());
        let id = output.id.clone();
        match output.sink {
            Sink::Blocking(sink) => {
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

    // Text buffers of line batches: every batch queued or being filtered, plus one
    // being filled per input. A file batch holds at most about 512 KiB of text; larger
    // buffers (a burst of very long lines) are freed rather than kept.
    let line_buffers =
        Arc::new(BufferPool::new(workers * (QUEUE_PER_WORKER + 1) + config.inputs.len(), 2 * 1024 * 1024));

    // Sequencer: restores input order and fans batches out to the outputs.
    let (done_tx, done_rx) = crossbeam_channel::bounded::<ProcessedBatch>(workers * IN_FLIGHT_PER_WORKER);
    let (permit_tx, permit_rx) = crossbeam_channel::bounded::<()>(workers * IN_FLIGHT_PER_WORKER);
    for _ in 0..workers * IN_FLIGHT_PER_WORKER {
        let _ = permit_tx.send(());
    }
    let done_rx_probe = done_rx.clone();
    spawn_thread("sequencer", move || sequence(done_rx, output_senders, permit_tx))?;

    // Filter workers.
    let (raw_tx, raw_rx) = crossbeam_channel::bounded::<RawBatch>(workers * QUEUE_PER_WORKER);
    {
        let (raw, done) = (raw_rx.clone(), done_rx_probe);
        metrics.set_queue_probe(Box::new(move || {
            let mut queues = vec![
                ("inputs".to_string(), raw.len() as u64, raw.capacity().unwrap_or(0) as u64),
                ("sequencer".to_string(), done.len() as u64, done.capacity().unwrap_or(0) as u64),
            ];
            for (name, weak) in &output_queues {
                if let Some(tx) = weak.upgrade() {
                    queues.push((name.clone(), (tx.max_capacity() - tx.capacity()) as u64, tx.max_capacity() as u64));
                }
            }
            queues
        }));
    }
    let intake = Arc::new(Intake::new(raw_rx, workers));
    let mut plugin_stats: Option<Vec<_>> = None;
    for n in 0..workers {
        let pipeline = make_pipeline().context("compiling the pipeline for a filter worker")?;
        // Every worker compiles the same config, so plugin ids line up across workers.
        let plugin_stats = plugin_stats
            .get_or_insert_with(|| pipeline.filter_ids().iter().map(|id| metrics.filter_plugin(id)).collect());
        let worker = Worker {
            pipeline,
            encoders: encoders.clone(),
            intake: intake.clone(),
            permits: permit_rx.clone(),
            done: done_tx.clone(),
            stats: metrics.filters.clone(),
            plugin_stats: plugin_stats.clone(),
            route_all: config.route_all,
            buffers: buffers.clone(),
            line_buffers: line_buffers.clone(),
            stopping: shutdown.clone(),
        };
        spawn_thread(&format!("filter-{n}"), move || worker.run())?;
    }
    drop((done_tx, permit_rx, intake));
    // Before any input runs, so the windows go on with the first event read.
    crate::window_state::restore(&config.aggregations, &config.data_dir);

    // Inputs, each on its own thread.
    let checkpoints: Arc<Mutex<Vec<Arc<Checkpoints>>>> = Arc::default();
    let remembers = !config.inputs.is_empty() && config.inputs.iter().all(Input::remembers);
    let mut input_threads = Vec::new();
    for (i, input) in config.inputs.into_iter().enumerate() {
        let in_stats = metrics.input(&input.id(i));
        let ctx = InputContext {
            sender: raw_tx.clone(),
            shutdown: shutdown.clone(),
            once: config.once,
            data_dir: config.data_dir.clone(),
            batch_lines: config.batch_lines.max(1),
            stats: in_stats.clone(),
            checkpoints: checkpoints.clone(),
            line_buffers: line_buffers.clone(),
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
    // After a stop, open windows go on at the next start. After a finished run over
    // files with checkpoints, the windows' clock is kept too: a later run that reads
    // older lines (another CloudFront file of the same hour) corrects the windows
    // already emitted instead of emitting them again under the same ids.
    if shutdown.is_triggered() || remembers {
        save_open_windows(&config.aggregations, &config.data_dir, drained);
    }
    rt.shutdown_background();
    let error = first_error.lock().unwrap_or_else(|p| p.into_inner()).take();
    Ok(RunSummary { metrics, drained, error })
}

/// After a stop: writes the windows still open for the next start, when they match
/// the checkpoints just saved (every event read was delivered). Otherwise the events
/// not delivered are read again at the next start, and windows holding the delivered
/// ones would count those twice; they are dropped instead, as after a crash.
fn save_open_windows(aggregations: &Aggregations, data_dir: &std::path::Path, drained: bool) {
    if !drained {
        let open: u64 = aggregations.all().iter().map(|a| a.counters().open_windows).sum();
        if open > 0 {
            tracing::warn!(windows = open, "Open windows not saved: not every event was delivered");
        }
        return;
    }
    match crate::window_state::save(aggregations, data_dir) {
        Ok(0) => {}
        Ok(windows) => tracing::info!(
            windows,
            path = %crate::window_state::path(data_dir).display(),
            "Open windows saved for the next start"
        ),
        Err(e) => tracing::error!(error = format!("{e:#}"), "Open windows not saved"),
    }
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
            if batch.parts.is_empty() && batch.ack.is_none() {
                let _ = permits.send(());
                continue;
            }
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

/// Binds the control API (a failure to bind is logged, not fatal: delivering data
/// matters more than watching it) and serves it on the runtime.
fn start_control_api(
    rt: &tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    token: Option<pipeline_dsl::secret::Secret>,
) {
    let listener = std::net::TcpListener::bind(addr).and_then(|l| {
        l.set_nonblocking(true)?;
        Ok(l)
    });
    match listener {
        Ok(l) => {
            let bound = l.local_addr().map_or_else(|_| addr.to_string(), |a| a.to_string());
            if !addr.ip().is_loopback() {
                tracing::warn!(addr = %bound, "Control API reachable from other hosts, as configured (token required)");
            }
            rt.spawn(async move {
                match tokio::net::TcpListener::from_std(l) {
                    Ok(l) => {
                        tracing::info!(addr = %bound, "Control API listening");
                        crate::control_api::serve(l, metrics, token).await;
                    }
                    Err(e) => tracing::error!(error = %e, "Control API not started"),
                }
            });
        }
        Err(e) => tracing::error!(addr = %addr, error = %e, "Cannot bind the control API; running without it"),
    }
}

fn spawn_thread<F: FnOnce() + Send + 'static>(name: &str, f: F) -> anyhow::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(name.to_string()).spawn(f).with_context(|| format!("starting thread {name}"))
}

/// Raises the soft limit on open files to the hard limit (systemd gives services a soft
/// limit of 1,024): an edge host keeps thousands of log files. Logs both.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct they are given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            limit.rlim_cur = before;
        }
    }
    tracing::info!(soft_before = before, soft = limit.rlim_cur, hard = limit.rlim_max, "Open-file limit");
}

/// Triggers `shutdown` on SIGINT or SIGTERM; exits at once on a second one.
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
    // A second signal means "now": what is undelivered is read again at the next start
    // (checkpoints only ever record delivered events).
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::warn!("Second stop signal; exiting without waiting for delivery");
    std::process::exit(130);
}
