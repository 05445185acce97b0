//! Memory and documents of late data, for BENCHMARKS.md: 10,000 keys, 60 s windows,
//! a 2 h horizon. Prints what keeping every closed window for the horizon would hold
//! (re-emitting whole windows), and what corrections hold and emit when 2 h of data
//! arrive as `FILES` files read one after another (each file covers the whole 2 h).
//!
//! `cargo run --release -p pipeline-dsl --example window_memory`

use pipeline_dsl::aggregation::{AggregationConfig, Aggregator, Observation, Observations, Precision};
use pipeline_dsl::field_ref::FieldRef;
use pipeline_dsl::filters::Flush;
use std::time::Duration;

const KEYS: usize = 10_000;
const WINDOW_MS: i64 = 60_000;
const WINDOWS: i64 = 120;
const FILES: u64 = 50;

fn config() -> AggregationConfig {
    AggregationConfig {
        id: "m".into(),
        name: "m".into(),
        group_by: vec![FieldRef::parse("[k]").unwrap()],
        group_names: vec!["k".into()],
        window_ms: WINDOW_MS,
        lateness_ms: 5_000,
        late_horizon_ms: 2 * 3_600_000,
        late_flush: Duration::from_secs(10),
        max_late_keys: 100_000,
        max_hold_ms: 60_000,
        idle_flush: Duration::from_secs(3600),
        max_keys: 100_000,
        precision: Precision::new(3, 3_600_000).unwrap(),
        has_value: true,
        has_cache: true,
        has_bytes: true,
        sums: vec![],
        counts: vec![],
        ratios: vec![],
        tags: vec![],
        agent: "a".into(),
        history: 18,
        snapshot_keys: 50,
    }
}

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn observation(rng: &mut Lcg, key: usize, time_ms: i64) -> Observation {
    Observation {
        key: format!("title-{key:05}").into(),
        time_ms,
        value: Some(1 + rng.below(2_000)),
        flags: 0,
        bytes: 1_000.0,
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let now = chrono::Utc::now().timestamp_millis();
    let base = (now - 3 * 3_600_000).div_euclid(WINDOW_MS) * WINDOW_MS;
    let mut rng = Lcg(7);

    // One open window of 10,000 keys with n values each: what each closed window would
    // cost if kept for the horizon.
    for per_key in [1, 10, 100] {
        let a = Aggregator::new(config());
        let mut obs = Observations::default();
        for key in 0..KEYS {
            for _ in 0..per_key {
                obs.list.push(observation(&mut rng, key, base + 1_000));
            }
        }
        a.submit(Flush::Batch(0), obs, now, &mut |_| {});
        let bytes = a.counters().memory_bytes;
        println!(
            "one window, {KEYS} keys x {per_key} values: {bytes} bytes ({} per key); kept for 2 h ({WINDOWS} windows): {:.0} MiB",
            bytes / KEYS as u64,
            (bytes * WINDOWS as u64) as f64 / (1 << 20) as f64
        );
    }

    // Corrections: files read one after another, each with events for every minute of
    // the 2 h. Sparse: one event for a random tenth of 10,000 keys per file and minute
    // (the worst case: nearly every late event is alone in its window and key). Dense:
    // five events for each of 1,000 keys per file and minute (popular titles).
    simulate("sparse", &mut rng, base, now, KEYS, FILES, 10, 1);
    simulate("dense", &mut rng, base, now, 1_000, 20, 1, 5);
    println!("peak RSS {:.1} MiB", peak_rss_kib() as f64 / 1024.0);
}

/// Feeds `files` files (one source each) of `keys` keys over the 2 h: per minute, each
/// key has `per_key` events with probability 1/`one_in`.
#[allow(clippy::too_many_arguments)]
fn simulate(name: &str, rng: &mut Lcg, base: i64, now: i64, keys: usize, files: u64, one_in: u64, per_key: usize) {
    let a = Aggregator::new(config());
    let (mut seq, mut events, mut documents, mut corrections, mut peak) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut count = |e: pipeline_dsl::event::Event| {
        documents += 1;
        corrections += u64::from(format!("{:?}", e.fields().get("metric")).contains("correction"));
    };
    for file in 0..files {
        let mut obs = Observations { source: file + 1, ..Observations::default() };
        for w in 0..WINDOWS {
            for key in 0..keys {
                if rng.below(one_in) == 0 {
                    for _ in 0..per_key {
                        let t = base + w * WINDOW_MS + rng.below(WINDOW_MS as u64) as i64;
                        obs.list.push(observation(rng, key, t));
                    }
                }
            }
            if obs.list.len() >= 4096 || w == WINDOWS - 1 {
                events += obs.list.len() as u64;
                let batch = std::mem::replace(&mut obs, Observations { source: file + 1, ..Observations::default() });
                a.submit(Flush::Batch(seq), batch, now, &mut count);
                seq += 1;
                peak = peak.max(a.counters().memory_bytes);
            }
        }
    }
    while a.submit(Flush::Final(seq), Observations::default(), now, &mut count) {
        seq += 1;
    }
    let c = a.counters();
    println!(
        "{name}: {files} files x {keys} keys over 2 h, one after another: {events} events, {} late ({} corrected, {} beyond the horizon); {documents} documents ({corrections} corrections, {:.3} per late event); peak window memory {:.1} MiB",
        c.corrected_events + c.late_events,
        c.corrected_events,
        c.late_events,
        corrections as f64 / c.corrected_events.max(1) as f64,
        peak as f64 / (1 << 20) as f64,
    );
}
