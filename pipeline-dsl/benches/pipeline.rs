//! Criterion benchmarks: config parsing, grok on the edge and CloudFront lines (the
//! grok blocks are taken from the root pipeline.conf by id), and the whole
//! pipeline.conf filter chain including JSON encoding of the result, the chain over
//! sample edge lines one at a time and in batches, the recording
//! cost of one window_stats block, and JSON encoding alone.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pipeline_dsl::ast::{Plugin, Statement, Value};
use pipeline_dsl::event::Event;
use pipeline_dsl::filters::grok::library::{Flavour, Library};
use pipeline_dsl::filters::grok::GrokPattern;
use pipeline_dsl::filters::{self, BuildContext, CommonOptions, FilterNode, Flush};
use pipeline_dsl::pipeline::{compile, ConfigSource, LoadOptions, Pipeline};
use pipeline_dsl::settings::Settings;
use pipeline_dsl::value::Str;
use std::path::PathBuf;

/// The same allocator as the `logship` binary, so the figures match what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EDGE_LINE: &str = r#"203.0.113.16 - - [20/Nov/2026:20:00:00 +0000] "GET /vod/t0144/480p/seg_01140.m4s HTTP/1.1" 200 700000 "-" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.5993.88 Safari/537.36" 0.008 HIT ams1"#;
const CLOUDFRONT_LINE: &str = "2026-11-20\t20:00:00\tIAD89-C1\t700000\t192.0.2.170\tGET\td1a2b3c4d5e6f7.cloudfront.net\t/vod/t0042/480p/seg_00039.m4s\t200\t-\tMozilla/5.0%20(Linux;%20Android%2014;%20Pixel%208)%20AppleWebKit/537.36%20(KHTML,%20like%20Gecko)%20Chrome/119.0.6045.66%20Mobile%20Safari/537.36\t-\t-\tHit\tSVBdxWkSOgtC5VPkpT8RHh_qH3QahgeThXHmNB_rRI7TEQw8XFMnER==\tvideo.example.com\thttps\t303\t0.002\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tHit\tHTTP/2.0\t-\t-\t45335\t0.001\tHit\tvideo/iso.segment\t699750\t-\t-";
const PLAYBACK_LINE: &str = r#"{"timestamp":"2026-11-20T20:00:00.469Z","event":"session_start","session_id":"s-0000904","title_id":"t0001","device":"roku","pop":"sfo2","startup_ms":1885,"bitrate_kbps":16000}"#;

fn root_config() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipeline.conf");
    std::fs::read_to_string(path).expect("read pipeline.conf")
}

fn find_plugin<'a>(body: &'a [Statement], id: &str) -> Option<&'a Plugin> {
    body.iter().find_map(|st| match st {
        Statement::Plugin(p) => p
            .attributes
            .iter()
            .any(|a| a.name.node == "id" && a.value.node == Value::String(id.to_string()))
            .then_some(p),
        Statement::If(chain) => chain
            .branches
            .iter()
            .find_map(|(_, b)| find_plugin(b, id))
            .or_else(|| chain.otherwise.as_deref().and_then(|b| find_plugin(b, id))),
    })
}

/// The filter block with `id => …` from pipeline.conf, built.
fn filter_from_root(id: &str) -> FilterNode {
    let config = pipeline_dsl::parser::parse_config(&root_config()).expect("parse pipeline.conf");
    let plugin = config.sections.iter().find_map(|s| find_plugin(&s.body, id)).expect("filter id in pipeline.conf");
    let mut s = Settings::new(plugin);
    let common = CommonOptions::from_settings(&mut s);
    s.accept(&["id"]);
    let f = filters::build(&plugin.name.node, id, &mut s, &BuildContext::default()).expect("filter builds");
    assert!(s.finish().is_empty());
    FilterNode::new(id.to_string(), f, common)
}

/// The first `message` pattern of the grok block `id` in pipeline.conf, compiled with
/// that block's `pattern_definitions`: the matcher alone, without storing captures.
fn grok_pattern_from_root(id: &str) -> GrokPattern {
    let config = pipeline_dsl::parser::parse_config(&root_config()).expect("parse pipeline.conf");
    let plugin = config.sections.iter().find_map(|s| find_plugin(&s.body, id)).expect("grok id in pipeline.conf");
    let mut s = Settings::new(plugin);
    let mut library = Library::builtin(Flavour::EcsV1);
    for (name, definition) in s.string_hash("pattern_definitions") {
        library.define(&name.node, &definition.node);
    }
    let (_, patterns) = s.hash("match").into_iter().find(|(k, _)| k.node == "message").expect("message pattern");
    let first = match &patterns.node {
        Value::Array(items) => items[0].node.clone(),
        other => other.clone(),
    };
    let Value::String(text) = first else { panic!("pattern is not a string") };
    GrokPattern::compile(&text, &library, true).expect("pattern compiles")
}

fn root_pipeline() -> Pipeline {
    let sources = vec![ConfigSource { path: "pipeline.conf".into(), text: root_config() }];
    let options = LoadOptions { env: &|_| None, support_escapes: false, aggregations: Default::default() };
    compile(sources, &["file", "stdin", "replay"], &["stdout", "elasticsearch", "file", "null"], &options)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn event(line: &str) -> Event {
    Event::from_message(line.to_string(), chrono::Utc::now())
}

fn bench_parser(c: &mut Criterion) {
    let text = root_config();
    let mut g = c.benchmark_group("config");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("parse pipeline.conf", |b| b.iter(|| pipeline_dsl::parser::parse_config(&text).unwrap()));
    g.finish();
}

/// A new event as the agent's readers make one: the line copied into its own string,
/// stamped with a time formatted once per batch. (Cloning a template instead would
/// hand filters an object with room for only the template's two keys.)
fn fresh_event(line: &str, stamp: &Str) -> Event {
    Event::from_message_stamped(std::hint::black_box(line).to_string(), stamp)
}

/// Each iteration makes a fresh event, runs the filter and drops the event; the
/// "baseline" row measures making and dropping the event alone, to subtract.
fn bench_grok(c: &mut Criterion) {
    let mut g = c.benchmark_group("grok");
    g.throughput(Throughput::Elements(1));
    let stamp = Str::from(pipeline_dsl::event::format_timestamp(chrono::Utc::now()));
    g.bench_function("baseline: new event + drop", |b| b.iter(|| fresh_event(EDGE_LINE, &stamp)));
    let matcher = grok_pattern_from_root("edge");
    assert!(matcher.uses_segments());
    let mut spans = Vec::new();
    g.bench_function("edge line, match only (no captures stored)", |b| {
        b.iter(|| assert!(matcher.match_into(std::hint::black_box(EDGE_LINE), &mut spans)))
    });
    for (name, id, line) in [("edge line", "edge", EDGE_LINE), ("cloudfront line", "cloudfront", CLOUDFRONT_LINE)] {
        let mut grok = filter_from_root(id);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut e = fresh_event(line, &stamp);
                assert!(grok.run(&mut e) && !e.has_tag("_grokparsefailure"));
                e
            })
        });
    }
    g.finish();
}

/// The whole chain, window_stats blocks included; their observations are folded every
/// 1024 events, as the agent folds once per batch.
fn bench_chain(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline.conf chain + JSON");
    g.throughput(Throughput::Elements(1));
    let stamp = Str::from(pipeline_dsl::event::format_timestamp(chrono::Utc::now()));
    let mut pipeline = root_pipeline();
    let mut out = Vec::with_capacity(4096);
    let mut turn = 0u64;
    for (name, line) in
        [("edge line", EDGE_LINE), ("cloudfront line", CLOUDFRONT_LINE), ("playback line", PLAYBACK_LINE)]
    {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut e = fresh_event(line, &stamp);
                assert!(pipeline.filter(&mut e));
                out.clear();
                pipeline_dsl::json_writer::write_map(&mut out, e.fields());
                turn += 1;
                if turn.is_multiple_of(1024) {
                    pipeline.flush(Flush::Batch(turn / 1024 - 1), &mut |_, _| {});
                }
                out.len()
            })
        });
    }
    g.finish();
}

/// The whole chain without JSON over the sample edge log's lines (varied titles, POPs,
/// statuses, clients), one event at a time and 64 per batch as the agent runs them
/// (`Pipeline::filter_batch`); figures are per line.
fn bench_batches(c: &mut Criterion) {
    const BATCH: usize = 64;
    let mut g = c.benchmark_group("pipeline.conf chain, sample edge lines");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sample-logs/cdn-edge.log");
    let text = std::fs::read_to_string(path).expect("read sample-logs/cdn-edge.log");
    let lines: Vec<&str> = text.lines().take(BATCH).collect();
    assert_eq!(lines.len(), BATCH);
    let stamp = Str::from(pipeline_dsl::event::format_timestamp(chrono::Utc::now()));
    let mut pipeline = root_pipeline();
    let mut turn = 0u64;
    let mut flush = |pipeline: &mut Pipeline| {
        turn += 1;
        if turn.is_multiple_of(16) {
            pipeline.flush(Flush::Batch(turn / 16 - 1), &mut |_, _| {});
        }
    };
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("one at a time", |b| {
        b.iter(|| {
            for line in &lines {
                let mut e = fresh_event(line, &stamp);
                assert!(pipeline.filter(&mut e));
            }
            flush(&mut pipeline);
        })
    });
    let mut kept = [true; BATCH];
    g.bench_function("64 per batch", |b| {
        b.iter(|| {
            let mut events: Vec<Event> = lines.iter().map(|l| fresh_event(l, &stamp)).collect();
            kept.fill(true);
            pipeline.filter_batch(&mut events, &mut kept);
            assert!(kept.iter().all(|&k| k));
            flush(&mut pipeline);
        })
    });
    g.finish();
}

/// Cost of one window_stats block (pipeline.conf's `edge_title`) per edge event as the
/// chain leaves it, over 300 titles: recording alone (one event time, folded every 1024
/// events), and with event time advancing so that windows close and emit.
fn bench_window(c: &mut Criterion) {
    let mut g = c.benchmark_group("window_stats");
    g.throughput(Throughput::Elements(1));
    let mut pipeline = root_pipeline();
    let mut events: Vec<Event> = (0..300)
        .map(|i| {
            let mut e = event(&EDGE_LINE.replace("t0144", &format!("t{i:04}")));
            assert!(pipeline.filter(&mut e));
            e
        })
        .collect();
    let mut node = filter_from_root("edge_title");
    let mut n = 0usize;
    g.bench_function("record one edge event (edge_title: title key, latency, errors, cache, bytes)", |b| {
        b.iter(|| {
            node.run(&mut events[n % 300]);
            n += 1;
            if n.is_multiple_of(1024) {
                node.flush(Flush::Batch((n / 1024 - 1) as u64), &mut |_| {});
            }
        })
    });
    // Event time advancing as in the benchmark file (278 events a second over 300
    // titles), so that every 2,780 events a 10-second window closes and emits its keys'
    // metric documents: the row includes each event's share of those turns.
    let timestamp = pipeline_dsl::field_ref::FieldRef::parse("@timestamp").expect("field reference");
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-20T20:00:00Z").expect("time").to_utc();
    let mut node = filter_from_root("edge_title");
    let (mut n, mut turn, mut emitted) = (0usize, 0u64, 0usize);
    let mut now = pipeline_dsl::value::Value::Null;
    g.bench_function("record one edge event, with its share of 10 s window turns (300 titles)", |b| {
        b.iter(|| {
            if n.is_multiple_of(278) {
                let t = start + chrono::Duration::seconds((n / 278) as i64);
                now = pipeline_dsl::value::Value::String(pipeline_dsl::event::format_timestamp(t).into());
            }
            // Titles visited in a scattered order (7 is prime to 300).
            let e = &mut events[n * 7 % 300];
            e.set(&timestamp, now.clone());
            node.run(e);
            n += 1;
            if n.is_multiple_of(64) {
                node.flush(Flush::Batch(turn), &mut |_| emitted += 1);
                turn += 1;
            }
        })
    });
    assert!(emitted > 0, "windows closed and emitted their keys");
    g.finish();
}

/// JSON encoding alone: the edge line's document as the chain leaves it, and one
/// window metric document (percentiles, histogram) as window_stats emits it.
fn bench_json(c: &mut Criterion) {
    let mut g = c.benchmark_group("json");
    g.throughput(Throughput::Elements(1));
    let mut pipeline = root_pipeline();
    let mut edge = event(EDGE_LINE);
    assert!(pipeline.filter(&mut edge));
    let mut node = filter_from_root("edge_pop");
    for i in 0..200 {
        let latency = format!("0.{:03}", i * 7 % 900 + 1);
        let mut e = event(&EDGE_LINE.replace("0.008", &latency));
        assert!(pipeline.filter(&mut e));
        node.run(&mut e);
    }
    let mut metrics = Vec::new();
    node.flush(Flush::Final(0), &mut |e| metrics.push(e));
    let metric = metrics.pop().expect("a metric document");
    let mut out = Vec::with_capacity(4096);
    for (name, e) in [("edge document", &edge), ("metric document", &metric)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                pipeline_dsl::json_writer::write_map(&mut out, std::hint::black_box(e).fields());
                out.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_parser, bench_grok, bench_chain, bench_batches, bench_window, bench_json);
criterion_main!(benches);
