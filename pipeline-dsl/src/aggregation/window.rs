//! Event-time windows of one aggregation: recording, closing on the watermark, the
//! metric events emitted at close, and the live view for the control API.

use super::merged::Merged;
use super::recorder::{Precision, Recorder, Summary};
use super::saved::{SavedAggregation, SavedKey, SavedWindow};
use crate::api;
use crate::event::{format_timestamp, Event};
use crate::field_ref::FieldRef;
use crate::filters::Flush;
use crate::value::{intern, Key, Map, Str, Value};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Observation flag: the event matched `error_if`.
pub const ERROR: u8 = 1;
/// Observation flag: the event matched `cache_hit_if`.
pub const CACHE_HIT: u8 = 2;
/// Observation flag: the event matched `cache_miss_if`.
pub const CACHE_MISS: u8 = 4;

/// Key of the entry that collects events beyond `max_keys`.
const OTHER: &str = "_other";
/// Separator of group values inside a key.
pub const KEY_SEPARATOR: char = '\u{1f}';
/// Events stamped further than this past the wall clock (plus one window) are counted
/// as `future_events` and not aggregated: one bad clock must not close every window.
const FUTURE_TOLERANCE_MS: i64 = 60_000;
/// Length of the top lists in the snapshot.
const TOP: usize = 10;
/// Metric events emitted per turn at most: a window of 100,000 keys goes out over
/// many batches instead of one huge one.
pub const EMIT_PER_TURN: usize = 4096;

/// The settings of one aggregation (from its `window_stats` block).
#[derive(Debug, Clone)]
pub struct AggregationConfig {
    /// Plugin id.
    pub id: String,
    /// `metric.name` of the emitted documents.
    pub name: String,
    /// Grouping fields; their values make the key.
    pub group_by: Vec<FieldRef>,
    /// The grouping fields as written (dotted), for the snapshot.
    pub group_names: Vec<String>,
    /// Window length.
    pub window_ms: i64,
    /// How far behind the newest event time a window stays open.
    pub lateness_ms: i64,
    /// How far behind the newest event time a closed window still takes late events
    /// (as corrections); older events are only counted.
    pub late_horizon_ms: i64,
    /// How long late events gather before their corrections are emitted (wall clock).
    pub late_flush: Duration,
    /// Keys held in corrections before they are emitted early.
    pub max_late_keys: usize,
    /// How far a slow source may hold the watermark behind the newest event time.
    pub max_hold_ms: i64,
    /// Close every open window after this long without events (wall clock).
    pub idle_flush: Duration,
    /// Keys per window before events go to `_other`.
    pub max_keys: usize,
    /// Histogram settings.
    pub precision: Precision,
    /// Whether a value field is recorded.
    pub has_value: bool,
    /// Whether cache conditions are set.
    pub has_cache: bool,
    /// Whether a bytes field is summed.
    pub has_bytes: bool,
    /// Names of the `sum` settings.
    pub sums: Vec<String>,
    /// Names of the `count_if` settings.
    pub counts: Vec<String>,
    /// `ratio` settings: name, numerator, denominator.
    pub ratios: Vec<(String, RatioTerm, RatioTerm)>,
    /// Tags of the emitted metric events.
    pub tags: Vec<String>,
    /// Which agent made the documents (`agent.name`, part of their ids): windows of the
    /// same key from several agents are separate documents, merged when read.
    pub agent: String,
    /// Closed windows kept for the snapshot.
    pub history: usize,
    /// Keys per window shown in the snapshot.
    pub snapshot_keys: usize,
}

/// A figure a `ratio` can divide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatioTerm {
    /// Events.
    Count,
    /// Errors.
    Errors,
    /// Cache hits.
    Hits,
    /// Cache misses.
    Misses,
    /// Summed bytes.
    Bytes,
    /// Values recorded.
    ValueCount,
    /// Sum of the values recorded.
    ValueSum,
    /// A `sum` setting, by position.
    Sum(usize),
    /// A `count_if` setting, by position.
    CountIf(usize),
}

impl RatioTerm {
    /// The term named `name` (`count`, `errors`, `cache_hits`, `cache_misses`, `bytes`,
    /// `value_count`, `value_sum`, or a `sum`/`count_if` name).
    pub fn parse(name: &str, sums: &[String], counts: &[String]) -> Option<Self> {
        Some(match name {
            "count" => RatioTerm::Count,
            "errors" => RatioTerm::Errors,
            "cache_hits" => RatioTerm::Hits,
            "cache_misses" => RatioTerm::Misses,
            "bytes" => RatioTerm::Bytes,
            "value_count" => RatioTerm::ValueCount,
            "value_sum" => RatioTerm::ValueSum,
            _ => match sums.iter().position(|s| s == name) {
                Some(i) => RatioTerm::Sum(i),
                None => RatioTerm::CountIf(counts.iter().position(|c| c == name)?),
            },
        })
    }
}

/// What one event contributes, computed by the filter without any lock.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Group values joined by U+001F.
    pub key: Str,
    /// Event time, Unix milliseconds.
    pub time_ms: i64,
    /// The value to record (already scaled and rounded).
    pub value: Option<u64>,
    /// [`ERROR`], [`CACHE_HIT`], [`CACHE_MISS`].
    pub flags: u8,
    /// Bytes to add.
    pub bytes: f64,
}

/// Observations of one batch; `extras` holds, per observation, the `sum` values then
/// the `count_if` results (0 or 1).
#[derive(Debug, Default)]
pub struct Observations {
    /// The observations.
    pub list: Vec<Observation>,
    /// `sums.len() + counts.len()` numbers per observation.
    pub extras: Vec<f64>,
    /// The batch's source (see [`crate::filters::Filter::source`]).
    pub source: u64,
}

#[derive(Debug, Default)]
struct KeyStats {
    count: u64,
    errors: u64,
    hits: u64,
    misses: u64,
    bytes: f64,
    late: u64,
    value: Recorder,
    extras: Vec<f64>,
}

impl KeyStats {
    fn add(&mut self, o: &Observation, extras: &[f64], precision: &Precision) {
        self.count += 1;
        self.errors += u64::from(o.flags & ERROR != 0);
        self.hits += u64::from(o.flags & CACHE_HIT != 0);
        self.misses += u64::from(o.flags & CACHE_MISS != 0);
        self.bytes += o.bytes;
        if let Some(v) = o.value {
            self.value.record(v, precision);
        }
        if self.extras.len() < extras.len() {
            self.extras.resize(extras.len(), 0.0);
        }
        for (acc, x) in self.extras.iter_mut().zip(extras) {
            *acc += x;
        }
    }

    fn heap_bytes(&self) -> usize {
        self.value.heap_bytes() + self.extras.capacity() * 8
    }

    fn save(&self) -> SavedKey {
        SavedKey {
            count: self.count,
            errors: self.errors,
            hits: self.hits,
            misses: self.misses,
            bytes: self.bytes,
            late: self.late,
            extras: self.extras.clone(),
            value: self.value.save(),
        }
    }

    fn restore(saved: SavedKey, precision: &Precision) -> Result<Self, String> {
        let SavedKey { count, errors, hits, misses, bytes, late, extras, value } = saved;
        Ok(Self { count, errors, hits, misses, bytes, late, value: Recorder::restore(value, precision)?, extras })
    }

    fn term(&self, t: RatioTerm, config: &AggregationConfig) -> f64 {
        match t {
            RatioTerm::Count => self.count as f64,
            RatioTerm::Errors => self.errors as f64,
            RatioTerm::Hits => self.hits as f64,
            RatioTerm::Misses => self.misses as f64,
            RatioTerm::Bytes => self.bytes,
            RatioTerm::ValueCount => self.value.count as f64,
            RatioTerm::ValueSum => self.value.sum,
            RatioTerm::Sum(i) => self.extras.get(i).copied().unwrap_or(0.0),
            RatioTerm::CountIf(i) => self.extras.get(config.sums.len() + i).copied().unwrap_or(0.0),
        }
    }
}

#[derive(Debug, Default)]
struct Window {
    /// Keys come from event data, so the hasher is randomly seeded; foldhash rather than
    /// SipHash, as every event of every window block looks its key up here.
    keys: HashMap<Str, KeyStats, foldhash::fast::RandomState>,
    totals: KeyStats,
}

impl Window {
    /// Adds one observation under its key, or under `_other` once the window holds
    /// `max_keys` keys.
    fn add(&mut self, o: &Observation, extras: &[f64], c: &AggregationConfig, counts: &mut api::WindowCounters) {
        self.totals.add(o, extras, &c.precision);
        let stats = if let Some(k) = self.keys.get_mut(&o.key) {
            k
        } else if self.keys.len() < c.max_keys {
            self.keys.entry(o.key.clone()).or_default()
        } else {
            counts.overflow_events += 1;
            self.keys.entry(Str::from(OTHER)).or_default()
        };
        stats.add(o, extras, &c.precision);
    }
}

struct State {
    windows: BTreeMap<i64, Window>,
    max_time: Option<i64>,
    /// The sources that sent events within `idle_flush`: the watermark follows the
    /// slowest of them.
    sources: HashMap<u64, SourceClock>,
    /// Late events of closed windows, gathering until they go out as corrections.
    corrections: BTreeMap<i64, Window>,
    /// Keys held in `corrections`.
    correction_keys: usize,
    /// When the oldest correction held began to gather.
    corrections_since: Option<Instant>,
    /// Rounds of corrections emitted in this run.
    rounds: u64,
    /// Every window ending at or before this has closed.
    closed_until: i64,
    last_event: Instant,
    /// The event counters (the sizes are measured when asked for).
    counts: api::WindowCounters,
    history: VecDeque<api::WindowSnapshot>,
    /// The next turn to fold, and turns that arrived before it.
    next_seq: u64,
    pending: BTreeMap<u64, Observations>,
    /// Closed windows whose metric events are still being emitted.
    closing: VecDeque<Closing>,
}

/// Where one source has got to.
struct SourceClock {
    /// Its newest event time.
    max_time: i64,
    last_seen: Instant,
}

/// A closed window being emitted, key by key in key order.
struct Closing {
    start: i64,
    /// 0 for the window itself, else the round of corrections it belongs to.
    round: u64,
    keys: Vec<(Str, KeyStats)>,
    totals: KeyStats,
    /// Figures of the keys emitted so far, for the top lists.
    ranks: Vec<Rank>,
}

impl Closing {
    fn new(start: i64, round: u64, window: Window) -> Self {
        let mut keys: Vec<(Str, KeyStats)> = window.keys.into_iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let ranks = Vec::with_capacity(keys.len());
        Self { start, round, keys, totals: window.totals, ranks }
    }
}

/// What a key is ranked by in the snapshot's top lists.
#[derive(Debug, Clone, Copy)]
struct Rank {
    count: u64,
    errors: u64,
    p95: u64,
}

/// The shared state of one `window_stats` block.
pub struct Aggregator {
    /// Its settings.
    pub config: AggregationConfig,
    state: Mutex<State>,
    /// This run's mark in the ids of correction documents (Unix ms at creation): rounds
    /// are numbered per run, so a restarted agent never reuses a correction's id.
    run: i64,
}

/// `num / den`, or `None` when there is nothing to divide by.
pub fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

impl Aggregator {
    /// An aggregator with no windows yet.
    pub fn new(config: AggregationConfig) -> Self {
        let state = State {
            windows: BTreeMap::new(),
            max_time: None,
            sources: HashMap::new(),
            corrections: BTreeMap::new(),
            correction_keys: 0,
            corrections_since: None,
            rounds: 0,
            closed_until: i64::MIN,
            last_event: Instant::now(),
            counts: api::WindowCounters::default(),
            history: VecDeque::new(),
            next_seq: 0,
            pending: BTreeMap::new(),
            closing: VecDeque::new(),
        };
        Self { config, state: Mutex::new(state), run: chrono::Utc::now().timestamp_millis() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one turn's observations. Turns are folded in sequence order (a turn that
    /// arrives early waits for the ones before it), then the windows the watermark has
    /// passed close and their metric events are handed to `emit`, at most
    /// [`EMIT_PER_TURN`] per turn plus one per event folded (true: more are waiting for
    /// the next turns). The watermark follows the slowest source that sent events
    /// within `idle_flush`, held at most `max_hold` behind the newest event time, less
    /// `allowed_lateness`. Late
    /// events of closed windows within `late_horizon` gather as corrections, emitted
    /// after `late_flush`, when `max_late_keys` are held, and on the last turns. An idle
    /// turn also closes every window once no event has come for `idle_flush`; the final
    /// turn closes them all, a stop turn none beyond those due (the agent saves the
    /// rest, see [`Aggregator::save`]). `now_ms` is the wall clock, which bounds how far
    /// ahead event times may be.
    pub fn submit(&self, when: Flush, obs: Observations, now_ms: i64, emit: &mut dyn FnMut(Event)) -> bool {
        let c = &self.config;
        let mut state = self.lock();
        let state = &mut *state;
        state.pending.insert(when.seq(), obs);
        let mut folded = 0;
        while let Some(mut ready) = state.pending.remove(&state.next_seq) {
            folded += ready.list.len();
            self.record(state, &mut ready, now_ms);
            state.next_seq += 1;
        }
        if let Some(max) = state.max_time {
            // A finished or idle file no longer holds the watermark back.
            state.sources.retain(|_, s| s.last_seen.elapsed() < c.idle_flush);
            let slowest = state.sources.values().map(|s| s.max_time).min().unwrap_or(max);
            let watermark = slowest.max(max.saturating_sub(c.max_hold_ms)).saturating_sub(c.lateness_ms);
            self.close(state, |start, w| start.saturating_add(w) <= watermark);
        }
        let close_all = match when {
            Flush::Batch(_) | Flush::Stop(_) => false,
            Flush::Idle(_) => !state.windows.is_empty() && state.last_event.elapsed() >= c.idle_flush,
            Flush::Final(_) => true,
        };
        if close_all {
            self.close(state, |_, _| true);
        }
        let corrections_due = match when {
            Flush::Final(_) | Flush::Stop(_) => true,
            Flush::Batch(_) | Flush::Idle(_) => {
                state.correction_keys >= c.max_late_keys
                    || state.corrections_since.is_some_and(|t| t.elapsed() >= c.late_flush)
            }
        };
        if corrections_due && !state.corrections.is_empty() {
            state.rounds += 1;
            let round = state.rounds;
            for (start, window) in std::mem::take(&mut state.corrections) {
                state.closing.push_back(Closing::new(start, round, window));
            }
            state.correction_keys = 0;
            state.corrections_since = None;
        }
        // Each event folded can add at most one key to emit: emitting as many more keeps
        // a stream of late events from piling up corrections faster than they go out.
        self.drain(state, EMIT_PER_TURN + folded, emit)
    }

    fn record(&self, state: &mut State, obs: &mut Observations, now_ms: i64) {
        if obs.list.is_empty() {
            return;
        }
        let c = &self.config;
        let stride = c.sums.len() + c.counts.len();
        let future_limit = now_ms.saturating_add(c.window_ms).saturating_add(FUTURE_TOLERANCE_MS);
        let now = Instant::now();
        state.last_event = now;
        let horizon = state.max_time.map_or(i64::MIN, |m| m.saturating_sub(c.late_horizon_ms));
        let mut source_max = None;
        for (i, o) in obs.list.iter().enumerate() {
            let extras = obs.extras.get(i * stride..(i + 1) * stride).unwrap_or(&[]);
            if o.time_ms > future_limit {
                state.counts.future_events += 1;
                continue;
            }
            let start = o.time_ms.div_euclid(c.window_ms) * c.window_ms;
            let end = start.saturating_add(c.window_ms);
            if end <= state.closed_until {
                if end <= horizon {
                    // Beyond the horizon: counted on the key in the oldest open window,
                    // if there is one, and in the snapshot.
                    state.counts.late_events += 1;
                    if let Some((_, w)) = state.windows.iter_mut().next() {
                        if let Some(k) = w.keys.get_mut(&o.key) {
                            k.late += 1;
                        }
                        w.totals.late += 1;
                    }
                    continue;
                }
                state.counts.corrected_events += 1;
                let window = state.corrections.entry(start).or_default();
                let before = window.keys.len();
                window.add(o, extras, c, &mut state.counts);
                state.correction_keys += window.keys.len() - before;
                state.corrections_since.get_or_insert(now);
            } else {
                state.max_time = Some(state.max_time.map_or(o.time_ms, |m| m.max(o.time_ms)));
                state.windows.entry(start).or_default().add(o, extras, c, &mut state.counts);
            }
            source_max = Some(source_max.map_or(o.time_ms, |m: i64| m.max(o.time_ms)));
        }
        if let Some(newest) = source_max {
            let clock = state.sources.entry(obs.source).or_insert(SourceClock { max_time: newest, last_seen: now });
            clock.max_time = clock.max_time.max(newest);
            clock.last_seen = now;
        }
        obs.list.clear();
        obs.extras.clear();
    }

    /// Moves the windows `due` accepts from the open ones to the closing queue.
    fn close(&self, state: &mut State, due: impl Fn(i64, i64) -> bool) {
        let w = self.config.window_ms;
        while let Some((&start, _)) = state.windows.iter().next() {
            if !due(start, w) {
                break;
            }
            let Some(window) = state.windows.remove(&start) else { break };
            state.closed_until = state.closed_until.max(start.saturating_add(w));
            state.closing.push_back(Closing::new(start, 0, window));
        }
    }

    /// Emits up to `budget` metric events of closing windows, oldest window first; a
    /// window fully emitted joins the history, a correction is merged into its window
    /// there. True when events are still waiting.
    fn drain(&self, state: &mut State, mut budget: usize, emit: &mut dyn FnMut(Event)) -> bool {
        let c = &self.config;
        while let Some(closing) = state.closing.front_mut() {
            let end = closing.start.saturating_add(c.window_ms);
            let times = WindowTimes::new(closing.start, end);
            while budget > 0 && closing.ranks.len() < closing.keys.len() {
                let (key, stats) = &closing.keys[closing.ranks.len()];
                let summary = stats.value.summarise(&c.precision);
                emit(self.metric_event(closing.start, closing.round, &times, key, stats, summary.as_ref()));
                state.counts.metric_events += 1;
                closing.ranks.push(Rank {
                    count: stats.count,
                    errors: stats.errors,
                    p95: summary.map_or(0, |m| m.percentiles[2]),
                });
                budget -= 1;
            }
            if closing.ranks.len() < closing.keys.len() {
                return true;
            }
            let Some(done) = state.closing.pop_front() else { break };
            if done.round > 0 {
                state.counts.correction_events += done.keys.len() as u64;
                if let Some(window) = state.history.iter_mut().find(|h| h.start_ms == done.start) {
                    self.merge_correction(window, &done);
                }
                continue;
            }
            let snapshot = self.window_snapshot(done);
            state.counts.windows_closed += 1;
            // History windows keep their histograms (the snapshot shows the newest one's
            // only): a correction merged into one recomputes its percentiles from them.
            state.history.push_front(snapshot);
            state.history.truncate(c.history);
        }
        false
    }

    /// Adds a correction (the late events of `window`'s time) to `window`: the totals
    /// and every key it shows add up exactly, percentiles are recomputed from the
    /// merged histograms, and corrected keys it does not show are added while it shows
    /// fewer than `snapshot_keys`.
    fn merge_correction(&self, window: &mut api::WindowSnapshot, correction: &Closing) {
        let c = &self.config;
        let view = |key: &str, s: &KeyStats| {
            let summary = s.value.summarise(&c.precision);
            self.key_view(key, s, summary.as_ref(), true)
        };
        self.merge_view(&mut window.totals, &view("_all", &correction.totals));
        let by_key: HashMap<String, usize> =
            correction.keys.iter().enumerate().map(|(i, (k, _))| (display_key(k), i)).collect();
        let mut merged = vec![false; correction.keys.len()];
        for shown in window.keys.iter_mut() {
            if let Some(&i) = by_key.get(&shown.key) {
                let late = view(&shown.key, &correction.keys[i].1);
                self.merge_view(shown, &late);
                merged[i] = true;
            }
        }
        // A window that showed all its keys knows that the others are new to it.
        let shown_all = window.keys.len() as u64 == window.key_count;
        for (key, stats) in correction.keys.iter().zip(&merged).filter(|(_, &m)| !m).map(|(ks, _)| ks) {
            if shown_all {
                window.key_count += 1;
            }
            if window.keys.len() < c.snapshot_keys {
                window.keys.push(view(&display_key(key), stats));
            }
        }
        let keep = window.keys.len();
        let (start, end, totals, keys) =
            (window.start_ms, window.end_ms, window.totals.clone(), std::mem::take(&mut window.keys));
        let key_count = window.key_count;
        *window = api::WindowSnapshot { key_count, ..window_snapshot(start, end, true, totals, keys, keep) };
    }

    /// Adds `b`'s figures to `a` and recomputes what is derived from them.
    fn merge_view(&self, a: &mut api::KeyStats, b: &api::KeyStats) {
        let c = &self.config;
        a.count += b.count;
        a.errors += b.errors;
        a.cache_hits += b.cache_hits;
        a.cache_misses += b.cache_misses;
        a.bytes += b.bytes;
        a.late_events += b.late_events;
        a.error_rate = ratio(a.errors as f64, a.count as f64);
        a.cache_hit_ratio = ratio(a.cache_hits as f64, (a.cache_hits + a.cache_misses) as f64);
        a.value = match (a.value.take(), &b.value) {
            (Some(x), Some(y)) => Some(merge_values(x, y)),
            (x, y) => x.or_else(|| y.clone()),
        };
        for ((_, x), (_, y)) in a.sums.iter_mut().zip(&b.sums) {
            *x += y;
        }
        for ((_, x), (_, y)) in a.counts.iter_mut().zip(&b.counts) {
            *x += y;
        }
        let term = |t: RatioTerm| view_term(a, t);
        let ratios = c.ratios.iter().map(|(n, x, y)| (n.clone(), ratio(term(*x), term(*y)))).collect();
        a.ratios = ratios;
    }

    /// The snapshot of a fully emitted window: only the keys it shows get a full view,
    /// so a window of 100,000 keys is never copied key by key.
    fn window_snapshot(&self, closing: Closing) -> api::WindowSnapshot {
        let c = &self.config;
        let Closing { start, keys, totals, ranks, .. } = closing;
        let top = |by: &dyn Fn(&Rank) -> (u64, u64), n: usize| -> Vec<usize> {
            let mut order: Vec<usize> = (0..ranks.len()).collect();
            // Keys are sorted, so ties resolve by key.
            order.sort_by(|&a, &b| by(&ranks[b]).cmp(&by(&ranks[a])).then(a.cmp(&b)));
            order.truncate(n);
            order
        };
        let busiest = top(&|r| (r.count, r.errors), c.snapshot_keys);
        let name = |i: &usize| display_key(&keys[*i].0);
        let shown = busiest
            .iter()
            .map(|&i| {
                let summary = keys[i].1.value.summarise(&c.precision);
                self.key_view(&display_key(&keys[i].0), &keys[i].1, summary.as_ref(), true)
            })
            .collect();
        let totals_summary = totals.value.summarise(&c.precision);
        api::WindowSnapshot {
            start_ms: start,
            end_ms: start.saturating_add(c.window_ms),
            closed: true,
            key_count: keys.len() as u64,
            totals: self.key_view("_all", &totals, totals_summary.as_ref(), true),
            keys: shown,
            top_by_count: busiest.iter().take(TOP).map(name).collect(),
            top_by_errors: top(&|r| (r.errors, r.count), TOP).iter().map(name).collect(),
            top_by_p95: top(&|r| (r.p95, r.count), TOP).iter().map(name).collect(),
        }
    }

    fn key_view(&self, key: &str, s: &KeyStats, summary: Option<&Summary>, histogram: bool) -> api::KeyStats {
        let c = &self.config;
        let extra = |i: usize| s.extras.get(i).copied().unwrap_or(0.0);
        api::KeyStats {
            key: key.to_string(),
            count: s.count,
            errors: s.errors,
            error_rate: ratio(s.errors as f64, s.count as f64),
            cache_hits: s.hits,
            cache_misses: s.misses,
            cache_hit_ratio: ratio(s.hits as f64, (s.hits + s.misses) as f64),
            bytes: s.bytes,
            late_events: s.late,
            value: summary.map(|m| api::ValueStats {
                count: m.count,
                min: m.min,
                max: m.max,
                mean: m.mean,
                p50: m.percentiles[0],
                p90: m.percentiles[1],
                p95: m.percentiles[2],
                p99: m.percentiles[3],
                p99_9: m.percentiles[4],
                histogram_values: if histogram { m.values.clone() } else { Vec::new() },
                histogram_counts: if histogram { m.counts.clone() } else { Vec::new() },
            }),
            sums: c.sums.iter().enumerate().map(|(i, n)| (n.clone(), extra(i))).collect(),
            counts: c.counts.iter().enumerate().map(|(i, n)| (n.clone(), extra(c.sums.len() + i) as u64)).collect(),
            ratios: c.ratios.iter().map(|(n, a, b)| (n.clone(), ratio(s.term(*a, c), s.term(*b, c)))).collect(),
        }
    }

    /// The metric event of one key (of a correction when `round` is above 0): see the
    /// `window_stats` filter's documentation.
    /// Built straight into the event's own value type with interned keys and no
    /// intermediate lists: there is one per key and window, so a busy aggregation makes
    /// many. `times` are the window's start and end as text, made once per window.
    fn metric_event(
        &self,
        start: i64,
        round: u64,
        times: &WindowTimes,
        key: &str,
        s: &KeyStats,
        summary: Option<&Summary>,
    ) -> Event {
        let c = &self.config;
        let k = DocKeys::get();
        let named = |names: &mut dyn Iterator<Item = (&String, Value)>| {
            Value::Object(names.map(|(n, v)| (Key::from(n.as_str()), v)).collect())
        };
        // A correction holds only figures that add up across documents: no rates,
        // means or percentiles, which readers must compute from the merged figures.
        let whole = round == 0;
        let float = |x: Option<f64>| x.map_or(Value::Null, Value::Float);
        let mut metric = Map::with_capacity(15);
        metric.push_new(&k.name, Value::from(c.name.as_str()));
        metric.push_new(&k.key, Value::from(display_key(key)));
        metric.push_new(
            &k.window,
            object([
                (&k.start, Value::String(times.start.clone())),
                (&k.end, Value::String(times.end.clone())),
                (&k.seconds, Value::Float(c.window_ms as f64 / 1000.0)),
            ]),
        );
        if !whole {
            metric.push_new(&k.correction, Value::from(round));
        }
        metric.push_new(&k.count, Value::from(s.count));
        metric.push_new(&k.errors, Value::from(s.errors));
        if whole {
            metric.push_new(&k.error_rate, float(ratio(s.errors as f64, s.count as f64)));
        }
        metric.push_new(&k.late_events, Value::from(s.late));
        if c.has_cache {
            let mut cache = Map::with_capacity(3);
            cache.push_new(&k.hits, Value::from(s.hits));
            cache.push_new(&k.misses, Value::from(s.misses));
            if whole {
                cache.push_new(&k.hit_ratio, float(ratio(s.hits as f64, (s.hits + s.misses) as f64)));
            }
            metric.push_new(&k.cache, Value::Object(cache));
        }
        if c.has_bytes {
            metric.push_new(&k.bytes, number(s.bytes));
        }
        if let Some(m) = summary {
            let histogram = object([
                (&k.values, Value::Array(m.values.iter().map(|&v| Value::Float(v)).collect())),
                (&k.counts, Value::Array(m.counts.iter().map(|&n| Value::from(n)).collect())),
            ]);
            let mut value = Map::with_capacity(12);
            value.push_new(&k.count, Value::from(m.count));
            value.push_new(&k.min, Value::from(m.min));
            value.push_new(&k.max, Value::from(m.max));
            if whole {
                value.push_new(&k.mean, Value::Float(m.mean));
            }
            value.push_new(&k.sum, Value::Float(m.sum));
            if whole {
                for (name, &p) in [&k.p50, &k.p90, &k.p95, &k.p99, &k.p99_9].into_iter().zip(&m.percentiles) {
                    value.push_new(name, Value::from(p));
                }
            }
            value.push_new(&k.clamped, Value::from(m.clamped));
            value.push_new(&k.histogram, histogram);
            metric.push_new(&k.value, Value::Object(value));
        } else if c.has_value {
            metric.push_new(&k.value, object([(&k.count, Value::Int(0))]));
        }
        let extra = |i: usize| s.extras.get(i).copied().unwrap_or(0.0);
        if !c.sums.is_empty() {
            metric.push_new(&k.sum, named(&mut c.sums.iter().enumerate().map(|(i, n)| (n, number(extra(i))))));
        }
        if !c.counts.is_empty() {
            let counts =
                &mut c.counts.iter().enumerate().map(|(i, n)| (n, Value::from(extra(c.sums.len() + i) as u64)));
            metric.push_new(&k.count_if, named(counts));
        }
        if !c.ratios.is_empty() {
            if whole {
                let ratios = &mut c.ratios.iter().map(|(n, a, b)| (n, float(ratio(s.term(*a, c), s.term(*b, c)))));
                metric.push_new(&k.ratio, named(ratios));
            }
            // Numerator and denominator, so that readers can merge windows of several
            // agents (the console's fleet mode) exactly.
            let parts = &mut c.ratios.iter().map(|(n, a, b)| {
                let part = object([(&k.numerator, number(s.term(*a, c))), (&k.denominator, number(s.term(*b, c)))]);
                (n, part)
            });
            metric.push_new(&k.ratio_parts, named(parts));
        }
        let mut id = document_id(&c.name, &c.agent, start, key);
        if !whole {
            use std::fmt::Write;
            let _ = write!(id, "-c{}.{round}", self.run);
        }
        let Value::Object(fields) = object([
            (&k.timestamp, Value::String(times.start.clone())),
            (&k.tags, Value::Array(c.tags.iter().map(|t| Value::from(t.as_str())).collect())),
            (
                &k.event,
                object([
                    (&k.kind, Value::from("metric")),
                    (&k.module, Value::from("logship")),
                    (&k.start, Value::String(times.start.clone())),
                    (&k.end, Value::String(times.end.clone())),
                ]),
            ),
            (&k.agent, object([(&k.name, Value::from(c.agent.as_str())), (&k.type_, Value::from("logship"))])),
            (&k.metric, Value::Object(metric)),
            (&k.metadata, object([(&k.id, Value::from(id))])),
        ]) else {
            return Event::default();
        };
        let mut event = Event::from_fields(fields);
        if key == OTHER {
            for field in &c.group_by {
                event.set(field, Value::from(OTHER));
            }
        } else {
            for (field, v) in c.group_by.iter().zip(key.split(KEY_SEPARATOR)) {
                event.set(field, Value::from(v));
            }
        }
        event
    }

    /// What its figures depend on, as text: saved windows are restored only into an
    /// aggregation whose settings read the same.
    pub fn settings_text(&self) -> String {
        let c = &self.config;
        format!(
            "name {:?}, group_by {:?}, window {} ms, histogram {}, value {}, cache {}, bytes {}, sums {:?}, count_if {:?}",
            c.name,
            c.group_names,
            c.window_ms,
            c.precision.describe(),
            c.has_value,
            c.has_cache,
            c.has_bytes,
            c.sums,
            c.counts,
        )
    }

    /// Its open windows and its clock (the newest event time, what has closed), to be
    /// written out when the agent stops or finishes (`None` before any event). Windows
    /// already closing and corrections are not included: the agent emits them before
    /// it stops.
    pub fn save(&self) -> Option<SavedAggregation> {
        let state = self.lock();
        if state.windows.is_empty() && state.max_time.is_none() {
            return None;
        }
        let windows = state
            .windows
            .iter()
            .map(|(&start, w)| {
                let mut keys: Vec<(String, SavedKey)> = w.keys.iter().map(|(k, s)| (k.to_string(), s.save())).collect();
                keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                SavedWindow { start, totals: w.totals.save(), keys }
            })
            .collect();
        Some(SavedAggregation {
            id: self.config.id.clone(),
            settings: self.settings_text(),
            max_time: state.max_time,
            closed_until: state.closed_until,
            windows,
        })
    }

    /// Takes back windows [`Aggregator::save`] wrote, before any event of this run:
    /// they go on filling as if the agent had not stopped, and close on the watermark
    /// (or after `idle_flush` without events). Returns the number of windows; an
    /// error, and nothing taken, when the settings differ, events were already folded
    /// in, or the saved figures do not hold together.
    pub fn restore(&self, saved: SavedAggregation) -> Result<usize, String> {
        let settings = self.settings_text();
        if saved.settings != settings {
            return Err(format!("saved with other settings ({}; now {settings})", saved.settings));
        }
        let precision = &self.config.precision;
        let mut windows = BTreeMap::new();
        for w in saved.windows {
            let mut keys = HashMap::default();
            for (key, stats) in w.keys {
                keys.insert(Str::from(key), KeyStats::restore(stats, precision)?);
            }
            windows.insert(w.start, Window { keys, totals: KeyStats::restore(w.totals, precision)? });
        }
        let mut state = self.lock();
        if state.max_time.is_some() || !state.windows.is_empty() {
            return Err("events were already aggregated in this run".to_string());
        }
        let restored = windows.len();
        state.windows = windows;
        state.max_time = saved.max_time;
        state.closed_until = saved.closed_until;
        state.last_event = Instant::now();
        Ok(restored)
    }

    /// Its counters and the size of its open windows (cheap: no percentiles).
    pub fn counters(&self) -> api::WindowCounters {
        let state = self.lock();
        let open = state.windows.values().map(|w| (w.keys.len(), w.totals.heap_bytes() + keys_bytes(w.keys.iter())));
        let closing = state
            .closing
            .iter()
            .map(|c| (c.keys.len() - c.ranks.len(), keys_bytes(c.keys.iter().map(|(k, s)| (k, s)))));
        let late = state.corrections.values().map(|w| (0, w.totals.heap_bytes() + keys_bytes(w.keys.iter())));
        let (keys, bytes) = open.chain(closing).chain(late).fold((0, 0), |(k, b), (keys, bytes)| (k + keys, b + bytes));
        api::WindowCounters {
            open_windows: (state.windows.len() + state.closing.len()) as u64,
            open_keys: keys as u64,
            late_keys: state.correction_keys as u64,
            sources: state.sources.len() as u64,
            memory_bytes: bytes as u64,
            ..state.counts
        }
    }

    /// The live view: open windows (the newest computed now) and the recent closed ones.
    pub fn snapshot(&self) -> api::AggregationSnapshot {
        let c = &self.config;
        let counters = self.counters();
        let mut state = self.lock();
        let state = &mut *state;
        let current = state.windows.iter().next_back().map(|(&start, w)| {
            let mut busiest: Vec<(&Str, &KeyStats)> = w.keys.iter().collect();
            let n = c.snapshot_keys.min(busiest.len());
            if n < busiest.len() {
                busiest.select_nth_unstable_by(n, |a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
                busiest.truncate(n);
            }
            let views = busiest
                .iter()
                .map(|(k, s)| {
                    let summary = s.value.summarise(&c.precision);
                    self.key_view(&display_key(k), s, summary.as_ref(), true)
                })
                .collect();
            let totals_summary = w.totals.value.summarise(&c.precision);
            let totals = self.key_view("_all", &w.totals, totals_summary.as_ref(), true);
            let mut snap = window_snapshot(start, start + c.window_ms, false, totals, views, c.snapshot_keys);
            snap.key_count = w.keys.len() as u64;
            snap
        });
        api::AggregationSnapshot {
            id: c.id.clone(),
            name: c.name.clone(),
            group_by: c.group_names.clone(),
            window_seconds: c.window_ms as f64 / 1000.0,
            allowed_lateness_seconds: c.lateness_ms as f64 / 1000.0,
            counters,
            current,
            // Histograms of the newest closed window only (the console's detail view).
            recent: state
                .history
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let mut w = w.clone();
                    if i > 0 {
                        for k in w.keys.iter_mut().chain(std::iter::once(&mut w.totals)) {
                            if let Some(v) = &mut k.value {
                                v.histogram_values = Vec::new();
                                v.histogram_counts = Vec::new();
                            }
                        }
                    }
                    w
                })
                .collect(),
        }
    }
}

/// Approximate heap bytes of keys and their figures.
fn keys_bytes<'a>(keys: impl Iterator<Item = (&'a Str, &'a KeyStats)>) -> usize {
    keys.map(|(k, s)| k.len() + s.heap_bytes() + std::mem::size_of::<(Str, KeyStats)>()).sum()
}

/// A window's snapshot from the views of all its keys: the busiest `keep` keys and
/// the top lists.
fn window_snapshot(
    start: i64,
    end: i64,
    closed: bool,
    totals: api::KeyStats,
    mut views: Vec<api::KeyStats>,
    keep: usize,
) -> api::WindowSnapshot {
    let key_count = views.len() as u64;
    let top = |views: &mut Vec<api::KeyStats>, by: &dyn Fn(&api::KeyStats) -> (u64, u64)| -> Vec<String> {
        views.sort_by(|a, b| by(b).cmp(&by(a)).then_with(|| a.key.cmp(&b.key)));
        views.iter().take(TOP).map(|v| v.key.clone()).collect()
    };
    let top_by_errors = top(&mut views, &|v| (v.errors, v.count));
    let top_by_p95 = top(&mut views, &|v| (v.value.as_ref().map_or(0, |m| m.p95), v.count));
    let top_by_count = top(&mut views, &|v| (v.count, v.errors));
    views.truncate(keep);
    api::WindowSnapshot {
        start_ms: start,
        end_ms: end,
        closed,
        key_count,
        totals,
        keys: views,
        top_by_count,
        top_by_errors,
        top_by_p95,
    }
}

/// A figure of a key's view, for recomputing a ratio after a merge.
fn view_term(v: &api::KeyStats, t: RatioTerm) -> f64 {
    let named = |list: &[(String, f64)], i: usize| list.get(i).map_or(0.0, |(_, x)| *x);
    match t {
        RatioTerm::Count => v.count as f64,
        RatioTerm::Errors => v.errors as f64,
        RatioTerm::Hits => v.cache_hits as f64,
        RatioTerm::Misses => v.cache_misses as f64,
        RatioTerm::Bytes => v.bytes,
        RatioTerm::ValueCount => v.value.as_ref().map_or(0.0, |m| m.count as f64),
        RatioTerm::ValueSum => v.value.as_ref().map_or(0.0, |m| m.mean * m.count as f64),
        RatioTerm::Sum(i) => named(&v.sums, i),
        RatioTerm::CountIf(i) => v.counts.get(i).map_or(0.0, |(_, n)| *n as f64),
    }
}

/// Two value summaries of the same window and key as one: counts and extremes exact,
/// histograms added bucket by bucket, percentiles recomputed from them (nearest rank,
/// as HdrHistogram, within the histogram's precision).
fn merge_values(a: api::ValueStats, b: &api::ValueStats) -> api::ValueStats {
    let count = a.count + b.count;
    let mean = if count == 0 { 0.0 } else { (a.mean * a.count as f64 + b.mean * b.count as f64) / count as f64 };
    let (min, max) = (a.min.min(b.min), a.max.max(b.max));
    let mut merged = Merged::default();
    for v in [&a, b] {
        for (&value, &n) in v.histogram_values.iter().zip(&v.histogram_counts) {
            merged.add(value, n);
        }
    }
    let at = |q: f64| merged.percentile(q).map_or(max, |p| p.clamp(min, max));
    let [p50, p90, p95, p99, p99_9] = super::QUANTILES.map(at);
    let buckets = merged.buckets();
    api::ValueStats {
        count,
        min,
        max,
        mean,
        p50,
        p90,
        p95,
        p99,
        p99_9,
        histogram_values: buckets.iter().map(|b| b.0).collect(),
        histogram_counts: buckets.iter().map(|b| b.1).collect(),
    }
}

/// A key as shown to people: group values joined with `|`.
fn display_key(key: &str) -> String {
    key.replace(KEY_SEPARATOR, "|")
}

/// A sum as a value: whole numbers (byte and millisecond totals) without a fraction.
fn number(x: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if x.fract() == 0.0 && x.abs() < EXACT {
        Value::Int(x as i64)
    } else {
        Value::Float(x)
    }
}

/// Declares [`DocKeys`]: the field names of metric documents, interned once.
macro_rules! doc_keys {
    ($($field:ident = $name:literal),* $(,)?) => {
        /// The interned field names of metric documents, looked up once rather than
        /// per document.
        struct DocKeys {
            $($field: Key,)*
        }

        impl DocKeys {
            fn get() -> &'static DocKeys {
                static KEYS: OnceLock<DocKeys> = OnceLock::new();
                KEYS.get_or_init(|| DocKeys { $($field: intern($name),)* })
            }
        }
    };
}

doc_keys! {
    timestamp = "@timestamp", tags = "tags", event = "event", kind = "kind", module = "module",
    start = "start", end = "end", agent = "agent", name = "name", type_ = "type", metric = "metric",
    key = "key", window = "window", seconds = "seconds", count = "count", errors = "errors",
    error_rate = "error_rate", late_events = "late_events", cache = "cache", hits = "hits",
    misses = "misses", hit_ratio = "hit_ratio", bytes = "bytes", value = "value", min = "min",
    max = "max", mean = "mean", sum = "sum", p50 = "p50", p90 = "p90", p95 = "p95", p99 = "p99",
    p99_9 = "p99_9", clamped = "clamped", histogram = "histogram", values = "values",
    counts = "counts", count_if = "count_if", ratio = "ratio", ratio_parts = "ratio_parts",
    numerator = "numerator", denominator = "denominator", metadata = "@metadata", id = "id",
    correction = "correction",
}

fn time_text(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map(format_timestamp).unwrap_or_default()
}

/// A window's start and end as metric documents write them, made once per window and
/// cloned into each document (a plain copy, where rebuilding a short string from text
/// stalls on store forwarding).
struct WindowTimes {
    start: Str,
    end: Str,
}

impl WindowTimes {
    fn new(start: i64, end: i64) -> Self {
        Self { start: Str::from(time_text(start)), end: Str::from(time_text(end)) }
    }
}

/// An object of fixed, distinct interned keys, built without an intermediate list.
fn object<const N: usize>(entries: [(&Key, Value); N]) -> Value {
    let mut map = Map::with_capacity(N);
    for (name, value) in entries {
        map.push_new(name, value);
    }
    Value::Object(map)
}

/// A metric document's id, `{name}-{agent}-{window start ms}-{key hash, 16 hex digits}`:
/// written piece by piece, as `format!` took a fifth of building a metric document.
fn document_id(name: &str, agent: &str, start: i64, key: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start_text = itoa::Buffer::new();
    let start_text = start_text.format(start);
    let mut id = String::with_capacity(name.len() + agent.len() + start_text.len() + 19);
    for part in [name, agent, start_text] {
        id.push_str(part);
        id.push('-');
    }
    let hash = fnv1a(key.as_bytes());
    id.extend((0..16).rev().map(|i| char::from(HEX[(hash >> (i * 4)) as usize & 0xf])));
    id
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_keys: usize) -> AggregationConfig {
        AggregationConfig {
            id: "t".into(),
            name: "t".into(),
            group_by: vec![FieldRef::parse("[title]").unwrap()],
            group_names: vec!["title".into()],
            window_ms: 10_000,
            lateness_ms: 5_000,
            late_horizon_ms: 7_200_000,
            late_flush: Duration::from_secs(3600),
            max_late_keys: 100_000,
            max_hold_ms: 60_000,
            idle_flush: Duration::from_secs(3600),
            max_keys,
            precision: Precision::new(3, 3_600_000).unwrap(),
            has_value: true,
            has_cache: false,
            has_bytes: false,
            sums: vec![],
            counts: vec![],
            ratios: vec![],
            tags: vec!["metric".into()],
            agent: "test".into(),
            history: 3,
            snapshot_keys: 10,
        }
    }

    /// Observations of (key, time in seconds, value).
    fn turn(items: &[(&str, i64, u64)]) -> Observations {
        Observations {
            list: items
                .iter()
                .map(|&(k, s, v)| Observation {
                    key: k.into(),
                    time_ms: s * 1000,
                    value: Some(v),
                    flags: 0,
                    bytes: 0.0,
                })
                .collect(),
            extras: vec![],
            source: 0,
        }
    }

    const NOW: i64 = 1_000_000_000;

    fn counts(events: &[Event]) -> Vec<(String, i64)> {
        events
            .iter()
            .map(|e| {
                let m = e.fields().get("metric").unwrap();
                let Value::Object(m) = m else { panic!() };
                let count = match m.get("count") {
                    Some(Value::Int(n)) => *n,
                    other => panic!("{other:?}"),
                };
                (m.get("key").unwrap().as_str().unwrap().to_string(), count)
            })
            .collect()
    }

    #[test]
    fn document_ids_name_the_block_agent_window_and_key() {
        let key = format!("cdn.edge{KEY_SEPARATOR}t0042");
        let id = document_id("cdn_title", "edge-7", -1_500, &key);
        assert_eq!(id, format!("cdn_title-edge-7--1500-{:016x}", fnv1a(key.as_bytes())));
        assert_eq!(document_id("n", "a", 1_763_668_800_000, "k"), "n-a-1763668800000-af63e64c8601fd8a");
    }

    fn metric<'a>(e: &'a Event, name: &str) -> Option<&'a Value> {
        match e.fields().get("metric") {
            Some(Value::Object(m)) => m.get(name),
            _ => None,
        }
    }

    fn id(e: &Event) -> String {
        e.get(&FieldRef::parse("[@metadata][id]").unwrap()).map(value_text).unwrap_or_default()
    }

    fn value_text(v: &Value) -> String {
        crate::event::value_to_string(v)
    }

    #[test]
    fn windows_close_on_the_watermark_and_late_events_become_corrections() {
        let a = Aggregator::new(config(10));
        let mut out = Vec::new();
        a.submit(Flush::Batch(0), turn(&[("a", 1, 5), ("b", 2, 7), ("a", 9, 6)]), NOW, &mut |e| out.push(e));
        assert!(out.is_empty(), "window [0, 10) stays open until the watermark passes 10");
        a.submit(Flush::Batch(1), turn(&[("a", 14, 1)]), NOW, &mut |e| out.push(e));
        assert!(out.is_empty(), "watermark 9");
        a.submit(Flush::Batch(2), turn(&[("a", 15, 1)]), NOW, &mut |e| out.push(e));
        assert_eq!(counts(&out), [("a".into(), 2), ("b".into(), 1)]);
        let on_time = id(&out[0]);
        out.clear();
        // Window [0, 10) has closed: an event for it gathers as a correction, emitted
        // with the last turn (or after `late_flush`) under an id of its own.
        a.submit(Flush::Batch(3), turn(&[("a", 3, 100)]), NOW, &mut |e| out.push(e));
        assert!(out.is_empty());
        let snap = a.snapshot();
        assert_eq!((snap.counters.late_events, snap.counters.corrected_events, snap.counters.late_keys), (0, 1, 1));
        assert_eq!(snap.recent[0].totals.count, 3);
        a.submit(Flush::Final(4), Observations::default(), NOW, &mut |e| out.push(e));
        assert_eq!(counts(&out), [("a".into(), 2), ("a".into(), 1)], "window [10, 20), then the correction");
        let correction = &out[1];
        assert_eq!(metric(correction, "correction"), Some(&Value::Int(1)));
        assert_eq!(metric(correction, "error_rate"), None, "a correction holds only figures that add up");
        assert_eq!(id(correction), format!("{}-c{}.1", document_id("t", "test", 0, "a"), a.run));
        assert_ne!(id(correction), on_time);
        assert_eq!(metric(&out[0], "correction"), None);
        let snap = a.snapshot();
        let merged = snap.recent.iter().find(|w| w.start_ms == 0).unwrap();
        assert_eq!(merged.totals.count, 4, "the live view shows the corrected window");
        let key_a = merged.keys.iter().find(|k| k.key == "a").unwrap();
        let v = key_a.value.as_ref().unwrap();
        assert_eq!((key_a.count, v.count, v.min, v.max, v.p99), (3, 3, 5, 100, 100));
        assert_eq!(snap.counters.correction_events, 1);
    }

    #[test]
    fn the_live_view_takes_in_every_corrected_key_it_shows() {
        let a = Aggregator::new(config(100));
        let mut out = Vec::new();
        let on_time: Vec<(String, i64, u64)> = (0..5).map(|i| (format!("z{i}"), 1, 5)).collect();
        let borrowed: Vec<(&str, i64, u64)> = on_time.iter().map(|(k, t, v)| (k.as_str(), *t, *v)).collect();
        a.submit(Flush::Batch(0), turn(&borrowed), NOW, &mut |e| out.push(e));
        a.submit(Flush::Batch(1), turn(&[("z0", 30, 1)]), NOW, &mut |e| out.push(e));
        // Late: fourteen new keys with two events each, and one event of z4, the
        // correction's least busy key.
        let late: Vec<(String, i64, u64)> =
            (0..14).flat_map(|i| [(format!("a{i:02}"), 2, 7), (format!("a{i:02}"), 3, 9)]).collect();
        let mut borrowed: Vec<(&str, i64, u64)> = late.iter().map(|(k, t, v)| (k.as_str(), *t, *v)).collect();
        borrowed.push(("z4", 4, 100));
        a.submit(Flush::Batch(2), turn(&borrowed), NOW, &mut |e| out.push(e));
        a.submit(Flush::Final(3), Observations::default(), NOW, &mut |e| out.push(e));
        let snap = a.snapshot();
        let w = snap.recent.iter().find(|w| w.start_ms == 0).unwrap();
        assert_eq!((w.totals.count, w.key_count, w.keys.len()), (34, 19, 10));
        let z4 = w.keys.iter().find(|k| k.key == "z4").expect("z4 is still shown");
        assert_eq!((z4.count, z4.value.as_ref().unwrap().max), (2, 100));
    }

    #[test]
    fn events_beyond_the_horizon_are_counted_not_aggregated() {
        let a = Aggregator::new(AggregationConfig { late_horizon_ms: 60_000, ..config(10) });
        let mut out = Vec::new();
        a.submit(Flush::Batch(0), turn(&[("a", 1, 5), ("a", 41, 1), ("a", 100, 1)]), NOW, &mut |e| out.push(e));
        a.submit(Flush::Batch(1), turn(&[("a", 3, 100), ("a", 45, 7)]), NOW, &mut |e| out.push(e));
        let c = a.counters();
        assert_eq!((c.late_events, c.corrected_events), (1, 1), "[0, 10) is beyond the horizon, [40, 50) is not");
        a.submit(Flush::Final(2), Observations::default(), NOW, &mut |e| out.push(e));
        assert_eq!(counts(&out), [("a".into(), 1), ("a".into(), 1), ("a".into(), 1), ("a".into(), 1)]);
        assert_eq!(metric(&out[2], "late_events"), Some(&Value::Int(1)), "shown on the oldest open window");
        assert_eq!(metric(&out[3], "correction"), Some(&Value::Int(1)));
    }

    fn sourced(source: u64, items: &[(&str, i64, u64)]) -> Observations {
        Observations { source, ..turn(items) }
    }

    #[test]
    fn the_slowest_active_source_holds_the_watermark_within_max_hold() {
        let a = Aggregator::new(config(10));
        let mut out = Vec::new();
        a.submit(Flush::Batch(0), sourced(1, &[("a", 1, 1), ("a", 50, 1)]), NOW, &mut |e| out.push(e));
        assert_eq!(out.len(), 1, "one source: windows up to 45 s close");
        a.submit(Flush::Batch(1), sourced(2, &[("b", 12, 1)]), NOW, &mut |e| out.push(e));
        a.submit(Flush::Batch(2), sourced(1, &[("a", 58, 1)]), NOW, &mut |e| out.push(e));
        assert_eq!(out.len(), 1, "source 2, at 12 s, holds the watermark at 7 s");
        assert_eq!(a.counters().corrected_events, 0, "so its events are on time");
        a.submit(Flush::Batch(3), sourced(1, &[("a", 200, 1)]), NOW, &mut |e| out.push(e));
        assert_eq!(
            counts(&out),
            [("a".into(), 1), ("b".into(), 1), ("a".into(), 2)],
            "held at most max_hold (60 s) behind the newest event: windows before 135 s close"
        );
    }

    #[test]
    fn an_idle_source_no_longer_holds_the_watermark() {
        let a = Aggregator::new(AggregationConfig { idle_flush: Duration::from_millis(50), ..config(10) });
        let mut out = Vec::new();
        a.submit(Flush::Batch(0), sourced(2, &[("b", 12, 1)]), NOW, &mut |e| out.push(e));
        std::thread::sleep(Duration::from_millis(80));
        a.submit(Flush::Batch(1), sourced(1, &[("a", 13, 1), ("a", 50, 1)]), NOW, &mut |e| out.push(e));
        assert_eq!(counts(&out), [("a".into(), 1), ("b".into(), 1)], "source 2 went idle: [10, 20) closes");
        assert_eq!(a.counters().sources, 1);
    }

    /// A small deterministic generator, so that a failing case can be replayed.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    /// (key, second, value).
    type Item = (String, i64, u64);
    /// Histogram buckets: (value, count).
    type Buckets = Vec<(f64, u64)>;

    #[test]
    fn documents_of_out_of_order_sources_add_up_to_the_exact_figures() {
        let mut corrected = 0;
        for seed in 0..40u64 {
            let mut rng = Lcg(seed);
            let config = AggregationConfig {
                late_flush: if seed % 2 == 0 { Duration::ZERO } else { Duration::from_secs(3600) },
                max_late_keys: 1 + rng.next(20) as usize,
                ..config(1000)
            };
            let a = Aggregator::new(config);
            // Several sources over the same ten minutes, each roughly in order, cut
            // into batches that arrive interleaved or one source after another.
            let sources = 1 + rng.next(6);
            let mut batches: Vec<(u64, Vec<Item>)> = Vec::new();
            for source in 0..sources {
                let mut t = rng.next(60) as i64;
                let mut batch = Vec::new();
                for _ in 0..200 + rng.next(300) {
                    t += rng.next(4) as i64;
                    let jitter = rng.next(30) as i64;
                    batch.push((format!("k{}", rng.next(7)), (t - jitter).max(0), 1 + rng.next(5000)));
                    if batch.len() > rng.next(50) as usize {
                        batches.push((source, std::mem::take(&mut batch)));
                    }
                }
                batches.push((source, batch));
            }
            if seed % 3 == 0 {
                for i in (1..batches.len()).rev() {
                    batches.swap(i, rng.next(i as u64 + 1) as usize);
                }
            }
            let mut exact: BTreeMap<(i64, String), Vec<u64>> = BTreeMap::new();
            let mut out = Vec::new();
            for (seq, (source, items)) in batches.iter().enumerate() {
                for (k, t, v) in items {
                    exact.entry((t.div_euclid(10) * 10_000, k.clone())).or_default().push(*v);
                }
                let borrowed: Vec<(&str, i64, u64)> = items.iter().map(|(k, t, v)| (k.as_str(), *t, *v)).collect();
                a.submit(Flush::Batch(seq as u64), sourced(*source, &borrowed), NOW, &mut |e| out.push(e));
            }
            let mut seq = batches.len() as u64;
            while a.submit(Flush::Final(seq), Observations::default(), NOW, &mut |e| out.push(e)) {
                seq += 1;
            }
            assert_eq!(a.counters().late_events, 0, "seed {seed}: everything is within the horizon");
            corrected += a.counters().corrected_events;
            let mut ids = std::collections::BTreeSet::new();
            let mut merged: BTreeMap<(i64, String), (u64, Buckets)> = BTreeMap::new();
            for e in &out {
                assert!(ids.insert(id(e)), "seed {seed}: ids are unique: {}", id(e));
                let start = match e.fields().get("@timestamp") {
                    Some(Value::String(t)) => DateTime::parse_from_rfc3339(t).unwrap().timestamp_millis(),
                    _ => panic!("no @timestamp"),
                };
                let key = value_text(metric(e, "key").unwrap());
                let m = merged.entry((start, key)).or_default();
                m.0 += metric(e, "count").and_then(Value::as_f64).unwrap() as u64;
                let Some(Value::Object(v)) = metric(e, "value") else { panic!("no value") };
                let Some(Value::Object(h)) = v.get("histogram") else { panic!("no histogram") };
                let (Some(Value::Array(values)), Some(Value::Array(counts))) = (h.get("values"), h.get("counts"))
                else {
                    panic!("histogram")
                };
                for (x, n) in values.iter().zip(counts) {
                    m.1.push((x.as_f64().unwrap(), n.as_f64().unwrap() as u64));
                }
            }
            assert_eq!(merged.len(), exact.len(), "seed {seed}: every window and key");
            let precision = Precision::new(3, 3_600_000).unwrap();
            for ((start, key), values) in &exact {
                let (count, buckets) = &merged[&(*start, key.clone())];
                assert_eq!(*count, values.len() as u64, "seed {seed}: count of {key} at {start}");
                let mut sorted = values.clone();
                sorted.sort_unstable();
                let stats = merge_values(
                    api::ValueStats::default(),
                    &api::ValueStats {
                        count: *count,
                        min: sorted[0],
                        max: *sorted.last().unwrap(),
                        histogram_values: buckets.iter().map(|b| b.0).collect(),
                        histogram_counts: buckets.iter().map(|b| b.1).collect(),
                        ..api::ValueStats::default()
                    },
                );
                let want = sorted[((0.95 * sorted.len() as f64).ceil() as usize).max(1) - 1];
                let h = precision.histogram();
                assert_eq!(
                    h.lowest_equivalent(stats.p95),
                    h.lowest_equivalent(want),
                    "seed {seed}: p95 of {key} at {start} within the histogram's precision"
                );
            }
        }
        assert!(corrected > 1000, "the cases make late events: {corrected}");
    }

    #[test]
    fn turns_fold_in_sequence_order_whatever_order_they_arrive_in() {
        let a = Aggregator::new(config(10));
        let mut out = Vec::new();
        // Turn 1 (later events) arrives before turn 0: it waits, so turn 0's events
        // are not late.
        a.submit(Flush::Batch(1), turn(&[("a", 30, 1)]), NOW, &mut |e| out.push(e));
        assert!(out.is_empty());
        assert_eq!(a.counters().open_keys, 0, "turn 1 waits for turn 0");
        a.submit(Flush::Batch(0), turn(&[("a", 1, 1)]), NOW, &mut |e| out.push(e));
        assert_eq!(counts(&out), [("a".into(), 1)]);
        assert_eq!(a.counters().late_events, 0);
    }

    #[test]
    fn keys_beyond_the_cap_go_to_other() {
        let a = Aggregator::new(config(2));
        let mut out = Vec::new();
        a.submit(
            Flush::Batch(0),
            turn(&[("a", 1, 1), ("b", 1, 1), ("c", 1, 1), ("d", 1, 1), ("a", 1, 1)]),
            NOW,
            &mut |e| out.push(e),
        );
        a.submit(Flush::Final(1), Observations::default(), NOW, &mut |e| out.push(e));
        assert_eq!(counts(&out), [("_other".into(), 2), ("a".into(), 2), ("b".into(), 1)]);
        assert_eq!(a.counters().overflow_events, 2);
        let title = out[0].get(&FieldRef::parse("[title]").unwrap()).cloned();
        assert_eq!(title, Some(Value::from("_other")));
    }

    #[test]
    fn far_future_events_are_counted_and_do_not_close_windows() {
        let a = Aggregator::new(config(10));
        let mut out = Vec::new();
        a.submit(Flush::Batch(0), turn(&[("a", 1, 1), ("a", NOW / 1000 + 3600, 1)]), NOW, &mut |e| out.push(e));
        assert!(out.is_empty());
        let c = a.counters();
        assert_eq!((c.future_events, c.open_windows), (1, 1));
    }

    #[test]
    fn idle_turns_close_windows_once_traffic_stops() {
        let mut c = config(10);
        c.idle_flush = Duration::ZERO;
        let a = Aggregator::new(c);
        let mut out = Vec::new();
        a.submit(Flush::Batch(0), turn(&[("a", 1, 1)]), NOW, &mut |e| out.push(e));
        assert!(out.is_empty());
        a.submit(Flush::Idle(1), Observations::default(), NOW, &mut |e| out.push(e));
        assert_eq!(counts(&out), [("a".into(), 1)]);
        let snap = a.snapshot();
        assert_eq!((snap.counters.open_windows, snap.counters.windows_closed, snap.counters.metric_events), (0, 1, 1));
        assert!(snap.current.is_none());
    }

    #[test]
    fn the_snapshot_shows_the_open_window_and_histograms_only_for_the_newest_closed_one() {
        let a = Aggregator::new(config(10));
        let mut out = Vec::new();
        a.submit(Flush::Batch(0), turn(&[("a", 1, 5), ("b", 2, 9), ("b", 3, 9)]), NOW, &mut |e| out.push(e));
        a.submit(Flush::Batch(1), turn(&[("a", 11, 5), ("a", 30, 5)]), NOW, &mut |e| out.push(e));
        let snap = a.snapshot();
        assert_eq!(snap.recent.len(), 2);
        let current = snap.current.expect("window [30, 40) is open");
        assert!(!current.closed);
        assert_eq!(current.totals.count, 1);
        assert_eq!(snap.recent[1].top_by_count, ["b", "a"]);
        assert_eq!(snap.recent[1].top_by_p95, ["b", "a"]);
        let newest = snap.recent[0].keys[0].value.as_ref().unwrap();
        assert_eq!(newest.histogram_values, [5.0]);
        let older = snap.recent[1].keys[0].value.as_ref().unwrap();
        assert!(older.histogram_values.is_empty());
        assert_eq!((older.p50, older.max), (9, 9));
    }

    #[test]
    fn a_large_window_goes_out_over_several_turns() {
        let a = Aggregator::new(config(100_000));
        let keys: Vec<String> = (0..EMIT_PER_TURN + 10).map(|i| format!("k{i:05}")).collect();
        let items: Vec<(&str, i64, u64)> = keys.iter().map(|k| (k.as_str(), 1, 1)).collect();
        let mut out = Vec::new();
        let more = a.submit(Flush::Batch(0), turn(&items), NOW, &mut |e| out.push(e));
        assert!(!more && out.is_empty());
        let more = a.submit(Flush::Final(1), Observations::default(), NOW, &mut |e| out.push(e));
        assert!(more, "the rest waits for the next turn");
        assert_eq!(out.len(), EMIT_PER_TURN);
        assert!(a.snapshot().recent.is_empty(), "the window joins the history once fully emitted");
        let more = a.submit(Flush::Final(2), Observations::default(), NOW, &mut |e| out.push(e));
        assert!(!more);
        assert_eq!(out.len(), EMIT_PER_TURN + 10);
        let snap = a.snapshot();
        assert_eq!((snap.recent.len(), snap.recent[0].key_count, snap.counters.open_keys), (1, keys.len() as u64, 0));
        assert_eq!(snap.recent[0].keys.len(), 10, "snapshot_keys");
    }

    /// A config with a `sum` and a `count_if`, and observations of (key, second, value)
    /// whose sum is the value and whose count is 1 for odd values.
    fn config_with_extras() -> AggregationConfig {
        AggregationConfig { sums: vec!["s".into()], counts: vec!["odd".into()], ..config(10) }
    }

    fn turn_with_extras(items: &[(&str, i64, u64)]) -> Observations {
        let mut obs = turn(items);
        obs.extras = items.iter().flat_map(|&(_, _, v)| [v as f64, (v % 2) as f64]).collect();
        obs
    }

    #[test]
    fn windows_saved_at_a_stop_go_on_after_the_restart_as_if_never_stopped() {
        // [0,10) closes before the stop; [10,20) and [20,30) are open at it, and key
        // "a" of [20,30) holds more values than a key keeps exactly (a histogram of its
        // own).
        let busy = config_with_extras().precision.exact_limit() as u64 + 100;
        let mut first: Vec<(&str, i64, u64)> = vec![("b", 1, 5), ("a", 12, 7), ("b", 15, 9)];
        first.extend((0..busy).map(|i| ("a", 21 + (i % 4) as i64, (i * 37) % 5000 + 1)));
        let second = [("a", 18, 100), ("b", 26, 3), ("a", 31, 4), ("c", 40, 8)];
        let whole = Aggregator::new(config_with_extras());
        let mut expected = Vec::new();
        whole.submit(Flush::Batch(0), turn_with_extras(&first), NOW, &mut |e| expected.push(e));
        whole.submit(Flush::Batch(1), turn_with_extras(&second), NOW, &mut |e| expected.push(e));
        whole.submit(Flush::Final(2), Observations::default(), NOW, &mut |e| expected.push(e));

        let before = Aggregator::new(config_with_extras());
        let mut got = Vec::new();
        before.submit(Flush::Batch(0), turn_with_extras(&first), NOW, &mut |e| got.push(e));
        before.submit(Flush::Stop(1), Observations::default(), NOW, &mut |e| got.push(e));
        assert_eq!(counts(&got), [("b".to_string(), 1)], "a stop emits only the windows already due");
        let saved = before.save().expect("open windows");
        assert_eq!(saved.windows.iter().map(|w| w.start).collect::<Vec<_>>(), [10_000, 20_000]);
        assert!(saved.windows[1].keys.iter().any(|(k, s)| k == "a" && !s.value.buckets.is_empty()));
        let text = serde_json::to_string(&saved).unwrap();

        let after = Aggregator::new(config_with_extras());
        assert_eq!(after.restore(serde_json::from_str(&text).unwrap()), Ok(2));
        after.submit(Flush::Batch(0), turn_with_extras(&second), NOW, &mut |e| got.push(e));
        after.submit(Flush::Final(1), Observations::default(), NOW, &mut |e| got.push(e));
        assert_eq!(got.len(), expected.len());
        assert_eq!(got, expected, "the same documents, ids included, as an undisturbed run");
    }

    #[test]
    fn saved_windows_are_refused_under_other_settings_or_after_events() {
        let a = Aggregator::new(config(10));
        a.submit(Flush::Stop(0), turn(&[("a", 1, 5)]), NOW, &mut |_| {});
        let saved = a.save().unwrap();
        let longer = Aggregator::new(AggregationConfig { window_ms: 60_000, ..config(10) });
        let e = longer.restore(saved.clone()).unwrap_err();
        assert!(e.contains("other settings") && e.contains("window 60000 ms"), "{e}");
        let busy = Aggregator::new(config(10));
        busy.submit(Flush::Batch(0), turn(&[("b", 2, 1)]), NOW, &mut |_| {});
        assert!(busy.restore(saved.clone()).unwrap_err().contains("already aggregated"));
        let mut broken = saved;
        broken.windows[0].keys[0].1.value.count = 7;
        let e = Aggregator::new(config(10)).restore(broken).unwrap_err();
        assert!(e.contains("7 values saved, 1 held"), "{e}");
        assert!(Aggregator::new(config(10)).save().is_none(), "nothing open, nothing saved");
    }
}
