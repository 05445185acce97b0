//! Fleet mode (`logship console --elasticsearch URL`): the titles and POPs views
//! computed from the metric documents in Elasticsearch, where every agent writes its
//! windows. Documents of the same metric, window and key from several agents are merged
//! here: counts and sums add up, histograms (`metric.value.histogram`) are merged and
//! their percentiles recomputed, ratios are recomputed from their parts. This works on
//! every server, also those without the `histogram` field type (the histogram stays in
//! `_source`).

use crate::client::Endpoint;
use anyhow::Context;
use pipeline_dsl::aggregation::ratio;
use pipeline_dsl::aggregation::Merged;
use pipeline_dsl::api::{AggregationSnapshot, KeyStats, Snapshot, ValueStats, WindowCounters, WindowSnapshot};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Group fields the console recognises in metric documents, in the order tried.
const GROUP_FIELDS: [&str; 5] = ["event.dataset", "streaming.title.id", "cdn.pop", "streaming.device", "agent.name"];
/// Documents read per refresh (the newest first).
const DOCUMENTS: usize = 10_000;

/// Where the metric documents are.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The cluster.
    pub endpoint: Endpoint,
    /// Index pattern of the metric documents.
    pub index: String,
    /// Windows kept per metric.
    pub windows: usize,
}

impl Fleet {
    /// The newest windows of every metric, merged across agents.
    pub fn snapshot(&self, timeout: Duration) -> anyhow::Result<Snapshot> {
        let query = json!({
            "size": DOCUMENTS,
            "sort": [{ "@timestamp": { "order": "desc" } }],
            "query": { "term": { "event.kind": "metric" } },
        });
        let path = format!("/{}/_search", self.index);
        let body = self.endpoint.request("POST", &path, Some(query.to_string().as_bytes()), timeout)?;
        let reply: Value = serde_json::from_slice(&body).context("the search reply is not JSON")?;
        let mut docs: Vec<Value> = reply["hits"]["hits"]
            .as_array()
            .context("the search reply has no hits")?
            .iter()
            .map(|h| h["_source"].clone())
            .collect();
        if docs.len() >= DOCUMENTS {
            // The oldest window read may be cut short: leave it out.
            if let Some(oldest) = docs.last().map(|d| d["@timestamp"].clone()) {
                docs.retain(|d| d["@timestamp"] != oldest);
            }
        }
        Ok(from_documents(&docs, self.windows, now_ms()))
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Sums of one key in one window over every agent's document.
#[derive(Default)]
struct Acc {
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
    histogram: Merged,
    sums: BTreeMap<String, f64>,
    counts: BTreeMap<String, u64>,
    ratios: BTreeMap<String, (f64, f64)>,
}

impl Acc {
    fn add(&mut self, m: &Value) {
        let u = |v: &Value| v.as_u64().unwrap_or(0);
        self.count += u(&m["count"]);
        self.errors += u(&m["errors"]);
        self.hits += u(&m["cache"]["hits"]);
        self.misses += u(&m["cache"]["misses"]);
        self.bytes += m["bytes"].as_f64().unwrap_or(0.0);
        self.late += u(&m["late_events"]);
        let v = &m["value"];
        if u(&v["count"]) > 0 {
            self.value_count += u(&v["count"]);
            self.value_sum += v["sum"].as_f64().unwrap_or(0.0);
            let min = u(&v["min"]);
            self.min = Some(self.min.map_or(min, |m| m.min(min)));
            self.max = self.max.max(u(&v["max"]));
            let values = v["histogram"]["values"].as_array().cloned().unwrap_or_default();
            let counts = v["histogram"]["counts"].as_array().cloned().unwrap_or_default();
            for (value, count) in values.iter().zip(&counts) {
                self.histogram.add(value.as_f64().unwrap_or(0.0), u(count));
            }
        }
        for (name, x) in m["sum"].as_object().into_iter().flatten() {
            *self.sums.entry(name.clone()).or_default() += x.as_f64().unwrap_or(0.0);
        }
        for (name, x) in m["count_if"].as_object().into_iter().flatten() {
            *self.counts.entry(name.clone()).or_default() += u(x);
        }
        for (name, parts) in m["ratio_parts"].as_object().into_iter().flatten() {
            let r = self.ratios.entry(name.clone()).or_default();
            r.0 += parts["numerator"].as_f64().unwrap_or(0.0);
            r.1 += parts["denominator"].as_f64().unwrap_or(0.0);
        }
    }

    fn merge(&mut self, other: &Acc) {
        self.count += other.count;
        self.errors += other.errors;
        self.hits += other.hits;
        self.misses += other.misses;
        self.bytes += other.bytes;
        self.late += other.late;
        self.value_count += other.value_count;
        self.value_sum += other.value_sum;
        if let Some(m) = other.min {
            self.min = Some(self.min.map_or(m, |s| s.min(m)));
        }
        self.max = self.max.max(other.max);
        self.histogram.merge(&other.histogram);
        for (n, x) in &other.sums {
            *self.sums.entry(n.clone()).or_default() += x;
        }
        for (n, x) in &other.counts {
            *self.counts.entry(n.clone()).or_default() += x;
        }
        for (n, (a, b)) in &other.ratios {
            let r = self.ratios.entry(n.clone()).or_default();
            r.0 += a;
            r.1 += b;
        }
    }

    /// A percentile of the merged histogram, within the exact extremes.
    fn percentile(&self, q: f64) -> u64 {
        self.histogram.percentile(q).map_or(self.max, |p| p.clamp(self.min.unwrap_or(0), self.max))
    }

    fn stats(&self, key: String) -> KeyStats {
        KeyStats {
            key,
            count: self.count,
            errors: self.errors,
            error_rate: ratio(self.errors as f64, self.count as f64),
            cache_hits: self.hits,
            cache_misses: self.misses,
            cache_hit_ratio: ratio(self.hits as f64, (self.hits + self.misses) as f64),
            bytes: self.bytes,
            late_events: self.late,
            value: (self.value_count > 0).then(|| ValueStats {
                count: self.value_count,
                min: self.min.unwrap_or(0),
                max: self.max,
                mean: self.value_sum / self.value_count as f64,
                p50: self.percentile(0.5),
                p90: self.percentile(0.9),
                p95: self.percentile(0.95),
                p99: self.percentile(0.99),
                p99_9: self.percentile(0.999),
                histogram_values: self.histogram.buckets().iter().map(|b| b.0).collect(),
                histogram_counts: self.histogram.buckets().iter().map(|b| b.1).collect(),
            }),
            sums: self.sums.iter().map(|(n, x)| (n.clone(), *x)).collect(),
            counts: self.counts.iter().map(|(n, x)| (n.clone(), *x)).collect(),
            ratios: self.ratios.iter().map(|(n, (a, b))| (n.clone(), ratio(*a, *b))).collect(),
        }
    }
}

/// The value of a dotted field in a document.
fn field<'a>(doc: &'a Value, dotted: &str) -> &'a Value {
    dotted.split('.').fold(doc, |v, part| &v[part])
}

/// A snapshot holding, per metric name, its newest `windows` windows, each key merged
/// over every agent's document.
pub fn from_documents(docs: &[Value], windows: usize, now_ms: i64) -> Snapshot {
    // name → window start → key → sums; plus each name's group fields and window length.
    let mut metrics: BTreeMap<String, BTreeMap<i64, BTreeMap<String, Acc>>> = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seconds: BTreeMap<String, f64> = BTreeMap::new();
    let mut agents: BTreeSet<String> = BTreeSet::new();
    for doc in docs {
        let m = &doc["metric"];
        let (Some(name), Some(key), Some(start)) =
            (m["name"].as_str(), m["key"].as_str(), m["window"]["start"].as_str())
        else {
            continue;
        };
        let Ok(start) = chrono::DateTime::parse_from_rfc3339(start) else { continue };
        if let Some(a) = doc["agent"]["name"].as_str() {
            agents.insert(a.to_string());
        }
        groups.entry(name.to_string()).or_insert_with(|| {
            // Which document field each part of the key is.
            key.split('|')
                .map(|part| {
                    GROUP_FIELDS
                        .iter()
                        .find(|f| field(doc, f).as_str() == Some(part))
                        .map_or("?".to_string(), |f| f.to_string())
                })
                .collect()
        });
        seconds.insert(name.to_string(), m["window"]["seconds"].as_f64().unwrap_or(10.0));
        let acc = metrics
            .entry(name.to_string())
            .or_default()
            .entry(start.timestamp_millis())
            .or_default()
            .entry(key.to_string())
            .or_default();
        acc.add(m);
    }
    let aggregations = metrics
        .into_iter()
        .map(|(name, by_window)| {
            let window_seconds = seconds.get(&name).copied().unwrap_or(10.0);
            let recent: Vec<WindowSnapshot> = by_window
                .into_iter()
                .rev()
                .take(windows)
                .map(|(start, keys)| {
                    let mut totals = Acc::default();
                    for acc in keys.values() {
                        totals.merge(acc);
                    }
                    let mut views: Vec<KeyStats> = keys.iter().map(|(k, acc)| acc.stats(k.clone())).collect();
                    views.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
                    let top = |by: &dyn Fn(&KeyStats) -> u64| {
                        let mut order: Vec<&KeyStats> = views.iter().collect();
                        order.sort_by(|a, b| by(b).cmp(&by(a)).then_with(|| a.key.cmp(&b.key)));
                        order.iter().take(10).map(|k| k.key.clone()).collect::<Vec<_>>()
                    };
                    WindowSnapshot {
                        start_ms: start,
                        end_ms: start + (window_seconds * 1000.0) as i64,
                        closed: true,
                        key_count: views.len() as u64,
                        totals: totals.stats("_all".into()),
                        top_by_count: top(&|k| k.count),
                        top_by_errors: top(&|k| k.errors),
                        top_by_p95: top(&|k| k.value.as_ref().map_or(0, |v| v.p95)),
                        keys: views,
                    }
                })
                .collect();
            AggregationSnapshot {
                id: name.clone(),
                group_by: groups.remove(&name).unwrap_or_default(),
                window_seconds,
                counters: WindowCounters { windows_closed: recent.len() as u64, ..WindowCounters::default() },
                recent,
                name,
                ..AggregationSnapshot::default()
            }
        })
        .collect();
    Snapshot {
        version: format!("fleet of {} agent(s)", agents.len()),
        timestamp_ms: now_ms,
        aggregations,
        ..Snapshot::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(agent: &str, key: &str, count: u64, values: &[(f64, u64)]) -> Value {
        let (title, pop) = key.split_once('|').unwrap();
        json!({
            "@timestamp": "2026-11-20T20:00:00.000Z",
            "agent": { "name": agent },
            "event": { "kind": "metric", "dataset": "cdn.edge" },
            "streaming": { "title": { "id": title } },
            "cdn": { "pop": pop },
            "metric": {
                "name": "cdn_title_pop", "key": key, "count": count, "errors": 1,
                "window": { "start": "2026-11-20T20:00:00.000Z", "seconds": 10.0 },
                "cache": { "hits": count - 1, "misses": 1 },
                "value": {
                    "count": values.iter().map(|v| v.1).sum::<u64>(),
                    "sum": values.iter().map(|v| v.0 * v.1 as f64).sum::<f64>(),
                    "min": values[0].0 as u64, "max": values[values.len() - 1].0 as u64,
                    "histogram": { "values": values.iter().map(|v| v.0).collect::<Vec<_>>(), "counts": values.iter().map(|v| v.1).collect::<Vec<_>>() },
                },
                "ratio_parts": { "r": { "numerator": 1.0, "denominator": count as f64 } },
            },
        })
    }

    #[test]
    fn windows_of_several_agents_merge() {
        let docs = [doc("a", "t1|ams", 4, &[(10.0, 3), (100.0, 1)]), doc("b", "t1|ams", 6, &[(10.0, 1), (200.0, 5)])];
        let s = from_documents(&docs, 5, 0);
        assert_eq!(s.version, "fleet of 2 agent(s)");
        let a = &s.aggregations[0];
        assert_eq!(a.group_by, ["streaming.title.id", "cdn.pop"]);
        let k = &a.recent[0].keys[0];
        assert_eq!((k.count, k.errors, k.cache_hits, k.cache_misses), (10, 2, 8, 2));
        let v = k.value.as_ref().unwrap();
        // 10 values: 4 × 10, 1 × 100, 5 × 200.
        assert_eq!((v.count, v.min, v.max, v.p50, v.p90), (10, 10, 200, 100, 200));
        assert_eq!(v.histogram_counts, [4, 1, 5]);
        assert_eq!(k.ratios, [("r".to_string(), Some(0.2))]);
        assert_eq!(a.recent[0].totals.count, 10);
    }
}
