//! The open windows of an aggregation as written out when the agent stops, and read
//! back when it starts again: a window that spans a restart is then emitted once, with
//! every event of it, instead of as two halves under one document id.
//!
//! Only the figures a window needs to go on are kept: per key the counters, the exact
//! values while few, or a histogram's buckets (each bucket as its highest equivalent
//! value and count, which records back into the same bucket). Nothing here does I/O;
//! the agent decides where the file lives.

use serde::{Deserialize, Serialize};

/// The open windows of one `window_stats` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedAggregation {
    /// The block's id.
    pub id: String,
    /// What the figures depend on (name, grouping, window length, histogram precision,
    /// measures): they are restored only into a block with the same settings.
    pub settings: String,
    /// The newest event time folded in (Unix ms), which the watermark follows.
    pub max_time: Option<i64>,
    /// Every window ending at or before this (Unix ms) had closed.
    pub closed_until: i64,
    /// The open windows, oldest first.
    pub windows: Vec<SavedWindow>,
}

/// One open window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedWindow {
    /// Start, Unix ms.
    pub start: i64,
    /// The figures over all keys.
    pub totals: SavedKey,
    /// Each key (group values joined by U+001F) and its figures.
    pub keys: Vec<(String, SavedKey)>,
}

/// The figures of one key in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedKey {
    /// Events.
    pub count: u64,
    /// Events matching `error_if`.
    pub errors: u64,
    /// Events matching `cache_hit_if`.
    pub hits: u64,
    /// Events matching `cache_miss_if`.
    pub misses: u64,
    /// Summed bytes.
    pub bytes: f64,
    /// Late events shown on this key.
    pub late: u64,
    /// The `sum` totals, then the `count_if` counts.
    pub extras: Vec<f64>,
    /// The recorded values.
    pub value: SavedValues,
}

/// The recorded values of one key: `exact` while it has few, else `buckets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedValues {
    /// Values recorded.
    pub count: u64,
    /// Their exact sum.
    pub sum: f64,
    /// Smallest value recorded.
    pub min: u64,
    /// Largest value recorded (before clamping).
    pub max: u64,
    /// Values above the histogram's range.
    pub clamped: u64,
    /// The values themselves (as stored: clamped to the range), while few.
    pub exact: Vec<u64>,
    /// The histogram's non-empty buckets: highest equivalent value and count.
    pub buckets: Vec<(u64, u64)>,
}
