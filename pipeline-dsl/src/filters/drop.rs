//! `drop`: discards the event (optionally only a percentage of events).

use super::{Filter, Outcome};
use crate::event::Event;
use crate::settings::Settings;

/// The `drop` filter.
pub struct Drop {
    percentage: u64,
    counter: u64,
}

impl Drop {
    /// Reads `percentage` (default 100).
    pub fn from_settings(s: &mut Settings) -> Self {
        let percentage = s.int("percentage").unwrap_or(100).clamp(0, 100) as u64;
        Self { percentage, counter: 0 }
    }
}

impl Filter for Drop {
    fn apply(&mut self, _event: &mut Event) -> Outcome {
        // Deterministic spreading instead of randomness: drops `percentage` of every 100.
        self.counter = (self.counter + 1) % 100;
        if self.counter < self.percentage || self.percentage == 100 {
            Outcome::Drop
        } else {
            Outcome::Applied
        }
    }
}
