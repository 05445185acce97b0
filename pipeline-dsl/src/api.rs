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
