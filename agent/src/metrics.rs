//! Counters the runtime keeps per component, read by the control API and the exit
//! summary. Updated once per batch, never per event, so they cost nothing measurable.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing counter or a gauge.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the value (for gauges).
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one input plugin.
#[derive(Debug, Default)]
pub struct InputStats {
    /// Plugin id.
    pub id: String,
    /// Events (lines, or joined lines) read.
    pub events: Counter,
    /// Bytes read.
    pub bytes: Counter,
    /// Bytes in watched files not read yet.
    pub lag_bytes: Counter,
    /// Files open now.
    pub files_open: Counter,
}

impl InputStats {
    /// Zeroed counters for input `id`.
    pub fn new(id: &str) -> Self {
        Self { id: id.to_string(), ..Self::default() }
    }
}

/// Counters of the filter stage.
#[derive(Debug, Default)]
pub struct FilterStats {
    /// Events entering the filters.
    pub events_in: Counter,
    /// Events leaving them (not dropped).
    pub events_out: Counter,
    /// Events dropped by `drop`.
    pub dropped: Counter,
    /// Events tagged with a parse failure (`_grokparsefailure`, `_dateparsefailure`, …).
    pub failures: Counter,
}

/// Counters of one output plugin.
#[derive(Debug, Default)]
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
    pub up: Counter,
}

impl OutputStats {
    /// Zeroed counters for output `id`, marked up.
    pub fn new(id: &str) -> Self {
        let s = Self { id: id.to_string(), ..Self::default() };
        s.up.set(1);
        s
    }
}
