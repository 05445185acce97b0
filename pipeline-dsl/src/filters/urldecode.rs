//! `urldecode`: percent-decodes a field (or every string field with `all_fields`).

use super::{failure_tags, field_or, Filter, Outcome};
use crate::event::Event;
use crate::field_ref::FieldRef;
use crate::settings::Settings;
use crate::value::Value;
use std::borrow::Cow;

/// The `urldecode` filter.
pub struct UrlDecode {
    field: FieldRef,
    all_fields: bool,
    tag_on_failure: Vec<String>,
}

impl UrlDecode {
    /// Reads `field` (default `message`), `all_fields`, `tag_on_failure`, `charset`.
    pub fn from_settings(s: &mut Settings) -> Self {
        s.accept(&["charset"]);
        Self {
            field: field_or(s, "field", "message"),
            all_fields: s.bool_or("all_fields", false),
            tag_on_failure: failure_tags(s, "tag_on_failure", "_urldecodefailure"),
        }
    }
}

/// Percent-decodes `s` in place (a string without escapes is left untouched); false
/// when the result would not be UTF-8. `+` is kept, as Logstash does.
fn decode_value(v: &mut Value) -> bool {
    match v {
        Value::String(s) => match percent_encoding::percent_decode_str(s).decode_utf8() {
            Ok(Cow::Borrowed(_)) => true,
            Ok(Cow::Owned(d)) => {
                *s = d.into();
                true
            }
            Err(_) => false,
        },
        Value::Array(items) => {
            // Decode every element even after a failure, so nothing is left half-done.
            let mut ok = true;
            for i in items.iter_mut() {
                ok &= decode_value(i);
            }
            ok
        }
        _ => true,
    }
}

impl Filter for UrlDecode {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        let ok = if self.all_fields {
            let keys: Vec<crate::value::Key> = event.fields().keys().cloned().collect();
            keys.into_iter().fold(true, |ok, k| {
                let r = FieldRef::top_level(&k);
                event.get_mut(&r).is_none_or(decode_value) && ok
            })
        } else {
            match event.get_mut(&self.field) {
                Some(v) => decode_value(v),
                None => return Outcome::Skipped,
            }
        };
        if !ok {
            for t in &self.tag_on_failure {
                event.add_tag(t);
            }
        }
        Outcome::Applied
    }
}
