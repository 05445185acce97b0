//! `${VAR}` and `${VAR:default}` substitution at load time, as Logstash does it:
//! in strings, barewords and condition operands, never inside `/regex/` literals.

use crate::ast::{Condition, Config, RValue, Spanned, Statement, Value};
use crate::diagnostics::Diagnostic;

/// Replaces every `${…}` in `config`; unresolvable ones become diagnostics.
pub fn substitute(config: &mut Config, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for section in &mut config.sections {
        statements(&mut section.body, lookup, &mut errors);
    }
    errors
}

fn statements(body: &mut [Statement], lookup: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<Diagnostic>) {
    for st in body {
        match st {
            Statement::Plugin(p) => {
                for a in &mut p.attributes {
                    value(&mut a.value, lookup, errors);
                }
            }
            Statement::If(chain) => {
                for (c, b) in &mut chain.branches {
                    let span = c.span.clone();
                    condition(&mut c.node, &span, lookup, errors);
                    statements(b, lookup, errors);
                }
                if let Some(b) = &mut chain.otherwise {
                    statements(b, lookup, errors);
                }
            }
        }
    }
}

fn value(v: &mut Spanned<Value>, lookup: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<Diagnostic>) {
    let span = v.span.clone();
    match &mut v.node {
        Value::String(s) | Value::Bareword(s) => text(s, &span, lookup, errors),
        Value::Array(items) => items.iter_mut().for_each(|i| value(i, lookup, errors)),
        Value::Hash(entries) => entries.iter_mut().for_each(|(_, v)| value(v, lookup, errors)),
        Value::Plugin(p) => p.attributes.iter_mut().for_each(|a| value(&mut a.value, lookup, errors)),
        Value::Integer(_) | Value::Float(_) => {}
    }
}

fn condition(
    c: &mut Condition,
    span: &crate::ast::Span,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<Diagnostic>,
) {
    match c {
        Condition::Bool(_, a, b) => {
            condition(a, span, lookup, errors);
            condition(b, span, lookup, errors);
        }
        Condition::Not(a) => condition(a, span, lookup, errors),
        Condition::Compare(_, a, b) | Condition::In(a, b) | Condition::NotIn(a, b) => {
            rvalue(a, span, lookup, errors);
            rvalue(b, span, lookup, errors);
        }
        Condition::Matches { value, .. } => rvalue(value, span, lookup, errors),
        Condition::Truthy(v) => rvalue(v, span, lookup, errors),
    }
}

fn rvalue(
    v: &mut RValue,
    span: &crate::ast::Span,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<Diagnostic>,
) {
    match v {
        RValue::String(s) => text(s, span, lookup, errors),
        RValue::Array(items) => items.iter_mut().for_each(|i| rvalue(i, span, lookup, errors)),
        _ => {}
    }
}

fn text(
    s: &mut String,
    span: &crate::ast::Span,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<Diagnostic>,
) {
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
