//! Output codecs: `json_lines` (one document per line), `json`, `rubydebug`, and `line`
//! with a sprintf `format`.

use pipeline_dsl::ast::Value as Ast;
use pipeline_dsl::event::Event;
use pipeline_dsl::settings::Settings;
use pipeline_dsl::sprintf::Template;
use pipeline_dsl::value::Value;

/// How an event is encoded.
pub enum Codec {
    /// Compact JSON and a newline.
    JsonLines,
    /// Logstash's human-readable hash dump.
    RubyDebug,
    /// A sprintf format and a newline.
    Line(Template),
}

impl Codec {
    /// Reads `codec` (a name, or a plugin with options such as `line { format => … }`).
    pub fn from_settings(s: &mut Settings, default: &str) -> Codec {
        let Some(v) = s.raw("codec") else { return Codec::named(default).unwrap_or(Codec::JsonLines) };
        let (name, format) = match &v.node {
            Ast::Bareword(n) | Ast::String(n) => (n.clone(), None),
            Ast::Plugin(p) => {
                let mut inner = Settings::new(p);
                let format = inner.string("format").map(|f| f.node);
                inner.accept(&["metadata", "charset", "delimiter"]);
                for d in inner.finish() {
                    s.error(d.message, d.span, d.label);
                }
                (p.name.node.clone(), format)
            }
            _ => {
                s.error("`codec` must be a codec name", v.span.clone(), "expected json_lines, json, rubydebug or line");
                return Codec::JsonLines;
            }
        };
        match (name.as_str(), format) {
            ("line", Some(f)) => Codec::Line(Template::new(&f)),
            (n, _) => Codec::named(n).unwrap_or_else(|| {
                s.error(
                    format!("unsupported codec `{n}`"),
                    v.span.clone(),
                    "expected json_lines, json, rubydebug or line",
                );
                Codec::JsonLines
            }),
        }
    }

    fn named(name: &str) -> Option<Codec> {
        Some(match name {
            "json_lines" | "json" => Codec::JsonLines,
            "rubydebug" => Codec::RubyDebug,
            "line" => Codec::Line(Template::new("%{message}")),
            _ => return None,
        })
    }

    /// Encodes `event` into `out`.
    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) {
        match self {
            Codec::JsonLines => {
                pipeline_dsl::json_writer::write_map(out, event.fields());
                out.push(b'\n');
            }
            Codec::Line(t) => {
                out.extend_from_slice(t.render(event).as_bytes());
                out.push(b'\n');
            }
            Codec::RubyDebug => {
                let mut text = String::new();
                ruby(&Value::Object(event.fields().clone()), 0, &mut text);
                text.push('\n');
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
}

fn ruby(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) => {
            out.push_str("{\n");
            let width = m.keys().map(|k| k.len() + 2).max().unwrap_or(0);
            for (k, v) in m {
                let key = format!("\"{k}\"");
                out.push_str(&" ".repeat(indent + 4 + width - key.len()));
                out.push_str(&key);
                out.push_str(" => ");
                ruby(v, indent + 4 + width + 4, out);
                out.push('\n');
            }
            out.push_str(&" ".repeat(indent));
            out.push('}');
        }
        Value::Array(a) => {
            out.push_str("[\n");
            for (i, v) in a.iter().enumerate() {
                out.push_str(&format!("{}[{i}] ", " ".repeat(indent + 4)));
                ruby(v, indent + 8, out);
                out.push('\n');
            }
            out.push_str(&" ".repeat(indent));
            out.push(']');
        }
        Value::Null => out.push_str("nil"),
        other => out.push_str(&other.to_string()),
    }
}
