//! JSON types of the agent's control API (`/api/v1/snapshot`), shared by the agent that
//! serves them and the console that reads them; nothing else is shared between the two.

use serde::{Deserialize, Serialize};

/// The agent's state at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// logship version.
    pub version: String,
    /// Seconds since the agent started.
    pub uptime_seconds: f64,
    /// Unix time of the snapshot, in milliseconds.
    pub timestamp_ms: i64,
    /// Per input plugin.
    pub inputs: Vec<InputSnapshot>,
    /// The filter stage.
    pub pipeline: PipelineSnapshot,
    /// Per output plugin.
    pub outputs: Vec<OutputSnapshot>,
    /// Batches waiting in each queue.
    pub queues: Vec<QueueSnapshot>,
    /// Per `window_stats` filter: the streaming-health view.
    #[serde(default)]
    pub aggregations: Vec<AggregationSnapshot>,
}

/// One input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputSnapshot {
    /// Plugin id.
    pub id: String,
    /// Events read.
    pub events: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Bytes in watched files not read yet.
    pub lag_bytes: u64,
    /// Files open.
    pub files_open: u64,
    /// Files waiting for a free file descriptor.
    #[serde(default)]
    pub files_waiting: u64,
}

/// The filter stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineSnapshot {
    /// Events entering the filters.
    pub events_in: u64,
    /// Events leaving them.
    pub events_out: u64,
    /// Events dropped.
    pub dropped: u64,
    /// Events tagged with a parse failure.
    pub failures: u64,
    /// Events an output's encoder panicked on (lost to that output).
    #[serde(default)]
    pub encode_faults: u64,
    /// Per filter plugin.
    pub filters: Vec<PluginSnapshot>,
}

/// One filter plugin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginSnapshot {
    /// Plugin id.
    pub id: String,
    /// Events that reached it.
    pub events_in: u64,
    /// Events that left it (not dropped).
    pub events_out: u64,
    /// Events it did not apply to (no match, unparsable date…).
    pub not_applied: u64,
    /// Estimated time spent in it, in microseconds (see
    /// [`crate::filters::TIMING_SAMPLE`]); 0 from agents that do not measure it.
    #[serde(default)]
    pub duration_micros: u64,
    /// Events it panicked on: contained (tagged `_filter_error`), but a bug to report.
    #[serde(default)]
    pub faults: u64,
}

/// One output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputSnapshot {
    /// Plugin id.
    pub id: String,
    /// Events delivered.
    pub events: u64,
    /// Events dead-lettered.
    pub dead_lettered: u64,
    /// Items or requests retried.
    pub retries: u64,
    /// Whether the output can deliver now.
    pub up: bool,
    /// Requests sent (bulk requests for Elasticsearch).
    pub requests: u64,
    /// Mean request latency in milliseconds.
    pub mean_latency_ms: f64,
    /// Requests the output allows itself in flight now (it adapts to the server).
    #[serde(default)]
    pub concurrency: u64,
    /// Share of the items sent in the last 10 s that the server did not take.
    #[serde(default)]
    pub rejection_rate: f64,
    /// Items waiting to be sent again.
    #[serde(default)]
    pub retry_queue: u64,
}

/// One queue between stages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    /// Queue name (`inputs`, `sequencer`, `output:<id>`).
    pub name: String,
    /// Batches in it.
    pub depth: u64,
    /// Its capacity in batches.
    pub capacity: u64,
}

/// One `window_stats` filter: its open and recent windows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregationSnapshot {
    /// Plugin id.
    pub id: String,
    /// Metric name (`metric.name` of its documents).
    pub name: String,
    /// The grouping fields, dotted (`streaming.title.id`).
    pub group_by: Vec<String>,
    /// Window length in seconds.
    pub window_seconds: f64,
    /// Allowed lateness in seconds.
    pub allowed_lateness_seconds: f64,
    /// Counters and size of its windows.
    #[serde(flatten)]
    pub counters: WindowCounters,
    /// The newest open window, computed now (its figures still grow).
    pub current: Option<WindowSnapshot>,
    /// Closed windows, newest first.
    pub recent: Vec<WindowSnapshot>,
}

/// Counters of one `window_stats` filter and the size of its open windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCounters {
    /// Windows open now (closed windows still being emitted included).
    pub open_windows: u64,
    /// Keys held across the open windows.
    pub open_keys: u64,
    /// Approximate heap bytes of the open windows.
    pub memory_bytes: u64,
    /// Events that arrived after their window had closed and beyond `late_horizon`
    /// (counted, not aggregated).
    pub late_events: u64,
    /// Events that arrived after their window had closed, within `late_horizon`:
    /// aggregated into corrections.
    #[serde(default)]
    pub corrected_events: u64,
    /// Correction documents emitted so far.
    #[serde(default)]
    pub correction_events: u64,
    /// Keys of late events gathering for the next corrections.
    #[serde(default)]
    pub late_keys: u64,
    /// Sources (files) whose progress the watermark follows now.
    #[serde(default)]
    pub sources: u64,
    /// Events whose key did not fit under `max_keys` (aggregated under `_other`).
    pub overflow_events: u64,
    /// Events stamped too far in the future to aggregate.
    pub future_events: u64,
    /// Windows closed so far.
    pub windows_closed: u64,
    /// Metric events emitted so far.
    pub metric_events: u64,
}

/// One window: totals, the busiest keys and top lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowSnapshot {
    /// Window start, Unix milliseconds.
    pub start_ms: i64,
    /// Window end (exclusive), Unix milliseconds.
    pub end_ms: i64,
    /// Whether the window is closed (its figures are final).
    pub closed: bool,
    /// Keys in the window.
    pub key_count: u64,
    /// All events of the window together.
    pub totals: KeyStats,
    /// The busiest keys (by event count, then key), at most the filter's `snapshot_keys`.
    pub keys: Vec<KeyStats>,
    /// Keys with the most events, busiest first.
    pub top_by_count: Vec<String>,
    /// Keys with the most errors.
    pub top_by_errors: Vec<String>,
    /// Keys with the highest p95 of the recorded value.
    pub top_by_p95: Vec<String>,
}

/// The figures of one key (or of the totals) in one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyStats {
    /// The key: one value per grouping field, joined with `|` (`_all` for totals).
    pub key: String,
    /// Events.
    pub count: u64,
    /// Events matching `error_if`.
    pub errors: u64,
    /// errors / count.
    pub error_rate: Option<f64>,
    /// Events matching `cache_hit_if`.
    pub cache_hits: u64,
    /// Events matching `cache_miss_if`.
    pub cache_misses: u64,
    /// hits / (hits + misses).
    pub cache_hit_ratio: Option<f64>,
    /// Sum of the `bytes` field.
    pub bytes: f64,
    /// Late events of this key that arrived while this window was open.
    pub late_events: u64,
    /// Statistics of the recorded value, when any was recorded.
    pub value: Option<ValueStats>,
    /// `sum` settings by name.
    pub sums: Vec<(String, f64)>,
    /// `count_if` settings by name.
    pub counts: Vec<(String, u64)>,
    /// `ratio` settings by name (absent when the denominator is 0).
    pub ratios: Vec<(String, Option<f64>)>,
}

/// Distribution of the recorded value of one key in one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValueStats {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// Histogram bucket values (ascending), for the newest windows only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub histogram_values: Vec<f64>,
    /// Counts matching `histogram_values`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub histogram_counts: Vec<u64>,
}
