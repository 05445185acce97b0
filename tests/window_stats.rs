//! Streaming-health windows of the root pipeline.conf, replayed from the sample logs
//! through the real binary (two filter workers), checked against figures computed here
//! independently from the raw lines: every count and ratio exactly, every percentile
//! within the histogram's precision (3 significant figures). Also: windows open when the
//! agent stops are saved and go on after the restart.

mod common;

use chrono::DateTime;
use common::cdn::{edge_time_ms, exact_percentile, expected_cloudfront, expected_edge, window_of, Windows, WINDOW_MS};
use common::{append, is_metric, json_lines, logship, metric_documents, read, temp_dir, wait_for, Agent};
use serde_json::Value;
use std::collections::BTreeMap;

/// Playback JSON lines: per title, startup times, errors, sessions, rebuffer and watch time.
fn expected_playback(text: &str) -> Windows {
    let mut w = Windows::new();
    for line in text.lines() {
        let d: Value = serde_json::from_str(line).unwrap();
        let ms = DateTime::parse_from_rfc3339(d["timestamp"].as_str().unwrap()).unwrap().timestamp_millis();
        let key = d["title_id"].as_str().unwrap_or("_none").to_string();
        let e = w.entry(("playback_title".to_string(), key, window_of(ms))).or_default();
        e.count += 1;
        e.errors += u64::from(d["event"] == "error");
        e.sessions += u64::from(d["event"] == "session_start");
        e.rebuffer_ms += d["rebuffer_ms"].as_f64().unwrap_or(0.0);
        e.watch_ms += d["watch_ms"].as_f64().unwrap_or(0.0);
        if let Some(v) = d["startup_ms"].as_u64() {
            e.values.push(v);
        }
    }
    w
}

/// The metric documents of one sample log replayed through pipeline.conf, by
/// (metric name, key, window start).
fn emitted(file: &str) -> BTreeMap<(String, String, i64), Value> {
    let run = logship(&["--config", "pipeline.conf", "--stdin", "--stdout", "--workers", "2"], &read(file));
    assert!(run.status.success(), "{}", run.stderr);
    let mut docs = BTreeMap::new();
    for d in metric_documents(&run.stdout) {
        check_document(&d);
        let m = &d["metric"];
        let start = DateTime::parse_from_rfc3339(m["window"]["start"].as_str().unwrap()).unwrap().timestamp_millis();
        let key = (m["name"].as_str().unwrap().to_string(), m["key"].as_str().unwrap().to_string(), start);
        if let Some(previous) = docs.insert(key.clone(), d) {
            panic!("two documents for {key:?}: {previous}");
        }
    }
    docs
}

/// Internal consistency of one document: key fields, window bounds, histogram totals.
fn check_document(d: &Value) {
    let m = &d["metric"];
    assert_eq!(m["late_events"], 0, "{d}");
    assert_eq!(d["@timestamp"], m["window"]["start"]);
    assert_eq!(d["tags"], serde_json::json!(["metric"]));
    let start = DateTime::parse_from_rfc3339(m["window"]["start"].as_str().unwrap()).unwrap();
    let end = DateTime::parse_from_rfc3339(m["window"]["end"].as_str().unwrap()).unwrap();
    assert_eq!((end - start).num_milliseconds(), WINDOW_MS);
    assert_eq!(start.timestamp_millis() % WINDOW_MS, 0, "windows align to the epoch");
    if let Some(h) = m["value"]["histogram"].as_object() {
        let counts: u64 = h["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum();
        assert_eq!(counts, m["value"]["count"].as_u64().unwrap(), "histogram counts add up: {d}");
        let values: Vec<f64> = h["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]), "histogram values ascend: {d}");
    }
    let key_parts: Vec<&str> = m["key"].as_str().unwrap().split('|').collect();
    match m["name"].as_str().unwrap() {
        "cdn_title" => {
            assert_eq!(d["event"]["dataset"], key_parts[0]);
            assert_eq!(d["streaming"]["title"]["id"], key_parts[1]);
        }
        "cdn_pop" => assert_eq!(d["cdn"]["pop"], key_parts[1]),
        _ => assert_eq!(d["streaming"]["title"]["id"], key_parts[0]),
    }
}

fn ratio(num: f64, den: f64) -> Value {
    if den > 0.0 {
        serde_json::json!(num / den)
    } else {
        Value::Null
    }
}

fn compare(expected: Windows, file: &str) {
    let got = emitted(file);
    let want_keys: Vec<_> = expected.keys().collect();
    let got_keys: Vec<_> = got.keys().collect();
    assert_eq!(got_keys.len(), want_keys.len(), "{file}: number of (metric, key, window) documents");
    assert_eq!(got_keys, want_keys, "{file}: documents for exactly the windows and keys in the lines");
    let mut percentiles_checked = 0;
    for (key, want) in expected {
        let m = &got[&key]["metric"];
        let at = format!("{file} {key:?}");
        assert_eq!(m["count"].as_u64().unwrap(), want.count, "{at}");
        assert_eq!(m["errors"].as_u64().unwrap(), want.errors, "{at}");
        assert_eq!(m["error_rate"], ratio(want.errors as f64, want.count as f64), "{at}");
        if key.0 == "playback_title" {
            assert_eq!(m["sum"]["rebuffer_ms"].as_f64().unwrap(), want.rebuffer_ms, "{at}");
            assert_eq!(m["sum"]["watch_ms"].as_f64().unwrap(), want.watch_ms, "{at}");
            assert_eq!(m["count_if"]["sessions"].as_u64().unwrap(), want.sessions, "{at}");
            assert_eq!(m["ratio"]["rebuffer_ratio"], ratio(want.rebuffer_ms, want.watch_ms), "{at}");
            assert_eq!(m["ratio"]["playback_error_rate"], ratio(want.errors as f64, want.sessions as f64), "{at}");
        } else {
            assert_eq!(m["cache"]["hits"].as_u64().unwrap(), want.hits, "{at}");
            assert_eq!(m["cache"]["misses"].as_u64().unwrap(), want.misses, "{at}");
            assert_eq!(m["cache"]["hit_ratio"], ratio(want.hits as f64, (want.hits + want.misses) as f64), "{at}");
            assert_eq!(m["bytes"].as_f64().unwrap(), want.bytes, "{at}");
        }
        let mut values = want.values;
        let v = &m["value"];
        assert_eq!(v["count"].as_u64().unwrap(), values.len() as u64, "{at}");
        if values.is_empty() {
            continue;
        }
        values.sort_unstable();
        let sum: u64 = values.iter().sum();
        assert_eq!(v["min"].as_u64().unwrap(), values[0], "{at}");
        assert_eq!(v["max"].as_u64().unwrap(), *values.last().unwrap(), "{at}");
        assert_eq!(v["sum"].as_f64().unwrap(), sum as f64, "{at}");
        assert_eq!(v["mean"].as_f64().unwrap(), sum as f64 / values.len() as f64, "{at}");
        for (field, q) in [("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("p99_9", 0.999)] {
            let exact = exact_percentile(&values, q);
            let reported = v[field].as_u64().unwrap();
            // 3 significant figures: never below the exact value, at most 0.1 % above.
            assert!(
                reported >= exact && (reported - exact) as f64 <= exact as f64 / 1000.0,
                "{at} {field}: reported {reported}, exact {exact}"
            );
            percentiles_checked += 1;
        }
    }
    assert!(percentiles_checked > 1000, "{file}: only {percentiles_checked} percentiles checked");
}

#[test]
fn cdn_edge_windows_match_the_raw_lines() {
    let text = String::from_utf8(read("sample-logs/cdn-edge.log")).unwrap();
    compare(expected_edge(&text), "sample-logs/cdn-edge.log");
}

#[test]
fn cloudfront_windows_match_the_raw_lines() {
    let text = String::from_utf8(read("sample-logs/cloudfront.log")).unwrap();
    compare(expected_cloudfront(&text), "sample-logs/cloudfront.log");
}

#[test]
fn playback_windows_match_the_raw_lines() {
    let text = String::from_utf8(read("sample-logs/playback.log")).unwrap();
    compare(expected_playback(&text), "sample-logs/playback.log");
}

/// A tailing config over `log` with the root pipeline.conf's filters, every document
/// (events and metrics) to `out`. Windows get `idle_flush => "1h"`, so that only the
/// stop can end them however slowly the test runs.
fn tailing_config(dir: &std::path::Path, log: &std::path::Path, out: &std::path::Path) -> std::path::PathBuf {
    let filters = common::root_filters().replace("window_stats {", "window_stats {\n        idle_flush => \"1h\"");
    let text = format!(
        "input {{ file {{ path => \"{}\" start_position => \"beginning\" stat_interval => 0.05 }} }}\n{filters}\noutput {{ file {{ path => \"{}\" codec => json_lines }} }}\n",
        log.display(),
        out.display()
    );
    let config = dir.join("tail.conf");
    std::fs::write(&config, text).unwrap();
    config
}

/// Metric documents by id; panics on an id seen twice.
fn metrics_by_id(docs: &[Value]) -> BTreeMap<String, Value> {
    let mut by_id = BTreeMap::new();
    for d in docs.iter().filter(|d| is_metric(d)) {
        let key = format!("{} {} {}", d["metric"]["name"], d["metric"]["key"], d["metric"]["window"]["start"]);
        if let Some(previous) = by_id.insert(key.clone(), d.clone()) {
            panic!("two documents for {key}:\n{previous}\n{d}");
        }
    }
    by_id
}

/// Three stops, each in the middle of a window (a quarter, half and three quarters
/// through the edge log), with two filter workers; the last run reads to the end.
#[test]
fn windows_open_at_a_stop_are_emitted_once_and_whole_after_the_restart() {
    let dir = temp_dir("window-restart");
    let text = read("sample-logs/cdn-edge.log");
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    // Each stop falls where two neighbouring lines share a window: that window has
    // events on both sides of the restart.
    let window = |line: &[u8]| window_of(edge_time_ms(std::str::from_utf8(line).unwrap()));
    let mid_window = |from: usize| (from..lines.len()).find(|&i| window(lines[i - 1]) == window(lines[i])).unwrap();
    let stops = [mid_window(lines.len() / 4), mid_window(lines.len() / 2), mid_window(lines.len() * 3 / 4)];
    let log = dir.join("edge.log");
    let out = dir.join("out.jsonl");
    let data = dir.join("data");
    let config = tailing_config(&dir, &log, &out);
    let log_text = Agent::log_path(&data);
    let events = |docs: &[Value]| docs.iter().filter(|d| !is_metric(d)).count();
    let saved = || std::fs::read_to_string(&log_text).unwrap().matches("Open windows saved").count();

    // Tail up to each stop, then SIGTERM with windows open.
    let mut written = 0;
    for (n, &stop) in stops.iter().enumerate() {
        append(&log, &lines[written..stop].concat());
        written = stop;
        let agent = Agent::start(&config, &data, &["--workers", "2"]);
        wait_for("the lines so far delivered", || events(&json_lines(&out)) == stop);
        assert!(agent.stop().success());
        assert_eq!(saved(), n + 1, "{}", std::fs::read_to_string(&log_text).unwrap());
        assert!(data.join("windows.json").exists());
    }

    // The last run: the rest, read to the end (`--once`).
    append(&log, &lines[written..].concat());
    assert!(Agent::start(&config, &data, &["--once", "--workers", "2"]).wait().success());
    let stderr = std::fs::read_to_string(&log_text).unwrap();
    assert!(stderr.matches("Open windows restored from the last run").count() >= stops.len(), "{stderr}");
    // What is left is the windows' clock for the next run, without a window: the saved
    // windows were used once.
    let left: Value = serde_json::from_slice(&read(data.join("windows.json"))).unwrap();
    let blocks = left["aggregations"].as_array().unwrap();
    assert!(!blocks.is_empty() && blocks.iter().all(|a| a["windows"] == serde_json::json!([])), "{left}");
    let restarted = json_lines(&out);
    assert_eq!(events(&restarted), lines.len(), "every event once");

    // One undisturbed run over the whole log.
    let whole_out = dir.join("whole.jsonl");
    let whole_config = tailing_config(&dir, &log, &whole_out);
    assert!(Agent::start(&whole_config, &dir.join("data-whole"), &["--once"]).wait().success());
    let expected = metrics_by_id(&json_lines(&whole_out));
    let got = metrics_by_id(&restarted);
    assert!(expected.len() > 300, "{} metric documents", expected.len());
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (id, d) in &expected {
        assert_eq!(&got[id], d, "{id}");
    }
}
