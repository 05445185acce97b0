//! The control API of a running agent: `/health`, `/metrics` (Prometheus text) and
//! `/api/v1/snapshot`, with figures checked against what the agent really did.

mod common;

use common::{http, json_lines, temp_dir, wait_for, Agent};
use serde_json::Value;

#[test]
fn health_metrics_and_snapshot_report_what_happened() {
    let dir = temp_dir("api");
    let out = dir.join("out.jsonl");
    let config = dir.join("api.conf");
    let filters = common::root_filters();
    std::fs::write(
        &config,
        format!(
            "input {{ file {{ id => \"samples\" path => \"sample-logs/*.log\" start_position => \"beginning\" }} }}\n{filters}\noutput {{ file {{ id => \"jsonl\" path => \"{}\" }} }}\n",
            out.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(&config, &dir.join("data"), &[]);
    let events = |docs: &[Value]| docs.iter().filter(|d| !common::is_metric(d)).count();
    wait_for("every sample document written", || events(&json_lines(&out)) >= 16_000);
    let addr = agent.api_addr();

    let (status, body) = http(&addr, "GET", "/health", "");
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");

    // The files end: once no event has come for a window plus its lateness (15 s),
    // every window closes and the output holds the events and every metric document.
    let mut snapshot = Value::Null;
    wait_for("every window closed and delivered", || {
        let (_, body) = http(&addr, "GET", "/api/v1/snapshot", "");
        snapshot = serde_json::from_str(&body).unwrap();
        let aggregations = snapshot["aggregations"].as_array().unwrap();
        let metric_events: u64 = aggregations.iter().map(|a| a["metric_events"].as_u64().unwrap()).sum();
        aggregations.iter().all(|a| a["open_windows"] == 0)
            && snapshot["outputs"][0]["events"] == 16_000 + metric_events
    });
    let docs = json_lines(&out);
    assert_eq!(events(&docs), 16_000);
    let ids: Vec<&str> =
        snapshot["aggregations"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["edge_title", "edge_pop", "cloudfront_title", "cloudfront_pop", "playback_title"]);
    for a in snapshot["aggregations"].as_array().unwrap() {
        assert_eq!(a["late_events"], 0, "{}", a["id"]);
        assert_eq!(a["overflow_events"], 0);
        assert_eq!(a["open_keys"], 0);
        let recent = a["recent"].as_array().unwrap();
        assert!(!recent.is_empty() && recent.iter().all(|w| w["closed"] == true));
        // Newest first, one window length each.
        assert!(recent.windows(2).all(|w| w[0]["start_ms"].as_i64() > w[1]["start_ms"].as_i64()));
        let newest = &recent[0];
        assert_eq!(newest["end_ms"].as_i64().unwrap() - newest["start_ms"].as_i64().unwrap(), 10_000);
        let keys = newest["keys"].as_array().unwrap();
        let key_total: u64 = keys.iter().map(|k| k["count"].as_u64().unwrap()).sum();
        assert_eq!(
            newest["totals"]["count"].as_u64().unwrap(),
            key_total,
            "{}: a window's keys add up to its totals",
            a["id"]
        );
        assert_eq!(newest["top_by_count"][0], keys[0]["key"]);
        // The metric documents written are the ones the aggregation counts.
        let written = docs
            .iter()
            .filter(|d| {
                common::is_metric(d) && d["metric"]["name"] == a["name"] && d["event"]["dataset"] == docs_dataset(a)
            })
            .count() as u64;
        assert_eq!(written, a["metric_events"].as_u64().unwrap(), "{}", a["id"]);
    }
    let edge_requests: u64 = docs
        .iter()
        .filter(|d| common::is_metric(d) && d["metric"]["name"] == "cdn_title" && d["event"]["dataset"] == "cdn.edge")
        .map(|d| d["metric"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(edge_requests, 8_000, "every edge request counted once");
    assert_eq!(snapshot["inputs"][0]["id"], "samples");
    assert_eq!(snapshot["inputs"][0]["events"], 16_002, "8000 + 3002 + 5000 lines");
    assert_eq!(snapshot["inputs"][0]["lag_bytes"], 0);
    assert_eq!(snapshot["pipeline"]["events_in"], 16_002);
    assert_eq!(snapshot["pipeline"]["dropped"], 2, "the CloudFront header lines");
    assert_eq!(snapshot["outputs"][0]["id"], "jsonl");
    let filters = snapshot["pipeline"]["filters"].as_array().unwrap();
    let edge = filters.iter().find(|f| f["id"] == "edge").expect("the grok with id edge");
    assert_eq!(edge["events_in"], 8_000);
    assert_eq!(edge["not_applied"], 0);
    // 8,000 events: about 62 of them timed, so the grok has an estimated time.
    assert!(edge["duration_micros"].as_u64().unwrap() > 0, "{edge}");
    let queues: Vec<&str> =
        snapshot["queues"].as_array().unwrap().iter().map(|q| q["name"].as_str().unwrap()).collect();
    assert_eq!(queues, ["inputs", "sequencer", "output:jsonl"]);

    let (status, metrics) = http(&addr, "GET", "/metrics", "");
    assert_eq!(status, 200);
    for line in [
        "logship_input_events_total{id=\"samples\"} 16002",
        "logship_pipeline_dropped_total 2",
        "logship_filter_events_in_total{id=\"cloudfront\"} 3000",
        "logship_window_late_events{id=\"edge_title\"} 0",
        "logship_window_open_keys{id=\"playback_title\"} 0",
        "logship_output_up{id=\"jsonl\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing `{line}` in:\n{metrics}");
    }
    let edge_seconds = metrics
        .lines()
        .find_map(|l| l.strip_prefix("logship_filter_duration_seconds_total{id=\"edge\"} "))
        .map(|v| v.parse::<f64>().unwrap());
    assert!(edge_seconds.is_some_and(|s| s > 0.0), "the edge grok's time in:\n{metrics}");
    assert!(agent.stop().success());
}

/// The `event.dataset` of an aggregation's metric documents (the playback one has none).
fn docs_dataset(aggregation: &Value) -> Value {
    match aggregation["id"].as_str().unwrap() {
        id if id.starts_with("edge") => "cdn.edge".into(),
        id if id.starts_with("cloudfront") => "aws.cloudfront".into(),
        _ => Value::Null,
    }
}
