//! Late data: CloudFront lines dealt out to many files that cover the same minutes (one
//! file per edge server, as CloudFront delivers them), read one file per run in a
//! shuffled order, or all at once, into the real local server through the root
//! pipeline.conf. Per metric, key and window, the documents in the index merged (the
//! window's document plus its corrections) and the console's fleet view must both give
//! the exact figures of all the lines: counts, errors, cache and bytes exactly,
//! percentiles within the histogram's precision.

mod common;

use common::cdn::{exact_percentile, expected_cloudfront, Windows};
use common::osmem::{root_config_into, Osmem};
use common::{read, temp_dir};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lines of the sample CloudFront log used: 25 minutes, so that every document of a
/// run fits one search.
const LINES: usize = 1_500;

/// A small deterministic generator: the seed printed by a failing test replays it.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// The sample lines dealt at random to `n` files (each in time order, all over the same
/// minutes, each with the W3C header), returned in a shuffled reading order, and the
/// text of all the lines.
fn cloudfront_files(dir: &Path, n: usize, rng: &mut Lcg) -> (Vec<PathBuf>, String) {
    let text = String::from_utf8(read("sample-logs/cloudfront.log")).unwrap();
    let header: String = text.lines().filter(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).take(LINES).collect();
    let mut files = vec![header.clone(); n];
    for line in &lines {
        let f = &mut files[rng.below(n)];
        f.push_str(line);
        f.push('\n');
    }
    let mut paths: Vec<PathBuf> = (0..n)
        .map(|i| {
            let path = dir.join(format!("E2ABCDEF{i:03}.2026-11-20-20.cf.log"));
            std::fs::write(&path, &files[i]).unwrap();
            path
        })
        .collect();
    for i in (1..paths.len()).rev() {
        paths.swap(i, rng.below(i + 1));
    }
    (paths, lines.iter().map(|l| format!("{l}\n")).collect())
}

/// Runs the agent once over `input` (a `file` input's settings) into `osmem`.
fn run_once(osmem: &Osmem, dir: &Path, data_dir: &Path, input: &str) {
    let config = dir.join("late.conf");
    std::fs::write(&config, root_config_into(osmem, &format!("file {{ {input} mode => \"read\" }}"))).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logship"))
        .args(["--config", config.to_str().unwrap(), "--once", "--api-addr", "off", "--log", "warn", "--data-dir"])
        .arg(data_dir)
        .env("LOGSHIP_AGENT_NAME", "edge-late")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Figures of one metric, key and window merged over its documents.
#[derive(Default)]
struct Merged {
    documents: usize,
    corrections: usize,
    count: u64,
    errors: u64,
    hits: u64,
    misses: u64,
    bytes: f64,
    late: u64,
    value_count: u64,
    value_sum: f64,
    min: Option<u64>,
    max: u64,
    buckets: BTreeMap<u64, u64>,
}

impl Merged {
    fn add(&mut self, m: &Value) {
        let u = |v: &Value| v.as_u64().unwrap_or(0);
        self.documents += 1;
        self.corrections += usize::from(m.get("correction").is_some());
        self.count += u(&m["count"]);
        self.errors += u(&m["errors"]);
        self.hits += u(&m["cache"]["hits"]);
        self.misses += u(&m["cache"]["misses"]);
        self.bytes += m["bytes"].as_f64().unwrap_or(0.0);
        self.late += u(&m["late_events"]);
        let v = &m["value"];
        self.value_count += u(&v["count"]);
        self.value_sum += v["sum"].as_f64().unwrap_or(0.0);
        if u(&v["count"]) > 0 {
            self.min = Some(self.min.map_or(u(&v["min"]), |x| x.min(u(&v["min"]))));
            self.max = self.max.max(u(&v["max"]));
        }
        let values = v["histogram"]["values"].as_array().cloned().unwrap_or_default();
        let counts = v["histogram"]["counts"].as_array().cloned().unwrap_or_default();
        for (x, n) in values.iter().zip(&counts) {
            *self.buckets.entry(x.as_f64().unwrap().to_bits()).or_default() += u(n);
        }
    }

    /// Nearest-rank percentile over the merged buckets (bucket middles, rounded).
    fn percentile(&self, q: f64) -> u64 {
        let rank = ((q * self.value_count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bits, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return f64::from_bits(*bits).round() as u64;
            }
        }
        u64::MAX
    }
}

/// Within the histogram's precision (3 significant figures, bucket middles).
fn close(got: u64, exact: u64) -> bool {
    got.abs_diff(exact) <= exact / 500 + 1
}

/// Every CDN metric document in the index, merged by (metric, key, window start).
fn indexed(osmem: &Osmem) -> BTreeMap<(String, String, i64), Merged> {
    let mut merged: BTreeMap<(String, String, i64), Merged> = BTreeMap::new();
    for name in ["cdn_title", "cdn_pop"] {
        let docs = osmem.documents("logship-metrics-*", json!({"term": {"metric.name": name}}));
        assert!(docs.len() < 10_000, "{name}: every document fits one search");
        for (_, d) in docs {
            let m = &d["metric"];
            let start = chrono::DateTime::parse_from_rfc3339(m["window"]["start"].as_str().unwrap()).unwrap();
            let key = (name.to_string(), m["key"].as_str().unwrap().to_string(), start.timestamp_millis());
            merged.entry(key).or_default().add(m);
        }
    }
    merged
}

/// The index and the console's fleet view against the exact figures of `text`.
fn check(osmem: &Osmem, text: &str, case: &str) -> usize {
    let expected: Windows = expected_cloudfront(text);
    let got = indexed(osmem);
    let want_keys: Vec<_> = expected.keys().collect();
    let got_keys: Vec<_> = got.keys().collect();
    assert_eq!(got_keys, want_keys, "{case}: documents for exactly the windows and keys of the lines");
    let mut corrections = 0;
    for (key, want) in &expected {
        let m = &got[key];
        let at = format!("{case} {key:?}");
        corrections += m.corrections;
        // A key may have no document of its own in a window, when all its events there
        // came late.
        assert!(m.documents - m.corrections <= 1, "{at}: at most one window document, the rest corrections");
        assert_eq!((m.count, m.errors, m.hits, m.misses), (want.count, want.errors, want.hits, want.misses), "{at}");
        assert_eq!((m.bytes, m.late), (want.bytes, 0), "{at}");
        let mut values = want.values.clone();
        values.sort_unstable();
        assert_eq!(m.value_count, values.len() as u64, "{at}");
        assert_eq!(m.value_sum, values.iter().sum::<u64>() as f64, "{at}");
        assert_eq!((m.min, m.max), (values.first().copied(), values.last().copied().unwrap_or(0)), "{at}");
        for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
            let (got, exact) = (m.percentile(q), exact_percentile(&values, q));
            assert!(close(got, exact), "{at} p{q}: merged {got}, exact {exact}");
        }
    }

    let fleet = console::fleet::Fleet {
        endpoint: console::client::Endpoint::parse(&format!("http://{}", osmem.addr)).unwrap(),
        index: "logship-metrics-*".into(),
        windows: 10_000,
    };
    let snapshot = fleet.snapshot(std::time::Duration::from_secs(30)).unwrap();
    let mut compared = 0;
    for a in snapshot.aggregations.iter().filter(|a| a.name.starts_with("cdn_")) {
        for w in &a.recent {
            for k in &w.keys {
                let want = &expected[&(a.name.clone(), k.key.clone(), w.start_ms)];
                let at = format!("{case} fleet {} {} {}", a.name, k.key, w.start_ms);
                assert_eq!(
                    (k.count, k.errors, k.cache_hits, k.cache_misses),
                    (want.count, want.errors, want.hits, want.misses),
                    "{at}"
                );
                let mut values = want.values.clone();
                values.sort_unstable();
                let v = k.value.as_ref().unwrap();
                for (got, q) in [(v.p50, 0.5), (v.p95, 0.95), (v.p99, 0.99)] {
                    let exact = exact_percentile(&values, q);
                    assert!(close(got, exact), "{at} p{q}: fleet {got}, exact {exact}");
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, expected.len(), "{case}: the fleet view shows every window and key");
    corrections
}

/// `n` files read one per run, in a shuffled order: every file after the first is
/// late for windows already emitted.
fn one_file_per_run(n: usize, seed: u64) {
    let case = format!("{n} files one per run, seed {seed}");
    let osmem = Osmem::start("127.0.0.1:0");
    let dir = temp_dir(&format!("late-seq-{n}"));
    let (files, text) = cloudfront_files(&dir, n, &mut Lcg(seed));
    for f in &files {
        run_once(&osmem, &dir, &dir.join("data"), &format!("path => \"{}\"", f.display()));
    }
    let corrections = check(&osmem, &text, &case);
    assert!(corrections > 0, "{case}: later files make corrections");
}

#[test]
fn two_files_read_one_after_the_other_add_up() {
    one_file_per_run(2, 1);
}

#[test]
fn five_files_read_one_after_the_other_add_up() {
    one_file_per_run(5, 2);
}

#[test]
fn fifty_files_read_one_after_the_other_add_up() {
    one_file_per_run(50, 3);
}

/// All files read at once, their lines interleaved batch by batch: each file holds
/// the watermark back while it is read, so few events are late, and those few become
/// corrections.
#[test]
fn files_read_at_once_add_up() {
    for (n, seed) in [(2, 4), (5, 5), (50, 6)] {
        let case = format!("{n} files at once, seed {seed}");
        let osmem = Osmem::start("127.0.0.1:0");
        let dir = temp_dir(&format!("late-once-{n}"));
        let (_, text) = cloudfront_files(&dir, n, &mut Lcg(seed));
        let glob = dir.join("*.cf.log");
        run_once(&osmem, &dir, &dir.join("data"), &format!("path => \"{}\"", glob.display()));
        check(&osmem, &text, &case);
    }
}
