//! Syntax tree of a pipeline config, with byte spans into the source for diagnostics.

use std::ops::Range;

/// Byte range of a syntax element in its source file.
pub type Span = Range<usize>;

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub node: T,
    /// Where it was written.
    pub span: Span,
}

/// A whole config file: its sections in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `input`, `filter` and `output` sections, in the order written.
    pub sections: Vec<Section>,
}

/// Which kind of section a block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// `input { … }`
    Input,
    /// `filter { … }`
    Filter,
    /// `output { … }`
    Output,
}

/// One `input`/`filter`/`output` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Section kind.
    pub kind: SectionKind,
    /// Plugins and conditionals inside it.
    pub body: Vec<Statement>,
    /// Where the whole section was written.
    pub span: Span,
}

/// Something that can appear inside a section body.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// A plugin block.
    Plugin(Plugin),
    /// An `if / else if / else` chain.
    If(IfChain),
}

/// `name { attr => value … }`
#[derive(Debug, Clone, PartialEq)]
pub struct Plugin {
    /// Plugin name and its span.
    pub name: Spanned<String>,
    /// Attributes in the order written (repeats not yet merged).
    pub attributes: Vec<Attribute>,
    /// Span of the whole block.
    pub span: Span,
}

/// `name => value`
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// Attribute name.
    pub name: Spanned<String>,
    /// Attribute value.
    pub value: Spanned<Value>,
}

/// A setting value as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A quoted string (contents after escape processing).
    String(String),
    /// An unquoted word such as `json` or `true`.
    Bareword(String),
    /// An integer literal.
    Integer(i64),
    /// A float literal.
    Float(f64),
    /// `[a, b]`
    Array(Vec<Spanned<Value>>),
    /// `{ k => v … }`
    Hash(Vec<(Spanned<String>, Spanned<Value>)>),
    /// A nested plugin, as in `codec => json_lines { … }`.
    Plugin(Plugin),
}

impl Value {
    /// A setting value from JSON, as a config would write it: strings quoted, booleans
    /// as barewords, objects as hashes (null becomes an empty string). For building
    /// plugins in code (tests, benchmarks) without writing config text.
    pub fn from_json(v: &serde_json::Value) -> Self {
        let spanned = |node| Spanned { node, span: 0..0 };
        match v {
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Bool(b) => Value::Bareword(b.to_string()),
            serde_json::Value::Number(n) => {
                n.as_i64().map_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0)), Value::Integer)
            }
            serde_json::Value::Array(a) => Value::Array(a.iter().map(|x| spanned(Value::from_json(x))).collect()),
            serde_json::Value::Object(m) => Value::Hash(
                m.iter()
                    .map(|(k, v)| (Spanned { node: k.clone(), span: 0..0 }, spanned(Value::from_json(v))))
                    .collect(),
            ),
            serde_json::Value::Null => Value::String(String::new()),
        }
    }
}

impl Plugin {
    /// A plugin block built in code from `(setting, JSON value)` pairs.
    pub fn from_json(name: &str, attributes: &[(&str, serde_json::Value)]) -> Self {
        Plugin {
            name: Spanned { node: name.to_string(), span: 0..0 },
            attributes: attributes
                .iter()
                .map(|(k, v)| Attribute {
                    name: Spanned { node: (*k).to_string(), span: 0..0 },
                    value: Spanned { node: Value::from_json(v), span: 0..0 },
                })
                .collect(),
            span: 0..0,
        }
    }
}

/// `if c { … } else if c { … } else { … }`
#[derive(Debug, Clone, PartialEq)]
pub struct IfChain {
    /// Conditions with their bodies, `if` first then each `else if`.
    pub branches: Vec<(Spanned<Condition>, Vec<Statement>)>,
    /// The `else` body, if any.
    pub otherwise: Option<Vec<Statement>>,
}

/// Boolean operators joining conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolOp {
    /// `and`
    And,
    /// `or`
    Or,
    /// `xor`
    Xor,
    /// `nand`
    Nand,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
}

/// A condition expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `a and b`, `a or b`, …
    Bool(BoolOp, Box<Condition>, Box<Condition>),
    /// `!(…)` or `![field]`
    Not(Box<Condition>),
    /// `a == b`, …
    Compare(CompareOp, RValue, RValue),
    /// `a in b`
    In(RValue, RValue),
    /// `a not in b`
    NotIn(RValue, RValue),
    /// `a =~ /re/` (negated for `!~`)
    Matches {
        /// Left side.
        value: RValue,
        /// Regex source text.
        pattern: Spanned<String>,
        /// `!~` rather than `=~`.
        negated: bool,
    },
    /// A bare value tested for truthiness.
    Truthy(RValue),
}

/// Operand of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum RValue {
    /// Quoted string.
    String(String),
    /// Number literal.
    Number(f64),
    /// Field reference text such as `[a][b]`.
    Field(Spanned<String>),
    /// Array literal.
    Array(Vec<RValue>),
    /// `/…/` regex literal (as an operand, compared textually).
    Regex(String),
}

/// Where a string being visited by [`Config::for_each_string_mut`] was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringKind {
    /// A quoted string in a setting or a condition.
    Quoted,
    /// An unquoted word in a setting.
    Bareword,
}

impl Config {
    /// Calls `f` on every string and bareword of settings and condition operands, with
    /// the span of its setting or condition. Regex literals are not visited: load-time
    /// rewriting (`${VAR}`, escapes) never applies to them in Logstash.
    pub fn for_each_string_mut(&mut self, f: &mut dyn FnMut(&mut String, StringKind, &Span)) {
        for section in &mut self.sections {
            visit_statements(&mut section.body, f);
        }
    }
}

fn visit_statements(body: &mut [Statement], f: &mut dyn FnMut(&mut String, StringKind, &Span)) {
    for st in body {
        match st {
            Statement::Plugin(p) => visit_plugin(p, f),
            Statement::If(chain) => {
                for (c, b) in &mut chain.branches {
                    let span = c.span.clone();
                    visit_condition(&mut c.node, &span, f);
                    visit_statements(b, f);
                }
                if let Some(b) = &mut chain.otherwise {
                    visit_statements(b, f);
                }
            }
        }
    }
}

fn visit_plugin(p: &mut Plugin, f: &mut dyn FnMut(&mut String, StringKind, &Span)) {
    for a in &mut p.attributes {
        visit_value(&mut a.value, f);
    }
}

fn visit_value(v: &mut Spanned<Value>, f: &mut dyn FnMut(&mut String, StringKind, &Span)) {
    let span = v.span.clone();
    match &mut v.node {
        Value::String(s) => f(s, StringKind::Quoted, &span),
        Value::Bareword(s) => f(s, StringKind::Bareword, &span),
        Value::Array(items) => items.iter_mut().for_each(|i| visit_value(i, f)),
        Value::Hash(entries) => entries.iter_mut().for_each(|(_, v)| visit_value(v, f)),
        Value::Plugin(p) => visit_plugin(p, f),
        Value::Integer(_) | Value::Float(_) => {}
    }
}

fn visit_condition(c: &mut Condition, span: &Span, f: &mut dyn FnMut(&mut String, StringKind, &Span)) {
    match c {
        Condition::Bool(_, a, b) => {
            visit_condition(a, span, f);
            visit_condition(b, span, f);
        }
        Condition::Not(a) => visit_condition(a, span, f),
        Condition::Compare(_, a, b) | Condition::In(a, b) | Condition::NotIn(a, b) => {
            visit_rvalue(a, span, f);
            visit_rvalue(b, span, f);
        }
        Condition::Matches { value, .. } => visit_rvalue(value, span, f),
        Condition::Truthy(v) => visit_rvalue(v, span, f),
    }
}

fn visit_rvalue(v: &mut RValue, span: &Span, f: &mut dyn FnMut(&mut String, StringKind, &Span)) {
    match v {
        RValue::String(s) => f(s, StringKind::Quoted, span),
        RValue::Array(items) => items.iter_mut().for_each(|i| visit_rvalue(i, span, f)),
        _ => {}
    }
}
