//! A struggling cluster: the real local server behind the test kit's fault-injecting
//! proxy, which answers a share of bulk items 429 (not indexing them), a share of
//! requests 503, closes connections after indexing, and stalls requests. Every line
//! must be indexed exactly once, and `/health` must say degraded while the cluster
//! turns most items away and ok once it recovers.

mod common;

use common::osmem::Osmem;
use common::{append, http, read, temp_dir, wait_for, Agent};
use serde_json::Value;
use std::time::Duration;
use testkit::proxy::{FaultProxy, Faults};

/// The seed: `STORM_SEED` replays a failing run.
fn seed() -> u64 {
    let seed = std::env::var("STORM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_208);
    eprintln!("STORM_SEED={seed}");
    seed
}

fn config(dir: &std::path::Path, input: &str, proxy: &FaultProxy, index: &str) -> std::path::PathBuf {
    let output = format!("elasticsearch {{ hosts => [\"http://{}\"] index => \"{index}\" }}", proxy.addr);
    let path = dir.join("storm.conf");
    std::fs::write(&path, common::pipeline_with(input, &output)).unwrap();
    path
}

#[test]
fn every_line_is_indexed_once_through_a_storm_of_faults() {
    let osmem = Osmem::start("127.0.0.1:0");
    let storm =
        Faults { item_429: 0.2, request_503: 0.1, reset_after: 0.05, stall: 0.02, stall_for: Duration::from_secs(1) };
    // Each kind of fault surely happens: a reset after indexing first, then a 503,
    // then the storm's random mix (drawn from the seed) to the end.
    let proxy =
        FaultProxy::start("127.0.0.1:0", &osmem.addr, Faults { reset_after: 1.0, ..storm.clone() }, seed()).unwrap();
    let dir = temp_dir("storm");
    let input = r#"file { path => "sample-logs/cdn-edge.log" mode => "read" }"#;
    let config = config(&dir, input, &proxy, "storm");
    let agent = Agent::start(&config, &dir.join("data"), &["--once"]);
    let seen = |o: &str| proxy.seen().iter().filter(|s| s.outcome == o).count();
    wait_for("a connection reset after indexing", || seen("reset") > 0);
    proxy.set_faults(Faults { request_503: 1.0, ..storm.clone() });
    wait_for("a request answered 503", || seen("503") > 0);
    proxy.set_faults(storm);
    let status = agent.wait();
    assert!(status.success(), "{status}");
    let lines = read("sample-logs/cdn-edge.log").split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() as u64;
    assert_eq!(osmem.count("storm"), lines, "every line indexed once");
    assert!(!dir.join("data/dead_letter").exists(), "nothing dead-lettered");
    let seen = proxy.seen();
    let count = |o: &str| seen.iter().filter(|s| s.outcome == o).count();
    let rejected: usize = seen.iter().map(|s| s.rejected).sum();
    assert!(rejected > 0 && count("503") > 0 && count("reset") > 0, "the storm happened: {rejected} items 429");
}

#[test]
fn health_is_degraded_while_the_cluster_turns_items_away_and_ok_after() {
    let osmem = Osmem::start("127.0.0.1:0");
    let proxy = FaultProxy::start("127.0.0.1:0", &osmem.addr, Faults::default(), seed()).unwrap();
    let dir = temp_dir("rejecting");
    let log = dir.join("edge.log");
    let input =
        format!("file {{ path => \"{}\" start_position => \"beginning\" stat_interval => 0.05 }}", log.display());
    let config = config(&dir, &input, &proxy, "rejecting");
    let text = read("sample-logs/cdn-edge.log");
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    append(&log, &lines[..2000].concat());
    let agent = Agent::start(&config, &dir.join("data"), &[]);
    let api = agent.api_addr();
    wait_for("the first lines indexed", || osmem.count("rejecting") == 2000);
    let health = || -> Value { serde_json::from_str(&http(&api, "GET", "/health", "").1).unwrap() };
    assert_eq!(health()["status"], "ok");

    // Everything turned away: delivery holds on, one request at a time.
    proxy.set_faults(Faults { item_429: 1.0, ..Faults::default() });
    append(&log, &lines[2000..4000].concat());
    wait_for("health degraded by rejections", || {
        health()["outputs_rejecting"].as_array().is_some_and(|a| !a.is_empty())
    });
    let output = |field: &str| -> Value {
        let snapshot: Value = serde_json::from_str(&http(&api, "GET", "/api/v1/snapshot", "").1).unwrap();
        snapshot["outputs"][0][field].clone()
    };
    wait_for("one request at a time", || output("concurrency") == 1);
    wait_for("the rejected documents waiting to be sent again", || output("retry_queue").as_u64() > Some(0));
    assert_eq!(osmem.count("rejecting"), 2000);

    proxy.set_faults(Faults::default());
    wait_for("the rest indexed once the cluster recovers", || osmem.count("rejecting") == 4000);
    wait_for("health ok again", || health()["status"] == "ok");
    assert_eq!(output("retry_queue"), 0);
    assert!(agent.stop().success());
    assert_eq!(osmem.count("rejecting"), 4000, "nothing indexed twice");
}
