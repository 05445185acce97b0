//! Runs a compiled pipeline over its inputs once: read, filter, route, write.
//!
//! This is the single-pass runner that issue 2 asks for; the long-running, tailing,
//! multi-worker runtime replaces it in issue 3.

use crate::inputs::codec::InputCodec;
use crate::inputs::{self, Input};
use crate::line_codec::{Line, LineReader};
use crate::multiline::Multiline;
use crate::outputs::{self, Output};
use anyhow::Context;
use pipeline_dsl::event::Event;
use pipeline_dsl::field_ref::FieldRef;
use pipeline_dsl::pipeline::{ConfigErrors, Pipeline};
use pipeline_dsl::value::Value;
use std::io::BufRead;

/// Counters from one run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    /// Events read from all inputs (lines, or joined lines with a multiline codec).
    pub events_in: u64,
    /// Events dropped by filters.
    pub dropped: u64,
    /// Events written (counted once per event, however many outputs took it).
    pub events_out: u64,
}

/// Inputs and outputs built from a pipeline's declarations.
pub struct Plugins {
    inputs: Vec<Input>,
    outputs: Vec<Output>,
}

/// Builds every input and output, reporting all problems at once.
pub fn build_plugins(pipeline: &Pipeline, force_stdin: bool) -> Result<Plugins, ConfigErrors> {
    let mut errors = Vec::new();
    let mut inputs: Vec<Input> = pipeline.inputs.iter().filter_map(|d| inputs::build(d, &mut errors)).collect();
    let outputs: Vec<Output> = pipeline.outputs.iter().filter_map(|d| outputs::build(d, &mut errors)).collect();
    if !errors.is_empty() {
        return Err(ConfigErrors::from_pairs(&pipeline.sources, errors));
    }
    if force_stdin || inputs.is_empty() {
        inputs = vec![Input::Stdin(inputs::stdin::StdinInput::default_input())];
    }
    Ok(Plugins { inputs, outputs })
}

/// Reads every input once and writes the filtered documents.
pub fn run_once(pipeline: &mut Pipeline, plugins: &mut Plugins) -> anyhow::Result<RunStats> {
    let mut stats = RunStats::default();
    let mut routes = Vec::new();
    let mut process = |mut event: Event, stats: &mut RunStats, outputs: &mut Vec<Output>| -> anyhow::Result<()> {
        stats.events_in += 1;
        if !pipeline.filter(&mut event) {
            stats.dropped += 1;
            return Ok(());
        }
        pipeline.route(&event, &mut routes);
        for &i in &routes {
            outputs[i].write(&event).context("writing an event")?;
        }
        stats.events_out += 1;
        Ok(())
    };
    let Plugins { inputs, outputs } = plugins;
    for input in inputs.iter() {
        match input {
            Input::Stdin(s) => {
                let stdin = std::io::stdin();
                let reader = std::io::BufReader::with_capacity(256 * 1024, stdin.lock());
                let source = Source { max_line_bytes: s.max_line_bytes, tags: &s.tags, codec: &s.codec, path: None };
                read_events(reader, &source, &mut |e| process(e, &mut stats, outputs))?;
            }
            Input::File(f) => {
                for path in f.discover() {
                    let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
                    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
                    let p = path.display().to_string();
                    let source =
                        Source { max_line_bytes: f.max_line_bytes, tags: &f.tags, codec: &f.codec, path: Some(&p) };
                    read_events(reader, &source, &mut |e| process(e, &mut stats, outputs))
                        .with_context(|| format!("reading {p}"))?;
                }
            }
        }
    }
    for o in outputs.iter_mut() {
        o.flush().context("flushing output")?;
    }
    Ok(stats)
}

/// Where events come from and how to frame them.
struct Source<'a> {
    max_line_bytes: usize,
    tags: &'a [String],
    codec: &'a InputCodec,
    path: Option<&'a str>,
}

fn read_events(
    reader: impl BufRead,
    source: &Source,
    sink: &mut dyn FnMut(Event) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut lines = LineReader::new(reader, source.max_line_bytes);
    let path_ref = FieldRef::from_segments(["log", "file", "path"]);
    let offset_ref = FieldRef::from_segments(["log", "offset"]);
    let now = chrono::Utc::now();
    let json = matches!(source.codec, InputCodec::JsonLines);
    let mut emit = |line: Line| {
        let mut event = if json { decode_json(line.text, now) } else { Event::from_message(line.text, now) };
        if let Some(p) = source.path {
            event.set(&path_ref, Value::from(p));
            event.set(&offset_ref, Value::from(line.offset));
        }
        for t in source.tags.iter().map(String::as_str).chain(line.tags.iter().copied()) {
            event.add_tag(t);
        }
        sink(event)
    };
    match source.codec {
        InputCodec::Line | InputCodec::JsonLines => {
            while let Some(line) = lines.next_line()? {
                emit(line)?;
            }
        }
        InputCodec::Multiline(config) => {
            let mut joiner = Multiline::new(config);
            while let Some(line) = lines.next_line()? {
                if let Some(event) = joiner.push(line) {
                    emit(event)?;
                }
            }
            if let Some(event) = joiner.flush() {
                emit(event)?;
            }
        }
    }
    Ok(())
}

/// A `json_lines` event: the object's fields, `@timestamp` from the object when it is a
/// valid time, else the read time (an invalid one moves to `_@timestamp`, tagged
/// `_timestampparsefailure`). A line that is not a JSON object is kept as
/// `message` and tagged `_jsonparsefailure`, as Logstash's codec does.
fn decode_json(text: String, now: chrono::DateTime<chrono::Utc>) -> Event {
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(mut fields)) => {
            let decoded_ts = fields.remove(pipeline_dsl::event::TIMESTAMP);
            let mut event = Event::from_fields(fields);
            event.set_timestamp(now);
            if let Some(ts) = decoded_ts {
                event.set_timestamp_from(ts);
            }
            event
        }
        _ => {
            let mut event = Event::from_message(text, now);
            event.add_tag("_jsonparsefailure");
            event
        }
    }
}
