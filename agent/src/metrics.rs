//! The agent's counters, kept as Prometheus metrics (prometheus-client) and read both
//! by `/metrics` and by `/api/v1/snapshot`. They are updated once per batch or request,
//! never per event, so they cost nothing measurable.
//!
//! Names follow `logship_<component>_<name>_<unit>`, counters ending in `_total`, each
//! labelled with the plugin `id`.

use pipeline_dsl::aggregation::Aggregations;
use pipeline_dsl::api::{InputSnapshot, OutputSnapshot, PipelineSnapshot, PluginSnapshot, QueueSnapshot, Snapshot};
use pipeline_dsl::filters::{NodeCounts, TIMING_SAMPLE};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The label of per-plugin metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IdLabel {
    /// Plugin id.
    pub id: String,
}

/// The label of queue metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    /// Queue name.
    pub queue: String,
}

/// Counters of one input plugin.
#[derive(Debug, Clone)]
pub struct InputStats {
    /// Plugin id.
    pub id: String,
    /// Events (lines, or joined lines) read.
    pub events: Counter,
    /// Bytes read.
    pub bytes: Counter,
    /// Bytes in watched files not read yet.
    pub lag_bytes: Gauge,
    /// Files open now.
    pub files_open: Gauge,
    /// Files waiting for a free file descriptor.
    pub files_waiting: Gauge,
}

/// Counters of the filter stage as a whole.
#[derive(Debug, Clone, Default)]
pub struct FilterStats {
    /// Events entering the filters.
    pub events_in: Counter,
    /// Events leaving them (not dropped).
    pub events_out: Counter,
    /// Events dropped by `drop`.
    pub dropped: Counter,
    /// Events tagged with a parse failure (`_grokparsefailure`, `_dateparsefailure`, …).
    pub failures: Counter,
    /// Events an output's encoder panicked on: lost to that output (and logged).
    pub encode_faults: Counter,
}

/// Counters of one filter plugin.
#[derive(Debug, Clone)]
pub struct FilterPluginStats {
    /// Plugin id.
    pub id: String,
    /// Events that reached it.
    pub events_in: Counter,
    /// Events that left it.
    pub events_out: Counter,
    /// Events it did not apply to.
    pub not_applied: Counter,
    /// Estimated seconds spent in it (see [`NodeCounts::nanos`]).
    pub seconds: Counter<f64, AtomicU64>,
    /// Events it panicked on (contained; they went on tagged `_filter_error`).
    pub faults: Counter,
}

impl FilterPluginStats {
    /// Adds a worker's counts.
    pub fn add(&self, c: NodeCounts) {
        self.events_in.inc_by(c.events_in);
        self.events_out.inc_by(c.events_in - c.dropped);
        self.not_applied.inc_by(c.events_in - c.applied - c.dropped);
        if c.nanos > 0 {
            self.seconds.inc_by(c.nanos as f64 / 1e9);
        }
        if c.faults > 0 {
            self.faults.inc_by(c.faults);
        }
    }
}

/// Counters of one output plugin.
#[derive(Debug, Clone)]
pub struct OutputStats {
    /// Plugin id.
    pub id: String,
    /// Events delivered.
    pub events: Counter,
    /// Events that failed permanently and went to the dead-letter file.
    pub dead_lettered: Counter,
    /// Requests or items retried.
    pub retries: Counter,
    /// Whether the output can deliver right now (1) or not (0).
    pub up: Gauge,
    /// Request latency, in seconds.
    pub request_seconds: Histogram,
    /// Requests sent.
    pub requests: Counter,
    /// Sum of request latencies, in microseconds (for the snapshot's mean).
    pub request_micros: Counter,
    /// Requests the output allows itself in flight now (it adapts to the server).
    pub concurrency: Gauge,
    /// Share of the items sent in the last 10 s that the server did not take (per-item
    /// 429/5xx, failed requests), in thousandths.
    pub rejection_permille: Gauge,
    /// Items waiting to be sent again.
    pub retry_queue: Gauge,
}

impl OutputStats {
    /// Records one request's latency.
    pub fn observe_request(&self, started: Instant) {
        let elapsed = started.elapsed();
        self.request_seconds.observe(elapsed.as_secs_f64());
        self.requests.inc();
        self.request_micros.inc_by(elapsed.as_micros() as u64);
    }
}

/// Reports the depth and capacity of every queue, when asked.
pub type QueueProbe = Box<dyn Fn() -> Vec<(String, u64, u64)> + Send + Sync>;

/// All of the agent's metrics.
pub struct Metrics {
    registry: Registry,
    started: Instant,
    input_events: Family<IdLabel, Counter>,
    input_bytes: Family<IdLabel, Counter>,
    input_lag: Family<IdLabel, Gauge>,
    input_files: Family<IdLabel, Gauge>,
    input_waiting: Family<IdLabel, Gauge>,
    plugin_in: Family<IdLabel, Counter>,
    plugin_out: Family<IdLabel, Counter>,
    plugin_not_applied: Family<IdLabel, Counter>,
    plugin_seconds: Family<IdLabel, Counter<f64, AtomicU64>>,
    plugin_faults: Family<IdLabel, Counter>,
    output_events: Family<IdLabel, Counter>,
    output_dead: Family<IdLabel, Counter>,
    output_retries: Family<IdLabel, Counter>,
    output_up: Family<IdLabel, Gauge>,
    output_seconds: Family<IdLabel, Histogram>,
    output_requests: Family<IdLabel, Counter>,
    output_micros: Family<IdLabel, Counter>,
    output_concurrency: Family<IdLabel, Gauge>,
    output_rejection: Family<IdLabel, Gauge>,
    output_retry_queue: Family<IdLabel, Gauge>,
    queue_depth: Family<QueueLabel, Gauge>,
    queue_capacity: Family<QueueLabel, Gauge>,
    /// The filter stage totals.
    pub filters: FilterStats,
    /// Per input, in config order.
    pub inputs: Mutex<Vec<InputStats>>,
    /// Per filter plugin, in config order.
    pub filter_plugins: Mutex<Vec<FilterPluginStats>>,
    /// Per output, in config order.
    pub outputs: Mutex<Vec<OutputStats>>,
    probe: Mutex<Option<QueueProbe>>,
    aggregations: Mutex<Option<Arc<Aggregations>>>,
    window_late: Family<IdLabel, Gauge>,
    window_corrected: Family<IdLabel, Gauge>,
    window_corrections: Family<IdLabel, Gauge>,
    window_late_keys: Family<IdLabel, Gauge>,
    window_sources: Family<IdLabel, Gauge>,
    window_overflow: Family<IdLabel, Gauge>,
    window_future: Family<IdLabel, Gauge>,
    window_open_keys: Family<IdLabel, Gauge>,
    window_memory: Family<IdLabel, Gauge>,
    window_metric_events: Family<IdLabel, Gauge>,
}

fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric family.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("logship");
        let m = Metrics {
            registry: Registry::default(),
            started: Instant::now(),
            input_events: Family::default(),
            input_bytes: Family::default(),
            input_lag: Family::default(),
            input_files: Family::default(),
            input_waiting: Family::default(),
            plugin_in: Family::default(),
            plugin_out: Family::default(),
            plugin_not_applied: Family::default(),
            plugin_seconds: Family::default(),
            plugin_faults: Family::default(),
            output_events: Family::default(),
            output_dead: Family::default(),
            output_retries: Family::default(),
            output_up: Family::default(),
            output_seconds: Family::new_with_constructor(request_buckets),
            output_requests: Family::default(),
            output_micros: Family::default(),
            output_concurrency: Family::default(),
            output_rejection: Family::default(),
            output_retry_queue: Family::default(),
            queue_depth: Family::default(),
            queue_capacity: Family::default(),
            filters: FilterStats::default(),
            inputs: Mutex::default(),
            filter_plugins: Mutex::default(),
            outputs: Mutex::default(),
            probe: Mutex::default(),
            aggregations: Mutex::default(),
            window_late: Family::default(),
            window_corrected: Family::default(),
            window_corrections: Family::default(),
            window_late_keys: Family::default(),
            window_sources: Family::default(),
            window_overflow: Family::default(),
            window_future: Family::default(),
            window_open_keys: Family::default(),
            window_memory: Family::default(),
            window_metric_events: Family::default(),
        };
        registry.register("input_events", "Events read by an input", m.input_events.clone());
        registry.register("input_bytes", "Bytes read by an input", m.input_bytes.clone());
        registry.register("input_lag_bytes", "Bytes in watched files not read yet", m.input_lag.clone());
        registry.register("input_files_open", "Files an input has open", m.input_files.clone());
        registry.register(
            "input_files_waiting",
            "Files an input found but cannot open yet for want of a file descriptor",
            m.input_waiting.clone(),
        );
        registry.register("pipeline_events_in", "Events entering the filters", m.filters.events_in.clone());
        registry.register("pipeline_events_out", "Events leaving the filters", m.filters.events_out.clone());
        registry.register("pipeline_dropped", "Events dropped by filters", m.filters.dropped.clone());
        registry.register("pipeline_failures", "Events tagged with a parse failure", m.filters.failures.clone());
        registry.register(
            "pipeline_encode_faults",
            "Events an output's encoder panicked on (lost to that output)",
            m.filters.encode_faults.clone(),
        );
        registry.register("filter_events_in", "Events that reached a filter", m.plugin_in.clone());
        registry.register("filter_events_out", "Events that left a filter", m.plugin_out.clone());
        registry.register("filter_not_applied", "Events a filter did not apply to", m.plugin_not_applied.clone());
        registry.register(
            "filter_duration_seconds",
            format!("Estimated time spent in a filter (one event in {TIMING_SAMPLE} timed, plus its flushing)"),
            m.plugin_seconds.clone(),
        );
        registry.register(
            "filter_faults",
            "Events a filter panicked on (contained: tagged _filter_error and passed on)",
            m.plugin_faults.clone(),
        );
        registry.register("output_events", "Events delivered by an output", m.output_events.clone());
        registry.register(
            "output_dead_lettered",
            "Events rejected for good, in the dead-letter file",
            m.output_dead.clone(),
        );
        registry.register("output_retries", "Items or requests retried", m.output_retries.clone());
        registry.register("output_up", "Whether an output can deliver (1) or not (0)", m.output_up.clone());
        registry.register("output_request_seconds", "Output request latency", m.output_seconds.clone());
        registry.register(
            "output_concurrency",
            "Requests an output allows itself in flight now (adapted to the server)",
            m.output_concurrency.clone(),
        );
        registry.register(
            "output_rejection_permille",
            "Thousandths of the items sent in the last 10 s that the server did not take",
            m.output_rejection.clone(),
        );
        registry.register("output_retry_queue", "Items waiting to be sent again", m.output_retry_queue.clone());
        registry.register("queue_depth", "Batches waiting in a queue", m.queue_depth.clone());
        registry.register("queue_capacity", "Capacity of a queue, in batches", m.queue_capacity.clone());
        registry.register(
            "window_late_events",
            "Events that came after their window closed, beyond late_horizon (counted, not aggregated)",
            m.window_late.clone(),
        );
        registry.register(
            "window_corrected_events",
            "Events that came after their window closed, aggregated into corrections",
            m.window_corrected.clone(),
        );
        registry.register("window_correction_events", "Correction documents emitted", m.window_corrections.clone());
        registry.register(
            "window_late_keys",
            "Keys of late events gathering for corrections",
            m.window_late_keys.clone(),
        );
        registry.register("window_sources", "Sources the watermark follows now", m.window_sources.clone());
        registry.register(
            "window_overflow_events",
            "Events aggregated under _other (max_keys reached)",
            m.window_overflow.clone(),
        );
        registry.register(
            "window_future_events",
            "Events stamped too far ahead of the clock to aggregate",
            m.window_future.clone(),
        );
        registry.register("window_open_keys", "Keys held in open windows", m.window_open_keys.clone());
        registry.register("window_memory_bytes", "Approximate heap bytes of open windows", m.window_memory.clone());
        registry.register(
            "window_metric_events",
            "Metric events emitted at window close",
            m.window_metric_events.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counters for input `id`.
    pub fn input(&self, id: &str) -> InputStats {
        let l = IdLabel { id: id.to_string() };
        let s = InputStats {
            id: id.to_string(),
            events: self.input_events.get_or_create(&l).clone(),
            bytes: self.input_bytes.get_or_create(&l).clone(),
            lag_bytes: self.input_lag.get_or_create(&l).clone(),
            files_open: self.input_files.get_or_create(&l).clone(),
            files_waiting: self.input_waiting.get_or_create(&l).clone(),
        };
        lock(&self.inputs).push(s.clone());
        s
    }

    /// Counters for filter plugin `id`.
    pub fn filter_plugin(&self, id: &str) -> FilterPluginStats {
        let l = IdLabel { id: id.to_string() };
        let s = FilterPluginStats {
            id: id.to_string(),
            events_in: self.plugin_in.get_or_create(&l).clone(),
            events_out: self.plugin_out.get_or_create(&l).clone(),
            not_applied: self.plugin_not_applied.get_or_create(&l).clone(),
            seconds: self.plugin_seconds.get_or_create(&l).clone(),
            faults: self.plugin_faults.get_or_create(&l).clone(),
        };
        lock(&self.filter_plugins).push(s.clone());
        s
    }

    /// Counters for output `id`, marked up.
    pub fn output(&self, id: &str) -> OutputStats {
        let l = IdLabel { id: id.to_string() };
        let s = OutputStats {
            id: id.to_string(),
            events: self.output_events.get_or_create(&l).clone(),
            dead_lettered: self.output_dead.get_or_create(&l).clone(),
            retries: self.output_retries.get_or_create(&l).clone(),
            up: self.output_up.get_or_create(&l).clone(),
            request_seconds: self.output_seconds.get_or_create(&l).clone(),
            requests: self.output_requests.get_or_create(&l).clone(),
            request_micros: self.output_micros.get_or_create(&l).clone(),
            concurrency: self.output_concurrency.get_or_create(&l).clone(),
            rejection_permille: self.output_rejection.get_or_create(&l).clone(),
            retry_queue: self.output_retry_queue.get_or_create(&l).clone(),
        };
        s.up.set(1);
        lock(&self.outputs).push(s.clone());
        s
    }

    /// Sets how queue depths are read.
    pub fn set_queue_probe(&self, probe: QueueProbe) {
        *lock(&self.probe) = Some(probe);
    }

    fn queues(&self) -> Vec<(String, u64, u64)> {
        let queues = lock(&self.probe).as_ref().map(|p| p()).unwrap_or_default();
        for (name, depth, capacity) in &queues {
            let l = QueueLabel { queue: name.clone() };
            self.queue_depth.get_or_create(&l).set(*depth as i64);
            self.queue_capacity.get_or_create(&l).set(*capacity as i64);
        }
        queues
    }

    /// Sets the aggregating filters whose windows the snapshot and metrics show.
    pub fn set_aggregations(&self, aggregations: Arc<Aggregations>) {
        *lock(&self.aggregations) = Some(aggregations);
    }

    fn aggregators(&self) -> Vec<Arc<pipeline_dsl::aggregation::Aggregator>> {
        lock(&self.aggregations).as_ref().map(|a| a.all()).unwrap_or_default()
    }

    fn refresh_window_gauges(&self) {
        for a in self.aggregators() {
            let c = a.counters();
            let l = IdLabel { id: a.config.id.clone() };
            let set = |f: &Family<IdLabel, Gauge>, v: u64| {
                f.get_or_create(&l).set(i64::try_from(v).unwrap_or(i64::MAX));
            };
            set(&self.window_late, c.late_events);
            set(&self.window_corrected, c.corrected_events);
            set(&self.window_corrections, c.correction_events);
            set(&self.window_late_keys, c.late_keys);
            set(&self.window_sources, c.sources);
            set(&self.window_overflow, c.overflow_events);
            set(&self.window_future, c.future_events);
            set(&self.window_open_keys, c.open_keys);
            set(&self.window_memory, c.memory_bytes);
            set(&self.window_metric_events, c.metric_events);
        }
    }

    /// The Prometheus (OpenMetrics) text exposition.
    pub fn prometheus_text(&self) -> String {
        self.queues();
        self.refresh_window_gauges();
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The JSON snapshot served to the console.
    pub fn snapshot(&self) -> Snapshot {
        let queues = self.queues();
        let gauge = |g: &Gauge| g.get().max(0) as u64;
        Snapshot {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            timestamp_ms: chrono::Utc::now().timestamp_millis(),
            inputs: lock(&self.inputs)
                .iter()
                .map(|i| InputSnapshot {
                    id: i.id.clone(),
                    events: i.events.get(),
                    bytes: i.bytes.get(),
                    lag_bytes: gauge(&i.lag_bytes),
                    files_open: gauge(&i.files_open),
                    files_waiting: gauge(&i.files_waiting),
                })
                .collect(),
            pipeline: PipelineSnapshot {
                events_in: self.filters.events_in.get(),
                events_out: self.filters.events_out.get(),
                dropped: self.filters.dropped.get(),
                failures: self.filters.failures.get(),
                encode_faults: self.filters.encode_faults.get(),
                filters: lock(&self.filter_plugins)
                    .iter()
                    .map(|f| PluginSnapshot {
                        id: f.id.clone(),
                        events_in: f.events_in.get(),
                        events_out: f.events_out.get(),
                        not_applied: f.not_applied.get(),
                        duration_micros: (f.seconds.get() * 1e6) as u64,
                        faults: f.faults.get(),
                    })
                    .collect(),
            },
            outputs: lock(&self.outputs)
                .iter()
                .map(|o| OutputSnapshot {
                    id: o.id.clone(),
                    events: o.events.get(),
                    dead_lettered: o.dead_lettered.get(),
                    retries: o.retries.get(),
                    up: o.up.get() > 0,
                    requests: o.requests.get(),
                    mean_latency_ms: if o.requests.get() == 0 {
                        0.0
                    } else {
                        o.request_micros.get() as f64 / o.requests.get() as f64 / 1000.0
                    },
                    concurrency: o.concurrency.get().max(0) as u64,
                    rejection_rate: o.rejection_permille.get().max(0) as f64 / 1000.0,
                    retry_queue: o.retry_queue.get().max(0) as u64,
                })
                .collect(),
            queues: queues.into_iter().map(|(name, depth, capacity)| QueueSnapshot { name, depth, capacity }).collect(),
            aggregations: self.aggregators().iter().map(|a| a.snapshot()).collect(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update leaves the lists consistent; a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Shared handle to the metrics.
pub type SharedMetrics = Arc<Metrics>;
