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
                                event.set_timestamp_from(v);
                            } else {
                                event.set(&FieldRef::top_level(&k), v);
                            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn json_filter(settings: &str) -> Json {
        crate::filters::from_config("json", settings, Json::from_settings)
    }

    fn event(message: &str) -> Event {
        Event::from_message(message.to_string(), chrono::Utc::now())
    }

    #[test]
    fn merges_objects_and_handles_timestamps_and_failures() {
        let mut f = json_filter("");
        let mut e = event(r#"{"a":{"b":1},"@timestamp":"2020-01-01T00:00:00Z"}"#);
        assert_eq!(f.apply(&mut e), Outcome::Applied);
        assert_eq!(e.get(&FieldRef::parse("[a][b]").unwrap()), Some(&Value::Int(1)));
        assert_eq!(e.get_str(&FieldRef::parse("@timestamp").unwrap()), Some("2020-01-01T00:00:00.000Z"));

        let mut e = event(r#"{"@timestamp":"soon"}"#);
        f.apply(&mut e);
        assert_eq!(e.get_str(&FieldRef::parse("_@timestamp").unwrap()), Some("soon"));
        assert!(e.has_tag("_timestampparsefailure"));
        assert!(e.timestamp().is_some(), "@timestamp keeps a valid time");

        let mut e = event("{broken");
        assert_eq!(f.apply(&mut e), Outcome::Skipped);
        assert!(e.has_tag("_jsonparsefailure"));

        let mut f = json_filter(r#"target => "[@metadata][doc]""#);
        let mut e = event("[1, 2]");
        assert_eq!(f.apply(&mut e), Outcome::Applied);
        assert_eq!(e.get(&FieldRef::parse("[@metadata][doc][1]").unwrap()), Some(&Value::Int(2)));
    }
}
