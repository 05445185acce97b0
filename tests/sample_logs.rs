//! Replays every sample log through the real binary with the root pipeline.conf and
//! compares each document with the golden files; checks the properties the golden
//! files rely on (no parse failures, all three kinds present, nothing lost).

mod common;

use common::*;
use serde_json::Value;

fn by_dataset<'a>(docs: &'a [Value], dataset: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["event"]["dataset"] == dataset).collect()
}

#[test]
fn sample_logs_match_golden_documents() {
    let config = sample_logs_config("samples");
    let run = logship(&["--config", config.to_str().unwrap(), "--once"], b"");
    assert!(run.status.success(), "logship failed: {}", run.stderr);
    let docs = documents(&run.stdout);

    // Every line comes out as a document except the two CloudFront header lines.
    let lines: usize = ["cdn-edge.log", "cloudfront.log", "playback.log"]
        .iter()
        .map(|f| read(format!("sample-logs/{f}")).iter().filter(|b| **b == b'\n').count())
        .sum();
    assert_eq!(docs.len(), lines - 2, "documents lost or invented");
    assert!(run.stderr.contains(&format!("{lines} events in")), "{}", run.stderr);

    let failures: Vec<&Value> = docs.iter().filter(|d| d["tags"].is_array()).collect();
    assert!(failures.is_empty(), "tagged documents: {:?}", &failures[..failures.len().min(3)]);
    for dataset in ["cdn.edge", "aws.cloudfront", "playback.events"] {
        assert!(by_dataset(&docs, dataset).len() > 1000, "too few {dataset} documents");
    }
    for d in &docs {
        assert!(d["@timestamp"].as_str().unwrap().starts_with("2026-11-20T2"), "timestamp not from the log: {d}");
        assert!(d.get("@metadata").is_none(), "metadata leaked: {d}");
    }
    assert_golden("sample-logs", &docs);
}

#[test]
fn edge_documents_carry_ecs_and_streaming_fields() {
    let line = br#"203.0.113.7 - - [20/Nov/2026:20:15:00 +0000] "GET /vod/t0042/1080p/seg_00017.m4s?token=abc HTTP/1.1" 502 311 "-" "Roku/DVP-12.5 (12.5.0.4178-46)" 1.532 MISS fra1
"#;
    let run = logship(&["--config", "pipeline.conf", "--stdin", "--stdout"], line);
    let docs = documents(&run.stdout);
    let d = &docs[0];
    assert_eq!(d["@timestamp"], "2026-11-20T20:15:00.000Z");
    assert_eq!(d["source"]["ip"], "203.0.113.7");
    assert_eq!(d["http"]["response"]["status_code"], 502);
    assert_eq!(d["http"]["response"]["body"]["bytes"], 311);
    assert_eq!(d["url"]["path"], "/vod/t0042/1080p/seg_00017.m4s");
    assert_eq!(d["url"]["query"], "token=abc");
    assert_eq!(d["event"]["duration"], 1_532_000_000i64);
    assert_eq!(d["event"]["outcome"], "failure");
    assert_eq!(d["streaming"]["title"]["id"], "t0042");
    assert_eq!(d["streaming"]["rendition"], "1080p");
    assert_eq!(d["cdn"]["pop"], "fra1");
    assert_eq!(d["cdn"]["cache"]["result"], "miss");
    assert_eq!(d["user_agent"]["original"], "Roku/DVP-12.5 (12.5.0.4178-46)");
}
