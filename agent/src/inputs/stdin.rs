//! `stdin` input.

use super::codec::InputCodec;
use crate::line_codec::DEFAULT_MAX_LINE_BYTES;
use pipeline_dsl::settings::Settings;

/// Reads standard input once.
pub struct StdinInput {
    /// Tags added to every event.
    pub tags: Vec<String>,
    /// Maximum line size in bytes.
    pub max_line_bytes: usize,
    /// How lines become events.
    pub codec: InputCodec,
}

impl StdinInput {
    /// Reads `tags`, `max_line_bytes` and `codec`.
    pub fn from_settings(s: &mut Settings) -> Self {
        s.accept(&["id", "type"]);
        Self {
            codec: InputCodec::from_settings(s),
            tags: s.strings("tags").into_iter().map(|t| t.node).collect(),
            max_line_bytes: s.int("max_line_bytes").map_or(DEFAULT_MAX_LINE_BYTES, |n| n.max(1) as usize),
        }
    }

    /// The default input when none is configured or `--stdin` is given.
    pub fn default_input() -> Self {
        Self { tags: Vec::new(), max_line_bytes: DEFAULT_MAX_LINE_BYTES, codec: InputCodec::Line }
    }
}
