//! Typed access to a plugin's settings, with diagnostics pointing at the setting.
//!
//! Repeated settings are merged the way Logstash merges them (hashes merged, arrays
//! appended, scalars collected into an array). Every getter marks its setting as used;
//! [`Settings::finish`] reports any setting the plugin does not know, so a typo is an
//! error rather than a silently ignored option.

use crate::ast::{Plugin, Span, Spanned, Value};
use crate::diagnostics::Diagnostic;
use crate::field_ref::FieldRef;
use crate::sprintf::Template;

/// A plugin's settings being read by its constructor.
pub struct Settings {
    plugin: String,
    plugin_span: Span,
    entries: Vec<(Spanned<String>, Spanned<Value>)>,
    used: Vec<bool>,
    errors: Vec<Diagnostic>,
}

impl Settings {
    /// Collects and merges the attributes of `plugin`.
    pub fn new(plugin: &Plugin) -> Self {
        let mut entries: Vec<(Spanned<String>, Spanned<Value>)> = Vec::new();
        for attr in &plugin.attributes {
            match entries.iter_mut().find(|(k, _)| k.node == attr.name.node) {
                Some((_, existing)) => merge(existing, attr.value.clone()),
                None => entries.push((attr.name.clone(), attr.value.clone())),
            }
        }
        let used = vec![false; entries.len()];
        Self {
            plugin: plugin.name.node.clone(),
            plugin_span: plugin.name.span.clone(),
            entries,
            used,
            errors: Vec::new(),
        }
    }

    /// Span of the plugin name, for errors about the plugin as a whole.
    pub fn plugin_span(&self) -> Span {
        self.plugin_span.clone()
    }

    /// Records an error.
    pub fn error(&mut self, message: impl Into<String>, span: Span, label: impl Into<String>) {
        self.errors.push(Diagnostic::new(message, span, label));
    }

    /// Takes the raw value of `key`, marking it used.
    pub fn raw(&mut self, key: &str) -> Option<Spanned<Value>> {
        let idx = self.entries.iter().position(|(k, _)| k.node == key)?;
        self.used[idx] = true;
        Some(self.entries[idx].1.clone())
    }

    fn wrong_type(&mut self, key: &str, v: &Spanned<Value>, expected: &str) {
        let msg = format!("`{key}` of `{}` must be {expected}", self.plugin);
        self.error(msg, v.span.clone(), format!("expected {expected}"));
    }

    /// A string setting (barewords and numbers are accepted as their text).
    pub fn string(&mut self, key: &str) -> Option<Spanned<String>> {
        let v = self.raw(key)?;
        match scalar_text(&v.node) {
            Some(s) => Some(Spanned { node: s, span: v.span }),
            None => {
                self.wrong_type(key, &v, "a string");
                None
            }
        }
    }

    /// A string setting with a default.
    pub fn string_or(&mut self, key: &str, default: &str) -> String {
        self.string(key).map_or_else(|| default.to_string(), |s| s.node)
    }

    /// A boolean setting (`true`/`false`, quoted or not).
    pub fn bool_or(&mut self, key: &str, default: bool) -> bool {
        let Some(v) = self.raw(key) else { return default };
        match scalar_text(&v.node).as_deref() {
            Some("true") => true,
            Some("false") => false,
            _ => {
                self.wrong_type(key, &v, "`true` or `false`");
                default
            }
        }
    }

    /// An integer setting.
    pub fn int(&mut self, key: &str) -> Option<i64> {
        let v = self.raw(key)?;
        match &v.node {
            Value::Integer(n) => Some(*n),
            Value::String(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
            _ => {
                self.wrong_type(key, &v, "an integer");
                None
            }
        }
    }

    /// A duration: a number of seconds (`15`, `0.5`) or text with a unit, as Logstash
    /// writes them (`"45 sec"`, `"1 hour"`, `"500 ms"`, `"2 weeks"`).
    pub fn duration(&mut self, key: &str) -> Option<std::time::Duration> {
        let v = self.raw(key)?;
        let parsed = match &v.node {
            Value::Integer(n) if *n >= 0 => Some(std::time::Duration::from_secs(*n as u64)),
            Value::Float(f) => std::time::Duration::try_from_secs_f64(*f).ok(),
            Value::String(s) | Value::Bareword(s) => parse_duration(s),
            _ => None,
        };
        if parsed.is_none() {
            self.wrong_type(key, &v, "a duration (seconds, or text such as \"30 sec\" or \"1 hour\")");
        }
        parsed
    }

    /// A condition written as a string (`'[http][response][status_code] >= 500'`),
    /// compiled; errors point into the setting's text.
    pub fn condition(&mut self, key: &str) -> Option<crate::condition::Condition> {
        let text = self.string(key)?;
        self.compile_condition(&text)
    }

    /// Compiles a condition given as text (a setting's value or a hash value).
    pub fn compile_condition(&mut self, text: &Spanned<String>) -> Option<crate::condition::Condition> {
        // The text starts one byte after the opening quote (exact unless the string
        // holds escapes, where positions may drift by the escape sequences' length).
        let base = text.span.start + 1;
        let shift = |d: Diagnostic| Diagnostic { span: d.span.start + base..d.span.end + base, ..d };
        match crate::parser::parse_condition(&text.node) {
            Ok(ast) => {
                let mut errors = Vec::new();
                let compiled = crate::condition::Condition::compile(&ast, &mut errors);
                let ok = errors.is_empty();
                self.errors.extend(errors.into_iter().map(shift));
                ok.then_some(compiled)
            }
            Err(d) => {
                self.errors.push(shift(d));
                None
            }
        }
    }

    /// A number setting (integer or float).
    pub fn number(&mut self, key: &str) -> Option<f64> {
        let v = self.raw(key)?;
        match &v.node {
            Value::Integer(n) => Some(*n as f64),
            Value::Float(f) => Some(*f),
            Value::String(s) if s.trim().parse::<f64>().is_ok() => s.trim().parse().ok(),
            _ => {
                self.wrong_type(key, &v, "a number");
                None
            }
        }
    }

    /// A string setting that must be one of `choices`; the first is the default.
    pub fn choice(&mut self, key: &str, choices: &[&'static str]) -> &'static str {
        let Some(v) = self.string(key) else { return choices[0] };
        match choices.iter().find(|c| **c == v.node) {
            Some(c) => c,
            None => {
                let expected = choices.join(", ");
                self.error(
                    format!("`{key}` must be one of: {expected}"),
                    v.span,
                    format!("expected one of {expected}"),
                );
                choices[0]
            }
        }
    }

    /// A list of strings; a single string counts as a one-element list.
    pub fn strings(&mut self, key: &str) -> Vec<Spanned<String>> {
        let Some(v) = self.raw(key) else { return Vec::new() };
        let items: Vec<Spanned<Value>> = match v.node.clone() {
            Value::Array(items) => items,
            _ => vec![v.clone()],
        };
        let mut out = Vec::new();
        for item in items {
            match scalar_text(&item.node) {
                Some(s) => out.push(Spanned { node: s, span: item.span }),
                None => self.wrong_type(key, &item, "a string or a list of strings"),
            }
        }
        out
    }

    /// A hash of string keys to values; Logstash's flat-array form `[k1, v1, k2, v2]`
    /// is accepted too.
    pub fn hash(&mut self, key: &str) -> Vec<(Spanned<String>, Spanned<Value>)> {
        let Some(v) = self.raw(key) else { return Vec::new() };
        match v.node.clone() {
            Value::Hash(entries) => entries,
            Value::Array(items) if items.len() % 2 == 0 => {
                let mut out = Vec::new();
                for pair in items.chunks(2) {
                    match scalar_text(&pair[0].node) {
                        Some(k) => out.push((Spanned { node: k, span: pair[0].span.clone() }, pair[1].clone())),
                        None => self.wrong_type(key, &pair[0], "a string key"),
                    }
                }
                out
            }
            _ => {
                self.wrong_type(key, &v, "a hash (`{ key => value }`)");
                Vec::new()
            }
        }
    }

    /// A hash whose values are all strings.
    pub fn string_hash(&mut self, key: &str) -> Vec<(Spanned<String>, Spanned<String>)> {
        let entries = self.hash(key);
        let mut out = Vec::new();
        for (k, v) in entries {
            match scalar_text(&v.node) {
                Some(s) => out.push((k, Spanned { node: s, span: v.span })),
                None => self.wrong_type(key, &v, "a hash of strings"),
            }
        }
        out
    }

    /// A field reference setting.
    pub fn field_ref(&mut self, key: &str) -> Option<FieldRef> {
        let s = self.string(key)?;
        self.parse_field_ref(&s)
    }

    /// Parses `s` as a field reference, reporting an error at its span on failure.
    pub fn parse_field_ref(&mut self, s: &Spanned<String>) -> Option<FieldRef> {
        match FieldRef::parse(&s.node) {
            Ok(r) => Some(r),
            Err(e) => {
                self.error(e.to_string(), s.span.clone(), "not a valid field reference");
                None
            }
        }
    }

    /// A list of sprintf templates.
    pub fn templates(&mut self, key: &str) -> Vec<Template> {
        self.strings(key).iter().map(|s| Template::new(&s.node)).collect()
    }

    /// Reports every setting nobody asked for, and returns all errors collected.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if !self.used[i] {
                self.errors.push(Diagnostic::new(
                    format!("unknown setting `{}` for plugin `{}`", k.node, self.plugin),
                    k.span.clone(),
                    "not a setting of this plugin",
                ));
            }
        }
        self.errors
    }

    /// Marks settings as accepted without effect (Logstash options that make no sense
    /// for logship, such as `enable_metric`).
    pub fn accept(&mut self, keys: &[&str]) {
        for k in keys {
            self.raw(k);
        }
    }
}

/// The text of a scalar value (string, bareword or number).
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) | Value::Bareword(s) => Some(s.clone()),
        Value::Integer(n) => Some(n.to_string()),
        Value::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

/// Converts a config value to JSON (for `add_field` values, `replace`, …).
pub fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::String(s) | Value::Bareword(s) => serde_json::Value::String(s.clone()),
        Value::Integer(n) => serde_json::Value::from(*n),
        Value::Float(f) => serde_json::Value::from(*f),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(|x| to_json(&x.node)).collect()),
        Value::Hash(h) => {
            serde_json::Value::Object(h.iter().map(|(k, v)| (k.node.clone(), to_json(&v.node))).collect())
        }
        Value::Plugin(p) => serde_json::Value::String(p.name.node.clone()),
    }
}

fn merge(existing: &mut Spanned<Value>, new: Spanned<Value>) {
    match (&mut existing.node, new.node) {
        (Value::Hash(a), Value::Hash(b)) => a.extend(b),
        (Value::Array(a), Value::Array(b)) => a.extend(b),
        (Value::Array(a), other) => a.push(Spanned { node: other, span: new.span }),
        (old, other) => {
            if *old != other {
                let first = Spanned { node: old.clone(), span: existing.span.clone() };
                *old = Value::Array(vec![first, Spanned { node: other, span: new.span }]);
            }
        }
    }
}

/// Parses `"45 sec"`, `"1 hour"`, `"1.5s"`, `"250 ms"`, `"2 weeks"` or a bare number of
/// seconds.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let number: f64 = t[..split].parse().ok()?;
    let unit = t[split..].trim().to_ascii_lowercase();
    let seconds = match unit.as_str() {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "ms" | "msec" | "millis" | "millisecond" | "milliseconds" => 0.001,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        _ => return None,
    };
    std::time::Duration::try_from_secs_f64(number * seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_in_logstash_forms() {
        assert_eq!(parse_duration("15"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("0.05"), Some(Duration::from_millis(50)));
        assert_eq!(parse_duration("45 sec"), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration("250 ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1 hour"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2 weeks"), Some(Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
    }
}
