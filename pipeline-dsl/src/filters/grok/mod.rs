//! `grok`: named-pattern regex parsing, compatible with Logstash's grok filter.
//!
//! An expression is expanded against the pattern library into one regex
//! ([`expand`]); anchored expressions whose pieces are separated by literal delimiters
//! are additionally compiled into a [`segments::SegmentMatcher`], which splits the line
//! with memchr and validates each piece, instead of running a general regex search over
//! the whole line. Everything else runs on [`crate::regex_engine::Regex`].

pub mod expand;
pub mod library;
pub mod segments;

use super::{failure_tags, BuildContext, Filter, Outcome};
use crate::event::Event;
use crate::field_ref::FieldRef;
use crate::filters::mutate::{integer_prefix, numeric_prefix};
use crate::regex_engine::{Regex, Spans};
use crate::settings::Settings;
use crate::value::Value;
use expand::{Capture, Coerce, Expanded};
use library::{Flavour, Library};

/// One compiled grok expression.
pub struct GrokPattern {
    regex: Regex,
    /// For each regex group index, the capture it fills (group 0 and unnamed groups: none).
    by_group: Vec<Option<Capture>>,
    /// Boxed: large, and most holders of a pattern never look inside.
    segments: Option<Box<segments::SegmentMatcher>>,
}

impl GrokPattern {
    /// Expands and compiles `pattern`.
    pub fn compile(pattern: &str, library: &Library, named_captures_only: bool) -> Result<Self, String> {
        Self::compile_expanded(pattern, library, named_captures_only).map_err(|e| e.to_string())
    }

    /// Like [`GrokPattern::compile`], keeping the expansion error's kind (and offset).
    fn compile_expanded(pattern: &str, library: &Library, named_captures_only: bool) -> Result<Self, CompileError> {
        let Expanded { regex, captures } = expand::expand(pattern, library, named_captures_only)?;
        let compiled = Regex::new(&regex).map_err(|e| CompileError::Regex(format!("{e} (in `{pattern}`)")))?;
        let by_group = compiled
            .capture_names()
            .into_iter()
            .map(|name| name.and_then(|n| captures.iter().find(|c| c.group == n).cloned()))
            .collect::<Vec<_>>();
        // The walk is for the linear engine's patterns; it searches with the same regex.
        let segments = match &compiled {
            Regex::Linear(whole) => segments::SegmentMatcher::build(&regex, &by_group, whole).map(Box::new),
            Regex::Backtracking(_) => None,
        };
        Ok(Self { regex: compiled, by_group, segments })
    }

    /// Whether the fast segment matcher handles this pattern.
    pub fn uses_segments(&self) -> bool {
        self.segments.is_some()
    }

    /// How the segment matcher walks this pattern, a line per piece (empty when the
    /// regex engine runs it).
    pub fn describe(&self) -> Vec<String> {
        self.segments.as_ref().map(|s| s.describe()).unwrap_or_default()
    }

    /// Matches `text` on the regex engine alone, never the segment matcher: the
    /// reference the differential tests compare [`GrokPattern::match_into`] with.
    pub fn reference_match_into(&self, text: &str, spans: &mut Spans) -> bool {
        self.regex.captures_into(text, spans)
    }

    /// The groups that fill a field (named in the pattern), and group 0.
    pub fn field_groups(&self) -> Vec<usize> {
        (0..self.by_group.len()).filter(|&g| g == 0 || self.by_group[g].is_some()).collect()
    }

    /// Matches `text`, filling `spans` with group positions.
    pub fn match_into(&self, text: &str, spans: &mut Spans) -> bool {
        if let Some(m) = &self.segments {
            if let Some(matched) = m.match_into(text, spans) {
                return matched;
            }
        }
        self.regex.captures_into(text, spans)
    }
}

/// Why a pattern did not compile.
#[derive(Debug, thiserror::Error)]
enum CompileError {
    #[error(transparent)]
    Expand(#[from] expand::ExpandError),
    #[error("{0}")]
    Regex(String),
}

/// One capture of a pattern as the filter stores it.
struct Destination {
    /// The regex group holding the value.
    group: usize,
    /// The field, under `target` when there is one.
    field: FieldRef,
    coerce: Coerce,
    /// Named in `overwrite`: replaces what the field holds.
    overwrite: bool,
}

/// A pattern with where its captures go.
struct PatternStore {
    pattern: GrokPattern,
    destinations: Vec<Destination>,
}

impl PatternStore {
    fn new(pattern: GrokPattern, target: Option<&FieldRef>, overwrite: &[String]) -> Self {
        let destinations: Vec<Destination> = pattern
            .by_group
            .iter()
            .enumerate()
            .filter_map(|(group, c)| {
                c.as_ref().map(|c| Destination {
                    group,
                    field: c.field.clone().within(target),
                    coerce: c.coerce,
                    overwrite: overwrite.contains(&c.name),
                })
            })
            .collect();
        Self { pattern, destinations }
    }
}

/// One `match` entry: a field and the patterns tried on it.
struct FieldMatch {
    field: FieldRef,
    patterns: Vec<PatternStore>,
    /// Whether some capture may write into the matched field (its path, or one above or
    /// below it); only then is the input copied out before matching.
    captures_into_source: bool,
}

impl FieldMatch {
    fn new(field: FieldRef, patterns: Vec<PatternStore>) -> Self {
        let path: Vec<&str> = field.segments().collect();
        let captures_into_source = patterns.iter().flat_map(|p| &p.destinations).any(|d| {
            let dest: Vec<&str> = d.field.segments().collect();
            dest.starts_with(&path) || path.starts_with(&dest)
        });
        Self { field, patterns, captures_into_source }
    }
}

/// The `grok` filter.
pub struct Grok {
    matches: Vec<FieldMatch>,
    break_on_match: bool,
    keep_empty_captures: bool,
    tag_on_failure: Vec<String>,
    spans: Spans,
    input: String,
}

impl Grok {
    /// Reads `match`, `pattern_definitions`, `patterns_dir`, `patterns_files_glob`,
    /// `break_on_match`, `named_captures_only`, `keep_empty_captures`, `overwrite`,
    /// `target`, `tag_on_failure`, `ecs_compatibility`.
    pub fn from_settings(s: &mut Settings, ctx: &BuildContext) -> Self {
        let flavour = match s.string("ecs_compatibility") {
            None => Flavour::EcsV1,
            Some(v) => match v.node.as_str() {
                "disabled" => Flavour::Legacy,
                "v1" | "v8" => Flavour::EcsV1,
                other => {
                    s.error(format!("unknown ecs_compatibility `{other}`"), v.span, "expected disabled, v1 or v8");
                    Flavour::EcsV1
                }
            },
        };
        let mut library = Library::builtin(flavour);
        let glob = s.string_or("patterns_files_glob", "*");
        for dir in s.strings("patterns_dir") {
            let path = ctx.config_dir.join(&dir.node);
            let result = if glob == "*" { library.add_path(&path) } else { add_glob(&mut library, &path, &glob) };
            if let Err(e) = result {
                s.error(
                    format!("cannot read patterns_dir `{}`: {e}", path.display()),
                    dir.span,
                    "unreadable pattern directory",
                );
            }
        }
        for (name, def) in s.string_hash("pattern_definitions") {
            library.define(&name.node, &def.node);
        }
        let named_captures_only = s.bool_or("named_captures_only", true);
        let target = s.field_ref("target");
        let overwrite: Vec<String> = s.strings("overwrite").into_iter().map(|o| o.node).collect();
        let mut matches = Vec::new();
        for (field, patterns) in s.hash("match") {
            let Some(r) = s.parse_field_ref(&field) else { continue };
            let texts: Vec<crate::ast::Spanned<String>> = match &patterns.node {
                crate::ast::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| {
                        crate::settings::scalar_text(&i.node)
                            .map(|t| crate::ast::Spanned { node: t, span: i.span.clone() })
                    })
                    .collect(),
                other => crate::settings::scalar_text(other)
                    .map(|t| vec![crate::ast::Spanned { node: t, span: patterns.span.clone() }])
                    .unwrap_or_default(),
            };
            let mut compiled = Vec::new();
            for t in texts {
                match GrokPattern::compile_expanded(&t.node, &library, named_captures_only) {
                    Ok(p) => compiled.push(PatternStore::new(p, target.as_ref(), &overwrite)),
                    Err(CompileError::Expand(e @ expand::ExpandError::Unclosed(at))) => {
                        // Point at the `%{` itself: the string's span starts at its quote.
                        let start = (t.span.start + 1 + at).min(t.span.end.saturating_sub(1));
                        s.error(
                            format!("grok pattern does not compile: {e}"),
                            start..start + 2,
                            "this `%{` is never closed",
                        )
                    }
                    Err(e) => s.error(format!("grok pattern does not compile: {e}"), t.span, "in this pattern"),
                }
            }
            matches.push(FieldMatch::new(r, compiled));
        }
        if matches.is_empty() {
            s.error("`grok` needs `match => { \"field\" => \"pattern\" }`", s.plugin_span(), "no `match` setting");
        }
        s.accept(&["timeout_millis", "timeout_scope", "tag_on_timeout"]);
        Self {
            matches,
            break_on_match: s.bool_or("break_on_match", true),
            keep_empty_captures: s.bool_or("keep_empty_captures", false),
            tag_on_failure: failure_tags(s, "tag_on_failure", "_grokparsefailure"),
            spans: Vec::new(),
            input: String::new(),
        }
    }

    /// Tries every pattern of one field against one input value.
    fn match_value(&mut self, field_idx: usize, input: &str, event: &mut Event) -> bool {
        let mut matched = false;
        let mut spans = std::mem::take(&mut self.spans);
        for p in &self.matches[field_idx].patterns {
            if !p.pattern.match_into(input, &mut spans) {
                continue;
            }
            for d in &p.destinations {
                let value = match spans.get(d.group).copied().flatten().map(|(start, end)| &input[start..end]) {
                    None | Some("") if !self.keep_empty_captures => continue,
                    None => Value::Null,
                    Some(v) => coerce(v, d.coerce),
                };
                event.set_or_merge(&d.field, value, |field, value| merge_capture(field, value, d.overwrite));
            }
            matched = true;
            if self.break_on_match {
                break;
            }
        }
        self.spans = spans;
        matched
    }
}

/// Stores a captured value into a field that already exists, the way Logstash's grok
/// does: replace it under `overwrite` (or when it is null), else append when it holds a
/// string or an array; any other value is kept.
fn merge_capture(field: &mut Value, value: Value, overwrite: bool) {
    match field {
        _ if overwrite => *field = value,
        Value::Null => *field = value,
        Value::Array(a) => a.push(value),
        existing @ Value::String(_) => {
            let old = existing.take();
            *existing = Value::Array(vec![old, value]);
        }
        _ => {}
    }
}

fn add_glob(library: &mut Library, dir: &std::path::Path, glob: &str) -> std::io::Result<()> {
    let (prefix, suffix) = glob.split_once('*').unwrap_or((glob, ""));
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect();
    files.sort();
    for f in files {
        library.add_path(&f)?;
    }
    Ok(())
}

/// Ruby-style `to_i` / `to_f` of a captured string (a non-numeric string becomes 0).
pub fn coerce(v: &str, c: Coerce) -> Value {
    match c {
        Coerce::None => Value::from(v),
        Coerce::Int => Value::from(integer_prefix(v).unwrap_or(0)),
        Coerce::Float => Value::from(numeric_prefix(v).unwrap_or(0.0)),
    }
}

impl Filter for Grok {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        let mut matched = false;
        for idx in 0..self.matches.len() {
            let field_matched = match event.get(&self.matches[idx].field) {
                None | Some(Value::Null) => continue,
                Some(Value::String(_)) if !self.matches[idx].captures_into_source => {
                    // No capture can land in the matched field: its text is moved out
                    // while the patterns run (an empty string stands in) and put back.
                    let text = match event.get_mut(&self.matches[idx].field) {
                        Some(Value::String(s)) => std::mem::take(s),
                        _ => continue,
                    };
                    let m = self.match_value(idx, &text, event);
                    if let Some(Value::String(s)) = event.get_mut(&self.matches[idx].field) {
                        *s = text;
                    }
                    m
                }
                Some(Value::Array(items)) => {
                    let inputs: Vec<String> = items.iter().map(crate::event::value_to_string).collect();
                    let mut any = false;
                    for input in &inputs {
                        any |= self.match_value(idx, input, event);
                    }
                    any
                }
                Some(v) => {
                    // Captures may write to the matched field itself, so the input is
                    // copied out first, into a reused buffer.
                    let mut input = std::mem::take(&mut self.input);
                    input.clear();
                    match v {
                        Value::String(s) => input.push_str(s),
                        other => input.push_str(&crate::event::value_to_string(other)),
                    }
                    let m = self.match_value(idx, &input, event);
                    self.input = input;
                    m
                }
            };
            if field_matched {
                matched = true;
                if self.break_on_match {
                    break;
                }
            }
        }
        if matched {
            Outcome::Applied
        } else {
            for t in &self.tag_on_failure {
                event.add_tag(t);
            }
            Outcome::Skipped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::from_config;
    use serde_json::json;

    fn run(body: &str, message: &str) -> serde_json::Value {
        let mut grok = from_config("grok", body, |s| Grok::from_settings(s, &BuildContext::default()));
        let mut e = Event::from_message(message.to_string(), chrono::Utc::now());
        grok.apply(&mut e);
        let mut doc = serde_json::to_value(e.fields()).unwrap();
        doc.as_object_mut().unwrap().remove("@timestamp");
        doc
    }

    #[test]
    fn the_matched_field_is_kept_or_rewritten_as_captures_say() {
        // No capture touches `message`: it is matched in place and left as it was.
        assert_eq!(
            run(r#"match => { "message" => "%{WORD:verb} %{INT:n:int}" }"#, "GET 42"),
            json!({"message": "GET 42", "verb": "GET", "n": 42})
        );
        // A capture into the matched field appends to it, as Logstash's grok does…
        assert_eq!(
            run(r#"match => { "message" => "%{WORD:verb} %{GREEDYDATA:message}" }"#, "GET rest of it"),
            json!({"message": ["GET rest of it", "rest of it"], "verb": "GET"})
        );
        // …or replaces it under `overwrite`.
        assert_eq!(
            run(
                r#"match => { "message" => "%{WORD:verb} %{GREEDYDATA:message}" } overwrite => ["message"]"#,
                "GET rest of it"
            ),
            json!({"message": "rest of it", "verb": "GET"})
        );
        // A capture below the matched field's path turns the string into an object
        // (parents that are not objects are replaced): the input must be a copy.
        assert_eq!(
            run(r#"match => { "message" => "%{WORD:[message][x]}" }"#, "word"),
            json!({"message": {"x": "word"}})
        );
        assert_eq!(
            run(r#"match => { "message" => "%{WORD:[parsed][verb]}" } target => "t""#, "GET"),
            json!({"message": "GET", "t": {"parsed": {"verb": "GET"}}})
        );
        assert_eq!(
            run(r#"match => { "message" => "%{INT:n}" }"#, "no digits"),
            json!({"message": "no digits", "tags": ["_grokparsefailure"]})
        );
    }
}
