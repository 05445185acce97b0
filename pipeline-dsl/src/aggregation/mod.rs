//! Windowed aggregation behind the `window_stats` filter: per event-time window and per
//! key, an HdrHistogram of one numeric field plus counters, emitted as one metric event
//! per key when the window closes.
//!
//! The state of one `window_stats` block is an [`Aggregator`], shared by every filter
//! worker's copy of the pipeline (they find it in the [`Aggregations`] registry given to
//! `compile`), so a window sees every event whichever worker filtered it. Workers record
//! observations locally and fold them in once per batch, under one lock.

mod merged;
mod recorder;
mod saved;
mod window;

pub use merged::Merged;
pub use recorder::{Precision, Recorder, Summary, QUANTILES};
pub use saved::{SavedAggregation, SavedKey, SavedValues, SavedWindow};
pub use window::{
    ratio, AggregationConfig, Aggregator, Observation, Observations, RatioTerm, CACHE_HIT, CACHE_MISS, ERROR,
    KEY_SEPARATOR,
};

use std::sync::{Arc, Mutex};

/// Every aggregation of one agent, keyed by where its block is in the config, so that
/// all workers compiling the same config share one state per block.
#[derive(Default)]
pub struct Aggregations {
    entries: Mutex<Vec<(String, Arc<Aggregator>)>>,
}

impl Aggregations {
    /// A new, empty registry.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// The aggregator registered under `site`, or `make()`'s, registered now.
    pub fn get_or_insert(&self, site: &str, make: impl FnOnce() -> Aggregator) -> Arc<Aggregator> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, a)) = entries.iter().find(|(s, _)| s == site) {
            return a.clone();
        }
        let a = Arc::new(make());
        entries.push((site.to_string(), a.clone()));
        a
    }

    /// Every aggregator, in config order.
    pub fn all(&self) -> Vec<Arc<Aggregator>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(_, a)| a.clone()).collect()
    }
}
