//! Expands a grok expression (`%{SYNTAX:semantic:type}`, `(?<name>…)`) into one regex
//! with generated group names, plus a table saying which group fills which field.

use super::library::Library;
use crate::field_ref::FieldRef;

/// How a captured string is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coerce {
    /// Keep the string.
    None,
    /// Ruby `to_i`.
    Int,
    /// Ruby `to_f`.
    Float,
}

/// One capture group's destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// Generated group name in the regex.
    pub group: String,
    /// Destination field.
    pub field: FieldRef,
    /// Field name as written (for `overwrite`).
    pub name: String,
    /// Type coercion.
    pub coerce: Coerce,
}

/// Result of expanding an expression.
#[derive(Debug, Clone)]
pub struct Expanded {
    /// The regex text (Rust/fancy-regex syntax).
    pub regex: String,
    /// Capture table in group order.
    pub captures: Vec<Capture>,
}

/// Error while expanding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `%{NAME}` is not defined anywhere.
    #[error("unknown grok pattern `%{{{0}}}`")]
    UnknownPattern(String),
    /// Patterns refer to each other in a cycle (or nest absurdly deep).
    #[error("grok pattern `%{{{0}}}` is recursive")]
    Recursive(String),
    /// `%{` with no `}` after it; the byte offset of the `%` in the expression.
    #[error("unclosed `%{{` in the grok pattern (no `}}` after it)")]
    Unclosed(usize),
    /// `%{NAME:field:type}` with a type other than int/float.
    #[error("unknown grok type `{0}` (expected int or float)")]
    UnknownType(String),
}

struct Expander<'a> {
    library: &'a Library,
    named_captures_only: bool,
    captures: Vec<Capture>,
    inline: Vec<(String, String)>,
}

/// Expands `pattern` using `library`.
pub fn expand(pattern: &str, library: &Library, named_captures_only: bool) -> Result<Expanded, ExpandError> {
    let mut e = Expander { library, named_captures_only, captures: Vec::new(), inline: Vec::new() };
    let body = e.expand(pattern, 0)?;
    // Ruby's MULTILINE (what Logstash uses) is `s` here; `^`/`$` are line anchors in Ruby.
    Ok(Expanded { regex: format!("(?ms){body}"), captures: e.captures })
}

fn field_for(name: &str) -> FieldRef {
    FieldRef::parse(name).unwrap_or_else(|_| FieldRef::from_segments([name]))
}

impl Expander<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.inline
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
            .or_else(|| self.library.get(name).map(str::to_string))
    }

    fn new_group(&mut self, name: &str, coerce: Coerce) -> String {
        let group = format!("g{}", self.captures.len());
        self.captures.push(Capture { group: group.clone(), field: field_for(name), name: name.to_string(), coerce });
        group
    }

    fn expand(&mut self, pattern: &str, depth: usize) -> Result<String, ExpandError> {
        let mut out = String::with_capacity(pattern.len() * 2);
        let bytes = pattern.as_bytes();
        let mut i = 0;
        let mut in_class = 0usize;
        while i < bytes.len() {
            let c = bytes[i];
            if c == b'\\' {
                let next = pattern[i + 1..].chars().next();
                match next {
                    // Oniguruma's \h is a hex digit; the regex crate has no such class.
                    Some('h') => out.push_str(if in_class > 0 { "0-9a-fA-F" } else { "[0-9a-fA-F]" }),
                    // \Z: end of input or before a final newline.
                    Some('Z') => out.push_str(r"(?:\n?\z)"),
                    Some(ch) => {
                        out.push('\\');
                        out.push(ch);
                    }
                    None => out.push('\\'),
                }
                i += 1 + next.map_or(0, char::len_utf8);
                continue;
            }
            if in_class > 0 {
                // Oniguruma's POSIX classes are Unicode-aware; the regex crate's are ASCII.
                if let Some(rest) = pattern[i..].strip_prefix("[:alnum:]") {
                    out.push_str(r"\p{Alphabetic}\p{Nd}");
                    i = pattern.len() - rest.len();
                    continue;
                }
                if let Some(rest) = pattern[i..].strip_prefix("[:alpha:]") {
                    out.push_str(r"\p{Alphabetic}");
                    i = pattern.len() - rest.len();
                    continue;
                }
                if c == b'[' {
                    in_class += 1;
                } else if c == b']' {
                    in_class -= 1;
                }
                let ch = pattern[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
                continue;
            }
            if c == b'[' {
                in_class = 1;
                out.push('[');
                i += 1;
                // A `]` right after `[` or `[^` is literal.
                if pattern[i..].starts_with('^') {
                    out.push('^');
                    i += 1;
                }
                if pattern[i..].starts_with(']') {
                    out.push_str("\\]");
                    i += 1;
                }
                continue;
            }
            if pattern[i..].starts_with("%{") {
                // Oniguruma would read an unclosed `%{IP:ip` as literal text; a user
                // never means that, so it is an error rather than a silent non-match.
                let Some(end) = pattern[i + 2..].find('}') else { return Err(ExpandError::Unclosed(i)) };
                let spec = &pattern[i + 2..i + 2 + end];
                out.push_str(&self.reference(spec, depth)?);
                i += end + 3;
                continue;
            }
            if pattern[i..].starts_with("(?<") && !pattern[i..].starts_with("(?<=") && !pattern[i..].starts_with("(?<!")
            {
                if let Some(end) = pattern[i + 3..].find('>') {
                    let name = &pattern[i + 3..i + 3 + end];
                    let group = self.new_group(name, Coerce::None);
                    out.push_str(&format!("(?P<{group}>"));
                    i += end + 4;
                    continue;
                }
            }
            let ch = pattern[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
        Ok(out)
    }

    /// `NAME`, `NAME:field`, `NAME:field:type` or `NAME=inline-regex`.
    fn reference(&mut self, spec: &str, depth: usize) -> Result<String, ExpandError> {
        if depth > 64 {
            return Err(ExpandError::Recursive(spec.to_string()));
        }
        let (name, definition, semantic, coerce) = if let Some((name, def)) = spec.split_once('=') {
            self.inline.push((name.to_string(), def.to_string()));
            (name.to_string(), def.to_string(), None, Coerce::None)
        } else {
            let mut parts = spec.splitn(3, ':');
            let name = parts.next().unwrap_or_default().to_string();
            // A trailing `?` (seen in upstream HTTPD24_ERRORLOG) is not part of the name.
            let semantic = parts.next().map(|s| s.trim_end_matches('?')).filter(|s| !s.is_empty()).map(str::to_string);
            let coerce = match parts.next() {
                None => Coerce::None,
                Some("int") => Coerce::Int,
                Some("float") => Coerce::Float,
                Some(other) => return Err(ExpandError::UnknownType(other.to_string())),
            };
            let def = self.lookup(&name).ok_or_else(|| ExpandError::UnknownPattern(name.clone()))?;
            (name, def, semantic, coerce)
        };
        let capture_name = match semantic {
            Some(s) => Some(s),
            None if !self.named_captures_only => Some(name.clone()),
            None => None,
        };
        let group = capture_name.map(|n| self.new_group(&n, coerce));
        let inner = self.expand(&definition, depth + 1)?;
        Ok(match group {
            Some(g) => format!("(?P<{g}>{inner})"),
            None => format!("(?:{inner})"),
        })
    }
}
