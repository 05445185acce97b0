//! Input codecs: how bytes become events. `line` (also `plain`) gives one event per
//! line; `json_lines` (also `json`) decodes each line as a JSON object; `multiline { … }`
//! joins continuation lines. Any other codec is reported.

use crate::multiline::{Multiline, MultilineConfig};
use pipeline_dsl::ast::Value;
use pipeline_dsl::settings::Settings;

/// A built input codec.
pub enum InputCodec {
    /// One event per line.
    Line,
    /// One JSON object per line, decoded into the event's fields.
    JsonLines,
    /// Continuation lines joined into one event.
    Multiline(MultilineConfig),
}

impl InputCodec {
    /// Whether each line is a JSON object to decode.
    pub fn is_json(&self) -> bool {
        matches!(self, InputCodec::JsonLines)
    }

    /// A fresh line joiner for one stream, when the codec is `multiline`.
    pub fn joiner(&self) -> Option<Multiline<'_>> {
        match self {
            InputCodec::Multiline(config) => Some(Multiline::new(config)),
            _ => None,
        }
    }

    /// Reads the input's `codec` setting (default `line`).
    pub fn from_settings(s: &mut Settings) -> InputCodec {
        let Some(v) = s.raw("codec") else { return InputCodec::Line };
        let name = match &v.node {
            Value::Bareword(n) | Value::String(n) => n.clone(),
            Value::Plugin(p) => p.name.node.clone(),
            _ => String::new(),
        };
        match (name.as_str(), &v.node) {
            ("line" | "plain", _) => InputCodec::Line,
            ("json_lines" | "json", _) => InputCodec::JsonLines,
            ("multiline", Value::Plugin(p)) => {
                let mut inner = Settings::new(p);
                let config = MultilineConfig::from_settings(&mut inner);
                for d in inner.finish() {
                    s.error(d.message, d.span, d.label);
                }
                config.map_or(InputCodec::Line, InputCodec::Multiline)
            }
            ("multiline", _) => {
                s.error(
                    "the multiline codec needs settings",
                    v.span.clone(),
                    "write `multiline { pattern => … what => … }`",
                );
                InputCodec::Line
            }
            _ => {
                s.error(
                    format!("unsupported input codec `{name}`"),
                    v.span.clone(),
                    "supported: line, plain, json_lines, json, multiline",
                );
                InputCodec::Line
            }
        }
    }
}
