//! `dissect`: splits text by literal delimiters, far cheaper than a regex.
//!
//! `%{key}` captures, `%{+key}` appends (joined by `append_separator`), `%{?name}` and
//! `%{}` skip, `%{key->}` lets the following delimiter repeat (padding).

use super::{failure_tags, Filter, Outcome};
use crate::event::Event;
use crate::field_ref::FieldRef;
use crate::filters::mutate::{convert_value, Conversion};
use crate::settings::Settings;
use crate::value::Value;

#[derive(Debug, Clone)]
enum KeyKind {
    Normal,
    Append,
    Skip,
}

#[derive(Debug, Clone)]
struct Key {
    name: String,
    kind: KeyKind,
    pad: bool,
}

/// One compiled mapping: leading literal, then keys each followed by a delimiter.
#[derive(Debug, Clone)]
struct DissectPattern {
    prefix: String,
    fields: Vec<(Key, String)>,
}

impl DissectPattern {
    fn compile(p: &str) -> Self {
        let mut prefix = String::new();
        let mut fields: Vec<(Key, String)> = Vec::new();
        let mut rest = p;
        while let Some(start) = rest.find("%{") {
            let lit = &rest[..start];
            match fields.last_mut() {
                Some((_, d)) => d.push_str(lit),
                None => prefix.push_str(lit),
            }
            let Some(end) = rest[start..].find('}') else { break };
            let mut body = &rest[start + 2..start + end];
            rest = &rest[start + end + 1..];
            let pad = body.ends_with("->");
            if pad {
                body = &body[..body.len() - 2];
            }
            let (kind, name) = if let Some(n) = body.strip_prefix('+') {
                (KeyKind::Append, n.split('/').next().unwrap_or(n))
            } else if let Some(n) = body.strip_prefix('?') {
                (KeyKind::Skip, n)
            } else if body.is_empty() {
                (KeyKind::Skip, "")
            } else {
                (KeyKind::Normal, body)
            };
            fields.push((Key { name: name.to_string(), kind, pad }, String::new()));
        }
        match fields.last_mut() {
            Some((_, d)) => d.push_str(rest),
            None => prefix.push_str(rest),
        }
        Self { prefix, fields }
    }

    fn dissect<'a>(&self, text: &'a str) -> Option<Vec<(&Key, &'a str)>> {
        let mut rest = text.strip_prefix(self.prefix.as_str())?;
        let mut out = Vec::with_capacity(self.fields.len());
        for (i, (key, delim)) in self.fields.iter().enumerate() {
            let last = i + 1 == self.fields.len();
            let (value, after) = if delim.is_empty() {
                if last {
                    (rest, "")
                } else {
                    // Adjacent keys without a delimiter: the first takes nothing.
                    ("", rest)
                }
            } else {
                let idx = rest.find(delim.as_str())?;
                let mut after = &rest[idx + delim.len()..];
                if key.pad {
                    while let Some(r) = after.strip_prefix(delim.as_str()) {
                        after = r;
                    }
                }
                (&rest[..idx], after)
            };
            out.push((key, value));
            rest = after;
        }
        Some(out)
    }
}

/// The `dissect` filter.
pub struct Dissect {
    mapping: Vec<(FieldRef, DissectPattern)>,
    append_separator: String,
    convert: Vec<(FieldRef, Conversion)>,
    tag_on_failure: Vec<String>,
}

impl Dissect {
    /// Reads `mapping`, `append_separator`, `convert_datatype`, `tag_on_failure`.
    pub fn from_settings(s: &mut Settings) -> Self {
        let mut mapping = Vec::new();
        for (field, pattern) in s.string_hash("mapping") {
            if let Some(r) = s.parse_field_ref(&field) {
                mapping.push((r, DissectPattern::compile(&pattern.node)));
            }
        }
        let mut convert = Vec::new();
        for (k, v) in s.string_hash("convert_datatype") {
            match (s.parse_field_ref(&k), Conversion::parse(&v.node)) {
                (Some(r), Some(c)) => convert.push((r, c)),
                (_, None) => s.error(format!("unknown conversion `{}`", v.node), v.span, "expected int or float"),
                _ => {}
            }
        }
        Self {
            mapping,
            append_separator: s.string_or("append_separator", " "),
            convert,
            tag_on_failure: failure_tags(s, "tag_on_failure", "_dissectfailure"),
        }
    }
}

impl Filter for Dissect {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        let mut applied = false;
        for (field, pattern) in &self.mapping {
            let Some(text) = event.get_str(field) else { continue };
            let Some(parts) = pattern.dissect(text) else {
                for t in &self.tag_on_failure {
                    event.add_tag(t);
                }
                return Outcome::Skipped;
            };
            let mut values: Vec<(String, String)> = Vec::new();
            for (key, v) in parts {
                match key.kind {
                    KeyKind::Skip => {}
                    KeyKind::Normal => values.push((key.name.clone(), v.to_string())),
                    KeyKind::Append => match values.iter_mut().find(|(k, _)| *k == key.name) {
                        Some((_, existing)) => {
                            existing.push_str(&self.append_separator);
                            existing.push_str(v);
                        }
                        None => values.push((key.name.clone(), v.to_string())),
                    },
                }
            }
            for (k, v) in values {
                let r = FieldRef::parse_runtime(&k).unwrap_or_else(|_| FieldRef::top_level(&k));
                event.set(&r, Value::from(v));
            }
            applied = true;
        }
        for (r, conv) in &self.convert {
            if let Some(v) = event.get(r) {
                if let Some(c) = convert_value(v, *conv) {
                    event.set(r, c);
                }
            }
        }
        Outcome::applied_if(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dissects_with_append_skip_and_padding() {
        let p = DissectPattern::compile("%{ts} %{+ts} %{?skip} %{src->} %{prog}[%{pid}]: %{msg}");
        let parts = p.dissect("Mar 16 host   sshd[42]: hello world").unwrap();
        let got: Vec<_> = parts.iter().map(|(k, v)| (k.name.as_str(), *v)).collect();
        assert_eq!(
            got,
            [
                ("ts", "Mar"),
                ("ts", "16"),
                ("skip", "host"),
                ("src", ""),
                ("prog", "sshd"),
                ("pid", "42"),
                ("msg", "hello world")
            ]
        );
    }
}
