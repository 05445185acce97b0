//! Backslash escapes in quoted config strings, for configs written for Logstash's
//! `config.support_escapes: true`. Off by default, as in Logstash: the text between the
//! quotes is then taken verbatim, so regexes reach the engine unchanged.

use crate::ast::{Config, StringKind};

/// Translates `\"`, `\'`, `\\`, `\n`, `\r`, `\t` and `\0` in every quoted string of
/// `config` (regex literals excepted); any other backslash pair is kept as written.
pub fn apply(config: &mut Config) {
    config.for_each_string_mut(&mut |s, kind, _| {
        if kind == StringKind::Quoted && s.contains('\\') {
            *s = unescape(s);
        }
    });
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Statement, Value};

    #[test]
    fn known_escapes_are_translated_and_others_kept() {
        assert_eq!(unescape(r#"a\tb\"c\\d\[e\n"#), "a\tb\"c\\d\\[e\n");
        let mut cfg =
            crate::parser::parse_config(r#"filter { if [a] =~ /\t/ { mutate { add_tag => ["x\ty"] } } }"#).unwrap();
        apply(&mut cfg);
        let Statement::If(chain) = &cfg.sections[0].body[0] else { panic!("not an if") };
        let crate::ast::Condition::Matches { pattern, .. } = &chain.branches[0].0.node else { panic!("not =~") };
        assert_eq!(pattern.node, r"\t", "regex literals stay verbatim");
        let Statement::Plugin(p) = &chain.branches[0].1[0] else { panic!("not a plugin") };
        let Value::Array(tags) = &p.attributes[0].value.node else { panic!("not an array") };
        assert_eq!(tags[0].node, Value::String("x\ty".into()));
    }
}
