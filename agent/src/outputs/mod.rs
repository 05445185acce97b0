//! Outputs: where documents go. `stdout` and `file` for now; Elasticsearch arrives with
//! issue 3.

use pipeline_dsl::diagnostics::Diagnostic;
use pipeline_dsl::event::Event;
use pipeline_dsl::pipeline::PluginDecl;
use pipeline_dsl::settings::Settings;

pub mod codec;
pub mod file;
pub mod stdout;

/// Output plugin names logship understands.
pub const OUTPUT_NAMES: &[&str] = &["stdout", "file"];

/// A built output.
pub enum Output {
    /// Standard output.
    Stdout(stdout::StdoutOutput),
    /// Files named by a sprintf path.
    File(file::FileOutput),
}

impl Output {
    /// Writes one event.
    pub fn write(&mut self, event: &Event) -> std::io::Result<()> {
        match self {
            Output::Stdout(o) => o.write(event),
            Output::File(o) => o.write(event),
        }
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Stdout(o) => o.flush(),
            Output::File(o) => o.flush(),
        }
    }
}

/// Builds an output from its declaration, collecting diagnostics.
pub fn build(decl: &PluginDecl, errors: &mut Vec<(usize, Diagnostic)>) -> Option<Output> {
    let mut s: Settings = decl.settings();
    s.accept(&["id", "workers", "enable_metric"]);
    let out = match decl.plugin.name.node.as_str() {
        "stdout" => Some(Output::Stdout(stdout::StdoutOutput::from_settings(&mut s))),
        "file" => file::FileOutput::from_settings(&mut s).map(Output::File),
        _ => None,
    };
    errors.extend(s.finish().into_iter().map(|d| (decl.file, d)));
    out
}
