//! Compiled conditions for `if / else if / else`, evaluated with Logstash semantics.

use crate::ast::{BoolOp, CompareOp, Condition as Ast, RValue, Spanned};
use crate::diagnostics::Diagnostic;
use crate::event::Event;
use crate::field_ref::FieldRef;
use crate::regex_engine::{dfa_is_match, DenseDfa, Regex};
use crate::value::Value;
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// An operand, resolved at compile time where possible.
#[derive(Debug, Clone)]
enum Operand {
    Const(Value),
    Field(FieldRef),
    List(Vec<Operand>),
}

/// A condition ready to evaluate against events.
#[derive(Debug, Clone)]
pub enum Condition {
    /// `and`/`or`/`xor`/`nand`
    Bool(BoolOp, Box<Condition>, Box<Condition>),
    /// `!`
    Not(Box<Condition>),
    /// Comparison.
    Compare(CompareOp, Box<OperandPair>),
    /// Membership, negated for `not in`.
    In(Box<OperandPair>, bool),
    /// Regex match, negated for `!~`.
    Matches(OperandBox, Box<Matcher>, bool),
    /// Truthiness.
    Truthy(OperandBox),
    /// A field tested against a constant (`[status] >= 500`, `[kind] == "edge"`,
    /// `[pop] in ["a", "b"]`, `"x" in [tags]`): most routing tests. Evaluated with the
    /// same comparisons as [`Condition::Compare`] and [`Condition::In`], without
    /// resolving the constant on every event.
    FieldVsConst(Box<FieldVsConst>),
}

/// See [`Condition::FieldVsConst`].
#[derive(Debug, Clone)]
pub struct FieldVsConst {
    field: FieldRef,
    test: ConstTest,
    constant: Value,
}

/// How [`FieldVsConst`] tests its field.
#[derive(Debug, Clone, Copy)]
enum ConstTest {
    /// `field <op> constant`.
    Compare(CompareOp),
    /// `constant <op> field`.
    CompareReversed(CompareOp),
    /// `field in constant`, negated for `not in`.
    In(bool),
    /// `constant in field`, negated for `not in`.
    Holds(bool),
}

/// How a `=~` pattern is tested. Routing conditions are mostly plain literals
/// (`/\t/`, `/^\{/`, `/:/`), which need no regex engine at all.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The text contains this literal.
    Contains(crate::literal::Finder),
    /// The text starts with this literal.
    StartsWith(String),
    /// `^C+$` or `^C*$` with a class of ASCII characters only (`/^[0-9.]+$/`): every
    /// byte must be in the class, a scan with no state carried from byte to byte.
    WholeRun(Box<WholeRun>),
    /// `C` or `C+` with a class of ASCII characters only (`/[", ]+/`): some byte is in
    /// the class.
    AnyOf(Box<[bool; 256]>),
    /// A small pattern the linear engine accepts: a dense DFA walked by hand, which
    /// stops at the first match, with the regex for texts the DFA gives up on.
    Dfa(Box<(DenseDfa, Regex)>),
    /// Anything else.
    Regex(Regex),
}

/// The class and least length of a [`Matcher::WholeRun`].
#[derive(Debug, Clone)]
pub struct WholeRun {
    allowed: [bool; 256],
    min: usize,
}

impl WholeRun {
    /// The run `^C{min,}$` when `hir` is that pattern with an ASCII-only class `C`.
    fn from_hir(hir: &Hir) -> Option<Self> {
        let HirKind::Concat(items) = hir.kind() else { return None };
        let [start, run, end] = items.as_slice() else { return None };
        let anchored =
            matches!(start.kind(), HirKind::Look(Look::Start)) && matches!(end.kind(), HirKind::Look(Look::End));
        let HirKind::Repetition(r) = run.kind() else { return None };
        if !anchored || r.max.is_some() {
            return None;
        }
        Some(Self { allowed: ascii_only_class(&r.sub)?, min: r.min as usize })
    }

    fn is_match(&self, text: &[u8]) -> bool {
        text.len() >= self.min && text.iter().all(|&b| self.allowed[usize::from(b)])
    }
}

/// The members of a character class as a byte table, when all of them are ASCII (so a
/// non-ASCII byte is never one of them).
fn ascii_only_class(hir: &Hir) -> Option<[bool; 256]> {
    let ranges: Vec<(u32, u32)> = match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => c.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect(),
        HirKind::Class(Class::Bytes(c)) => c.ranges().iter().map(|r| (r.start().into(), r.end().into())).collect(),
        _ => return None,
    };
    if ranges.iter().any(|&(_, end)| end > 0x7f) {
        return None;
    }
    let mut allowed = [false; 256];
    for (lo, hi) in ranges {
        for b in lo..=hi {
            allowed[b as usize] = true;
        }
    }
    Some(allowed)
}

/// The class of `C` or `C{1,…}`: the pattern matches somewhere exactly when one of the
/// class's characters occurs.
fn any_of(hir: &Hir) -> Option<[bool; 256]> {
    match hir.kind() {
        HirKind::Repetition(r) if r.min == 1 => ascii_only_class(&r.sub),
        _ => ascii_only_class(hir),
    }
}

/// Largest dense DFA built for a condition; bigger patterns run on the regex engine.
const DFA_SIZE_LIMIT: usize = 256 * 1024;

/// A dense DFA for `pattern`, when one can be built within the size limit. Unicode word
/// boundaries make it give up on non-ASCII bytes (see [`dfa_is_match`]); other
/// look-around makes the build fail.
fn dense_dfa(pattern: &str) -> Option<DenseDfa> {
    use regex_automata::dfa::dense;
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .unicode_word_boundary(true)
                .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
        )
        .build(pattern)
        .ok()
}

impl Matcher {
    /// The fastest test that answers like the regex `pattern` does.
    pub fn new(pattern: &str) -> Result<Self, crate::regex_engine::RegexError> {
        let regex = Regex::new(pattern)?;
        let literal = |h: &Hir| match h.kind() {
            HirKind::Literal(l) => std::str::from_utf8(&l.0).ok().map(str::to_string),
            _ => None,
        };
        let Ok(hir) = regex_syntax::parse(pattern) else { return Ok(Matcher::Regex(regex)) };
        let simple = match hir.kind() {
            HirKind::Literal(_) => literal(&hir).map(|l| Matcher::Contains(crate::literal::Finder::new(&l))),
            HirKind::Concat(items) => match items.as_slice() {
                [start, lit] if matches!(start.kind(), HirKind::Look(Look::Start)) => {
                    literal(lit).map(Matcher::StartsWith)
                }
                _ => None,
            },
            _ => None,
        };
        let simple = simple
            .or_else(|| WholeRun::from_hir(&hir).map(|r| Matcher::WholeRun(Box::new(r))))
            .or_else(|| any_of(&hir).map(|c| Matcher::AnyOf(Box::new(c))));
        if let Some(simple) = simple {
            return Ok(simple);
        }
        let dfa = matches!(regex, Regex::Linear(_)).then(|| dense_dfa(pattern)).flatten();
        Ok(match dfa {
            Some(dfa) => Matcher::Dfa(Box::new((dfa, regex))),
            None => Matcher::Regex(regex),
        })
    }

    /// Whether the pattern matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        match self {
            Matcher::Contains(l) => l.is_in(text.as_bytes()),
            Matcher::StartsWith(l) => crate::literal::starts_with(text.as_bytes(), l.as_bytes()),
            Matcher::WholeRun(r) => r.is_match(text.as_bytes()),
            Matcher::AnyOf(class) => text.bytes().any(|b| class[usize::from(b)]),
            Matcher::Dfa(both) => {
                dfa_is_match(&both.0, &regex_automata::Input::new(text)).unwrap_or_else(|| both.1.is_match(text))
            }
            Matcher::Regex(r) => r.is_match(text),
        }
    }
}

/// Two operands of a binary condition.
#[derive(Debug, Clone)]
pub struct OperandPair(Operand, Operand);

/// One operand of a unary condition.
#[derive(Debug, Clone)]
pub struct OperandBox(Operand);

impl Condition {
    /// Compiles a parsed condition; bad field references and regexes become diagnostics.
    pub fn compile(c: &Spanned<Ast>, errors: &mut Vec<Diagnostic>) -> Condition {
        compile(&c.node, errors)
    }

    /// Evaluates against `event`.
    pub fn eval(&self, event: &Event) -> bool {
        match self {
            Condition::Bool(op, a, b) => {
                let l = a.eval(event);
                match op {
                    BoolOp::And => l && b.eval(event),
                    BoolOp::Or => l || b.eval(event),
                    BoolOp::Xor => l != b.eval(event),
                    BoolOp::Nand => !(l && b.eval(event)),
                }
            }
            Condition::Not(c) => !c.eval(event),
            Condition::Compare(op, pair) => {
                let (mut list_a, mut list_b) = (None, None);
                let (a, b) = (resolve(&pair.0, event, &mut list_a), resolve(&pair.1, event, &mut list_b));
                compare(*op, a, b)
            }
            Condition::In(pair, negated) => {
                let (mut list_a, mut list_b) = (None, None);
                let (a, b) = (resolve(&pair.0, event, &mut list_a), resolve(&pair.1, event, &mut list_b));
                contains(b, a) != *negated
            }
            Condition::Matches(v, re, negated) => {
                let mut list = None;
                let matched = match resolve(&v.0, event, &mut list) {
                    Some(Value::String(s)) => re.is_match(s),
                    Some(n @ (Value::Int(_) | Value::Float(_))) => number_matches(re, n),
                    _ => false,
                };
                matched != *negated
            }
            Condition::Truthy(v) => truthy(resolve(&v.0, event, &mut None)),
            Condition::FieldVsConst(t) => {
                let (field, constant) = (event.get(&t.field), Some(&t.constant));
                match t.test {
                    ConstTest::Compare(op) => compare(op, field, constant),
                    ConstTest::CompareReversed(op) => compare(op, constant, field),
                    ConstTest::In(negated) => contains(constant, field) != negated,
                    ConstTest::Holds(negated) => contains(field, constant) != negated,
                }
            }
        }
    }
}

fn compile(c: &Ast, errors: &mut Vec<Diagnostic>) -> Condition {
    match c {
        Ast::Bool(op, a, b) => Condition::Bool(*op, Box::new(compile(a, errors)), Box::new(compile(b, errors))),
        Ast::Not(inner) => Condition::Not(Box::new(compile(inner, errors))),
        Ast::Compare(op, a, b) => binary(operand(a, errors), operand(b, errors), BinaryTest::Compare(*op)),
        Ast::In(a, b) => binary(operand(a, errors), operand(b, errors), BinaryTest::In(false)),
        Ast::NotIn(a, b) => binary(operand(a, errors), operand(b, errors), BinaryTest::In(true)),
        Ast::Matches { value, pattern, negated } => {
            let re = match Matcher::new(&pattern.node) {
                Ok(m) => m,
                Err(e) => {
                    errors.push(Diagnostic::new(e.to_string(), pattern.span.clone(), "this regex does not compile"));
                    // The config is rejected; this placeholder never runs.
                    Matcher::StartsWith(String::new())
                }
            };
            Condition::Matches(OperandBox(operand(value, errors)), Box::new(re), *negated)
        }
        Ast::Truthy(v) => Condition::Truthy(OperandBox(operand(v, errors))),
    }
}

/// A binary test before compilation.
enum BinaryTest {
    /// `==`, `!=`, `<`, `>`, `<=`, `>=`.
    Compare(CompareOp),
    /// `in`, negated for `not in`.
    In(bool),
}

/// A comparison or membership test; a field against a constant gets the direct form.
fn binary(a: Operand, b: Operand, test: BinaryTest) -> Condition {
    let direct = |field, test, constant| Condition::FieldVsConst(Box::new(FieldVsConst { field, test, constant }));
    match (a, b, test) {
        (Operand::Field(field), Operand::Const(constant), BinaryTest::Compare(op)) => {
            direct(field, ConstTest::Compare(op), constant)
        }
        (Operand::Const(constant), Operand::Field(field), BinaryTest::Compare(op)) => {
            direct(field, ConstTest::CompareReversed(op), constant)
        }
        (Operand::Field(field), Operand::Const(constant), BinaryTest::In(negated)) => {
            direct(field, ConstTest::In(negated), constant)
        }
        (Operand::Const(constant), Operand::Field(field), BinaryTest::In(negated)) => {
            direct(field, ConstTest::Holds(negated), constant)
        }
        (a, b, BinaryTest::Compare(op)) => Condition::Compare(op, Box::new(OperandPair(a, b))),
        (a, b, BinaryTest::In(negated)) => Condition::In(Box::new(OperandPair(a, b)), negated),
    }
}

fn operand(v: &RValue, errors: &mut Vec<Diagnostic>) -> Operand {
    match v {
        RValue::String(s) | RValue::Regex(s) => Operand::Const(Value::from(s.as_str())),
        RValue::Number(n) => Operand::Const(number(*n)),
        RValue::Field(f) => match FieldRef::parse(&f.node) {
            Ok(r) => Operand::Field(r),
            Err(e) => {
                errors.push(Diagnostic::new(e.to_string(), f.span.clone(), "invalid field reference"));
                Operand::Const(Value::Null)
            }
        },
        RValue::Array(items) => {
            let items: Vec<Operand> = items.iter().map(|i| operand(i, errors)).collect();
            // A list of constants is itself a constant: no array is built per event.
            if items.iter().all(|i| matches!(i, Operand::Const(_))) {
                Operand::Const(Value::Array(
                    items.into_iter().filter_map(|i| if let Operand::Const(v) = i { Some(v) } else { None }).collect(),
                ))
            } else {
                Operand::List(items)
            }
        }
    }
}

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        Value::from(n)
    }
}

/// The value of an operand. A list with field references is built per event, into
/// `list`; constants and fields are borrowed.
#[inline(always)]
fn resolve<'a>(o: &'a Operand, event: &'a Event, list: &'a mut Option<Value>) -> Option<&'a Value> {
    match o {
        Operand::Const(v) => Some(v),
        Operand::Field(r) => event.get(r),
        Operand::List(items) => Some(build_list(items, event, list)),
    }
}

/// A list operand with field references, built into `list`. Rare, and kept out of line
/// so that evaluating the common operands stays a short function.
#[cold]
#[inline(never)]
fn build_list<'a>(items: &[Operand], event: &Event, list: &'a mut Option<Value>) -> &'a Value {
    list.insert(Value::Array(
        items.iter().map(|i| resolve(i, event, &mut None).cloned().unwrap_or(Value::Null)).collect(),
    ))
}

/// `=~` on a number: Logstash matches its text.
#[cold]
#[inline(never)]
fn number_matches(re: &Matcher, n: &Value) -> bool {
    re.is_match(&n.to_string())
}

fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Null) | Some(Value::Bool(false)))
}

#[inline(always)]
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => a.as_f64() == b.as_f64(),
        // Compared values are short (a status, a dataset name, a tag), where comparing
        // inline beats a call to `memcmp`.
        (Value::String(x), Value::String(y)) => {
            x.len() == y.len() && crate::literal::starts_with(x.as_bytes(), y.as_bytes())
        }
        _ => a == b,
    }
}

fn compare(op: CompareOp, a: Option<&Value>, b: Option<&Value>) -> bool {
    use std::cmp::Ordering::*;
    let eq = || match (a, b) {
        (Some(x), Some(y)) => equal(x, y),
        (None, None) => true,
        (None, Some(Value::Null)) | (Some(Value::Null), None) => true,
        _ => false,
    };
    let ordering = || match (a, b) {
        (Some(x @ (Value::Int(_) | Value::Float(_))), Some(y @ (Value::Int(_) | Value::Float(_)))) => {
            x.as_f64().partial_cmp(&y.as_f64())
        }
        (Some(Value::String(x)), Some(Value::String(y))) => Some(x.cmp(y)),
        _ => None,
    };
    // Only what the operator needs is computed.
    match op {
        CompareOp::Eq => eq(),
        CompareOp::Ne => !eq(),
        CompareOp::Lt => ordering() == Some(Less),
        CompareOp::Gt => ordering() == Some(Greater),
        CompareOp::Le => matches!(ordering(), Some(Less | Equal)),
        CompareOp::Ge => matches!(ordering(), Some(Greater | Equal)),
    }
}

/// `needle in haystack`: element of an array, or substring of a string.
fn contains(haystack: Option<&Value>, needle: Option<&Value>) -> bool {
    let Some(needle) = needle else { return false };
    match haystack {
        Some(Value::Array(items)) => items.iter().any(|i| equal(i, needle)),
        Some(Value::String(s)) => match needle {
            Value::String(n) => s.contains(n.as_str()),
            _ => false,
        },
        Some(Value::Object(m)) => needle.as_str().is_some_and(|k| m.contains_key(k)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{Condition, Matcher};
    use crate::event::Event;
    use crate::value::{j, Value};
    use serde_json::json;

    #[test]
    fn operands_are_fields_constants_and_lists() {
        let Value::Object(fields) = j(json!({
            "status": 503, "ratio": 0.5, "pop": "ams1", "tags": ["a", "b"], "other": "ams1",
            "nested": {"code": "x"}, "empty": "", "no": false
        })) else {
            unreachable!()
        };
        let event = Event::from_fields(fields);
        let eval = |text: &str| {
            let ast = crate::parser::parse_condition(text).unwrap();
            let mut errors = Vec::new();
            let c = Condition::compile(&ast, &mut errors);
            assert!(errors.is_empty(), "{errors:?}");
            c.eval(&event)
        };
        for (text, want) in [
            ("[status] >= 500", true),
            ("[status] == 503.0", true),
            ("[ratio] < 1", true),
            ("[pop] == [other]", true),
            ("[pop] != \"ams1\"", false),
            ("[missing] == [also_missing]", true),
            ("[pop] in [\"fra1\", \"ams1\"]", true),
            ("[pop] in [[other], \"x\"]", true),
            ("[pop] in [[nested][code], \"x\"]", false),
            ("\"a\" in [tags]", true),
            ("\"c\" not in [tags]", true),
            ("\"code\" in [nested]", true),
            ("\"ms\" in [pop]", true),
            ("[pop] =~ /^am/", true),
            ("[status] =~ /^5/", true),
            ("[missing] !~ /x/", true),
            ("[nested][code]", true),
            ("[empty]", true),
            ("[no]", false),
            ("[missing] or [pop] == \"ams1\"", true),
        ] {
            assert_eq!(eval(text), want, "{text}");
        }
    }

    #[test]
    fn field_against_constant_answers_as_the_general_form_does() {
        use super::{Operand, OperandPair};
        use crate::ast::CompareOp::*;
        use crate::field_ref::FieldRef;
        let values = [
            json!(503),
            json!(503.0),
            json!(0.5),
            json!("503"),
            json!("ams1"),
            json!(""),
            json!(null),
            json!(true),
            json!(["a", "ams1"]),
            json!({"ams1": 1}),
        ];
        let constants = [json!(503), json!(500.5), json!("ams1"), json!("503"), json!(["ams1", "fra1"]), json!(null)];
        let field = || Operand::Field(FieldRef::parse("[f]").unwrap());
        let constant = |c: &serde_json::Value| Operand::Const(j(c.clone()));
        for v in values.iter().map(Some).chain([None]) {
            let mut doc = json!({});
            if let Some(v) = v {
                doc["f"] = v.clone();
            }
            let Value::Object(fields) = j(doc) else { unreachable!() };
            let event = Event::from_fields(fields);
            for c in &constants {
                let pairs = [(field(), constant(c)), (constant(c), field())];
                for (a, b) in pairs {
                    for op in [Eq, Ne, Lt, Gt, Le, Ge] {
                        let general = Condition::Compare(op, Box::new(OperandPair(a.clone(), b.clone())));
                        let direct = super::binary(a.clone(), b.clone(), super::BinaryTest::Compare(op));
                        assert!(matches!(direct, Condition::FieldVsConst(_)));
                        assert_eq!(direct.eval(&event), general.eval(&event), "{v:?} {op:?} {c} ({a:?})");
                    }
                    for negated in [false, true] {
                        let general = Condition::In(Box::new(OperandPair(a.clone(), b.clone())), negated);
                        let direct = super::binary(a.clone(), b.clone(), super::BinaryTest::In(negated));
                        assert!(matches!(direct, Condition::FieldVsConst(_)));
                        assert_eq!(direct.eval(&event), general.eval(&event), "{v:?} in {c} ({a:?}, {negated})");
                    }
                }
            }
        }
    }

    #[test]
    fn literal_patterns_skip_the_regex_engine_with_the_same_answers() {
        let cases = [
            (r"\t", "a\tb", true),
            (r"^\{", "{\"a\":1}", true),
            (r"^\{", " {", false),
            (":", "2001:db8::1", true),
            ("^#", "no # at start", false),
            (r"^[0-9.]+$|:", "10.0.0.1", true),
            (r"^[0-9.]+$|:", "10.0.0.x", false),
            (r"^[0-9.]+$|:", "fe80::1", true),
            (r"^[0-9.]+$|:", "", false),
            ("(?i)ERROR", "an error", true),
            ("(?i)ERROR", "an érror", false),
            (r"\bfail\b", "did fail.", true),
            (r"\bfail\b", "éfail", false),
            (r"\bfail\b", "failure", false),
            (r"^$", "", true),
            ("x*", "abc", true),
            (r"[^\x00-\x7f]", "abc", false),
            (r"[^\x00-\x7f]", "abé", true),
            (r"^[0-9.]+$", "10.0.0.1", true),
            (r"^[0-9.]+$", "10.0.0.x", false),
            (r"^[0-9.]+$", "", false),
            (r"^[0-9.]+$", "1é", false),
            (r"^[0-9a-f:]*$", "", true),
            (r"^[0-9a-f:]*$", "fe80::1", true),
            (r"^[0-9a-f:]*$", "FE80::1", false),
            (r"(?i)^[0-9a-f:]*$", "FE80::1", true),
            (r"^\d+$", "١٢", true),
            (r"^[^x]+$", "é", true),
            (r"^[0-9]+$", "12\n", false),
            (r#"[", ]+"#, "198.51.100.7", false),
            (r#"[", ]+"#, "198.51.100.7, 10.0.0.1", true),
            (r#"[", ]+"#, "", false),
            ("[a-c]", "xxbxx", true),
            ("[a-c]{1,2}", "xxcxx", true),
            ("[a-c]{2}", "xxcxx", false),
            ("[^a]", "é", true),
        ];
        for (pattern, text, want) in cases {
            let m = Matcher::new(pattern).unwrap();
            assert_eq!(m.is_match(text), want, "{pattern} on {text}");
            assert_eq!(crate::regex_engine::Regex::new(pattern).unwrap().is_match(text), want);
        }
        assert!(matches!(Matcher::new(r"\t").unwrap(), Matcher::Contains(_)));
        assert!(matches!(Matcher::new(r"^\{").unwrap(), Matcher::StartsWith(_)));
        assert!(matches!(Matcher::new(r"^[0-9.]+$|:").unwrap(), Matcher::Dfa(_)));
        assert!(matches!(Matcher::new(r"(?<=a)b").unwrap(), Matcher::Regex(_)));
        assert!(matches!(Matcher::new(r"^[0-9.]+$").unwrap(), Matcher::WholeRun(_)));
        assert!(matches!(Matcher::new(r#"[", ]+"#).unwrap(), Matcher::AnyOf(_)));
        assert!(!matches!(Matcher::new("[a-c]{2}").unwrap(), Matcher::AnyOf(_)), "two in a row");
        assert!(!matches!(Matcher::new(r"^\d+$").unwrap(), Matcher::WholeRun(_)), "Unicode digits");
        assert!(!matches!(Matcher::new(r"^[^x]+$").unwrap(), Matcher::WholeRun(_)), "a class beyond ASCII");
    }
}
