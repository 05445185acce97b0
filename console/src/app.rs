//! The console's state: the latest snapshots from the agent, what the user has chosen
//! (view, sort, filter, selection), and the rows each view shows, derived from the
//! snapshots. Pure: no terminal and no network, so it is tested directly.

use pipeline_dsl::aggregation::ratio;
use pipeline_dsl::aggregation::Merged;
use pipeline_dsl::api::{AggregationSnapshot, KeyStats, Snapshot, WindowSnapshot};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::{BTreeMap, VecDeque};

/// Samples kept for the throughput sparkline (one per refresh).
const THROUGHPUT_SAMPLES: usize = 120;

/// The four views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Ingest, outputs and global health.
    Overview,
    /// One row per title.
    Titles,
    /// One row per POP.
    Pops,
    /// Per-plugin counts and rates.
    Pipeline,
}

impl View {
    /// All views, in tab order.
    pub const ALL: [View; 4] = [View::Overview, View::Titles, View::Pops, View::Pipeline];

    /// The tab title.
    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Titles => "Titles",
            View::Pops => "POPs",
            View::Pipeline => "Pipeline",
        }
    }
}

/// Columns of the titles view, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Title id.
    Title,
    /// Requests per second.
    Rps,
    /// Latency p50.
    P50,
    /// Latency p95.
    P95,
    /// Latency p99.
    P99,
    /// Error rate.
    Errors,
    /// Cache hit ratio.
    CacheHit,
    /// Playback startup p95.
    StartupP95,
    /// Rebuffer ratio.
    Rebuffer,
}

impl Column {
    /// All columns, left to right.
    pub const ALL: [Column; 9] = [
        Column::Title,
        Column::Rps,
        Column::P50,
        Column::P95,
        Column::P99,
        Column::Errors,
        Column::CacheHit,
        Column::StartupP95,
        Column::Rebuffer,
    ];

    /// The header text.
    pub fn header(self) -> &'static str {
        match self {
            Column::Title => "title",
            Column::Rps => "req/s",
            Column::P50 => "p50 ms",
            Column::P95 => "p95 ms",
            Column::P99 => "p99 ms",
            Column::Errors => "err %",
            Column::CacheHit => "hit %",
            Column::StartupP95 => "start p95",
            Column::Rebuffer => "rebuf %",
        }
    }
}

/// Thresholds beyond which a figure is shown as an SLO breach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    /// CDN latency p95, milliseconds.
    pub p95_ms: u64,
    /// Error rate (0–1).
    pub error_rate: f64,
    /// Lowest acceptable cache hit ratio (0–1).
    pub cache_hit: f64,
    /// Playback startup p95, milliseconds.
    pub startup_p95_ms: u64,
    /// Rebuffer ratio (0–1).
    pub rebuffer: f64,
}

impl Default for Slo {
    fn default() -> Self {
        Self { p95_ms: 500, error_rate: 0.01, cache_hit: 0.8, startup_p95_ms: 3000, rebuffer: 0.02 }
    }
}

/// One title, merged over the CDN aggregations (edge, CloudFront) and the playback one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TitleRow {
    /// Title id.
    pub title: String,
    /// CDN requests per second in the newest closed window.
    pub rps: f64,
    /// Latency percentiles (ms) of the merged histogram.
    pub p50: Option<u64>,
    /// p95.
    pub p95: Option<u64>,
    /// p99.
    pub p99: Option<u64>,
    /// Errors / requests.
    pub error_rate: Option<f64>,
    /// Hits / (hits + misses).
    pub cache_hit: Option<f64>,
    /// Playback startup p95 (ms).
    pub startup_p95: Option<u64>,
    /// Rebuffer time / watch time.
    pub rebuffer: Option<f64>,
    /// The merged latency histogram: (bucket value, count), ascending.
    pub histogram: Vec<(f64, u64)>,
    /// Latency percentiles in the recent windows, newest first, per source (the key's
    /// other group values, such as `cdn.edge`).
    pub history: Vec<WindowFigures>,
}

/// A title's latency in one window from one source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowFigures {
    /// Window start, Unix milliseconds.
    pub start_ms: i64,
    /// Where the figures come from (the key without the title).
    pub source: String,
    /// p50 (ms).
    pub p50: u64,
    /// p95 (ms).
    pub p95: u64,
    /// p99 (ms).
    pub p99: u64,
}

/// One POP, merged over the CDN aggregations grouped by POP.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PopRow {
    /// POP code.
    pub pop: String,
    /// Requests per second in the newest closed window.
    pub rps: f64,
    /// Hits / (hits + misses).
    pub cache_hit: Option<f64>,
    /// Latency p95 (ms).
    pub p95: Option<u64>,
    /// Errors / requests.
    pub error_rate: Option<f64>,
}

/// The console's whole state.
pub struct App {
    /// Agent address, for display.
    pub agent: String,
    /// The view shown.
    pub view: View,
    /// The newest snapshot.
    pub snapshot: Option<Snapshot>,
    /// The one before, for rates.
    previous: Option<Snapshot>,
    /// Why the last refresh failed, when it did.
    pub error: Option<String>,
    /// Lines/s per refresh, oldest first.
    pub throughput: VecDeque<u64>,
    /// Selected row in the titles or POPs view.
    pub selected: usize,
    /// Sort column of the titles view.
    pub sort: Column,
    /// Sort descending.
    pub descending: bool,
    /// Title filter (substring).
    pub filter: String,
    /// Typing into the filter.
    pub filtering: bool,
    /// The title whose detail is open.
    pub detail: Option<String>,
    /// The help overlay is open.
    pub help: bool,
    /// SLO thresholds.
    pub slo: Slo,
    /// The user asked to quit.
    pub quit: bool,
}

impl App {
    /// A console for the agent at `agent`.
    pub fn new(agent: String, slo: Slo) -> Self {
        Self {
            agent,
            view: View::Overview,
            snapshot: None,
            previous: None,
            error: None,
            throughput: VecDeque::new(),
            selected: 0,
            sort: Column::Rps,
            descending: true,
            filter: String::new(),
            filtering: false,
            detail: None,
            help: false,
            slo,
            quit: false,
        }
    }

    /// Takes the result of one refresh. A failure keeps the last data on screen.
    pub fn update(&mut self, result: Result<Snapshot, String>) {
        match result {
            Ok(s) => {
                if let Some(rate) = self.snapshot.as_ref().and_then(|prev| lines_per_second(prev, &s)) {
                    self.throughput.push_back(rate.round() as u64);
                    while self.throughput.len() > THROUGHPUT_SAMPLES {
                        self.throughput.pop_front();
                    }
                }
                self.previous = self.snapshot.replace(s);
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Lines per second between the last two snapshots.
    pub fn lines_per_second(&self) -> Option<f64> {
        lines_per_second(self.previous.as_ref()?, self.snapshot.as_ref()?)
    }

    /// Rate per second of a counter between the last two snapshots.
    pub fn rate(&self, pick: impl Fn(&Snapshot) -> Option<u64>) -> Option<f64> {
        let (prev, now) = (self.previous.as_ref()?, self.snapshot.as_ref()?);
        let dt = (now.timestamp_ms - prev.timestamp_ms) as f64 / 1000.0;
        if dt <= 0.0 {
            return None;
        }
        Some(pick(now)?.saturating_sub(pick(prev)?) as f64 / dt)
    }

    /// Handles one key press.
    pub fn key(&mut self, key: KeyEvent) {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if self.filtering {
            match key.code {
                KeyCode::Enter | KeyCode::Esc => self.filtering = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => {
                    self.filter.push(c);
                    self.selected = 0;
                }
                _ => {}
            }
            return;
        }
        if self.help {
            self.help = false;
            if !matches!(key.code, KeyCode::Char('q')) {
                return;
            }
        }
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Esc if self.detail.is_some() => self.detail = None,
            KeyCode::Esc if !self.filter.is_empty() => self.filter.clear(),
            KeyCode::Esc => self.quit = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Tab => self.switch((self.view_index() + 1) % View::ALL.len()),
            KeyCode::BackTab => self.switch((self.view_index() + View::ALL.len() - 1) % View::ALL.len()),
            KeyCode::Char(c @ '1'..='4') => self.switch(c as usize - '1' as usize),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.rows().saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::PageDown => self.selected = (self.selected + 10).min(self.rows().saturating_sub(1)),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = self.rows().saturating_sub(1),
            KeyCode::Char('/') if self.view == View::Titles => self.filtering = true,
            KeyCode::Char('s') | KeyCode::Right => self.sort_by(1),
            KeyCode::Char('S') | KeyCode::Left => self.sort_by(Column::ALL.len() - 1),
            KeyCode::Char('r') => self.descending = !self.descending,
            KeyCode::Enter if self.view == View::Titles => {
                self.detail = self.titles().get(self.selected).map(|t| t.title.clone());
            }
            _ => {}
        }
    }

    fn view_index(&self) -> usize {
        View::ALL.iter().position(|v| *v == self.view).unwrap_or(0)
    }

    fn switch(&mut self, index: usize) {
        self.view = View::ALL[index.min(View::ALL.len() - 1)];
        self.selected = 0;
        self.detail = None;
    }

    fn sort_by(&mut self, step: usize) {
        if self.view != View::Titles {
            return;
        }
        let i = Column::ALL.iter().position(|c| *c == self.sort).unwrap_or(0);
        self.sort = Column::ALL[(i + step) % Column::ALL.len()];
        // Names read best ascending, figures with the largest first.
        self.descending = self.sort != Column::Title;
    }

    fn rows(&self) -> usize {
        match self.view {
            View::Titles => self.titles().len(),
            View::Pops => self.pops().len(),
            View::Pipeline => {
                self.snapshot.as_ref().map_or(0, |s| s.inputs.len() + s.pipeline.filters.len() + s.outputs.len())
            }
            View::Overview => 0,
        }
    }

    /// The titles view's rows: filtered, sorted.
    pub fn titles(&self) -> Vec<TitleRow> {
        let Some(s) = &self.snapshot else { return Vec::new() };
        let mut rows: BTreeMap<String, Merge> = BTreeMap::new();
        for a in &s.aggregations {
            let Some(field) = a.group_by.iter().position(|g| g == "streaming.title.id") else { continue };
            let Some(window) = a.recent.first() else { continue };
            let playback = is_playback(a);
            for k in &window.keys {
                let Some(title) = k.key.split('|').nth(field) else { continue };
                let m = rows.entry(title.to_string()).or_default();
                if playback {
                    m.startup_p95 = k.value.as_ref().map(|v| v.p95);
                    m.rebuffer = ratio_named(k, "rebuffer_ratio");
                } else {
                    m.add(k, window, a);
                }
            }
            if !playback {
                for w in &a.recent {
                    for k in &w.keys {
                        let parts: Vec<&str> = k.key.split('|').collect();
                        let title = parts.get(field).copied().unwrap_or_default();
                        if let (Some(m), Some(v)) = (rows.get_mut(title), &k.value) {
                            let source = parts.iter().enumerate().filter(|(i, _)| *i != field).map(|(_, p)| *p);
                            m.history.push(WindowFigures {
                                start_ms: w.start_ms,
                                source: source.collect::<Vec<_>>().join("|"),
                                p50: v.p50,
                                p95: v.p95,
                                p99: v.p99,
                            });
                        }
                    }
                }
            }
        }
        let needle = self.filter.to_lowercase();
        let mut out: Vec<TitleRow> = rows
            .into_iter()
            .filter(|(t, _)| needle.is_empty() || t.to_lowercase().contains(&needle))
            .map(|(t, m)| m.row(t))
            .collect();
        let key = |r: &TitleRow| -> f64 {
            let opt = |v: Option<f64>| v.unwrap_or(f64::NEG_INFINITY);
            match self.sort {
                Column::Title => 0.0,
                Column::Rps => r.rps,
                Column::P50 => opt(r.p50.map(|v| v as f64)),
                Column::P95 => opt(r.p95.map(|v| v as f64)),
                Column::P99 => opt(r.p99.map(|v| v as f64)),
                Column::Errors => opt(r.error_rate),
                Column::CacheHit => opt(r.cache_hit),
                Column::StartupP95 => opt(r.startup_p95.map(|v| v as f64)),
                Column::Rebuffer => opt(r.rebuffer),
            }
        };
        out.sort_by(|a, b| {
            let ord = if self.sort == Column::Title {
                a.title.cmp(&b.title)
            } else {
                key(a).total_cmp(&key(b)).then_with(|| b.title.cmp(&a.title))
            };
            if self.descending {
                ord.reverse()
            } else {
                ord
            }
        });
        out
    }

    /// The POPs view's rows, busiest first.
    pub fn pops(&self) -> Vec<PopRow> {
        let Some(s) = &self.snapshot else { return Vec::new() };
        let mut rows: BTreeMap<String, Merge> = BTreeMap::new();
        for a in &s.aggregations {
            let Some(field) = a.group_by.iter().position(|g| g == "cdn.pop") else { continue };
            if is_playback(a) {
                continue;
            }
            let Some(window) = a.recent.first() else { continue };
            for k in &window.keys {
                if let Some(pop) = k.key.split('|').nth(field) {
                    rows.entry(pop.to_string()).or_default().add(k, window, a);
                }
            }
        }
        let mut out: Vec<PopRow> = rows
            .into_iter()
            .map(|(pop, m)| {
                let t = m.row(pop);
                PopRow { pop: t.title, rps: t.rps, cache_hit: t.cache_hit, p95: t.p95, error_rate: t.error_rate }
            })
            .collect();
        out.sort_by(|a, b| b.rps.total_cmp(&a.rps).then_with(|| a.pop.cmp(&b.pop)));
        out
    }

    /// Global CDN health in the newest closed windows: (error rate, cache hit ratio).
    pub fn cdn_health(&self) -> (Option<f64>, Option<f64>) {
        let Some(s) = &self.snapshot else { return (None, None) };
        let (mut count, mut errors, mut hits, mut misses) = (0, 0, 0, 0);
        for a in
            s.aggregations.iter().filter(|a| !is_playback(a) && a.group_by.iter().any(|g| g == "streaming.title.id"))
        {
            if let Some(w) = a.recent.first() {
                count += w.totals.count;
                errors += w.totals.errors;
                hits += w.totals.cache_hits;
                misses += w.totals.cache_misses;
            }
        }
        (ratio(errors as f64, count as f64), ratio(hits as f64, (hits + misses) as f64))
    }

    /// Playback health in the newest closed window: (startup p95 ms, rebuffer ratio,
    /// playback error rate).
    pub fn playback_health(&self) -> (Option<u64>, Option<f64>, Option<f64>) {
        let Some(s) = &self.snapshot else { return (None, None, None) };
        let Some(w) = s.aggregations.iter().filter(|a| is_playback(a)).find_map(|a| a.recent.first()) else {
            return (None, None, None);
        };
        (
            w.totals.value.as_ref().map(|v| v.p95),
            ratio_named(&w.totals, "rebuffer_ratio"),
            ratio_named(&w.totals, "playback_error_rate"),
        )
    }
}

fn lines_per_second(prev: &Snapshot, now: &Snapshot) -> Option<f64> {
    let dt = (now.timestamp_ms - prev.timestamp_ms) as f64 / 1000.0;
    let total = |s: &Snapshot| s.inputs.iter().map(|i| i.events).sum::<u64>();
    (dt > 0.0).then(|| total(now).saturating_sub(total(prev)) as f64 / dt)
}

/// Whether an aggregation describes playback (startup times, rebuffering) rather than
/// CDN requests.
fn is_playback(a: &AggregationSnapshot) -> bool {
    a.name.contains("playback")
        || a.recent.first().is_some_and(|w| w.totals.ratios.iter().any(|(n, _)| n == "rebuffer_ratio"))
}

fn ratio_named(k: &KeyStats, name: &str) -> Option<f64> {
    k.ratios.iter().find(|(n, _)| n == name).and_then(|(_, r)| *r)
}

/// Figures of one title or POP gathered from several aggregations.
#[derive(Default)]
struct Merge {
    count: u64,
    errors: u64,
    hits: u64,
    misses: u64,
    seconds: f64,
    histogram: Merged,
    /// Percentiles of the busiest source, for keys without a histogram.
    fallback: Option<(u64, u64, u64, u64)>,
    startup_p95: Option<u64>,
    rebuffer: Option<f64>,
    history: Vec<WindowFigures>,
}

impl Merge {
    fn add(&mut self, k: &KeyStats, w: &WindowSnapshot, a: &AggregationSnapshot) {
        self.count += k.count;
        self.errors += k.errors;
        self.hits += k.cache_hits;
        self.misses += k.cache_misses;
        self.seconds = self.seconds.max(((w.end_ms - w.start_ms) as f64 / 1000.0).max(a.window_seconds));
        if let Some(v) = &k.value {
            for (value, count) in v.histogram_values.iter().zip(&v.histogram_counts) {
                self.histogram.add(*value, *count);
            }
            if self.fallback.is_none_or(|f| f.0 < v.count) {
                self.fallback = Some((v.count, v.p50, v.p95, v.p99));
            }
        }
    }

    fn row(self, title: String) -> TitleRow {
        let from_histogram = !self.histogram.is_empty();
        let pick = |q: f64, i: usize| {
            if from_histogram {
                self.histogram.percentile(q)
            } else {
                self.fallback.map(|f| [f.1, f.2, f.3][i])
            }
        };
        TitleRow {
            rps: if self.seconds > 0.0 { self.count as f64 / self.seconds } else { 0.0 },
            p50: pick(0.5, 0),
            p95: pick(0.95, 1),
            p99: pick(0.99, 2),
            error_rate: ratio(self.errors as f64, self.count as f64),
            cache_hit: ratio(self.hits as f64, (self.hits + self.misses) as f64),
            startup_p95: self.startup_p95,
            rebuffer: self.rebuffer,
            histogram: self.histogram.buckets(),
            history: {
                let mut h = self.history;
                h.sort_by(|a, b| b.start_ms.cmp(&a.start_ms).then_with(|| a.source.cmp(&b.source)));
                h
            },
            title,
        }
    }
}
