//! `${VAR}` and `${VAR:default}` substitution at load time, as Logstash does it:
//! in strings, barewords and condition operands, never inside `/regex/` literals.

use crate::ast::{Config, Span};
use crate::diagnostics::Diagnostic;

/// Replaces every `${…}` in `config`; unresolvable ones become diagnostics.
pub fn substitute(config: &mut Config, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    config.for_each_string_mut(&mut |s, _, span| text(s, span, lookup, &mut errors));
    errors
}

fn text(s: &mut String, span: &Span, lookup: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<Diagnostic>) {
    if !s.contains("${") {
        return;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let body = &rest[start + 2..start + end];
        let (name, default) = match body.split_once(':') {
            Some((n, d)) => (n, Some(d)),
            None => (body, None),
        };
        match lookup(name).or_else(|| default.map(str::to_string)) {
            Some(v) => out.push_str(&v),
            None => errors.push(Diagnostic::new(
                format!("cannot evaluate `${{{name}}}`: the environment variable is not set"),
                span.clone(),
                "set the variable or give a default with `${NAME:default}`",
            )),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    *s = out;
}
