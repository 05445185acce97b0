//! Fast path for anchored grok expressions: literal delimiters found with memchr,
//! each piece validated by its own small anchored regex.
//!
//! Placeholder: built in a follow-up commit; `build` declines every pattern for now.

use super::expand::Capture;
use crate::regex_engine::Spans;

/// A compiled delimiter-split matcher.
pub struct SegmentMatcher;

impl SegmentMatcher {
    /// Builds a matcher when the pattern allows it.
    pub fn build(_regex: &str, _groups: &[Option<Capture>]) -> Option<Self> {
        None
    }

    /// Matches `text`, filling group spans.
    pub fn match_into(&self, _text: &str, _spans: &mut Spans) -> bool {
        false
    }
}
