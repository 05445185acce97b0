//! Fault containment, end to end through the real binary: a filter that panics on some
//! events (the test-only `fault_injection` filter, built with the `fault-injection`
//! feature that scripts/test.sh turns on) never stops the agent or loses an event. The
//! events it panicked on go on tagged `_filter_error` with the plugin id; every other
//! event is filtered as usual; `/metrics`, the snapshot and `/health` say so.
#![cfg(feature = "fault-injection")]

mod common;

use common::{documents, http, json_lines, logship, temp_config, temp_dir, wait_for, Agent};
use serde_json::Value;

const FILTERS: &str = r#"filter {
  fault_injection { id => "boom" panic_on => "PANIC" }
  mutate { id => "after" add_tag => ["after"] }
}"#;

fn lines() -> String {
    (0..300).map(|i| if i % 7 == 3 { format!("line {i} PANIC\n") } else { format!("line {i}\n") }).collect()
}

fn check(docs: &[Value]) {
    assert_eq!(docs.len(), 300, "every event arrives");
    for d in docs {
        let message = d["message"].as_str().unwrap();
        let tags: Vec<&str> = d["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        assert!(tags.contains(&"after"), "later filters still run: {d}");
        if message.contains("PANIC") {
            assert!(tags.contains(&"_filter_error"), "{d}");
            assert_eq!(d["filter_error"]["plugin_id"], "boom", "{d}");
            assert!(d["filter_error"]["message"].as_str().unwrap().contains("panic_on matched"), "{d}");
        } else {
            assert_eq!(tags, ["after"], "{d}");
            assert!(d.get("filter_error").is_none(), "{d}");
        }
    }
}

#[test]
fn a_panicking_filter_tags_its_events_and_the_stdin_run_ends() {
    let config = temp_config(
        "faults-stdin",
        "p.conf",
        format!("input {{ stdin {{}} }}\n{FILTERS}\noutput {{ stdout {{ codec => json_lines }} }}\n").as_bytes(),
    );
    let run = logship(&["--config", config.to_str().unwrap()], lines().as_bytes());
    assert!(run.status.success(), "{}", run.stderr);
    check(&documents(&run.stdout));
}

#[test]
fn a_panicking_filter_degrades_health_and_is_counted() {
    let dir = temp_dir("faults-file");
    let input = dir.join("in.log");
    std::fs::write(&input, lines()).unwrap();
    let out = dir.join("out.jsonl");
    let config = dir.join("p.conf");
    std::fs::write(
        &config,
        format!(
            "input {{ file {{ path => \"{}\" start_position => \"beginning\" }} }}\n{FILTERS}\noutput {{ file {{ path => \"{}\" }} }}\n",
            input.display(),
            out.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(&config, &dir.join("data"), &[]);
    wait_for("every event written", || json_lines(&out).len() >= 300);
    check(&json_lines(&out));
    let addr = agent.api_addr();
    let (_, body) = http(&addr, "GET", "/health", "");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["filters_faulted"], serde_json::json!(["boom"]), "{health}");
    let (_, metrics) = http(&addr, "GET", "/metrics", "");
    assert!(metrics.contains("logship_filter_faults_total{id=\"boom\"} 43"), "{metrics}");
    let (_, body) = http(&addr, "GET", "/api/v1/snapshot", "");
    let snapshot: Value = serde_json::from_str(&body).unwrap();
    let boom = snapshot["pipeline"]["filters"].as_array().unwrap().iter().find(|f| f["id"] == "boom").unwrap().clone();
    assert_eq!(boom["faults"], 43, "{boom}");
    assert_eq!(boom["events_in"], 300, "{boom}");
    assert!(agent.stop().success());
}

/// An output's encoder that panics on some events: the others are written whole (no
/// half record), the run still ends, and its exit status says events were lost.
#[test]
fn a_panicking_encoder_loses_only_its_events_and_fails_the_run() {
    let config = temp_config(
        "faults-encoder",
        "p.conf",
        b"input { stdin {} }\nfilter { if [message] =~ /ENCODER/ { mutate { add_tag => [\"_fault_injection_encoder\"] } } }\noutput { stdout { codec => json_lines } }\n",
    );
    let input: String =
        (0..200).map(|i| if i % 9 == 4 { format!("line {i} ENCODER\n") } else { format!("line {i}\n") }).collect();
    let run = logship(&["--config", config.to_str().unwrap()], input.as_bytes());
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("22 events lost"), "{}", run.stderr);
    let docs = documents(&run.stdout);
    assert_eq!(docs.len(), 200 - 22, "every other event is written whole");
    assert!(docs.iter().all(|d| !d["message"].as_str().unwrap().contains("ENCODER")));
}
