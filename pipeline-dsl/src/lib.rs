//! The logship pipeline language: a Logstash-compatible config parser with diagnostics,
//! the event model, and the filters (grok, date, mutate, …) compiled into an executable
//! plan. Pure and synchronous: no async runtime and no I/O beyond reading config and
//! pattern files.
#![deny(missing_docs)]

pub mod aggregation;
pub mod api;
pub mod ast;
pub mod condition;
pub mod diagnostics;
pub mod env;
pub mod escapes;
pub mod event;
pub mod field_ref;
pub mod filters;
pub mod joda;
pub mod json_writer;
pub mod literal;
pub mod parser;
pub mod pipeline;
pub mod regex_engine;
pub mod secret;
pub mod settings;
pub mod sprintf;
pub mod value;
