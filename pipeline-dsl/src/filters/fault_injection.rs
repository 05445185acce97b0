//! `fault_injection`: a filter that panics on purpose, built only with the
//! `fault-injection` feature, so that tests can check end to end that a faulty filter
//! never stops the agent or loses an event.
//!
//! `fault_injection { panic_on => "TEXT" }` panics on every event whose `message`
//! contains `TEXT`, and passes every other event unchanged.

use super::{Filter, Outcome};
use crate::event::Event;
use crate::settings::Settings;

/// The panicking test filter.
pub struct FaultInjection {
    trigger: String,
}

impl FaultInjection {
    /// Reads `panic_on`.
    pub fn from_settings(s: &mut Settings) -> Self {
        Self { trigger: s.string_or("panic_on", "PANIC") }
    }
}

impl Filter for FaultInjection {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        let message = event.fields().get("message").and_then(|v| v.as_str()).unwrap_or_default();
        if message.contains(self.trigger.as_str()) {
            panic!("fault_injection: panic_on matched");
        }
        Outcome::Skipped
    }
}
