//! `json`: parses a field holding JSON text into the event or a target field.

use super::{failure_tags, field_or, Filter, Outcome};
use crate::event::Event;
use crate::field_ref::FieldRef;
use crate::settings::Settings;
use crate::value::Value;

/// The `json` filter.
pub struct Json {
    source: FieldRef,
    target: Option<FieldRef>,
    tag_on_failure: Vec<String>,
    skip_on_invalid_json: bool,
}

impl Json {
    /// Reads `source` (default `message`), `target`, `tag_on_failure`, `skip_on_invalid_json`.
    pub fn from_settings(s: &mut Settings) -> Self {
        Self {
            source: field_or(s, "source", "message"),
            target: s.field_ref("target"),
            tag_on_failure: failure_tags(s, "tag_on_failure", "_jsonparsefailure"),
            skip_on_invalid_json: s.bool_or("skip_on_invalid_json", false),
        }
    }
}

impl Filter for Json {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        let Some(text) = event.get_str(&self.source) else { return Outcome::Skipped };
        match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                match (&self.target, value) {
                    (Some(t), v) => event.set(t, v),
                    (None, Value::Object(map)) => {
                        for (k, v) in map {
                            if &*k == crate::event::TIMESTAMP {
                                if let Some(t) = v.as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()) {
                                    event.set_timestamp(t.with_timezone(&chrono::Utc));
                                    continue;
                                }
                            }
                            event.set(&FieldRef::top_level(&k), v);
                        }
                    }
                    (None, _) => {
                        // A scalar or array cannot be merged into the root.
                        event.add_tag("_jsonparsefailure");
                        return Outcome::Skipped;
                    }
                }
                Outcome::Applied
            }
            Err(_) if self.skip_on_invalid_json => Outcome::Skipped,
            Err(_) => {
                for t in &self.tag_on_failure {
                    event.add_tag(t);
                }
                Outcome::Skipped
            }
        }
    }
}
