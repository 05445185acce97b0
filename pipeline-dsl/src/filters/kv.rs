//! `kv`: splits `key=value` pairs (query strings, syslog-style payloads) into fields.

use super::{field_or, Filter, Outcome};
use crate::event::Event;
use crate::field_ref::FieldRef;
use crate::settings::Settings;
use crate::value::Value;

/// The `kv` filter.
pub struct Kv {
    source: FieldRef,
    target: Option<FieldRef>,
    field_split: Vec<char>,
    value_split: Vec<char>,
    trim_key: Vec<char>,
    trim_value: Vec<char>,
    prefix: String,
    include_keys: Vec<String>,
    exclude_keys: Vec<String>,
    allow_duplicate_values: bool,
    default_keys: Vec<(String, String)>,
}

impl Kv {
    /// Reads `source`, `target`, `field_split`, `value_split`, `trim_key`, `trim_value`,
    /// `prefix`, `include_keys`, `exclude_keys`, `allow_duplicate_values`, `default_keys`.
    pub fn from_settings(s: &mut Settings) -> Self {
        let chars = |s: &mut Settings, k: &str, d: &str| -> Vec<char> {
            s.string_or(k, d).replace("\\t", "\t").chars().collect()
        };
        Self {
            source: field_or(s, "source", "message"),
            target: s.field_ref("target"),
            field_split: chars(s, "field_split", " "),
            value_split: chars(s, "value_split", "="),
            trim_key: chars(s, "trim_key", ""),
            trim_value: chars(s, "trim_value", ""),
            prefix: s.string_or("prefix", ""),
            include_keys: s.strings("include_keys").into_iter().map(|k| k.node).collect(),
            exclude_keys: s.strings("exclude_keys").into_iter().map(|k| k.node).collect(),
            allow_duplicate_values: s.bool_or("allow_duplicate_values", true),
            default_keys: s.string_hash("default_keys").into_iter().map(|(k, v)| (k.node, v.node)).collect(),
        }
    }

    fn pairs<'a>(&self, text: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            rest = rest.trim_start_matches(|c| self.field_split.contains(&c));
            let Some(eq) = rest.find(|c| self.value_split.contains(&c)) else { break };
            let key_part = &rest[..eq];
            // A field separator inside the key part means the text before it had no value.
            // Separators may be multi-byte characters (`¦`): step over the whole character.
            let char_len = |text: &str, at: usize| text[at..].chars().next().map_or(1, char::len_utf8);
            let key = match key_part.rfind(|c| self.field_split.contains(&c)) {
                Some(i) => &key_part[i + char_len(key_part, i)..],
                None => key_part,
            };
            let after = &rest[eq + char_len(rest, eq)..];
            let (value, next) = match after.chars().next() {
                Some(q @ ('"' | '\'' | '(' | '[' | '<')) => {
                    let close = match q {
                        '(' => ')',
                        '[' => ']',
                        '<' => '>',
                        other => other,
                    };
                    match after[1..].find(close) {
                        Some(end) => (&after[1..1 + end], &after[end + 2..]),
                        None => split_at_sep(after, &self.field_split),
                    }
                }
                _ => split_at_sep(after, &self.field_split),
            };
            out.push((key, value));
            rest = next;
        }
        out
    }
}

fn split_at_sep<'a>(s: &'a str, seps: &[char]) -> (&'a str, &'a str) {
    match s.find(|c| seps.contains(&c)) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

impl Filter for Kv {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        let Some(text) = event.get_str(&self.source) else { return Outcome::Skipped };
        let pairs: Vec<(String, String)> = self
            .pairs(text)
            .into_iter()
            .map(|(k, v)| {
                (
                    k.trim_matches(self.trim_key.as_slice()).to_string(),
                    v.trim_matches(self.trim_value.as_slice()).to_string(),
                )
            })
            .filter(|(k, _)| !k.is_empty())
            .collect();
        let mut found = Vec::<(String, Value)>::new();
        for (k, v) in pairs.into_iter().chain(self.default_keys.iter().cloned()) {
            if (!self.include_keys.is_empty() && !self.include_keys.contains(&k)) || self.exclude_keys.contains(&k) {
                continue;
            }
            let key = format!("{}{}", self.prefix, k);
            match found.iter_mut().find(|(fk, _)| *fk == key) {
                Some((_, existing)) => {
                    let new = Value::from(v);
                    match existing {
                        Value::Array(a) => {
                            if self.allow_duplicate_values || !a.contains(&new) {
                                a.push(new)
                            }
                        }
                        other => {
                            if self.allow_duplicate_values || *other != new {
                                let old = other.take();
                                *other = Value::Array(vec![old, new]);
                            }
                        }
                    }
                }
                None => found.push((key, Value::from(v))),
            }
        }
        if found.is_empty() {
            return Outcome::Skipped;
        }
        for (k, v) in found {
            let r = FieldRef::top_level(&k);
            let dest = r.within(self.target.as_ref());
            event.set(&dest, v);
        }
        Outcome::Applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(src: &str) -> Kv {
        crate::filters::from_config("kv", src, Kv::from_settings)
    }

    #[test]
    fn splits_pairs_with_quotes_and_custom_separators() {
        let k = kv("");
        assert_eq!(k.pairs(r#"a=1 b="two words" c=3"#), [("a", "1"), ("b", "two words"), ("c", "3")]);
        let k = kv(r#"field_split => "&" value_split => "=""#);
        assert_eq!(k.pairs("cdn=edge&title=t1&empty="), [("cdn", "edge"), ("title", "t1"), ("empty", "")]);
    }

    /// Multi-byte separators: the value starts after the whole character.
    #[test]
    fn multi_byte_separators() {
        let k = kv(r#"value_split => "¦""#);
        assert_eq!(k.pairs("a¦1 b¦2"), [("a", "1"), ("b", "2")]);
        let k = kv(r#"field_split => "¦" value_split => "→""#);
        assert_eq!(k.pairs("a→1¦b→é¦c→"), [("a", "1"), ("b", "é"), ("c", "")]);
        let k = kv(r#"field_split => "é" value_split => "=""#);
        assert_eq!(k.pairs("xéa=1éb=2"), [("a", "1"), ("b", "2")]);
    }
}
