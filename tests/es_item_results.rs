//! The `elasticsearch` output's handling of every kind of answer, against a scripted
//! bulk endpoint (testkit): per-item 409/429/400, whole-request 503, failover between
//! hosts, bulk bounds, compression and credentials, and a stop while the server keeps
//! failing.

mod common;

use common::{append, temp_dir, wait_for, Agent};
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use testkit::BulkEndpoint;

/// A file input over `dir/in.log` (read once with `--once`) to an `elasticsearch`
/// output with `output_settings`, writing to index `t`.
fn es_config(dir: &Path, output_settings: &str) -> PathBuf {
    es_config_with(dir, &format!(r#"index => "t" {output_settings}"#))
}

/// [`es_config`] without an index setting.
fn es_config_with(dir: &Path, output_settings: &str) -> PathBuf {
    let path = dir.join("es.conf");
    std::fs::write(
        &path,
        format!(
            r#"input {{ file {{ path => "{}/in.log" start_position => "beginning" stat_interval => 0.05 }} }}
output {{ elasticsearch {{ flush_interval => 0.1 retry_initial_interval => 0.05 retry_max_interval => 0.2 dead_letter_path => "{}/dead.jsonl" {output_settings} }} }}
"#,
            dir.display(),
            dir.display()
        ),
    )
    .unwrap();
    path
}

/// The messages of the documents the endpoint accepted, sorted.
fn accepted_messages(endpoint: &BulkEndpoint) -> Vec<String> {
    let mut got: Vec<String> =
        endpoint.seen(|s| s.accepted.iter().map(|(_, d)| d["message"].as_str().unwrap().to_string()).collect());
    got.sort();
    got
}

/// The lines of `text`, sorted.
fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines.sort();
    lines
}

fn sincedb_offset(data: &Path) -> u64 {
    let dir = std::fs::read_dir(data.join("sincedb")).unwrap().next().unwrap().unwrap().path();
    let db: Value = serde_json::from_slice(&std::fs::read(dir).unwrap()).unwrap();
    db["files"][0]["offset"].as_u64().unwrap()
}

#[test]
fn item_answers_are_retried_dead_lettered_or_counted_as_delivered() {
    let dir = temp_dir("items");
    let mut text = String::new();
    for i in 0..40 {
        let kind = match i % 8 {
            0 => "reject",
            1 | 2 => "busy",
            3 => "exists",
            _ => "ok",
        };
        text.push_str(&format!("{kind} {i}\n"));
    }
    append(&dir.join("in.log"), text.as_bytes());
    let busy_seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    let busy = busy_seen.clone();
    let endpoint = BulkEndpoint::with_script(Arc::new(move |request, _, action, doc| {
        let message = doc["message"].as_str().unwrap_or_default();
        let id = action["create"]["_id"].as_str().unwrap_or_default().to_string();
        match message.split(' ').next() {
            _ if request == 0 => 0, // the first request fails as a whole (503)
            Some("reject") => 400,
            Some("busy") if busy.lock().unwrap().insert(id) => 429,
            Some("exists") => 409,
            _ => 201,
        }
    }))
    .unwrap();
    let config =
        es_config(&dir, &format!(r#"hosts => ["http://{}"] user => "elastic" password => "s3cr3t-pw""#, endpoint.addr));
    let data = dir.join("data");
    assert!(Agent::start(&config, &data, &["--once"]).wait().success());

    let want: Vec<String> =
        sorted_lines(&text).into_iter().filter(|l| l.starts_with("ok") || l.starts_with("busy")).collect();
    assert_eq!(accepted_messages(&endpoint), want, "ok lines once, busy lines once after their retry");

    let dead: Vec<Value> = std::fs::read_to_string(dir.join("dead.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dead.len(), 5, "the rejected lines");
    for d in &dead {
        assert_eq!(d["status"], 400);
        assert_eq!(d["reason"], "mapper_parsing_exception: scripted status 400");
        assert!(d["document"]["message"].as_str().unwrap().starts_with("reject"));
        assert_eq!(d["action"]["create"]["_index"], "t");
    }
    // Everything was either delivered or dead-lettered: the checkpoint is at the end.
    assert_eq!(sincedb_offset(&data), text.len() as u64);

    let headers = endpoint.seen(|s| s.headers.clone());
    for h in &headers {
        let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        assert_eq!(get("content-encoding"), "gzip");
        assert_eq!(get("content-type"), "application/x-ndjson");
        assert_eq!(get("authorization"), "Basic ZWxhc3RpYzpzM2NyM3QtcHc=");
    }
    let stderr = std::fs::read_to_string(Agent::log_path(&data)).unwrap();
    assert!(!stderr.contains("s3cr3t-pw"), "the password reached the log");
    assert!(stderr.contains("Bulk request failed; retrying"), "{stderr}");
}

#[test]
fn a_dead_host_fails_over_to_a_healthy_one() {
    let dir = temp_dir("failover");
    let text: String = (0..200).map(|i| format!("line {i}\n")).collect();
    append(&dir.join("in.log"), text.as_bytes());
    let endpoint = BulkEndpoint::start().unwrap();
    // Port 9 (discard) is closed on loopback: connections are refused.
    let config = es_config(
        &dir,
        &format!(r#"hosts => ["http://127.0.0.1:9", "http://{}"] bulk_max_events => 20"#, endpoint.addr),
    );
    let agent = Agent::start(&config, &dir.join("data"), &["--once"]);
    assert!(agent.wait().success());
    assert_eq!(accepted_messages(&endpoint), sorted_lines(&text));
}

#[test]
fn bulks_are_bounded_by_count_and_by_bytes() {
    let dir = temp_dir("bounds");
    let text: String = (0..100).map(|i| format!("{i:0>200}\n")).collect();
    append(&dir.join("in.log"), text.as_bytes());
    let endpoint = BulkEndpoint::start().unwrap();
    let config = es_config(
        &dir,
        &format!(r#"hosts => ["http://{}"] bulk_max_events => 7 http_compression => false"#, endpoint.addr),
    );
    assert!(Agent::start(&config, &dir.join("data"), &["--once"]).wait().success());
    let (requests, items) = endpoint.seen(|s| (s.bulk_requests, s.items));
    assert_eq!(items, 100);
    assert!(requests >= 100_usize.div_ceil(7), "{requests} requests for 100 items at most 7 each");

    let dir = temp_dir("bounds-bytes");
    append(&dir.join("in.log"), text.as_bytes());
    let endpoint = BulkEndpoint::start().unwrap();
    let config = es_config(
        &dir,
        &format!(r#"hosts => ["http://{}"] bulk_max_bytes => 2000 http_compression => false"#, endpoint.addr),
    );
    assert!(Agent::start(&config, &dir.join("data"), &["--once"]).wait().success());
    let lengths: Vec<usize> = endpoint.seen(|s| {
        s.headers
            .iter()
            .map(|h| h.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap()))
            .collect()
    });
    assert_eq!(endpoint.seen(|s| s.items), 100);
    assert!(lengths.iter().all(|&l| l <= 2000), "{lengths:?}");
}

#[test]
fn a_stop_while_the_server_fails_exits_in_time_and_loses_nothing() {
    let dir = temp_dir("stop");
    let text: String = (0..50).map(|i| format!("line {i}\n")).collect();
    append(&dir.join("in.log"), text.as_bytes());
    let failing = BulkEndpoint::with_script(Arc::new(|_, _, _, _| 0)).unwrap();
    let config_failing = es_config(&dir, &format!(r#"hosts => ["http://{}"]"#, failing.addr));
    let data = dir.join("data");
    let agent = Agent::start(&config_failing, &data, &["--shutdown-timeout", "1"]);
    wait_for("a failed bulk", || agent.stderr().contains("Bulk request failed"));
    assert!(agent.stop().success(), "SIGTERM ends the agent with status 0 even with undelivered events");
    assert_eq!(sincedb_offset(&data), 0, "nothing was delivered, so the checkpoint did not move");

    let healthy = BulkEndpoint::start().unwrap();
    let config_healthy = es_config(&dir, &format!(r#"hosts => ["http://{}"]"#, healthy.addr));
    assert!(Agent::start(&config_healthy, &data, &["--once"]).wait().success());
    assert_eq!(healthy.seen(|s| s.accepted.len()), 50, "every line delivered after the restart");
    assert_eq!(sincedb_offset(&data), text.len() as u64);
}

#[test]
fn api_key_and_data_stream_mode() {
    let dir = temp_dir("datastream");
    append(&dir.join("in.log"), b"one\ntwo\n");
    let endpoint = BulkEndpoint::start().unwrap();
    let settings = format!(
        r#"hosts => ["http://{}"] api_key => "key-id:key-secret" data_stream => "true" data_stream_dataset => "cdn.edge""#,
        endpoint.addr
    );
    assert!(Agent::start(&es_config_with(&dir, &settings), &dir.join("data"), &["--once"]).wait().success());
    let (accepted, headers) = endpoint.seen(|s| (s.accepted.clone(), s.headers.clone()));
    assert_eq!(accepted.len(), 2);
    for (action, doc) in &accepted {
        assert_eq!(action["create"]["_index"], "logs-cdn.edge-default", "data streams take `create` only");
        assert_eq!(
            doc["data_stream"],
            serde_json::json!({"type": "logs", "dataset": "cdn.edge", "namespace": "default"})
        );
        assert!(doc["@timestamp"].is_string());
    }
    let auth = headers[0].iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.as_str());
    assert_eq!(auth, Some("ApiKey a2V5LWlkOmtleS1zZWNyZXQ="), "base64 of id:key");
}

#[test]
fn a_bulk_too_large_for_the_server_is_split_until_it_fits() {
    let dir = temp_dir("too-large");
    let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
    append(&dir.join("in.log"), text.as_bytes());
    let endpoint = BulkEndpoint::with_limit(30).unwrap();
    let settings = format!(r#"hosts => ["http://{}"] bulk_max_events => 100"#, endpoint.addr);
    assert!(Agent::start(&es_config(&dir, &settings), &dir.join("data"), &["--once"]).wait().success());
    assert_eq!(accepted_messages(&endpoint), sorted_lines(&text), "every line once, none dead-lettered");
    assert!(!dir.join("dead.jsonl").exists());
}
