//! Field references (`message`, `[a][b]`, `[@metadata][id]`) as Logstash tokenizes them.
//!
//! A reference is parsed once, when a config is compiled, into its path segments; the
//! event model then walks those segments. Dots are never separators: `host.name` is one
//! top-level key, exactly as in Logstash.

use crate::value::{intern, Hint, Key};
use std::fmt;

/// Error for a string that is not a legal field reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field reference `{0}`: expected a name or one or more `[segment]`s")]
pub struct InvalidFieldRef(pub String);

/// The first segment of references to event metadata.
const METADATA: &str = "@metadata";

/// A parsed field reference: a path of segments, the first of which may be `@metadata`.
/// Equality and hashing look at the path only.
#[derive(Debug, Clone)]
pub struct FieldRef {
    /// Whether the first segment is `@metadata` (decided once: it is asked on every
    /// field access).
    metadata: bool,
    /// The segments below the root object (the event's fields, or its metadata), each
    /// with where it was found last time: what every field access walks.
    steps: Box<[Step]>,
}

/// One segment of a path below its root object, with its lookup hint.
#[derive(Debug, Clone)]
pub struct Step {
    /// The key in its object (or, in an array, the index as text).
    pub key: Key,
    /// Where the key was found last time in its object.
    pub hint: Hint,
}

impl FieldRef {
    /// Parses `name`, `[a][b]` or `[[a][b]]`; rejects empty segments and stray text.
    pub fn parse(text: &str) -> Result<Self, InvalidFieldRef> {
        Self::parse_with(text, intern)
    }

    fn parse_with(text: &str, key: fn(&str) -> Key) -> Result<Self, InvalidFieldRef> {
        let invalid = || InvalidFieldRef(text.to_string());
        if text.is_empty() {
            return Err(invalid());
        }
        if !text.contains('[') && !text.contains(']') {
            return Ok(Self::new(vec![key(text)]));
        }
        let mut inner = text;
        // `[[a][b]]` is accepted and flattened.
        if inner.starts_with("[[") && inner.ends_with("]]") {
            inner = &inner[1..inner.len() - 1];
        }
        let mut segments = Vec::new();
        let mut rest = inner;
        while !rest.is_empty() {
            let body = rest.strip_prefix('[').ok_or_else(invalid)?;
            let end = body.find(']').ok_or_else(invalid)?;
            let segment = &body[..end];
            if segment.is_empty() || segment.contains('[') || segment.contains(',') {
                return Err(invalid());
            }
            segments.push(key(segment));
            rest = &body[end + 1..];
        }
        if segments.is_empty() {
            return Err(invalid());
        }
        Ok(Self::new(segments))
    }

    /// A one-segment reference to a top-level key named at run time (from event data),
    /// not interned.
    pub fn top_level(name: &str) -> Self {
        Self::new(vec![Key::from(name)])
    }

    /// Parses a reference computed at run time (a rendered sprintf template); its
    /// segments are not interned.
    pub fn parse_runtime(text: &str) -> Result<Self, InvalidFieldRef> {
        Self::parse_with(text, |s| Key::from(s))
    }

    /// Builds a reference from already-split segments.
    pub fn from_segments<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(segments.into_iter().map(|s| intern(s.as_ref())).collect())
    }

    /// The path segments, `@metadata` included when present.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.metadata.then_some(METADATA).into_iter().chain(self.steps.iter().map(|s| &*s.key))
    }

    /// The segments below the root object (`@metadata` left out), with their hints.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Whether the reference addresses event metadata (`[@metadata]...`).
    pub fn is_metadata(&self) -> bool {
        self.metadata
    }

    fn new(segments: Vec<Key>) -> Self {
        let metadata = segments.first().is_some_and(|s| &**s == METADATA);
        let steps = segments.into_iter().skip(usize::from(metadata)).map(|key| Step { key, hint: Hint::default() });
        Self { metadata, steps: steps.collect() }
    }

    /// The path's keys, `@metadata` included when present.
    fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.metadata.then(|| intern(METADATA)).into_iter().chain(self.steps.iter().map(|s| s.key.clone()))
    }

    /// This reference under `target` when there is one (the `target` option of filters).
    pub fn within(self, target: Option<&FieldRef>) -> FieldRef {
        match target {
            Some(t) => self.under(t),
            None => self,
        }
    }

    /// This reference nested under `prefix` (used by `target` options).
    pub fn under(&self, prefix: &FieldRef) -> FieldRef {
        FieldRef::new(prefix.keys().chain(self.keys()).collect())
    }
}

impl PartialEq for FieldRef {
    fn eq(&self, other: &Self) -> bool {
        self.segments().eq(other.segments())
    }
}

impl Eq for FieldRef {}

impl std::hash::Hash for FieldRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.segments().for_each(|s| s.hash(state));
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ([only], false) = (&*self.steps, self.metadata) {
            return f.write_str(&only.key);
        }
        for s in self.segments() {
            write!(f, "[{s}]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_logstash_forms() {
        let segs = |t: &str| FieldRef::parse(t).unwrap().segments().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(segs("message"), ["message"]);
        assert_eq!(segs("host.name"), ["host.name"]);
        assert_eq!(segs("[a][b]"), ["a", "b"]);
        assert_eq!(segs("[[a][b]]"), ["a", "b"]);
        assert!(FieldRef::parse("[@metadata][x]").unwrap().is_metadata());
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in ["", "foo[bar]", "[a]b", "[]", "[a", "[a][", "[a]]"] {
            assert!(FieldRef::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
