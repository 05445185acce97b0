//! `csv`: splits a delimited line into named columns (tab-separated for CloudFront).

use super::{failure_tags, field_or, Filter, Outcome};
use crate::event::Event;
use crate::field_ref::FieldRef;
use crate::filters::mutate::{convert_value, Conversion};
use crate::settings::Settings;
use crate::value::Value;

/// The `csv` filter.
pub struct Csv {
    source: FieldRef,
    target: Option<FieldRef>,
    columns: Vec<FieldRef>,
    separator: char,
    quote_char: char,
    skip_empty_columns: bool,
    skip_header: bool,
    autogenerate_column_names: bool,
    convert: Vec<(String, Conversion)>,
    tag_on_failure: Vec<String>,
}

impl Csv {
    /// Reads `source`, `target`, `columns`, `separator`, `quote_char`, `skip_empty_columns`,
    /// `skip_header`, `autogenerate_column_names`, `convert`, `tag_on_failure`.
    pub fn from_settings(s: &mut Settings) -> Self {
        let columns = s.strings("columns").iter().filter_map(|c| s.parse_field_ref(c)).collect();
        let separator = single_char(s, "separator", ',');
        let quote_char = single_char(s, "quote_char", '"');
        let mut convert = Vec::new();
        for (k, v) in s.string_hash("convert") {
            match Conversion::parse(&v.node) {
                Some(c) => convert.push((k.node, c)),
                None => s.error(
                    format!("unknown conversion `{}`", v.node),
                    v.span,
                    "expected integer, float, boolean or string",
                ),
            }
        }
        s.accept(&["autodetect_column_names"]);
        Self {
            source: field_or(s, "source", "message"),
            target: s.field_ref("target"),
            columns,
            separator,
            quote_char,
            skip_empty_columns: s.bool_or("skip_empty_columns", false),
            skip_header: s.bool_or("skip_header", false),
            autogenerate_column_names: s.bool_or("autogenerate_column_names", true),
            convert,
            tag_on_failure: failure_tags(s, "tag_on_failure", "_csvparsefailure"),
        }
    }
}

fn single_char(s: &mut Settings, key: &str, default: char) -> char {
    let Some(v) = s.string(key) else { return default };
    // `\t` written in a config without escape support still means a tab here.
    let text = if v.node == "\\t" { "\t".to_string() } else { v.node.clone() };
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => c,
        _ => {
            s.error(format!("`{key}` must be a single character"), v.span, "expected one character");
            default
        }
    }
}

/// Splits one line into fields, honouring quotes; `None` on an unterminated quote.
pub fn split_line(line: &str, sep: char, quote: char) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == quote {
                if chars.peek() == Some(&quote) {
                    field.push(quote);
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
        } else if c == sep {
            out.push(std::mem::take(&mut field));
            at_start = true;
            continue;
        } else if c == quote && at_start {
            in_quotes = true;
        } else {
            field.push(c);
        }
        at_start = false;
    }
    if in_quotes {
        return None;
    }
    out.push(field);
    Some(out)
}

impl Filter for Csv {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        let Some(line) = event.get_str(&self.source) else { return Outcome::Skipped };
        let Some(values) = split_line(line.trim_end_matches(['\r', '\n']), self.separator, self.quote_char) else {
            for t in &self.tag_on_failure {
                event.add_tag(t);
            }
            return Outcome::Skipped;
        };
        if self.skip_header
            && !self.columns.is_empty()
            && values.iter().zip(&self.columns).all(|(v, c)| c.to_string() == *v)
        {
            return Outcome::Drop;
        }
        for (i, v) in values.into_iter().enumerate() {
            if self.skip_empty_columns && v.is_empty() {
                continue;
            }
            let column = match self.columns.get(i) {
                Some(c) => c.clone(),
                None if self.autogenerate_column_names => FieldRef::top_level(&format!("column{}", i + 1)),
                None => continue,
            };
            let name = column.to_string();
            let mut value = Value::from(v);
            if let Some((_, conv)) = self.convert.iter().find(|(k, _)| *k == name) {
                value = convert_value(&value, *conv).unwrap_or(value);
            }
            let dest = column.within(self.target.as_ref());
            event.set(&dest, value);
        }
        Outcome::Applied
    }
}

#[cfg(test)]
mod tests {
    use super::split_line;

    #[test]
    fn quotes_and_doubled_quotes() {
        assert_eq!(split_line(r#"a,"b,c","d""e""#, ',', '"').unwrap(), ["a", "b,c", "d\"e"]);
        assert_eq!(split_line("a\t-\t", '\t', '"').unwrap(), ["a", "-", ""]);
        assert!(split_line(r#"a,"b"#, ',', '"').is_none());
    }
}
