//! Diagnostics for configs: file:line:col, the offending line with a caret, and a hint.
//!
//! Parse and compile errors are collected as [`Diagnostic`]s carrying a byte span; they
//! are rendered with `ariadne` so a user sees exactly where the problem is.

use crate::ast::Span;
use std::fmt;

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong.
    pub message: String,
    /// Where, as a byte range into the source.
    pub span: Span,
    /// A label shown under the caret (what was expected, or a hint).
    pub label: String,
}

impl Diagnostic {
    /// A diagnostic at `span`.
    pub fn new(message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Self { message: message.into(), span, label: label.into() }
    }
}

/// A set of diagnostics for one source file, ready to be printed.
#[derive(Debug, Clone)]
pub struct SourceDiagnostics {
    /// Name of the file (as given on the command line).
    pub path: String,
    /// Full source text.
    pub source: String,
    /// Problems found, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..source.floor_char_boundary_compat(offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

impl SourceDiagnostics {
    /// Renders every diagnostic: a `path:line:col: message` headline followed by the
    /// source line with a caret (via ariadne), without colours so logs stay readable.
    pub fn render(&self) -> String {
        use ariadne::{Config, Label, Report, ReportKind, Source};
        let mut out = Vec::new();
        for d in &self.diagnostics {
            let (line, col) = line_col(&self.source, d.span.start);
            let headline = format!("{}:{}:{}: {}\n", self.path, line, col, d.message);
            out.extend_from_slice(headline.as_bytes());
            // ariadne counts spans in characters.
            let start = self.source[..self.source.floor_char_boundary_compat(d.span.start)].chars().count();
            let len = self
                .source
                .get(d.span.start.min(self.source.len())..d.span.end.min(self.source.len()))
                .map_or(1, |s| s.chars().count().max(1));
            let span = (self.path.as_str(), start..start + len);
            let report = Report::build(ReportKind::Error, span.clone())
                .with_config(Config::default().with_color(false))
                .with_message(&d.message)
                .with_label(Label::new(span).with_message(&d.label))
                .finish();
            if report.write((self.path.as_str(), Source::from(self.source.as_str())), &mut out).is_err() {
                out.extend_from_slice(b"(could not render source excerpt)\n");
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl fmt::Display for SourceDiagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for SourceDiagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn render_shows_position_line_and_caret() {
        let d = SourceDiagnostics {
            path: "p.conf".into(),
            source: "filter {\n  grok { match => }\n}\n".into(),
            diagnostics: vec![Diagnostic::new("expected a value", 26..27, "value expected here")],
        };
        let text = d.render();
        assert!(text.starts_with("p.conf:2:18: expected a value"), "{text}");
        assert!(text.contains("grok { match => }"), "{text}");
        assert!(text.contains('^') || text.contains('┬'), "{text}");
    }
}
