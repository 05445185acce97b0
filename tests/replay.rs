//! The `replay` input: sample logs re-emitted as live traffic, timestamps shifted to now
//! in their own formats, so the parsed documents carry current times.

mod common;

use common::{json_lines, pipeline_with, temp_dir, Agent};

#[test]
fn sample_logs_replay_as_live_traffic() {
    let dir = temp_dir("replay");
    let out = dir.join("out.jsonl");
    let config = dir.join("replay.conf");
    // One recorded hour in about two seconds.
    let text = pipeline_with(
        r#"replay { path => ["sample-logs/*.log"] speed => 1800 }"#,
        &format!(r#"file {{ path => "{}" }}"#, out.display()),
    );
    std::fs::write(&config, text).unwrap();
    let before = chrono::Utc::now();
    let agent = Agent::start(&config, &dir.join("data"), &[]);
    // The input finishes after one pass (no `loop`), and the agent with it.
    assert!(agent.wait().success());
    let after = chrono::Utc::now();
    let docs = json_lines(&out);
    assert_eq!(docs.len(), 16_000, "every line of the three files, headers dropped by the config");
    let mut previous = std::collections::HashMap::new();
    for d in &docs {
        assert!(d["tags"].is_null(), "a replayed line no longer parses: {d}");
        let ts = chrono::DateTime::parse_from_rfc3339(d["@timestamp"].as_str().unwrap()).unwrap();
        assert!(ts >= before - chrono::Duration::seconds(1) && ts <= after + chrono::Duration::seconds(1), "{ts}");
        // Each file's lines come out in time order.
        let file = d["log"]["file"]["path"].as_str().unwrap().to_string();
        if let Some(p) = previous.insert(file, ts) {
            assert!(ts >= p, "{ts} after {p}");
        }
    }
    let edge = docs.iter().filter(|d| d["event"]["dataset"] == "cdn.edge").count();
    let cloudfront = docs.iter().filter(|d| d["event"]["dataset"] == "aws.cloudfront").count();
    assert_eq!((edge, cloudfront), (8_000, 3_000));
}

#[test]
fn looping_replays_again_with_new_document_ids() {
    let dir = temp_dir("replay-loop");
    let endpoint = testkit::BulkEndpoint::start().unwrap();
    let config = dir.join("loop.conf");
    // Only the playback file (5,000 lines), an hour in half a second, twice or more.
    let text = pipeline_with(
        r#"replay { path => ["sample-logs/playback.log"] speed => 7200 loop => true }"#,
        &format!(r#"elasticsearch {{ hosts => ["http://{}"] flush_interval => 0.1 }}"#, endpoint.addr),
    );
    std::fs::write(&config, text).unwrap();
    let agent = Agent::start(&config, &dir.join("data"), &[]);
    common::wait_for("two passes delivered", || endpoint.seen(|s| s.accepted.len()) >= 10_000);
    assert!(agent.stop().success());
    let (ids, sessions) = endpoint.seen(|s| {
        let ids: std::collections::HashSet<String> =
            s.accepted.iter().map(|(a, _)| a["create"]["_id"].as_str().unwrap().to_string()).collect();
        let first = s.accepted[0].1["streaming"]["session"]["id"].clone();
        let again = s.accepted.iter().filter(|(_, d)| d["streaming"]["session"]["id"] == first).count();
        (ids.len(), (s.accepted.len(), again))
    });
    assert_eq!(ids, sessions.0, "every replayed document has its own id, pass after pass");
    assert!(sessions.1 >= 2, "the first session's events came back in the next pass");
}
