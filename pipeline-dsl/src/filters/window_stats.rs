//! `window_stats` filter: streaming-health metrics per event-time window and key.
//!
//! It observes events without changing them (Logstash's `metrics` filter is the
//! precedent) and, per window of event time and per key, keeps an HdrHistogram of one
//! numeric field and counters. When the watermark (newest event time seen minus
//! `allowed_lateness`) passes a window's end, it emits one metric event per key.
//!
//! ```text
//! window_stats {
//!   id => "edge_title"
//!   name => "cdn_title"                               # metric.name (default: the id)
//!   group_by => ["[streaming][title][id]"]            # key fields (none: one key)
//!   value => "[event][duration]"                      # recorded in the histogram
//!   value_scale => 0.000001                           # ns -> ms before recording
//!   error_if => '[http][response][status_code] >= 500'
//!   cache_hit_if => '[cdn][cache][result] == "hit"'
//!   cache_miss_if => '[cdn][cache][result] == "miss"'
//!   bytes => "[http][response][body][bytes]"
//!   sum => { "watch_ms" => "[streaming][watch_ms]" }
//!   count_if => { "sessions" => '[event][action] == "session_start"' }
//!   ratio => { "error_per_session" => ["errors", "sessions"] }
//! }
//! ```
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `group_by` | none | fields whose values make the key; a missing field counts as `_none` |
//! | `value` / `value_scale` | none / 1 | numeric field recorded (times the scale, rounded; negative values are not recorded) |
//! | `window` | 10 s | window length (event time, aligned to the Unix epoch) |
//! | `allowed_lateness` | 5 s | how long after the watermark's event time a window stays open |
//! | `idle_flush` | window + lateness | close every window after this long without events (wall clock); a source (file) that sent nothing this long no longer holds the watermark back |
//! | `max_hold` | the window, at least 60 s | how far the slowest source may hold the watermark behind the newest event time |
//! | `late_horizon` | 2 h | how far behind the newest event time a late event is still aggregated (as a correction); older ones are only counted |
//! | `late_flush` | 10 s | how long late events gather before their corrections are emitted (wall clock) |
//! | `max_late_keys` | 100,000 | corrections are emitted early once they hold this many keys |
//! | `error_if`, `cache_hit_if`, `cache_miss_if` | none | conditions, in the config's condition syntax |
//! | `bytes` | none | numeric field summed |
//! | `sum` / `count_if` / `ratio` | none | named sums of fields, counts of conditions, and ratios of any two figures (`count`, `errors`, `cache_hits`, `cache_misses`, `bytes`, `value_count`, `value_sum`, or a `sum`/`count_if` name) |
//! | `significant_figures` / `highest_value` | 3 / 3,600,000 | histogram precision and range (larger values are recorded as the highest and counted in `clamped`) |
//! | `max_keys` | 100,000 | keys per window; further keys' events go to the key `_other` |
//! | `metric_tags` | `["metric"]` | tags of the metric events, for routing them in outputs |
//! | `history` / `snapshot_keys` | 18 / 50 | closed windows and keys per window kept for the control API |
//! | `agent` | `LOGSHIP_AGENT_NAME`, else the host name | `agent.name` of the metric events and part of their ids, so agents sharing a cluster never overwrite each other's windows |
//!
//! A metric event has `@timestamp` = window start, the group fields at their own paths,
//! `event.kind: metric`, `agent.name`, `[@metadata][id]` (stable per name, agent, window
//! and key: use it as `document_id`) and `metric.*`: `name`, `key`, `window.{start,end,seconds}`, `count`,
//! `errors`, `error_rate`, `late_events`, `cache.{hits,misses,hit_ratio}`, `bytes`,
//! `value.{count,min,max,mean,sum,p50,p90,p95,p99,p99_9,clamped,histogram}` (the
//! histogram as `{values, counts}`, Elasticsearch's `histogram` field format),
//! `sum.*`, `count_if.*` and `ratio.*`. Metric events skip the remaining filters and go
//! straight to output routing.
//!
//! **Watermark.** Each source (a file, known by its content fingerprint; standard input
//! is one source) has its newest event time. The block's watermark is that of the
//! slowest source that sent events within `idle_flush`, but never more than `max_hold`
//! behind the newest event time of all; a window closes when the watermark, less
//! `allowed_lateness`, passes its end. So files read side by side (CloudFront files of
//! the same hour) fill their windows together, a finished file does not hold the others
//! back, and one file far ahead does not make the rest late. With one source in order
//! (an edge log) this is the newest event time, as it always was.
//!
//! **Late events.** An event for a window already emitted, within `late_horizon` of the
//! newest event time, is aggregated into a *correction*: an extra document for the same
//! window and key, with `metric.correction` (the round, 1, 2 …) and an id of its own
//! (the window's id followed by `-c{run}.{round}`, unique per agent run). A correction
//! holds only the figures that add up across documents: `count`, `errors`,
//! `cache.{hits,misses}`, `bytes`, `value.{count,sum,min,max,clamped,histogram}`,
//! `sum.*`, `count_if.*` and `ratio_parts.*`; no rates, means or percentiles. A window's
//! truth is the merge of its documents: counts and sums add up, histograms merge
//! (Elasticsearch's `histogram` field does this in percentile aggregations; the console's
//! fleet view merges them itself), ratios come from the summed parts. The `p50`…`p99_9`,
//! `mean` and rate fields of the window's own document describe only that document, so
//! dashboards read percentiles from `metric.value.histogram` and rates from summed
//! counts. The control API's recent windows take their corrections in (percentiles
//! recomputed from the merged histograms). Events beyond `late_horizon` are counted
//! (`late_events` in the snapshot and on the key in the oldest open window), never
//! silently ignored. Every event passes on unchanged like every other.
//!
//! After a run that read files with checkpoints (`--once` included), the block's clock
//! (newest event time, windows emitted) is saved with the open windows, so a later run
//! over older lines (the next CloudFront delivery of the same hour) corrects the windows
//! already emitted rather than emitting them again under the same ids.
//!
//! When the agent is stopped, windows still open are not emitted: the agent saves them
//! and the next start continues them (`Flush::Stop`, [`crate::aggregation::SavedAggregation`]),
//! so a window spanning a restart is emitted once and whole; corrections gathering are
//! emitted before the stop. Windows are matched to their block by `id`. After a crash
//! (`kill -9`) the open windows and gathering corrections are lost, as they are not
//! saved until a stop.
//!
//! Memory: a key holds its values exactly (8 bytes each) while they take less than a
//! quarter of a dense histogram (see `Precision::exact_limit`: 1,664 values for
//! `significant_figures` 3 over 1–3,600,000, whose histogram takes 53 KB), then that
//! histogram; `max_keys` bounds the keys per window, `max_hold` and `late_horizon` the
//! open windows, `max_late_keys` the gathering corrections. Closed windows are not kept
//! (corrections do not need them). BENCHMARKS.md has measured figures.

use super::{BuildContext, Filter, Flush, Outcome};
use crate::aggregation::{
    AggregationConfig, Aggregator, Observation, Observations, Precision, RatioTerm, CACHE_HIT, CACHE_MISS, ERROR,
    KEY_SEPARATOR,
};
use crate::condition::Condition;
use crate::event::{value_to_string, Event};
use crate::field_ref::FieldRef;
use crate::settings::Settings;
use crate::value::{Str, Value};
use chrono::DateTime;
use std::sync::Arc;
use std::time::Duration;

/// The `window_stats` filter of one worker; the windows are shared ([`Aggregator`]).
pub struct WindowStats {
    aggregator: Arc<Aggregator>,
    group_by: Vec<FieldRef>,
    value: Option<FieldRef>,
    value_scale: f64,
    error_if: Option<Condition>,
    cache_hit_if: Option<Condition>,
    cache_miss_if: Option<Condition>,
    bytes: Option<FieldRef>,
    sums: Vec<FieldRef>,
    counts: Vec<Condition>,
    pending: Observations,
    /// The source of the batch being applied.
    source: u64,
    /// The last `@timestamp` text parsed and its time: consecutive events mostly share it.
    last_time: (String, i64),
}

impl WindowStats {
    /// Reads the settings in the module documentation; `site` identifies the block in
    /// the config, so every worker's copy shares one aggregator.
    pub fn from_settings(s: &mut Settings, ctx: &BuildContext, id: &str) -> Self {
        let group_refs: Vec<_> = s.strings("group_by");
        let group_by: Vec<FieldRef> = group_refs.iter().filter_map(|g| s.parse_field_ref(g)).collect();
        // `[streaming][title][id]` → `streaming.title.id`, for display.
        let group_names = group_by.iter().map(|f| f.segments().collect::<Vec<&str>>().join(".")).collect();
        let value = s.field_ref("value");
        let value_scale = s.number("value_scale").unwrap_or(1.0);
        let window = positive(s, "window", Duration::from_secs(10));
        let lateness = s.duration("allowed_lateness").unwrap_or(Duration::from_secs(5));
        let idle_flush = s.duration("idle_flush").unwrap_or(window + lateness);
        let late_horizon = s.duration("late_horizon").unwrap_or(Duration::from_secs(2 * 3600));
        let late_flush = positive(s, "late_flush", Duration::from_secs(10));
        let max_late_keys = s.int("max_late_keys").unwrap_or(100_000).max(1) as usize;
        let max_hold = s.duration("max_hold").unwrap_or(window.max(Duration::from_secs(60)));
        let error_if = s.condition("error_if");
        let cache_hit_if = s.condition("cache_hit_if");
        let cache_miss_if = s.condition("cache_miss_if");
        let bytes = s.field_ref("bytes");
        let mut sum_names = Vec::new();
        let mut sums = Vec::new();
        for (name, field) in s.string_hash("sum") {
            if let Some(f) = s.parse_field_ref(&field) {
                sum_names.push(name.node);
                sums.push(f);
            }
        }
        let mut count_names = Vec::new();
        let mut counts = Vec::new();
        for (name, cond) in s.string_hash("count_if") {
            if let Some(c) = s.compile_condition(&cond) {
                count_names.push(name.node);
                counts.push(c);
            }
        }
        let mut ratios = Vec::new();
        for (name, terms) in s.hash("ratio") {
            let texts: Vec<String> = match &terms.node {
                crate::ast::Value::Array(items) => {
                    items.iter().filter_map(|i| crate::settings::scalar_text(&i.node)).collect()
                }
                _ => Vec::new(),
            };
            let parsed: Vec<_> = texts.iter().filter_map(|t| RatioTerm::parse(t, &sum_names, &count_names)).collect();
            if texts.len() != 2 || parsed.len() != 2 {
                s.error(
                    format!("ratio `{}` must be [numerator, denominator]", name.node),
                    terms.span.clone(),
                    "two of: count, errors, cache_hits, cache_misses, bytes, value_count, value_sum, or a sum/count_if name",
                );
                continue;
            }
            ratios.push((name.node, parsed[0], parsed[1]));
        }
        let significant = s.int("significant_figures").unwrap_or(3);
        let highest = s.int("highest_value").unwrap_or(3_600_000);
        let precision = match Precision::new(significant.clamp(0, 255) as u8, highest.max(0) as u64) {
            Ok(p) => p,
            Err(e) => {
                s.error(
                    format!("histogram settings refused: {e}"),
                    s.plugin_span(),
                    "significant_figures must be 1 to 5 and highest_value at least 2",
                );
                Precision::new(3, 3_600_000).unwrap_or_else(|_| unreachable!("the default precision is valid"))
            }
        };
        let max_keys = s.int("max_keys").unwrap_or(100_000).max(1) as usize;
        let tags = match s.raw("metric_tags") {
            Some(_) => s.strings("metric_tags").into_iter().map(|t| t.node).collect(),
            None => vec!["metric".to_string()],
        };
        let history = s.int("history").unwrap_or(18).max(0) as usize;
        let snapshot_keys = s.int("snapshot_keys").unwrap_or(50).max(0) as usize;
        let name = s.string("name").map_or_else(|| id.to_string(), |n| n.node);
        let agent = s.string("agent").map(|a| a.node).filter(|a| !a.is_empty()).unwrap_or_else(agent_name);
        let config = AggregationConfig {
            id: id.to_string(),
            name,
            group_by: group_by.clone(),
            group_names,
            window_ms: window.as_millis().max(1) as i64,
            lateness_ms: lateness.as_millis() as i64,
            late_horizon_ms: late_horizon.as_millis().min(i64::MAX as u128) as i64,
            late_flush,
            max_late_keys,
            max_hold_ms: max_hold.as_millis().min(i64::MAX as u128) as i64,
            idle_flush,
            max_keys,
            precision,
            has_value: value.is_some(),
            has_cache: cache_hit_if.is_some() || cache_miss_if.is_some(),
            has_bytes: bytes.is_some(),
            sums: sum_names,
            counts: count_names,
            ratios,
            tags,
            agent,
            history,
            snapshot_keys,
        };
        let site = format!("{}:{}", ctx.config_path, s.plugin_span().start);
        let aggregator = ctx.aggregations.get_or_insert(&site, || Aggregator::new(config));
        Self {
            aggregator,
            group_by,
            value,
            value_scale,
            error_if,
            cache_hit_if,
            cache_miss_if,
            bytes,
            sums,
            counts,
            pending: Observations::default(),
            source: 0,
            last_time: (String::new(), 0),
        }
    }

    fn event_time(&mut self, event: &Event) -> i64 {
        let Some(text) = event.timestamp_text() else {
            return chrono::Utc::now().timestamp_millis();
        };
        if text != self.last_time.0 {
            let ms = DateTime::parse_from_rfc3339(text)
                .map_or_else(|_| chrono::Utc::now().timestamp_millis(), |t| t.timestamp_millis());
            self.last_time = (text.to_string(), ms);
        }
        self.last_time.1
    }
}

/// This agent's name in metric documents: `LOGSHIP_AGENT_NAME`, else the host name.
fn agent_name() -> String {
    std::env::var("LOGSHIP_AGENT_NAME")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A duration setting that must be above zero.
fn positive(s: &mut Settings, key: &str, default: Duration) -> Duration {
    match s.duration(key) {
        Some(d) if d.is_zero() => {
            let span = s.plugin_span();
            s.error(format!("`{key}` must be longer than zero"), span, "set a positive duration");
            default
        }
        Some(d) => d,
        None => default,
    }
}

/// A field's number (text is parsed); `None` for anything else, "NaN" and infinities
/// included: they are no measurement, and would poison every sum they joined.
fn number(v: Option<&Value>) -> Option<f64> {
    let x = match v? {
        Value::String(s) => s.trim().parse().ok(),
        other => other.as_f64(),
    };
    x.filter(|x: &f64| x.is_finite())
}

impl Filter for WindowStats {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        let mut key = Str::default();
        for (i, g) in self.group_by.iter().enumerate() {
            if i > 0 {
                key.push(KEY_SEPARATOR);
            }
            match event.get(g) {
                None | Some(Value::Null) => key.push_str("_none"),
                Some(Value::String(s)) => key.push_str(s),
                Some(v) => key.push_str(&value_to_string(v)),
            }
        }
        let time_ms = self.event_time(event);
        let value = self.value.as_ref().and_then(|f| number(event.get(f))).and_then(|v| {
            let scaled = (v * self.value_scale).round();
            (scaled.is_finite() && scaled >= 0.0).then_some(scaled as u64)
        });
        let test = |c: &Option<Condition>, flag: u8| c.as_ref().map_or(0, |c| if c.eval(event) { flag } else { 0 });
        let flags =
            test(&self.error_if, ERROR) | test(&self.cache_hit_if, CACHE_HIT) | test(&self.cache_miss_if, CACHE_MISS);
        let bytes = self.bytes.as_ref().and_then(|f| number(event.get(f))).unwrap_or(0.0);
        for f in &self.sums {
            self.pending.extras.push(number(event.get(f)).unwrap_or(0.0));
        }
        for c in &self.counts {
            self.pending.extras.push(if c.eval(event) { 1.0 } else { 0.0 });
        }
        self.pending.list.push(Observation { key, time_ms, value, flags, bytes });
        Outcome::Applied
    }

    fn flush(&mut self, when: Flush, emit: &mut dyn FnMut(Event)) -> bool {
        let mut observations = std::mem::take(&mut self.pending);
        observations.source = self.source;
        self.aggregator.submit(when, observations, chrono::Utc::now().timestamp_millis(), emit)
    }

    fn flushes(&self) -> bool {
        true
    }

    fn source(&mut self, source: u64) {
        self.source = source;
    }
}

#[cfg(test)]
mod tests {
    use crate::pipeline::{compile, ConfigSource, LoadOptions};

    fn errors(body: &str) -> Vec<(String, String)> {
        let text = format!("filter {{\n  window_stats {{\n{body}\n  }}\n}}\n");
        let source = ConfigSource { path: "t.conf".into(), text: text.clone() };
        let options = LoadOptions { env: &|_| None, support_escapes: false, aggregations: Default::default() };
        match compile(vec![source], &[], &[], &options) {
            Ok(_) => Vec::new(),
            Err(e) => {
                e.0[0].diagnostics.iter().map(|d| (d.message.clone(), text[d.span.clone()].to_string())).collect()
            }
        }
    }

    #[test]
    fn settings_errors_point_into_the_config() {
        assert!(errors(r#"group_by => ["[title]"] error_if => '[status] >= 500'"#).is_empty());
        let e = errors(r#"error_if => '[status] >>= 500'"#);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].0.starts_with("syntax error in condition"), "{e:?}");
        assert_eq!(e[0].1, ">=", "the caret sits on the bad operator: {e:?}");
        let e = errors(r#"count_if => { "x" => '[a] =~ /(/' }"#);
        assert_eq!(e.len(), 1, "{e:?}");
        let e = errors(r#"ratio => { "r" => ["errors", "nope"] }"#);
        assert!(e[0].0.contains("ratio `r`"), "{e:?}");
        let e = errors(r#"significant_figures => 9"#);
        assert!(e[0].0.contains("histogram settings refused"), "{e:?}");
        let e = errors(r#"window => 0"#);
        assert!(e[0].0.contains("longer than zero"), "{e:?}");
    }

    #[test]
    fn every_worker_copy_shares_one_aggregator() {
        let aggregations = crate::aggregation::Aggregations::new();
        let text = "filter { window_stats { id => \"w\" } window_stats { } }".to_string();
        for _ in 0..2 {
            let source = ConfigSource { path: "t.conf".into(), text: text.clone() };
            let options = LoadOptions { env: &|_| None, support_escapes: false, aggregations: aggregations.clone() };
            assert!(compile(vec![source], &[], &[], &options).is_ok());
        }
        let ids: Vec<String> = aggregations.all().iter().map(|a| a.config.id.clone()).collect();
        assert_eq!(ids, ["w", "window_stats-2"]);
    }
}
