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
    let pipeline = std::fs::read_to_string(common::root().join("pipeline.conf")).unwrap();
    let filters = &pipeline[pipeline.find("\nfilter {").unwrap()..pipeline.find("\noutput {").unwrap()];
    std::fs::write(
        &config,
        format!(
            "input {{ file {{ id => \"samples\" path => \"sample-logs/*.log\" start_position => \"beginning\" }} }}\n{filters}\noutput {{ file {{ id => \"jsonl\" path => \"{}\" }} }}\n",
            out.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(&config, &dir.join("data"), &[]);
    wait_for("every sample document written", || json_lines(&out).len() >= 16_000);
    let addr = agent.api_addr();

    let (status, body) = http(&addr, "GET", "/health", "");
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");

    let mut snapshot = Value::Null;
    wait_for("the snapshot to count every delivered event", || {
        let (_, body) = http(&addr, "GET", "/api/v1/snapshot", "");
        snapshot = serde_json::from_str(&body).unwrap();
        snapshot["outputs"][0]["events"] == 16_000
    });
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
    let queues: Vec<&str> =
        snapshot["queues"].as_array().unwrap().iter().map(|q| q["name"].as_str().unwrap()).collect();
    assert_eq!(queues, ["inputs", "sequencer", "output:jsonl"]);

    let (status, metrics) = http(&addr, "GET", "/metrics", "");
    assert_eq!(status, 200);
    for line in [
        "logship_input_events_total{id=\"samples\"} 16002",
        "logship_pipeline_dropped_total 2",
        "logship_filter_events_in_total{id=\"cloudfront\"} 3000",
        "logship_output_events_total{id=\"jsonl\"} 16000",
        "logship_output_up{id=\"jsonl\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing `{line}` in:\n{metrics}");
    }
    assert!(agent.stop().success());
}
