//! `mutate`: rename, replace, convert, gsub, case changes, split/join, strip, copy,
//! merge — applied in Logstash's fixed order regardless of how the config lists them.

use super::{failure_tags, Filter, Outcome};
use crate::condition::Matcher;
use crate::event::{value_to_string, Event};
use crate::field_ref::FieldRef;
use crate::regex_engine::{Regex, Replacement};
use crate::settings::Settings;
use crate::sprintf::Template;
use crate::value::{Str, Value};
use std::borrow::Cow;

/// Target type of a `convert` operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Conversion {
    /// Whole number (Ruby `to_i` prefix rules; floats truncate).
    Integer,
    /// Floating point.
    Float,
    /// `true`/`false` from common spellings.
    Boolean,
    /// Text.
    String,
}

impl Conversion {
    /// Parses a conversion name as Logstash spells them.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "integer" | "int" | "integer_eu" => Conversion::Integer,
            "float" | "float_eu" => Conversion::Float,
            "boolean" => Conversion::Boolean,
            "string" => Conversion::String,
            _ => return None,
        })
    }
}

/// Powers of ten that are exact in an `f64`.
const EXACT_POWERS_OF_TEN: [f64; 16] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// The common case of a log's numbers, digits with an optional fraction and at most 15
/// digits in all (`0.008`, `1532`): the digits form an integer below 2^53 and the
/// scale is an exact power of ten, so one division, which IEEE arithmetic rounds
/// correctly, gives exactly what a full decimal parser gives. `None` for anything else.
fn short_decimal(s: &[u8]) -> Option<f64> {
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (&s[..dot], &s[dot + 1..]),
        None => (s, &s[s.len()..]),
    };
    if int.is_empty() || int.len() + frac.len() > 15 {
        return None;
    }
    let mut mantissa: u64 = 0;
    for &b in int.iter().chain(frac) {
        if !b.is_ascii_digit() {
            return None;
        }
        mantissa = mantissa * 10 + u64::from(b - b'0');
    }
    Some(mantissa as f64 / EXACT_POWERS_OF_TEN[frac.len()])
}

/// Ruby-style numeric prefix: `"12abc"` → 12, `"abc"` → none.
pub fn numeric_prefix(s: &str) -> Option<f64> {
    if let Some(v) = short_decimal(s.as_bytes()) {
        return Some(v);
    }
    let t = s.trim_start();
    let bytes = t.as_bytes();
    let mut end = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let digits_start = end;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    if end < bytes.len() && bytes[end] == b'.' {
        let mut j = end + 1;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        if j > end + 1 {
            end = j;
        }
    }
    if end == digits_start {
        return None;
    }
    t[..end].parse().ok()
}

/// Ruby-style integer prefix: `"12.7"` → 12, `"-3abc"` → -3, `"abc"` → none. Parsed as an
/// integer, so values beyond 2^53 keep every digit; past the i64 range it saturates.
pub fn integer_prefix(s: &str) -> Option<i64> {
    // The common case, a plain run of at most 18 digits, cannot overflow.
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 18 && b.iter().all(u8::is_ascii_digit) {
        return Some(b.iter().fold(0, |v, &d| v * 10 + i64::from(d - b'0')));
    }
    let t = s.trim_start().as_bytes();
    let (negative, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut value: i64 = 0;
    for &d in &digits[..n] {
        let d = i64::from(d - b'0');
        value = value.saturating_mul(10);
        value = if negative { value.saturating_sub(d) } else { value.saturating_add(d) };
    }
    Some(value)
}

/// Converts one value (arrays element-wise); `None` when it cannot be converted.
pub fn convert_value(v: &Value, c: Conversion) -> Option<Value> {
    if let Value::Array(items) = v {
        return Some(Value::Array(items.iter().map(|i| convert_value(i, c).unwrap_or_else(|| i.clone())).collect()));
    }
    match c {
        Conversion::String => Some(Value::from(value_to_string(v))),
        Conversion::Integer => match v {
            Value::Int(i) => Some(Value::Int(*i)),
            Value::Float(f) => Some(Value::from(f.trunc() as i64)),
            Value::Bool(b) => Some(Value::from(*b as i64)),
            Value::String(s) => integer_prefix(s).map(Value::from),
            _ => None,
        },
        Conversion::Float => match v {
            Value::Int(_) | Value::Float(_) => Some(Value::from(v.as_f64()?)),
            Value::Bool(b) => Some(Value::from(if *b { 1.0 } else { 0.0 })),
            Value::String(s) => numeric_prefix(s).map(Value::from),
            _ => None,
        },
        Conversion::Boolean => match v {
            Value::Bool(b) => Some(Value::Bool(*b)),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(Value::Bool(true)),
                "false" | "f" | "no" | "n" | "0" | "0.0" => Some(Value::Bool(false)),
                _ => None,
            },
            Value::Int(_) | Value::Float(_) => match v.as_f64() {
                Some(1.0) => Some(Value::Bool(true)),
                Some(0.0) => Some(Value::Bool(false)),
                _ => None,
            },
            _ => None,
        },
    }
}

/// The `mutate` filter: its operations, in the order they run.
pub struct Mutate {
    ops: Vec<Op>,
    tag_on_failure: Vec<String>,
}

/// One mutate operation. A block keeps only the operations its config names, in
/// Logstash's fixed order, in one list: each event walks that short list instead of
/// asking a dozen empty lists whether they hold anything.
enum Op {
    /// Set a field that is null.
    Coerce(FieldRef, Template),
    /// Move a field.
    Rename(FieldRef, FieldRef),
    /// Set a field that exists.
    Update(FieldRef, Template),
    /// Set a field.
    Replace(FieldRef, Template),
    /// Change a field's type.
    Convert(FieldRef, Conversion),
    /// Replace a regex's matches.
    Gsub(Box<Gsub>),
    /// Upper-case strings.
    Uppercase(FieldRef),
    /// Capitalise strings.
    Capitalize(FieldRef),
    /// Lower-case strings.
    Lowercase(FieldRef),
    /// Trim white space.
    Strip(FieldRef),
    /// Split a string into an array.
    Split(FieldRef, String),
    /// Join an array into a string.
    Join(FieldRef, String),
    /// Append one field's value(s) to another's.
    Merge(FieldRef, FieldRef),
    /// Copy a field.
    Copy(FieldRef, FieldRef),
}

/// A `gsub` triple, with a quick test (a literal finder or a DFA, when the pattern
/// allows one) that skips strings with no match.
struct Gsub {
    field: FieldRef,
    regex: Regex,
    replacement: Replacement,
    quick: Option<Matcher>,
}

impl Mutate {
    /// Reads every mutate operation; bad field references, conversions and regexes are
    /// reported at their position.
    pub fn from_settings(s: &mut Settings) -> Self {
        let pairs = |s: &mut Settings, key: &str| -> Vec<(FieldRef, FieldRef)> {
            s.string_hash(key)
                .into_iter()
                .filter_map(|(k, v)| Some((s.parse_field_ref(&k)?, s.parse_field_ref(&v)?)))
                .collect()
        };
        let templates = |s: &mut Settings, key: &str| -> Vec<(FieldRef, Template)> {
            s.string_hash(key)
                .into_iter()
                .filter_map(|(k, v)| Some((s.parse_field_ref(&k)?, Template::new(&v.node))))
                .collect()
        };
        let fields = |s: &mut Settings, key: &str| -> Vec<FieldRef> {
            s.strings(key).iter().filter_map(|f| s.parse_field_ref(f)).collect()
        };
        let separators = |s: &mut Settings, key: &str| -> Vec<(FieldRef, String)> {
            s.string_hash(key).into_iter().filter_map(|(k, v)| Some((s.parse_field_ref(&k)?, v.node))).collect()
        };
        let rename = pairs(s, "rename");
        let copy = pairs(s, "copy");
        let merge = pairs(s, "merge");
        let update = templates(s, "update");
        let replace = templates(s, "replace");
        let coerce = templates(s, "coerce");
        let mut convert = Vec::new();
        for (k, v) in s.string_hash("convert") {
            match (s.parse_field_ref(&k), Conversion::parse(&v.node)) {
                (Some(r), Some(c)) => convert.push(Op::Convert(r, c)),
                (_, None) => s.error(
                    format!("unknown conversion `{}`", v.node),
                    v.span,
                    "expected integer, float, boolean or string",
                ),
                _ => {}
            }
        }
        let gsub_settings = s.strings("gsub");
        if !gsub_settings.len().is_multiple_of(3) {
            let span = gsub_settings.first().map(|g| g.span.clone()).unwrap_or_else(|| s.plugin_span());
            s.error("`gsub` takes triples: [field, regex, replacement, …]", span, "length is not a multiple of 3");
        }
        let mut gsub = Vec::new();
        for t in gsub_settings.chunks_exact(3) {
            let Some(field) = s.parse_field_ref(&t[0]) else { continue };
            match Regex::new(&t[1].node).and_then(|re| Ok((re, Matcher::new(&t[1].node)?))) {
                Ok((regex, quick)) => {
                    // A quick test that is the regex itself would only run it twice.
                    let quick = (!matches!(quick, Matcher::Regex(_))).then_some(quick);
                    let replacement = Replacement::ruby(&t[2].node);
                    gsub.push(Op::Gsub(Box::new(Gsub { field, regex, replacement, quick })));
                }
                Err(e) => s.error(e.to_string(), t[1].span.clone(), "this regex does not compile"),
            }
        }
        let uppercase = fields(s, "uppercase");
        let lowercase = fields(s, "lowercase");
        let capitalize = fields(s, "capitalize");
        let strip = fields(s, "strip");
        let split = separators(s, "split");
        let join = separators(s, "join");
        let tag_on_failure = failure_tags(s, "tag_on_failure", "_mutate_error");
        let mut ops = Vec::new();
        ops.extend(coerce.into_iter().map(|(f, t)| Op::Coerce(f, t)));
        ops.extend(rename.into_iter().map(|(a, b)| Op::Rename(a, b)));
        ops.extend(update.into_iter().map(|(f, t)| Op::Update(f, t)));
        ops.extend(replace.into_iter().map(|(f, t)| Op::Replace(f, t)));
        ops.extend(convert);
        ops.extend(gsub);
        ops.extend(uppercase.into_iter().map(Op::Uppercase));
        ops.extend(capitalize.into_iter().map(Op::Capitalize));
        ops.extend(lowercase.into_iter().map(Op::Lowercase));
        ops.extend(strip.into_iter().map(Op::Strip));
        ops.extend(split.into_iter().map(|(f, sep)| Op::Split(f, sep)));
        ops.extend(join.into_iter().map(|(f, sep)| Op::Join(f, sep)));
        ops.extend(merge.into_iter().map(|(a, b)| Op::Merge(a, b)));
        ops.extend(copy.into_iter().map(|(a, b)| Op::Copy(a, b)));
        ops.shrink_to_fit();
        Mutate { ops, tag_on_failure }
    }
}

impl Op {
    /// Applies the operation; true when a value could not be converted or merged.
    fn apply(&self, event: &mut Event) -> bool {
        match self {
            Op::Coerce(field, t) => {
                if matches!(event.get(field), Some(Value::Null)) {
                    let v = t.render_value(event);
                    event.set(field, v);
                }
            }
            Op::Rename(from, to) => {
                if let Some(v) = event.remove(from) {
                    event.set(to, v);
                }
            }
            Op::Update(field, t) => {
                if event.contains(field) {
                    let v = t.render_value(event);
                    event.set(field, v);
                }
            }
            Op::Replace(field, t) => {
                let v = t.render_value(event);
                event.set(field, v);
            }
            Op::Convert(field, c) => {
                if let Some(v) = event.get_mut(field) {
                    match convert_value(v, *c) {
                        Some(new) => *v = new,
                        None => return true,
                    }
                }
            }
            Op::Gsub(g) => map_field(event, &g.field, &|s| {
                if g.quick.as_ref().is_none_or(|q| q.is_match(s)) {
                    g.regex.replace_all(s, &g.replacement)
                } else {
                    Cow::Borrowed(s)
                }
            }),
            Op::Uppercase(f) => map_field(event, f, &|s| Cow::Owned(s.to_uppercase())),
            Op::Capitalize(f) => map_field(event, f, &|s| {
                let lower = s.to_lowercase();
                let mut c = lower.chars();
                Cow::Owned(c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default())
            }),
            Op::Lowercase(f) => map_field(event, f, &|s| Cow::Owned(s.to_lowercase())),
            Op::Strip(f) => map_field(event, f, &|s| Cow::Borrowed(s.trim())),
            Op::Split(f, sep) => {
                if let Some(v) = event.get_mut(f) {
                    if let Value::String(s) = v {
                        // A one-character separator (the usual `,`) is searched for as a
                        // char, with memchr, rather than with the general substring search.
                        let parts: Vec<Value> = match sep.as_bytes() {
                            [b] if b.is_ascii() => s.split(char::from(*b)).map(Value::from).collect(),
                            _ => s.split(sep.as_str()).map(Value::from).collect(),
                        };
                        *v = Value::Array(parts);
                    }
                }
            }
            Op::Join(f, sep) => {
                if let Some(v) = event.get_mut(f) {
                    if let Value::Array(items) = v {
                        *v = Value::from(items.iter().map(value_to_string).collect::<Vec<_>>().join(sep));
                    }
                }
            }
            Op::Merge(dest, src) => return merge(event, dest, src),
            Op::Copy(from, to) => {
                if let Some(v) = event.get(from).cloned() {
                    event.set(to, v);
                }
            }
        }
        false
    }
}

/// Appends `src`'s value(s) to `dest` (an existing field); true when the two cannot be
/// merged (an object with a non-object).
fn merge(event: &mut Event, dest: &FieldRef, src: &FieldRef) -> bool {
    let Some(add) = event.get(src).cloned() else { return false };
    match event.get_mut(dest) {
        None => false,
        Some(Value::Object(d)) => {
            if let Value::Object(a) = add {
                d.extend(a);
                false
            } else {
                true
            }
        }
        Some(d) => {
            let mut items = match d.take() {
                Value::Array(a) => a,
                other => vec![other],
            };
            let failed = match add {
                Value::Array(a) => {
                    items.extend(a);
                    false
                }
                Value::Object(_) => true,
                other => {
                    items.push(other);
                    false
                }
            };
            *d = Value::Array(items);
            failed
        }
    }
}

/// [`map_strings`] on the value at `field`, when there is one.
fn map_field(event: &mut Event, field: &FieldRef, f: &dyn Fn(&str) -> Cow<'_, str>) {
    if let Some(v) = event.get_mut(field) {
        map_strings(v, f);
    }
}

/// Applies `f` to every string of `v` (an array's too). A borrowed result as long as the
/// input is the input itself: the string is left alone, not copied.
fn map_strings(v: &mut Value, f: &dyn Fn(&str) -> Cow<'_, str>) {
    match v {
        Value::String(s) => {
            let changed = match f(s) {
                Cow::Borrowed(same) if same.len() == s.len() => None,
                new => Some(Str::from(new.as_ref())),
            };
            if let Some(new) = changed {
                *s = new;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| map_strings(i, f)),
        _ => {}
    }
}

impl Filter for Mutate {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        let mut failed = false;
        for op in &self.ops {
            failed |= op.apply(event);
        }
        if failed {
            for t in &self.tag_on_failure {
                event.add_tag(t);
            }
        }
        Outcome::Applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::j;
    use serde_json::json;

    #[test]
    fn short_numbers_parse_exactly_as_the_general_parser_does() {
        let mut texts: Vec<String> = ["0", "7", "0.008", "1.532", "123456789012345", "0.1", "0.30000000000000004"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        // A spread of lengths and scales, including the awkward cases of binary rounding.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 15 + 1) as usize;
            let text = format!("{:0width$}", x % 10u64.pow(digits as u32), width = digits);
            let dot = (x >> 40) as usize % (digits + 1);
            texts.push(if dot == digits {
                text
            } else {
                format!("{}.{}", &text[..digits - dot], &text[digits - dot..])
            });
        }
        for t in &texts {
            assert_eq!(numeric_prefix(t), t.parse::<f64>().ok(), "{t}");
            if !t.contains('.') {
                assert_eq!(integer_prefix(t), t.parse::<i64>().ok(), "{t}");
            }
        }
        for (t, want) in [("1234567890123456", 1234567890123456.0), ("12.5ms", 12.5), (" 3", 3.0), ("-0.5", -0.5)] {
            assert_eq!(numeric_prefix(t), Some(want), "{t}");
        }
        assert_eq!(integer_prefix("9223372036854775807"), Some(i64::MAX));
        assert_eq!(integer_prefix("99999999999999999999"), Some(i64::MAX));
        assert_eq!(integer_prefix("000123"), Some(123));
    }

    #[test]
    fn conversions_follow_ruby_rules() {
        assert_eq!(convert_value(&j(json!("12abc")), Conversion::Integer), Some(j(json!(12))));
        assert_eq!(convert_value(&j(json!("3.9")), Conversion::Integer), Some(j(json!(3))));
        assert_eq!(convert_value(&j(json!("0.001\t-")), Conversion::Float), Some(j(json!(0.001))));
        assert_eq!(convert_value(&j(json!("abc")), Conversion::Integer), None);
        assert_eq!(
            convert_value(&j(json!("9007199254740993")), Conversion::Integer),
            Some(j(json!(9007199254740993i64)))
        );
        assert_eq!(convert_value(&j(json!("-42x")), Conversion::Integer), Some(j(json!(-42))));
        assert_eq!(convert_value(&j(json!("yes")), Conversion::Boolean), Some(j(json!(true))));
        assert_eq!(convert_value(&j(json!(["1", "2"])), Conversion::Integer), Some(j(json!([1, 2]))));
    }

    /// `doc` after a mutate block with settings `body` (which must apply).
    fn apply(body: &str, doc: serde_json::Value) -> serde_json::Value {
        let mut m = crate::filters::from_config("mutate", body, Mutate::from_settings);
        let Value::Object(fields) = j(doc) else { panic!("the document must be an object") };
        let mut e = Event::from_fields(fields);
        assert!(matches!(m.apply(&mut e), Outcome::Applied));
        serde_json::to_value(e.fields()).unwrap()
    }

    #[test]
    fn gsub_and_strip_change_only_what_they_match() {
        let got = apply(
            r#"gsub => ["a", "[\", ]+", ",", "b", "(\w+)@(\w+)", "\2 at \1", "c", "x", "y"] strip => ["d"]"#,
            json!({"a": "1.2.3.4, \"5.6.7.8\"", "b": ["u@h", "none"], "c": "no match here", "d": ["  p ", "q"]}),
        );
        assert_eq!(
            got,
            json!({"a": "1.2.3.4,5.6.7.8,", "b": ["h at u", "none"], "c": "no match here", "d": ["p", "q"]})
        );
    }

    #[test]
    fn split_on_one_character_and_longer_separators() {
        let got = apply(
            r#"split => { "a" => "," "b" => "::" "c" => "é" "d" => "," "e" => "," }"#,
            json!({"a": ",x,,y,", "b": "p::q:r", "c": "1é2", "d": "single", "e": 7}),
        );
        assert_eq!(
            got,
            json!({"a": ["", "x", "", "y", ""], "b": ["p", "q:r"], "c": ["1", "2"], "d": ["single"], "e": 7})
        );
    }
}
