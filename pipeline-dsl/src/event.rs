//! The event model: an object of fields plus a separate `[@metadata]` object.
//!
//! Events follow Logstash semantics: `@timestamp`, `message` and `tags` are ordinary
//! fields with conventional meaning; `[@metadata]` is readable by conditions and sprintf
//! but is never part of the shipped document.

use crate::field_ref::FieldRef;
use crate::value::{intern, Hint, Key, Map, Str, Value};
use chrono::{DateTime, SecondsFormat, Utc};
use std::sync::OnceLock;

/// Name of the timestamp field.
pub const TIMESTAMP: &str = "@timestamp";
/// Name of the tags field.
pub const TAGS: &str = "tags";

/// The interned keys of the fields every event has, looked up once.
struct WellKnown {
    timestamp: Key,
    tags: Key,
    message: Key,
}

fn well_known() -> &'static WellKnown {
    static KEYS: OnceLock<WellKnown> = OnceLock::new();
    KEYS.get_or_init(|| WellKnown { timestamp: intern(TIMESTAMP), tags: intern(TAGS), message: intern("message") })
}

/// One log event travelling through the pipeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    fields: Map,
    metadata: Map,
}

impl Event {
    /// An event holding `message`, stamped with `now`.
    pub fn from_message(message: String, now: DateTime<Utc>) -> Self {
        Self::from_message_stamped(message, &Str::from(format_timestamp(now)))
    }

    /// An event holding `message`, stamped with an already formatted time (a batch of
    /// lines read together shares one, and cloning it is a plain copy).
    pub fn from_message_stamped(message: String, timestamp: &Str) -> Self {
        // Room for the top-level keys a parsed access log ends with, so the object is
        // allocated once rather than regrown as filters add fields.
        let mut fields = Map::with_capacity(16);
        let keys = well_known();
        fields.insert_key(&keys.timestamp, None, Value::String(timestamp.clone()));
        fields.insert_key(&keys.message, None, Value::String(message.into()));
        Self { fields, metadata: Map::new() }
    }

    /// An event from an existing object (its `@metadata` key, if any, becomes metadata).
    pub fn from_fields(mut fields: Map) -> Self {
        let metadata = match fields.remove("@metadata") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Self { fields, metadata }
    }

    /// The shipped fields (no metadata).
    pub fn fields(&self) -> &Map {
        &self.fields
    }

    fn root(&self, r: &FieldRef) -> &Map {
        if r.is_metadata() {
            &self.metadata
        } else {
            &self.fields
        }
    }

    fn root_mut(&mut self, r: &FieldRef) -> &mut Map {
        if r.is_metadata() {
            &mut self.metadata
        } else {
            &mut self.fields
        }
    }

    /// The value at `r`; numeric segments index arrays.
    pub fn get(&self, r: &FieldRef) -> Option<&Value> {
        let (first, rest) = r.steps().split_first()?;
        let mut cur = self.root(r).get_key(&first.key, Some(&first.hint))?;
        for s in rest {
            cur = match cur {
                Value::Object(m) => m.get_key(&s.key, Some(&s.hint))?,
                Value::Array(a) => a.get(s.key.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Mutable access to the value at `r`.
    pub fn get_mut(&mut self, r: &FieldRef) -> Option<&mut Value> {
        let (first, rest) = r.steps().split_first()?;
        let mut cur = self.root_mut(r).get_key_mut(&first.key, Some(&first.hint))?;
        for s in rest {
            cur = match cur {
                Value::Object(m) => m.get_key_mut(&s.key, Some(&s.hint))?,
                Value::Array(a) => a.get_mut(s.key.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Whether a field exists at `r` (a null value counts as present).
    pub fn contains(&self, r: &FieldRef) -> bool {
        self.get(r).is_some()
    }

    /// The object that holds the last segment of `r`, with that segment and its hint,
    /// creating intermediate objects. An intermediate value that is not an object is
    /// replaced by one, as the new value must have somewhere to live.
    #[inline(always)]
    fn parent_mut<'r>(&mut self, r: &'r FieldRef) -> Option<(&mut Map, &'r Key, &'r Hint)> {
        let (last, parents) = r.steps().split_last()?;
        let mut cur = self.root_mut(r);
        for s in parents {
            let slot = cur.entry_or_insert_with(&s.key, Some(&s.hint), || Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(m) = slot else { return None };
            cur = m;
        }
        Some((cur, &last.key, &last.hint))
    }

    /// Sets `r` to `value`, creating intermediate objects (see [`Event::slot`]).
    pub fn set(&mut self, r: &FieldRef, value: Value) {
        if let Some((parent, key, hint)) = self.parent_mut(r) {
            parent.insert_key(key, Some(hint), value);
        }
    }

    /// Sets `r` to `value` when it is absent; when it exists, `merge(field, value)`
    /// decides. One walk for the "set if absent, else append" updates of grok and
    /// `add_field`.
    pub fn set_or_merge(&mut self, r: &FieldRef, value: Value, merge: impl FnOnce(&mut Value, Value)) {
        if let Some((parent, key, hint)) = self.parent_mut(r) {
            parent.insert_or_merge(key, Some(hint), value, merge);
        }
    }

    /// The slot at `r`, created as `null` (with any missing parents) when absent. An
    /// intermediate value that is not an object is replaced by one. `None` only for a
    /// reference to the whole of `[@metadata]`.
    pub fn slot(&mut self, r: &FieldRef) -> Option<&mut Value> {
        let (parent, key, hint) = self.parent_mut(r)?;
        Some(parent.entry_or_insert_with(key, Some(hint), || Value::Null))
    }

    /// Removes and returns the value at `r`. Empty parent objects are kept, as in Logstash.
    pub fn remove(&mut self, r: &FieldRef) -> Option<Value> {
        let (last, parents) = r.steps().split_last()?;
        let root = self.root_mut(r);
        let Some((first, rest)) = parents.split_first() else { return root.remove_key(&last.key, Some(&last.hint)) };
        let mut cur = root.get_key_mut(&first.key, Some(&first.hint))?;
        for s in rest {
            cur = match cur {
                Value::Object(m) => m.get_key_mut(&s.key, Some(&s.hint))?,
                Value::Array(a) => a.get_mut(s.key.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        match cur {
            Value::Object(m) => m.remove_key(&last.key, Some(&last.hint)),
            Value::Array(a) => {
                let i = last.key.parse::<usize>().ok()?;
                (i < a.len()).then(|| a.remove(i))
            }
            _ => None,
        }
    }

    /// The value at `r` as a string slice, when it is a string.
    pub fn get_str(&self, r: &FieldRef) -> Option<&str> {
        self.get(r).and_then(Value::as_str)
    }

    /// The event's `@timestamp`, when it holds a valid RFC 3339 time.
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(self.timestamp_text()?).ok().map(|t| t.with_timezone(&Utc))
    }

    /// The text of `@timestamp`, when it is a string.
    pub fn timestamp_text(&self) -> Option<&str> {
        self.fields.get_key(&well_known().timestamp, None)?.as_str()
    }

    /// Sets `@timestamp`.
    pub fn set_timestamp(&mut self, t: DateTime<Utc>) {
        self.fields.insert_key(&well_known().timestamp, None, Value::String(format_timestamp(t).into()));
    }

    /// Sets `@timestamp` from a decoded value (JSON codec or filter). A value that is not
    /// an RFC 3339 time is kept as `_@timestamp` and the event tagged
    /// `_timestampparsefailure`, as Logstash does; `@timestamp` is then left as it was.
    pub fn set_timestamp_from(&mut self, value: Value) {
        match value.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
            Some(t) => self.set_timestamp(t.with_timezone(&Utc)),
            None => {
                self.fields.insert("_@timestamp", value);
                self.add_tag("_timestampparsefailure");
            }
        }
    }

    /// Adds `tag` to `tags` unless already present.
    pub fn add_tag(&mut self, tag: &str) {
        match self.fields.get_key_mut(&well_known().tags, None) {
            Some(Value::Array(tags)) => {
                if !tags.iter().any(|t| t.as_str() == Some(tag)) {
                    tags.push(Value::from(tag));
                }
            }
            Some(existing @ Value::String(_)) => {
                if existing.as_str() != Some(tag) {
                    let old = existing.take();
                    *existing = Value::Array(vec![old, Value::from(tag)]);
                }
            }
            _ => {
                self.fields.insert_key(&well_known().tags, None, Value::Array(vec![Value::from(tag)]));
            }
        }
    }

    /// Removes `tag` from `tags`.
    pub fn remove_tag(&mut self, tag: &str) {
        if let Some(Value::Array(tags)) = self.fields.get_key_mut(&well_known().tags, None) {
            tags.retain(|t| t.as_str() != Some(tag));
        }
    }

    /// Whether a parse-failure tag (`_grokparsefailure`, `_dateparsefailure`,
    /// `_jsonparsefailure`, …: a tag starting with `_` and ending with `failure`) is set.
    pub fn has_failure_tag(&self) -> bool {
        let failed = |t: &str| t.starts_with('_') && t.ends_with("failure");
        match self.fields.get_key(&well_known().tags, None) {
            Some(Value::Array(tags)) => tags.iter().filter_map(Value::as_str).any(failed),
            Some(Value::String(t)) => failed(t),
            _ => false,
        }
    }

    /// Whether `tags` contains `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        match self.fields.get_key(&well_known().tags, None) {
            Some(Value::Array(tags)) => tags.iter().any(|t| t.as_str() == Some(tag)),
            Some(Value::String(t)) => t == tag,
            _ => false,
        }
    }
}

/// Formats a time the way Logstash serialises `@timestamp` (UTC, millisecond precision).
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The string form Logstash uses for a value in sprintf and comparisons: strings as-is,
/// numbers in their shortest form, arrays joined with `,`, objects as JSON.
pub fn value_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Null => String::new(),
        Value::Int(i) => i.to_string(),
        Value::Array(a) => a.iter().map(value_to_string).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> FieldRef {
        FieldRef::parse(s).unwrap()
    }

    #[test]
    fn nested_set_get_remove_and_metadata_are_separate() {
        let mut e = Event::default();
        e.set(&r("[a][b]"), Value::Int(1));
        e.set(&r("[@metadata][id]"), Value::from("x"));
        assert_eq!(e.get(&r("[a][b]")), Some(&Value::Int(1)));
        assert_eq!(e.get(&r("[@metadata][id]")), Some(&Value::from("x")));
        assert!(!e.fields().contains_key("@metadata"));
        assert_eq!(e.remove(&r("[a][b]")), Some(Value::Int(1)));
        assert_eq!(e.get(&r("a")), Some(&Value::Object(Map::new())));
    }

    #[test]
    fn tags_are_unique_and_removable() {
        let mut e = Event::default();
        e.add_tag("x");
        e.add_tag("x");
        e.add_tag("y");
        assert_eq!(serde_json::to_string(e.fields()).unwrap(), r#"{"tags":["x","y"]}"#);
        e.remove_tag("x");
        assert!(!e.has_tag("x") && e.has_tag("y"));
    }

    #[test]
    fn numeric_segments_index_arrays() {
        let mut e = Event::default();
        e.set(&r("message"), Value::Array(vec![Value::from("a"), Value::from("b")]));
        assert_eq!(e.get(&r("[message][1]")), Some(&Value::from("b")));
    }
}
