//! nom parser for the Logstash config language (LSCL).
//!
//! Grammar follows Logstash's treetop grammar: sections of plugin blocks and
//! conditionals; values are plugins, barewords, strings, numbers, arrays or hashes;
//! `#` comments wherever whitespace may appear. Parsing is committed (`cut`) after
//! tokens that leave only one way forward, so errors point at the real culprit with
//! what was expected there.

use crate::ast::*;
use crate::diagnostics::Diagnostic;
use nom::branch::alt;
use nom::bytes::complete::{is_not, tag, take_while, take_while1};
use nom::character::complete::{char, digit1, multispace1, not_line_ending};
use nom::combinator::{cut, eof, map, not, opt, peek, recognize, value};
use nom::multi::{many0, separated_list0};
use nom::sequence::{pair, preceded, terminated, tuple};
use nom::IResult;
use nom_locate::LocatedSpan;

type In<'a> = LocatedSpan<&'a str>;

/// Parse error: the deepest point reached and what was expected there.
#[derive(Debug, Clone)]
struct PErr {
    offset: usize,
    expected: &'static str,
}

impl<'a> nom::error::ParseError<In<'a>> for PErr {
    fn from_error_kind(input: In<'a>, _kind: nom::error::ErrorKind) -> Self {
        PErr { offset: input.location_offset(), expected: "valid syntax" }
    }
    fn append(_input: In<'a>, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
    fn or(self, other: Self) -> Self {
        if other.offset >= self.offset {
            other
        } else {
            self
        }
    }
}

type PResult<'a, T> = IResult<In<'a>, T, PErr>;

/// Labels a parser's failure with what was expected, unless it failed deeper inside.
fn expect<'a, T>(
    what: &'static str,
    mut p: impl FnMut(In<'a>) -> PResult<'a, T>,
) -> impl FnMut(In<'a>) -> PResult<'a, T> {
    move |input: In<'a>| {
        let start = input.location_offset();
        p(input).map_err(|e| {
            e.map(|inner| if inner.offset > start { inner } else { PErr { offset: start, expected: what } })
        })
    }
}

/// Parses a whole config file into its syntax tree, or a diagnostic at the first error.
pub fn parse_config(source: &str) -> Result<Config, Diagnostic> {
    let input = In::new(source);
    let result =
        terminated(preceded(ws, many0(terminated(section, ws))), expect("`input`, `filter` or `output`", eof))(input);
    match result {
        Ok((_, sections)) => Ok(Config { sections }),
        Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => {
            let end = next_token_end(source, e.offset);
            Err(Diagnostic::new(
                format!("syntax error: expected {}", e.expected),
                e.offset..end,
                format!("expected {} here", e.expected),
            ))
        }
        Err(nom::Err::Incomplete(_)) => {
            Err(Diagnostic::new("unexpected end of file", source.len()..source.len(), "input ends here"))
        }
    }
}

/// Parses a condition written on its own (the text of a setting such as
/// `error_if => '[status] >= 500'`); spans are offsets into `source`.
pub fn parse_condition(source: &str) -> Result<Spanned<Condition>, Diagnostic> {
    let input = In::new(source);
    let result = terminated(
        preceded(ws, expect("a condition", condition)),
        preceded(ws, expect("the end of the condition", eof)),
    )(input);
    match result {
        Ok((_, node)) => Ok(Spanned { node, span: 0..source.len() }),
        Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => {
            let end = next_token_end(source, e.offset);
            Err(Diagnostic::new(
                format!("syntax error in condition: expected {}", e.expected),
                e.offset..end,
                format!("expected {} here", e.expected),
            ))
        }
        Err(nom::Err::Incomplete(_)) => {
            Err(Diagnostic::new("the condition ends early", source.len()..source.len(), "condition ends here"))
        }
    }
}

fn next_token_end(source: &str, offset: usize) -> usize {
    let rest = source.get(offset..).unwrap_or("");
    let len = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    offset + len.max(rest.chars().next().map_or(0, char::len_utf8))
}

fn span_of(start: &In, end: &In) -> Span {
    start.location_offset()..end.location_offset()
}

fn comment(i: In) -> PResult<In> {
    recognize(pair(char('#'), not_line_ending))(i)
}

/// Whitespace and comments (possibly none).
fn ws(i: In) -> PResult<()> {
    value((), many0(alt((multispace1, comment))))(i)
}

fn keyword<'a>(kw: &'static str) -> impl FnMut(In<'a>) -> PResult<'a, In<'a>> {
    terminated(tag(kw), not(peek(take_while1(is_name_char))))
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn section(i: In) -> PResult<Section> {
    let start = i;
    let (i, kind) = alt((
        value(SectionKind::Input, keyword("input")),
        value(SectionKind::Filter, keyword("filter")),
        value(SectionKind::Output, keyword("output")),
    ))(i)?;
    let (i, body) = cut(block)(i)?;
    Ok((i, Section { kind, body, span: span_of(&start, &i) }))
}

/// `{ statements }`
fn block(i: In) -> PResult<Vec<Statement>> {
    let (i, _) = preceded(ws, expect("`{`", char('{')))(i)?;
    let (i, body) = preceded(ws, many0(terminated(statement, ws)))(i)?;
    let (i, _) = cut(expect("a plugin, a conditional or `}`", char('}')))(i)?;
    Ok((i, body))
}

fn statement(i: In) -> PResult<Statement> {
    alt((map(if_chain, Statement::If), map(plugin, Statement::Plugin)))(i)
}

fn name(i: In) -> PResult<Spanned<String>> {
    let start = i;
    let (i, text) = alt((quoted_string, map(take_while1(is_name_char), |s: In| s.fragment().to_string())))(i)?;
    Ok((i, Spanned { node: text, span: span_of(&start, &i) }))
}

fn plugin(i: In) -> PResult<Plugin> {
    let start = i;
    let (i, name) = expect("a plugin name", name)(i)?;
    let (i, _) = pair(ws, char('{'))(i)?;
    let (i, attributes) = preceded(ws, many0(terminated(attribute, ws)))(i)?;
    let (i, _) = cut(expect("a setting (`name => value`) or `}`", char('}')))(i)?;
    Ok((i, Plugin { name, attributes, span: span_of(&start, &i) }))
}

fn attribute(i: In) -> PResult<Attribute> {
    let (i, name) = name(i)?;
    let (i, _) = preceded(ws, cut(expect("`=>`", tag("=>"))))(i)?;
    let (i, value) = preceded(ws, cut(spanned_value))(i)?;
    Ok((i, Attribute { name, value }))
}

fn spanned_value(i: In) -> PResult<Spanned<Value>> {
    let start = i;
    let (i, v) = expect(
        "a value (string, number, bareword, array, hash or plugin)",
        alt((
            map(plugin, Value::Plugin),
            map(number, |n| n),
            map(bareword, Value::Bareword),
            map(quoted_string, Value::String),
            map(array, Value::Array),
            map(hash, Value::Hash),
        )),
    )(i)?;
    Ok((i, Spanned { node: v, span: span_of(&start, &i) }))
}

fn bareword(i: In) -> PResult<String> {
    map(
        recognize(pair(
            take_while1(|c: char| c.is_ascii_alphabetic() || c == '_'),
            take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
        )),
        |s: In| s.fragment().to_string(),
    )(i)
    .and_then(|(rest, s)| {
        if s.chars().count() < 2 {
            Err(nom::Err::Error(PErr { offset: i.location_offset(), expected: "a bareword of two or more characters" }))
        } else {
            Ok((rest, s))
        }
    })
}

/// A quoted string's raw contents; `\"` (or `\'`) does not end it, backslashes are kept.
fn quoted_string(i: In) -> PResult<String> {
    alt((quoted('"'), quoted('\'')))(i)
}

fn quoted<'a>(q: char) -> impl FnMut(In<'a>) -> PResult<'a, String> {
    move |i: In<'a>| {
        let (rest, _) = char(q)(i)?;
        let body = rest.fragment();
        let mut escaped = false;
        for (idx, c) in body.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                let (after, content) = nom::InputTake::take_split(&rest, idx);
                let (after, _) = char(q)(after)?;
                return Ok((after, content.fragment().to_string()));
            }
        }
        Err(nom::Err::Failure(PErr { offset: i.location_offset(), expected: "a closing quote for this string" }))
    }
}

fn number(i: In) -> PResult<Value> {
    let start = i;
    let (i, text) =
        recognize(tuple((opt(char('-')), digit1, opt(pair(char('.'), take_while(|c: char| c.is_ascii_digit()))))))(i)?;
    let (i, _) = not(peek(take_while1(is_name_char)))(i)?;
    let t = *text.fragment();
    let bad = || nom::Err::Failure(PErr { offset: start.location_offset(), expected: "a valid number" });
    let v = if t.contains('.') {
        if t.ends_with('.') {
            return Err(bad());
        }
        Value::Float(t.parse().map_err(|_| bad())?)
    } else {
        Value::Integer(t.parse().map_err(|_| bad())?)
    };
    Ok((i, v))
}

fn array(i: In) -> PResult<Vec<Spanned<Value>>> {
    let (i, _) = char('[')(i)?;
    let (i, items) = preceded(ws, separated_list0(tuple((ws, char(','), ws)), spanned_value))(i)?;
    let (i, _) = preceded(ws, cut(expect("`,` or `]`", char(']'))))(i)?;
    Ok((i, items))
}

fn hash(i: In) -> PResult<Vec<(Spanned<String>, Spanned<Value>)>> {
    let (i, _) = char('{')(i)?;
    let (i, entries) = preceded(ws, many0(terminated(hash_entry, tuple((ws, opt(char(',')), ws)))))(i)?;
    let (i, _) = cut(expect("a hash entry (`key => value`) or `}`", char('}')))(i)?;
    Ok((i, entries))
}

fn hash_entry(i: In) -> PResult<(Spanned<String>, Spanned<Value>)> {
    let start = i;
    let (i, key) =
        alt((quoted_string, bareword, map(recognize(pair(opt(char('-')), digit1)), |s: In| s.fragment().to_string())))(
            i,
        )?;
    let key = Spanned { node: key, span: span_of(&start, &i) };
    let (i, _) = preceded(ws, cut(expect("`=>`", tag("=>"))))(i)?;
    let (i, v) = preceded(ws, cut(spanned_value))(i)?;
    Ok((i, (key, v)))
}

fn if_chain(i: In) -> PResult<IfChain> {
    let (i, _) = keyword("if")(i)?;
    let (i, first) = cut(preceded(ws, branch))(i)?;
    let mut branches = vec![first];
    let mut rest = i;
    loop {
        let attempt: PResult<()> = value((), tuple((ws, keyword("else"), ws, keyword("if"))))(rest);
        match attempt {
            Ok((after, ())) => {
                let (after, b) = cut(preceded(ws, branch))(after)?;
                branches.push(b);
                rest = after;
            }
            Err(nom::Err::Error(_)) => break,
            Err(e) => return Err(e),
        }
    }
    let (rest, otherwise) = opt(preceded(tuple((ws, keyword("else"))), cut(block)))(rest)?;
    Ok((rest, IfChain { branches, otherwise }))
}

fn branch(i: In) -> PResult<(Spanned<Condition>, Vec<Statement>)> {
    let start = i;
    let (i, cond) = expect("a condition", condition)(i)?;
    let cond = Spanned { node: cond, span: span_of(&start, &i) };
    let (i, body) = block(i)?;
    Ok((i, (cond, body)))
}

fn bool_op(i: In) -> PResult<BoolOp> {
    alt((
        value(BoolOp::And, keyword("and")),
        value(BoolOp::Or, keyword("or")),
        value(BoolOp::Xor, keyword("xor")),
        value(BoolOp::Nand, keyword("nand")),
    ))(i)
}

/// `expr (boolop expr)*`, with `and`/`nand` binding tighter than `or`/`xor`.
fn condition(i: In) -> PResult<Condition> {
    let (i, first) = expr(i)?;
    let (i, rest) = many0(pair(preceded(ws, bool_op), preceded(ws, cut(expect("a condition", expr)))))(i)?;
    // Fold the tight operators first, then the loose ones, both left-associative.
    let mut terms = vec![first];
    let mut loose_ops = Vec::new();
    for (op, e) in rest {
        match op {
            BoolOp::And | BoolOp::Nand => {
                let lhs = terms.pop().unwrap_or(Condition::Truthy(RValue::Number(0.0)));
                terms.push(Condition::Bool(op, Box::new(lhs), Box::new(e)));
            }
            BoolOp::Or | BoolOp::Xor => {
                loose_ops.push(op);
                terms.push(e);
            }
        }
    }
    let mut terms = terms.into_iter();
    let mut acc = terms.next().unwrap_or(Condition::Truthy(RValue::Number(0.0)));
    for (op, t) in loose_ops.into_iter().zip(terms) {
        acc = Condition::Bool(op, Box::new(acc), Box::new(t));
    }
    Ok((i, acc))
}

fn expr(i: In) -> PResult<Condition> {
    alt((paren_condition, negation, rvalue_expr))(i)
}

fn paren_condition(i: In) -> PResult<Condition> {
    let (i, _) = char('(')(i)?;
    let (i, c) = preceded(ws, condition)(i)?;
    let (i, _) = preceded(ws, expect("`)`", char(')')))(i)?;
    Ok((i, c))
}

fn negation(i: In) -> PResult<Condition> {
    let (i, _) = terminated(char('!'), not(peek(alt((char('='), char('~'))))))(i)?;
    let (i, inner) = preceded(
        ws,
        cut(expect(
            "`(` or a field reference after `!`",
            alt((paren_condition, map(selector, |s| Condition::Truthy(RValue::Field(s))))),
        )),
    )(i)?;
    Ok((i, Condition::Not(Box::new(inner))))
}

fn compare_op(i: In) -> PResult<CompareOp> {
    alt((
        value(CompareOp::Eq, tag("==")),
        value(CompareOp::Ne, tag("!=")),
        value(CompareOp::Le, tag("<=")),
        value(CompareOp::Ge, tag(">=")),
        value(CompareOp::Lt, tag("<")),
        value(CompareOp::Gt, tag(">")),
    ))(i)
}

fn rvalue_expr(i: In) -> PResult<Condition> {
    let (i, lhs) = rvalue(i)?;
    if let Ok((j, _)) = preceded(ws, keyword("in"))(i) {
        let (j, rhs) = preceded(ws, cut(expect("a value after `in`", rvalue)))(j)?;
        return Ok((j, Condition::In(lhs, rhs)));
    }
    if let Ok((j, _)) = tuple((ws, keyword("not"), ws, keyword("in")))(i) {
        let (j, rhs) = preceded(ws, cut(expect("a value after `not in`", rvalue)))(j)?;
        return Ok((j, Condition::NotIn(lhs, rhs)));
    }
    if let Ok((j, op)) = preceded(ws, compare_op)(i) {
        let (j, rhs) = preceded(ws, cut(expect("a value to compare with", rvalue)))(j)?;
        return Ok((j, Condition::Compare(op, lhs, rhs)));
    }
    if let Ok((j, negated)) = preceded(ws, alt((value(false, tag("=~")), value(true, tag("!~")))))(i) {
        let (j, _) = ws(j)?;
        let start = j;
        let (j, pattern) = cut(expect("a /regex/ or a quoted string", alt((regex_literal, quoted_string))))(j)?;
        let pattern = Spanned { node: pattern, span: span_of(&start, &j) };
        return Ok((j, Condition::Matches { value: lhs, pattern, negated }));
    }
    Ok((i, Condition::Truthy(lhs)))
}

fn rvalue(i: In) -> PResult<RValue> {
    alt((
        map(quoted_string, RValue::String),
        map(number, |v| match v {
            Value::Integer(n) => RValue::Number(n as f64),
            Value::Float(f) => RValue::Number(f),
            _ => RValue::Number(0.0),
        }),
        map(selector, RValue::Field),
        map(rvalue_array, RValue::Array),
        map(regex_literal, RValue::Regex),
    ))(i)
}

fn rvalue_array(i: In) -> PResult<Vec<RValue>> {
    let (i, _) = char('[')(i)?;
    let (i, items) = preceded(ws, separated_list0(tuple((ws, char(','), ws)), rvalue))(i)?;
    let (i, _) = preceded(ws, expect("`,` or `]`", char(']')))(i)?;
    Ok((i, items))
}

/// `[a][b]` as written (validated later as a field reference).
fn selector(i: In) -> PResult<Spanned<String>> {
    let start = i;
    let (i, text) = recognize(nom::multi::many1(tuple((char('['), is_not("[],"), char(']')))))(i)?;
    Ok((i, Spanned { node: text.fragment().to_string(), span: span_of(&start, &i) }))
}

/// `/…/`, where `\/` does not end the literal; the text is passed on as-is.
fn regex_literal(i: In) -> PResult<String> {
    let (rest, _) = char('/')(i)?;
    let body = rest.fragment();
    let mut escaped = false;
    for (idx, c) in body.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '/' {
            let (after, content) = nom::InputTake::take_split(&rest, idx);
            let (after, _) = char('/')(after)?;
            return Ok((after, content.fragment().replace("\\/", "/")));
        } else if c == '\n' {
            break;
        }
    }
    Err(nom::Err::Error(PErr { offset: i.location_offset(), expected: "a closing `/` for this regex" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plugins_values_and_comments() {
        let src = r#"
# leading comment
input { stdin { codec => json_lines { charset => "UTF-8" } } } # trailing
filter {
  grok { match => { "message" => "%{INT:n}" } tag_on_failure => ["a", 'b'] }
  mutate { add_field => { aa => 1 bb => -2.5, "c" => [1, [2]] } }
}
output { stdout {} }"#;
        let cfg = parse_config(src).unwrap();
        assert_eq!(cfg.sections.len(), 3);
        let Statement::Plugin(p) = &cfg.sections[1].body[1] else { panic!() };
        let Value::Hash(h) = &p.attributes[0].value.node else { panic!() };
        assert_eq!(h.len(), 3);
        assert_eq!(h[1].1.node, Value::Float(-2.5));
    }

    #[test]
    fn conditions_bind_and_tighter_than_or() {
        let src = r#"filter { if [a] == 1 or [b] and ![c] { drop {} } else if [d] =~ /x\/y/ { } else { } }"#;
        let cfg = parse_config(src).unwrap();
        let Statement::If(chain) = &cfg.sections[0].body[0] else { panic!() };
        let Condition::Bool(BoolOp::Or, _, rhs) = &chain.branches[0].0.node else { panic!("{:?}", chain) };
        assert!(matches!(**rhs, Condition::Bool(BoolOp::And, _, _)));
        let Condition::Matches { pattern, .. } = &chain.branches[1].0.node else { panic!() };
        assert_eq!(pattern.node, "x/y");
        assert!(chain.otherwise.is_some());
    }

    #[test]
    fn in_and_not_in() {
        let src = r#"filter { if [a] not in ["x", "y"] and "z" in [b] { } }"#;
        let cfg = parse_config(src).unwrap();
        let Statement::If(chain) = &cfg.sections[0].body[0] else { panic!() };
        let Condition::Bool(BoolOp::And, l, r) = &chain.branches[0].0.node else { panic!() };
        assert!(matches!(**l, Condition::NotIn(..)));
        assert!(matches!(**r, Condition::In(..)));
    }

    #[test]
    fn errors_point_at_the_culprit() {
        let src = "filter {\n  grok { match => }\n}\n";
        let d = parse_config(src).unwrap_err();
        assert_eq!(&src[d.span.start..d.span.start + 1], "}");
        assert!(d.message.contains("value"), "{}", d.message);
        let d = parse_config("filter { mutate { x => 1. } }").unwrap_err();
        assert!(d.message.contains("number"), "{}", d.message);
        let d = parse_config("inptu { }").unwrap_err();
        assert!(d.message.contains("`input`"), "{}", d.message);
    }
}
