//! The logship agent: inputs (file tail, stdin), the multi-threaded pipeline runtime,
//! outputs (Elasticsearch, stdout, file) and file checkpoints. See DESIGN.md for the
//! data flow.
#![deny(missing_docs)]

pub mod batch;
pub mod checkpoint;
pub mod control_api;
pub mod inputs;
pub mod line_codec;
pub mod metrics;
pub mod multiline;
pub mod outputs;
pub mod private_fs;
pub mod runtime;
pub mod setup;
pub mod shutdown;
pub mod window_state;
pub mod worker;

use pipeline_dsl::pipeline::{ConfigErrors, Pipeline};

/// Inputs and outputs built from a pipeline's declarations.
pub struct Plugins {
    /// The inputs.
    pub inputs: Vec<inputs::Input>,
    /// The outputs.
    pub outputs: Vec<outputs::Output>,
    /// The configured outputs were replaced by standard output: every event goes there.
    pub route_all: bool,
}

/// Builds every input and output, reporting all problems at once. With `force_stdin`
/// (or no input configured) standard input replaces the configured inputs; with
/// `force_stdout`, JSON lines on standard output replace the configured outputs.
pub fn build_plugins(pipeline: &Pipeline, force_stdin: bool, force_stdout: bool) -> Result<Plugins, ConfigErrors> {
    let mut errors = Vec::new();
    let mut inputs: Vec<inputs::Input> = pipeline.inputs.iter().filter_map(|d| inputs::build(d, &mut errors)).collect();
    let mut outputs: Vec<outputs::Output> =
        pipeline.outputs.iter().enumerate().filter_map(|(i, d)| outputs::build(d, i, &mut errors)).collect();
    if !errors.is_empty() {
        return Err(ConfigErrors::from_pairs(&pipeline.sources, errors));
    }
    if force_stdin || inputs.is_empty() {
        inputs = vec![inputs::Input::Stdin(inputs::stdin::StdinInput::default_input())];
    }
    if force_stdout {
        outputs = vec![outputs::stdout::json_lines()];
    }
    Ok(Plugins { inputs, outputs, route_all: force_stdout })
}

/// Helpers shared by this crate's unit tests.
#[cfg(test)]
mod test_support {
    /// A fresh directory `logship-{name}-{pid}` under the system's temporary directory;
    /// each test removes it when it passes (a failing one leaves it to look at).
    pub fn temp_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("logship-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
