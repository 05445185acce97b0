//! The agent-wide stop signal: set once (SIGINT, SIGTERM, or an error that stops the
//! agent), observed by every input loop. Inputs that run dry (`--once`, the end of
//! standard input) end without setting it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A cloneable stop flag.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    /// Asks everything to stop reading.
    pub fn trigger(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether a stop was asked for.
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Sleeps for `d`, waking early on a stop; returns whether a stop was asked for.
    pub fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.is_triggered() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}
