//! The regex engine behind grok, conditions and mutate: the `regex` crate where the
//! pattern allows it, `fancy-regex` otherwise.
//!
//! Why two engines: the `regex` crate guarantees linear time and is by far the fastest
//! engine for the patterns that make up almost all log parsing; the upstream grok
//! pattern files, however, use Oniguruma features it deliberately lacks (atomic groups,
//! look-behind, look-ahead, backreferences). `fancy-regex` supports those and hands
//! every sub-expression that needs no backtracking back to the `regex` crate, so only
//! the patterns that truly need it pay for backtracking.

use std::borrow::Cow;
use std::fmt;

/// A prebuilt dense DFA (regex-automata), for yes/no tests on the hot path.
pub type DenseDfa = regex_automata::dfa::dense::DFA<Vec<u32>>;

/// Whether `dfa` matches `input`, walking it by hand: one table step per byte, stopping
/// at the first match state, else the end-of-input step decides. (A pattern ending in
/// `\z` can only reach a match state on that last step, so the same walk is a
/// whole-token test for it.) `None` when the DFA gives up (a quit byte), for the regex
/// to judge.
pub fn dfa_is_match(dfa: &DenseDfa, input: &regex_automata::Input<'_>) -> Option<bool> {
    use regex_automata::dfa::Automaton;
    let mut state = dfa.start_state_forward(input).ok()?;
    for &b in input.haystack() {
        state = dfa.next_state(state, b);
        if dfa.is_special_state(state) {
            if dfa.is_match_state(state) {
                return Some(true);
            }
            if dfa.is_dead_state(state) {
                return Some(false);
            }
            if dfa.is_quit_state(state) {
                return None;
            }
        }
    }
    Some(dfa.is_match_state(dfa.next_eoi_state(state)))
}

/// A compiled regular expression on whichever engine could compile it.
#[derive(Clone)]
pub enum Regex {
    /// Linear-time engine (the common case).
    Linear(regex::Regex),
    /// Backtracking engine for look-around, atomic groups and backreferences.
    Backtracking(Box<fancy_regex::Regex>),
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Regex({})", self.as_str())
    }
}

/// Error from compiling a regex on both engines.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid regular expression: {0}")]
pub struct RegexError(pub String);

/// Capture positions of one match: `(start, end)` per group, `None` when a group did
/// not participate.
pub type Spans = Vec<Option<(usize, usize)>>;

impl Regex {
    /// Compiles `pattern`, preferring the linear-time engine.
    pub fn new(pattern: &str) -> Result<Self, RegexError> {
        match regex::Regex::new(pattern) {
            Ok(r) => Ok(Regex::Linear(r)),
            Err(linear_err) => match fancy_regex::Regex::new(pattern) {
                Ok(r) => Ok(Regex::Backtracking(Box::new(r))),
                Err(_) => Err(RegexError(linear_err.to_string())),
            },
        }
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        match self {
            Regex::Linear(r) => r.as_str(),
            Regex::Backtracking(r) => r.as_str(),
        }
    }

    /// Whether the pattern matches anywhere in `s`. A backtracking limit being hit
    /// counts as no match.
    pub fn is_match(&self, s: &str) -> bool {
        match self {
            Regex::Linear(r) => r.is_match(s),
            Regex::Backtracking(r) => r.is_match(s).unwrap_or(false),
        }
    }

    /// Number of capture groups including group 0.
    pub fn captures_len(&self) -> usize {
        match self {
            Regex::Linear(r) => r.captures_len(),
            Regex::Backtracking(r) => r.captures_len(),
        }
    }

    /// Names of the capture groups by index.
    pub fn capture_names(&self) -> Vec<Option<String>> {
        match self {
            Regex::Linear(r) => r.capture_names().map(|n| n.map(str::to_string)).collect(),
            Regex::Backtracking(r) => r.capture_names().map(|n| n.map(str::to_string)).collect(),
        }
    }

    /// Finds the first match in `s` and fills `spans` with every group's position.
    pub fn captures_into(&self, s: &str, spans: &mut Spans) -> bool {
        spans.clear();
        match self {
            Regex::Linear(r) => match r.captures(s) {
                Some(c) => {
                    spans.extend((0..c.len()).map(|i| c.get(i).map(|m| (m.start(), m.end()))));
                    true
                }
                None => false,
            },
            Regex::Backtracking(r) => match r.captures(s) {
                Ok(Some(c)) => {
                    spans.extend((0..c.len()).map(|i| c.get(i).map(|m| (m.start(), m.end()))));
                    true
                }
                _ => false,
            },
        }
    }

    /// Replaces every match with `replacement`; `s` itself, borrowed, when nothing
    /// matches.
    pub fn replace_all<'t>(&self, s: &'t str, replacement: &Replacement) -> Cow<'t, str> {
        match self {
            Regex::Linear(r) => r.replace_all(s, replacement.0.as_str()),
            Regex::Backtracking(r) => r.replace_all(s, replacement.0.as_str()),
        }
    }

    /// Splits `s` on every match.
    pub fn split<'a>(&self, s: &'a str) -> Vec<&'a str> {
        match self {
            Regex::Linear(r) => r.split(s).collect(),
            Regex::Backtracking(r) => r.split(s).filter_map(Result::ok).collect(),
        }
    }
}

/// A replacement text for [`Regex::replace_all`], converted once when the config is
/// compiled.
#[derive(Debug, Clone)]
pub struct Replacement(String);

impl Replacement {
    /// From Ruby's syntax (`\1`-style group references, a literal `$`).
    pub fn ruby(text: &str) -> Self {
        Self(ruby_replacement(text))
    }
}

/// Converts Ruby's `\1` group references to the `${1}` form both engines understand,
/// and escapes a literal `$`.
fn ruby_replacement(rep: &str) -> String {
    let mut out = String::with_capacity(rep.len());
    let mut chars = rep.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("${");
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    out.push(d);
                    chars.next();
                }
                out.push('}');
            }
            '$' => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_engine_by_feature() {
        assert!(matches!(Regex::new(r"\d+").unwrap(), Regex::Linear(_)));
        assert!(matches!(Regex::new(r"(?<![0-9])\d+").unwrap(), Regex::Backtracking(_)));
        assert!(matches!(Regex::new(r"(?>a+)b").unwrap(), Regex::Backtracking(_)));
        assert!(Regex::new(r"(").is_err());
    }

    #[test]
    fn ruby_group_references_in_replacements() {
        let r = Regex::new(r"(\w+)@(\w+)").unwrap();
        assert_eq!(r.replace_all("a@b costs $5", &Replacement::ruby(r"\2 at \1")), "b at a costs $5");
        assert!(matches!(r.replace_all("no match", &Replacement::ruby("x")), Cow::Borrowed("no match")));
    }
}
