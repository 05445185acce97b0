//! `math`: arithmetic between fields and constants, compatible with the community
//! `logstash-filter-math` plugin: `calculate => [[ "*", "[time]", 1000000000, "[event][duration]" ]]`.
//!
//! Logship needs it to express ECS `event.duration` (nanoseconds) from logs that record
//! seconds. Results that are whole numbers up to floating-point error are stored as
//! integers, so `0.107 * 1e9` becomes `107000000`, not `106999999.99999999`.

use super::{failure_tags, Filter, Outcome};
use crate::ast::{Spanned, Value as Ast};
use crate::event::Event;
use crate::field_ref::FieldRef;
use crate::settings::Settings;
use crate::value::Value;

#[derive(Debug, Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

#[derive(Debug, Clone)]
enum Operand {
    Field(FieldRef),
    Const(f64),
}

/// The `math` filter.
pub struct Math {
    steps: Vec<(Op, Operand, Operand, FieldRef)>,
    tag_on_failure: Vec<String>,
}

impl Math {
    /// Reads `calculate` (a list of `[op, left, right, target]`) and `tag_on_failure`.
    pub fn from_settings(s: &mut Settings) -> Self {
        let mut steps = Vec::new();
        if let Some(v) = s.raw("calculate") {
            let rows: Vec<Spanned<Ast>> = match &v.node {
                Ast::Array(items) if items.iter().all(|i| matches!(i.node, Ast::Array(_))) => items.clone(),
                Ast::Array(_) => vec![v.clone()],
                _ => Vec::new(),
            };
            for row in rows {
                match parse_row(&row) {
                    Ok(step) => steps.push(step),
                    Err(msg) => s.error(msg, row.span.clone(), "expected [operator, left, right, target]"),
                }
            }
        } else {
            s.error(
                "`math` needs `calculate => [[op, left, right, target]]`",
                s.plugin_span(),
                "no `calculate` setting",
            );
        }
        Self { steps, tag_on_failure: failure_tags(s, "tag_on_failure", "_mathfailure") }
    }
}

fn parse_row(row: &Spanned<Ast>) -> Result<(Op, Operand, Operand, FieldRef), String> {
    let Ast::Array(items) = &row.node else { return Err("a calculation must be an array".into()) };
    if items.len() != 4 {
        return Err(format!("a calculation has 4 elements, this one has {}", items.len()));
    }
    let text = |v: &Ast| crate::settings::scalar_text(v).unwrap_or_default();
    let op = match text(&items[0].node).as_str() {
        "add" | "+" | "plus" => Op::Add,
        "sub" | "-" | "minus" => Op::Sub,
        "mpx" | "*" | "times" | "multiply" => Op::Mul,
        "div" | "/" | "divide" => Op::Div,
        "mod" | "%" | "modulo" => Op::Mod,
        "exp" | "**" | "pow" => Op::Pow,
        other => return Err(format!("unknown math operator `{other}`")),
    };
    let operand = |v: &Ast| -> Result<Operand, String> {
        match v {
            Ast::Integer(n) => Ok(Operand::Const(*n as f64)),
            Ast::Float(f) => Ok(Operand::Const(*f)),
            other => {
                let t = text(other);
                match t.parse::<f64>() {
                    Ok(f) => Ok(Operand::Const(f)),
                    Err(_) => FieldRef::parse(&t).map(Operand::Field).map_err(|e| e.to_string()),
                }
            }
        }
    };
    let target = FieldRef::parse(&text(&items[3].node)).map_err(|e| e.to_string())?;
    Ok((op, operand(&items[1].node)?, operand(&items[2].node)?, target))
}

fn resolve(o: &Operand, event: &Event) -> Option<f64> {
    match o {
        Operand::Const(c) => Some(*c),
        Operand::Field(r) => match event.get(r)? {
            n @ (Value::Int(_) | Value::Float(_)) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        },
    }
}

/// Stores whole results as integers (within floating-point error), others as floats.
fn number(x: f64) -> Value {
    let rounded = x.round();
    if (x - rounded).abs() <= 1e-6 * x.abs().max(1.0) && rounded.abs() < 9.0e15 {
        Value::from(rounded as i64)
    } else {
        Value::from(x)
    }
}

impl Filter for Math {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        let mut applied = false;
        for (op, l, r, target) in &self.steps {
            let (Some(a), Some(b)) = (resolve(l, event), resolve(r, event)) else { continue };
            let result = match op {
                Op::Add => a + b,
                Op::Sub => a - b,
                Op::Mul => a * b,
                Op::Div | Op::Mod if b == 0.0 => {
                    for t in &self.tag_on_failure {
                        event.add_tag(t);
                    }
                    continue;
                }
                Op::Div => a / b,
                Op::Mod => a % b,
                Op::Pow => a.powf(b),
            };
            if result.is_finite() {
                event.set(target, number(result));
                applied = true;
            }
        }
        Outcome::applied_if(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::number;
    use crate::value::j;
    use serde_json::json;

    #[test]
    fn whole_results_become_integers() {
        assert_eq!(number(0.107 * 1e9), j(json!(107000000)));
        assert_eq!(number(0.5), j(json!(0.5)));
    }
}
