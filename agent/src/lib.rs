//! The logship agent: inputs, the pipeline runner and outputs.
#![deny(missing_docs)]

pub mod inputs;
pub mod line_codec;
pub mod multiline;
pub mod outputs;
pub mod runner;
