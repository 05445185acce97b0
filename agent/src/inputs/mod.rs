//! Inputs: where lines come from. Until the long-running agent lands (issue 3), every
//! input reads its source once, start to end.

use pipeline_dsl::diagnostics::Diagnostic;
use pipeline_dsl::pipeline::PluginDecl;

pub mod codec;
pub mod file;
pub mod stdin;

/// Input plugin names logship understands.
pub const INPUT_NAMES: &[&str] = &["file", "stdin"];

/// A built input.
pub enum Input {
    /// Standard input.
    Stdin(stdin::StdinInput),
    /// Files matching globs.
    File(file::FileInput),
}

/// Builds an input from its declaration, collecting diagnostics.
pub fn build(decl: &PluginDecl, errors: &mut Vec<(usize, Diagnostic)>) -> Option<Input> {
    let mut s = decl.settings();
    let input = match decl.plugin.name.node.as_str() {
        "stdin" => Some(Input::Stdin(stdin::StdinInput::from_settings(&mut s))),
        "file" => Some(Input::File(file::FileInput::from_settings(&mut s))),
        _ => None,
    };
    errors.extend(s.finish().into_iter().map(|d| (decl.file, d)));
    input
}
