//! The `elasticsearch` output against a real local server (osmem-server): documents
//! arrive exactly once, whatever happens to the agent or the server.
//!
//! - the sample logs through pipeline.conf give, in the index, exactly the documents
//!   the stdout run gives, and a second run without checkpoints adds none;
//! - SIGKILL at random moments while logs are written and rotated, with restarts,
//!   ends with exactly the documents of an undisturbed run: none lost, none repeated;
//! - a server unreachable at start, then frozen mid-run: reading stops (bounded
//!   memory), the agent retries, and every document arrives once.

mod common;

use common::osmem::{root_config_into, Osmem};
use common::{append, documents, logship, pipeline_with, root, sample_logs_config, signal, temp_dir, wait_for, Agent};
use serde_json::{json, Value};

fn es_output(osmem: &Osmem, index: &str, extra: &str) -> String {
    format!(
        r#"elasticsearch {{ hosts => ["http://{}"] index => "{index}" flush_interval => 0.2 retry_initial_interval => 0.1 retry_max_interval => 1 timeout => 3 {extra} }}"#,
        osmem.addr
    )
}

/// A document as compared across runs: without where it was read from (paths and
/// read times differ between runs; the content may not).
fn comparable(mut doc: Value) -> String {
    if let Some(log) = doc.get_mut("log").and_then(Value::as_object_mut) {
        log.remove("file");
        if log.is_empty() {
            doc.as_object_mut().unwrap().remove("log");
        }
    }
    let failed =
        doc["tags"].as_array().is_some_and(|t| t.iter().any(|t| t.as_str().is_some_and(|t| t.ends_with("failure"))));
    if failed {
        doc["@timestamp"] = Value::from("<read time>");
    }
    doc.to_string()
}

fn all_documents(osmem: &Osmem, index: &str) -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    for dataset in ["cdn.edge", "aws.cloudfront", "playback.events"] {
        docs.extend(osmem.documents(index, json!({"term": {"event.dataset": dataset}})));
    }
    docs.extend(osmem.documents(index, json!({"bool": {"must_not": {"exists": {"field": "event.dataset"}}}})));
    docs
}

#[test]
fn sample_logs_arrive_exactly_once_and_match_the_stdout_run() {
    let osmem = Osmem::start("127.0.0.1:0");
    let dir = temp_dir("es-sample");
    let config = dir.join("es.conf");
    let input = r#"file { path => ["sample-logs/*.log"] mode => "read" }"#;
    std::fs::write(&config, pipeline_with(input, &es_output(&osmem, "logship-sample", ""))).unwrap();
    let agent = Agent::start(&config, &dir.join("data"), &["--once"]);
    assert!(agent.wait().success());
    let samples = sample_logs_config("es-sample");
    let expected = documents(&logship(&["--config", samples.to_str().unwrap(), "--once"], b"").stdout);
    assert_eq!(expected.len(), 16_000);
    assert_eq!(osmem.count("logship-sample"), 16_000);

    let stored = all_documents(&osmem, "logship-sample");
    assert_eq!(stored.len(), 16_000);
    for (id, doc) in &stored {
        let offset = doc["log"]["offset"].as_u64().expect("log.offset");
        let (fingerprint, id_offset) = id.split_once('-').expect("id is fingerprint-offset");
        assert_eq!(fingerprint.len(), 16, "{id}");
        assert_eq!(id_offset, offset.to_string(), "{id}");
    }
    let mut got: Vec<String> = stored.into_iter().map(|(_, d)| comparable(d)).collect();
    let mut want: Vec<String> = expected.into_iter().map(comparable).collect();
    got.sort();
    want.sort();
    assert!(got == want, "the index differs from the stdout run");

    // Checkpoints lost: everything is read and sent again, and nothing is added.
    let agent = Agent::start(&config, &dir.join("data-again"), &["--once"]);
    assert!(agent.wait().success());
    assert_eq!(osmem.count("logship-sample"), 16_000);
}

/// Deterministic pseudo-random numbers for the kill schedule.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn sigkill_at_random_moments_loses_and_repeats_nothing() {
    let osmem = Osmem::start("127.0.0.1:0");
    let dir = temp_dir("es-kill");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let config = dir.join("kill.conf");
    let input = format!(
        r#"file {{ path => "{}/app.log*" start_position => "beginning" stat_interval => 0.05 discover_interval => 2 rotation_grace => 0.3 }}"#,
        logs.display()
    );
    std::fs::write(&config, pipeline_with(&input, &es_output(&osmem, "logship-kill", "bulk_max_events => 150")))
        .unwrap();

    // The lines: edge, CloudFront and playback lines interleaved, as one busy file.
    let sample = |name: &str| -> Vec<String> {
        std::fs::read_to_string(root().join("sample-logs").join(name))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    let (edge, cf, play) = (sample("cdn-edge.log"), sample("cloudfront.log"), sample("playback.log"));
    let lines: Vec<String> = (0..1500).flat_map(|i| [edge[i].clone(), cf[i].clone(), play[i].clone()]).collect();

    // Writer: appends in small bursts and rotates (rename, new file) every 1,000 lines.
    let writer = {
        let logs = logs.clone();
        let lines = lines.clone();
        std::thread::spawn(move || {
            let mut rotations = 0;
            for (n, chunk) in lines.chunks(50).enumerate() {
                let text: String = chunk.iter().map(|l| format!("{l}\n")).collect();
                append(&logs.join("app.log"), text.as_bytes());
                if (n + 1) % 20 == 0 {
                    rotations += 1;
                    std::fs::rename(logs.join("app.log"), logs.join(format!("app.log.{rotations}"))).unwrap();
                }
                std::thread::sleep(std::time::Duration::from_millis(40));
            }
        })
    };

    let data = dir.join("data");
    let mut rng = Lcg(20261123);
    for _ in 0..6 {
        let agent = Agent::start(&config, &data, &["--batch-size", "100"]);
        std::thread::sleep(std::time::Duration::from_millis(200 + rng.below(900)));
        agent.kill();
    }
    writer.join().unwrap();
    let agent = Agent::start(&config, &data, &["--batch-size", "100"]);
    wait_for("every line indexed", || osmem.count("logship-kill") >= lines.len() as u64);
    // Let any late duplicate surface before counting for good.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(agent.stop().success());
    assert_eq!(osmem.count("logship-kill"), lines.len() as u64, "documents lost or repeated");

    // The undisturbed run: the same lines through the same filters, in one go.
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let undisturbed =
        documents(&logship(&["--config", "pipeline.conf", "--stdin", "--stdout"], input.as_bytes()).stdout);
    let mut want: Vec<String> = undisturbed.into_iter().map(comparable).collect();
    let mut got: Vec<String> = all_documents(&osmem, "logship-kill")
        .into_iter()
        .map(|(_, mut d)| {
            // Offsets differ with file layout; everything else must be the same.
            d.as_object_mut().unwrap().remove("log");
            comparable(d)
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "a document differs from the undisturbed run");
    }
}

/// Peak resident memory of a process, in KiB (VmHWM).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Bytes a process has read through read(2) so far.
fn bytes_read(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("rchar:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

#[test]
fn a_down_then_frozen_server_means_back_pressure_and_retries_not_loss() {
    // A port nobody listens on yet.
    let port_holder = Osmem::start("127.0.0.1:0");
    let addr = port_holder.addr.clone();
    drop(port_holder);

    let dir = temp_dir("es-down");
    let log = dir.join("big.log");
    // 20,000 edge lines: the sample file over and over (each copy at its own offset).
    let sample = std::fs::read_to_string(root().join("sample-logs/cdn-edge.log")).unwrap();
    let text: String = sample.lines().cycle().take(20_000).map(|l| format!("{l}\n")).collect();
    std::fs::write(&log, &text).unwrap();
    let size = text.len() as u64;

    let config = dir.join("down.conf");
    let input =
        format!(r#"file {{ path => "{}" start_position => "beginning" stat_interval => 0.05 }}"#, log.display());
    let output = format!(
        r#"elasticsearch {{ hosts => ["http://{addr}"] index => "logship-down" flush_interval => 0.2 retry_initial_interval => 0.1 retry_max_interval => 1 timeout => 2 bulk_max_events => 200 }}"#
    );
    std::fs::write(&config, pipeline_with(&input, &output)).unwrap();
    let agent = Agent::start(&config, &dir.join("data"), &["--batch-size", "100"]);

    // Server down: the agent reads only what its bounded queues hold, then waits.
    wait_for("connection failures to be retried", || agent.stderr().contains("retrying"));
    std::thread::sleep(std::time::Duration::from_secs(1));
    let read_while_down = bytes_read(agent.pid());
    assert!(read_while_down < size / 2, "read {read_while_down} of {size} bytes while the server was down");

    // Server up: documents flow; then it freezes mid-run and thaws again.
    let osmem = Osmem::start(&addr);
    wait_for("some documents indexed", || osmem.count("logship-down") >= 3000);
    signal(osmem.pid(), "STOP");
    std::thread::sleep(std::time::Duration::from_secs(4));
    signal(osmem.pid(), "CONT");
    wait_for("every line indexed", || osmem.count("logship-down") >= 20_000);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let peak = peak_rss_kib(agent.pid());
    assert!(agent.stop().success());
    assert_eq!(osmem.count("logship-down"), 20_000, "documents lost or repeated");
    eprintln!("peak RSS of the agent across the outage: {:.1} MiB", peak as f64 / 1024.0);
    assert!(peak < 256 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn window_metrics_land_in_their_own_indices_through_their_template_once() {
    let osmem = Osmem::start("127.0.0.1:0");
    let dir = temp_dir("es-metrics");
    let config = dir.join("root.conf");
    let input = r#"file { path => ["sample-logs/playback.log"] mode => "read" }"#;
    std::fs::write(&config, root_config_into(&osmem, input)).unwrap();
    let expected = common::metric_documents(
        &logship(&["--config", "pipeline.conf", "--stdin", "--stdout"], &common::read("sample-logs/playback.log"))
            .stdout,
    );
    assert!(expected.len() > 300, "{} metric documents", expected.len());

    // Twice, the second time without checkpoints: the windows are emitted again, with
    // the same ids, and `create` keeps one document each.
    for run in ["first", "second"] {
        let agent = Agent::start(&config, &dir.join(run), &["--once"]);
        assert!(agent.wait().success(), "{run} run");
        assert_eq!(osmem.count("logship-metrics-*"), expected.len() as u64, "{run} run: metric documents");
        assert_eq!(osmem.count("logship-2*"), 5_000, "{run} run: events stay in the event index");
    }

    // The template was installed and fitted to OpenSearch: no histogram type there.
    let (status, templates) = osmem.request("GET", "/_index_template/logship-metrics", None);
    assert_eq!(status, 200, "{templates}");
    let (_, mapping) = osmem.request("GET", "/logship-metrics-*/_mapping", None);
    let index = mapping.as_object().unwrap().values().next().unwrap();
    let metric = &index["mappings"]["properties"]["metric"]["properties"];
    assert_eq!(metric["value"]["properties"]["histogram"]["enabled"], false, "{metric}");
    assert_eq!(metric["value"]["properties"]["p99"]["type"], "long");
    assert_eq!(metric["ratio"]["properties"]["rebuffer_ratio"]["type"], "double", "dynamic template: {metric}");
    assert_eq!(
        index["mappings"]["properties"]["streaming"]["properties"]["title"]["properties"]["id"]["type"],
        "keyword"
    );

    // Every document as the stdout run emitted it.
    let key = |d: &Value| format!("{} {} {}", d["metric"]["name"], d["metric"]["key"], d["metric"]["window"]["start"]);
    let mut indexed: Vec<(String, Value)> =
        osmem.documents("logship-metrics-*", json!({"match_all": {}})).into_iter().map(|(_, d)| (key(&d), d)).collect();
    let mut expected: Vec<(String, Value)> = expected.into_iter().map(|d| (key(&d), d)).collect();
    indexed.sort_by(|a, b| a.0.cmp(&b.0));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(indexed.len(), expected.len());
    for ((ka, a), (kb, b)) in indexed.iter().zip(&expected) {
        assert_eq!(ka, kb);
        assert_eq!(a, b, "{ka}");
    }
}

#[test]
fn the_console_fleet_view_merges_the_windows_of_several_agents() {
    let osmem = Osmem::start("127.0.0.1:0");
    let dir = temp_dir("es-fleet");
    let config = dir.join("root.conf");
    std::fs::write(
        &config,
        root_config_into(&osmem, r#"file { path => ["sample-logs/cdn-edge.log"] mode => "read" }"#),
    )
    .unwrap();
    // Two agents ship the same edge log: every window of every key exists twice, under
    // two agent names.
    for agent in ["edge-a", "edge-b"] {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_logship"))
            .args(["--config", config.to_str().unwrap(), "--once", "--api-addr", "off", "--log", "warn", "--data-dir"])
            .arg(dir.join(agent))
            .env("LOGSHIP_AGENT_NAME", agent)
            .status()
            .unwrap();
        assert!(status.success(), "{agent}");
    }
    let single = common::metric_documents(
        &logship(&["--config", "pipeline.conf", "--stdin", "--stdout"], &common::read("sample-logs/cdn-edge.log"))
            .stdout,
    );
    assert_eq!(osmem.count("logship-metrics-*"), 2 * single.len() as u64, "one document per agent, window and key");

    let fleet = console::fleet::Fleet {
        endpoint: console::client::Endpoint::parse(&format!("http://{}", osmem.addr)).unwrap(),
        index: "logship-metrics-*".into(),
        windows: 1000,
    };
    let snapshot = fleet.snapshot(std::time::Duration::from_secs(30)).unwrap();
    assert_eq!(snapshot.version, "fleet of 2 agent(s)");
    let titles = snapshot.aggregations.iter().find(|a| a.name == "cdn_title").expect("cdn_title");
    assert_eq!(titles.group_by, ["event.dataset", "streaming.title.id"]);
    let mut compared = 0;
    for w in &titles.recent {
        for k in &w.keys {
            let start = w.start_ms;
            let one = single
                .iter()
                .find(|d| {
                    d["metric"]["name"] == "cdn_title"
                        && d["metric"]["key"] == k.key.as_str()
                        && chrono::DateTime::parse_from_rfc3339(d["metric"]["window"]["start"].as_str().unwrap())
                            .unwrap()
                            .timestamp_millis()
                            == start
                })
                .unwrap_or_else(|| panic!("{} at {start} not in the single run", k.key));
            let m = &one["metric"];
            assert_eq!(k.count, 2 * m["count"].as_u64().unwrap(), "{}", k.key);
            assert_eq!(k.errors, 2 * m["errors"].as_u64().unwrap());
            assert_eq!(k.cache_hits, 2 * m["cache"]["hits"].as_u64().unwrap());
            assert_eq!(k.error_rate, m["error_rate"].as_f64());
            let v = k.value.as_ref().unwrap();
            // A doubled distribution has the same percentiles (bucket midpoints from the
            // merged histograms: within the 3 significant figures).
            for (got, field) in [(v.p50, "p50"), (v.p95, "p95"), (v.p99, "p99")] {
                let want = m["value"][field].as_u64().unwrap();
                assert!(got.abs_diff(want) as f64 <= want as f64 / 1000.0 + 1.0, "{} {field}: {got} vs {want}", k.key);
            }
            compared += 1;
        }
    }
    assert!(compared > 1000, "{compared} fleet keys compared");

    // The titles and POPs views show the merged figures.
    let mut app = console::app::App::new("fleet".into(), console::app::Slo::default());
    app.update(Ok(snapshot));
    let rows = app.titles();
    assert!(rows.iter().any(|r| r.title == "t0001" && r.rps > 0.0 && r.p95.is_some()), "{:?}", &rows[..3]);
    assert!(app.pops().len() >= 5);
}
