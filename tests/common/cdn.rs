//! Figures of CDN windows computed straight from raw lines, independently of the
//! agent: what the `window_stats` blocks of the root pipeline.conf must report.

use chrono::{DateTime, NaiveDateTime};
use std::collections::BTreeMap;

pub const WINDOW_MS: i64 = 10_000;

/// Expected figures of one key in one window.
#[derive(Default, Debug)]
pub struct Expected {
    pub count: u64,
    pub errors: u64,
    pub hits: u64,
    pub misses: u64,
    pub bytes: f64,
    pub values: Vec<u64>,
    pub rebuffer_ms: f64,
    pub watch_ms: f64,
    pub sessions: u64,
}

/// (metric name, key, window start ms) → figures.
pub type Windows = BTreeMap<(String, String, i64), Expected>;

pub fn window_of(ms: i64) -> i64 {
    ms.div_euclid(WINDOW_MS) * WINDOW_MS
}

/// The title of a `/vod/<title>/[<rendition>/]<file>` path, as pipeline.conf extracts it.
pub fn title(path: &str) -> String {
    let path = path.split('?').next().unwrap();
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["", "vod", t, _, _] | ["", "vod", t, _] if !t.is_empty() => t.to_string(),
        _ => "_none".to_string(),
    }
}

/// Adds one CDN request to its title and POP windows.
#[allow(clippy::too_many_arguments)]
pub fn add_request(
    w: &mut Windows,
    dataset: &str,
    ms: i64,
    title: &str,
    pop: &str,
    status: u64,
    cache: Option<bool>,
    bytes: f64,
    latency_ms: u64,
) {
    for (name, key) in [("cdn_title", format!("{dataset}|{title}")), ("cdn_pop", format!("{dataset}|{pop}"))] {
        let e = w.entry((name.to_string(), key, window_of(ms))).or_default();
        e.count += 1;
        e.errors += u64::from(status >= 500);
        e.hits += u64::from(cache == Some(true));
        e.misses += u64::from(cache == Some(false));
        e.bytes += bytes;
        e.values.push(latency_ms);
    }
}

/// `… [20/Nov/2026:20:00:00 +0000] "GET /path HTTP/1.1" 200 700000 "-" "UA" 0.008 HIT ams1`
pub fn expected_edge(text: &str) -> Windows {
    let mut w = Windows::new();
    for line in text.lines() {
        let quoted: Vec<&str> = line.split('"').collect();
        let ms = edge_time_ms(line);
        let path = quoted[1].split(' ').nth(1).unwrap();
        let status_bytes: Vec<&str> = quoted[2].split_whitespace().collect();
        let tail: Vec<&str> = quoted[6].split_whitespace().collect();
        let latency = (tail[0].parse::<f64>().unwrap() * 1000.0).round() as u64;
        let cache = match tail[1] {
            "HIT" | "STALE" | "UPDATING" | "REVALIDATED" => Some(true),
            "MISS" | "EXPIRED" => Some(false),
            _ => None,
        };
        let status = status_bytes[0].parse().unwrap();
        let bytes = status_bytes[1].parse().unwrap_or(0.0);
        add_request(&mut w, "cdn.edge", ms, &title(path), tail[2], status, cache, bytes, latency);
    }
    w
}

/// The time of an edge line (`[20/Nov/2026:20:00:00 +0000]`), Unix ms.
pub fn edge_time_ms(line: &str) -> i64 {
    let ts = &line[line.find('[').unwrap() + 1..line.find(']').unwrap()];
    DateTime::parse_from_str(ts, "%d/%b/%Y:%H:%M:%S %z").unwrap().timestamp_millis()
}

/// W3C tab-separated CloudFront lines (headers skipped).
pub fn expected_cloudfront(text: &str) -> Windows {
    let mut w = Windows::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let when = NaiveDateTime::parse_from_str(&format!("{} {}", f[0], f[1]), "%Y-%m-%d %H:%M:%S").unwrap();
        let cache = match f[13] {
            "Hit" | "RefreshHit" => Some(true),
            "Miss" => Some(false),
            _ => None,
        };
        let latency = (f[18].parse::<f64>().unwrap() * 1000.0).round() as u64;
        let bytes = f[3].parse().unwrap_or(0.0);
        let ms = when.and_utc().timestamp_millis();
        add_request(&mut w, "aws.cloudfront", ms, &title(f[7]), f[2], f[8].parse().unwrap(), cache, bytes, latency);
    }
    w
}

/// The exact nearest-rank percentile of sorted `values`, as HdrHistogram ranks them.
pub fn exact_percentile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}
