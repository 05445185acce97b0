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
