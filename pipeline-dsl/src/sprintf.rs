//! sprintf templates: `%{field}`, `%{[a][b]}`, `%{+YYYY.MM.dd}`, `%{+%s}`, `%{{java}}`.
//!
//! Templates are compiled once per setting; rendering a template without placeholders
//! borrows the original text, so constant settings cost nothing per event.

use crate::event::{value_to_string, Event};
use crate::field_ref::FieldRef;
use crate::joda::JodaPattern;
use crate::value::{Str, Value};
use chrono::Utc;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Field(FieldRef, String),
    Time(JodaPattern),
    EpochSeconds,
    Now(JodaPattern),
}

/// A compiled sprintf template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
    /// The value of a template without placeholders, made once: cloning a short string
    /// is a plain copy, while building one from text stores it byte-wise and reloads it
    /// as words, which stalls the core on every event.
    constant: Option<Str>,
}

impl Template {
    /// Compiles `text`. Malformed placeholders are kept literally, as Logstash does.
    pub fn new(text: &str) -> Self {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut literal = String::new();
        while let Some(start) = rest.find("%{") {
            literal.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let (inner, consumed) = if let Some(body) = after.strip_prefix('{') {
                match body.find("}}") {
                    Some(end) => (Some(("{", &body[..end])), end + 3),
                    None => (None, 0),
                }
            } else {
                match after.find('}') {
                    Some(end) => (Some(("", &after[..end])), end + 1),
                    None => (None, 0),
                }
            };
            let part = inner.and_then(|(kind, body)| placeholder(kind, body));
            match part {
                Some(p) => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(p);
                    rest = &after[consumed..];
                }
                None => {
                    literal.push_str("%{");
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        let constant = parts.iter().all(|p| matches!(p, Part::Literal(_))).then(|| Str::from(text));
        Self { source: text.to_string(), parts, constant }
    }

    /// Whether rendering depends on the event.
    pub fn is_constant(&self) -> bool {
        self.constant.is_some()
    }

    /// [`Template::render`] as a string value. A template that is one field reference to
    /// a string (`%{[source][ip]}`) copies that string straight into the value, without
    /// rendering into a buffer first.
    pub fn render_value(&self, event: &Event) -> Value {
        if let Some(c) = &self.constant {
            return Value::String(c.clone());
        }
        if let [Part::Field(r, _)] = self.parts.as_slice() {
            if let Some(Value::String(s)) = event.get(r) {
                return Value::String(s.clone());
            }
        }
        Value::from(self.render(event).as_ref())
    }

    /// Renders against `event`. A missing field leaves its placeholder in place.
    pub fn render<'a>(&'a self, event: &Event) -> Cow<'a, str> {
        if self.is_constant() {
            return Cow::Borrowed(&self.source);
        }
        let mut out = String::with_capacity(self.source.len() + 16);
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Field(r, raw) => match event.get(r) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(v) if !v.is_null() => out.push_str(&value_to_string(v)),
                    _ => {
                        out.push_str("%{");
                        out.push_str(raw);
                        out.push('}');
                    }
                },
                Part::Time(pat) => {
                    let t = event.timestamp().unwrap_or_else(Utc::now);
                    out.push_str(&pat.format(&t));
                }
                Part::EpochSeconds => {
                    let t = event.timestamp().unwrap_or_else(Utc::now);
                    out.push_str(&t.timestamp().to_string());
                }
                Part::Now(pat) => out.push_str(&pat.format(&Utc::now())),
            }
        }
        Cow::Owned(out)
    }
}

fn placeholder(kind: &str, body: &str) -> Option<Part> {
    if body.is_empty() {
        return None;
    }
    if kind == "{" {
        if body == "TIME_NOW" {
            return Some(Part::Now(JodaPattern::compile("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").ok()?));
        }
        return JodaPattern::compile(body).ok().map(Part::Time);
    }
    if let Some(fmt) = body.strip_prefix('+') {
        if fmt == "%s" {
            return Some(Part::EpochSeconds);
        }
        return JodaPattern::compile(fmt).ok().map(Part::Time);
    }
    FieldRef::parse(body).ok().map(|r| Part::Field(r, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::j;
    use serde_json::json;

    #[test]
    fn renders_fields_dates_and_keeps_missing_placeholders() {
        let mut e = Event::default();
        e.set(&FieldRef::parse("[a][b]").unwrap(), j(json!(7)));
        e.set(&FieldRef::parse("tags").unwrap(), j(json!(["x", "y"])));
        e.set(&FieldRef::parse("@timestamp").unwrap(), j(json!("2024-03-09T07:05:01.000Z")));
        let t = Template::new("logs-%{[a][b]}-%{tags}-%{+YYYY.MM.dd}-%{missing}-%{+%s}");
        assert_eq!(t.render(&e), "logs-7-x,y-2024.03.09-%{missing}-1709967901");
        assert!(Template::new("plain").is_constant());
        assert_eq!(Template::new("%{{yyyy.MM}}").render(&e), "2024.03");
    }

    #[test]
    fn values_render_as_the_text_does() {
        let mut e = Event::default();
        e.set(&FieldRef::parse("[a][b]").unwrap(), j(json!(7)));
        e.set(&FieldRef::parse("[s]").unwrap(), j(json!("a string longer than twenty-four bytes")));
        e.set(&FieldRef::parse("[@metadata][ip]").unwrap(), j(json!("10.0.0.1")));
        e.set(&FieldRef::parse("[n]").unwrap(), j(json!(null)));
        for text in ["%{s}", "%{[a][b]}", "%{[@metadata][ip]}", "%{missing}", "%{n}", "const", "x%{s}", "%{s}%{s}"] {
            let t = Template::new(text);
            assert_eq!(t.render_value(&e), Value::from(t.render(&e).as_ref()), "{text}");
        }
    }
}
