//! Filter plugins and the options every Logstash filter shares.
//!
//! Each filter lives in its own module and is built from its [`Settings`]; [`build`]
//! maps a plugin name to its constructor, so an unknown name is reported rather than
//! ignored.

use crate::aggregation::Aggregations;
use crate::event::Event;
use crate::field_ref::FieldRef;
use crate::settings::Settings;
use crate::sprintf::Template;
use crate::value::Value;
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub mod csv;
pub mod date;
pub mod dissect;
pub mod drop;
#[cfg(feature = "fault-injection")]
pub mod fault_injection;
pub mod fingerprint;
pub mod grok;
pub mod json;
pub mod kv;
pub mod math;
pub mod mutate;
pub mod urldecode;
pub mod useragent;
pub mod window_stats;

/// What a filter did to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The filter applied; common options (`add_field`, `add_tag`, …) run next.
    Applied,
    /// The filter did not apply (no match, failure tagged or source missing).
    Skipped,
    /// The event must be dropped.
    Drop,
}

impl Outcome {
    /// `Applied` when the filter did something, `Skipped` otherwise.
    pub fn applied_if(applied: bool) -> Self {
        if applied {
            Outcome::Applied
        } else {
            Outcome::Skipped
        }
    }
}

/// When filters are asked for the events they make on their own (window metrics).
/// Each carries the turn's sequence number: workers number their turns in input order,
/// and every number reaches every filter once, so state shared between workers can be
/// updated in input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// After a batch.
    Batch(u64),
    /// A turn without a batch (none came for a while).
    Idle(u64),
    /// The last turn: the input has ended, emit everything held.
    Final(u64),
    /// The last turn of an agent told to stop: fold what is held and finish emitting
    /// what is already due, but keep open windows open, to be saved and continued
    /// after the restart.
    Stop(u64),
}

impl Flush {
    /// The turn's sequence number.
    pub fn seq(self) -> u64 {
        match self {
            Flush::Batch(seq) | Flush::Idle(seq) | Flush::Final(seq) | Flush::Stop(seq) => seq,
        }
    }
}

/// A filter plugin instance.
pub trait Filter: Send {
    /// Processes one event in place.
    fn apply(&mut self, event: &mut Event) -> Outcome;

    /// Hands events the filter makes by itself to `emit` (most filters make none);
    /// true when more are waiting for the next turn.
    fn flush(&mut self, _when: Flush, _emit: &mut dyn FnMut(Event)) -> bool {
        false
    }

    /// Whether [`Filter::flush`] does work of its own (aggregating filters record and
    /// emit there); only then is its time counted as the filter's, so that the clock
    /// reads around an empty flush on every turn do not add up against a filter that
    /// hardly ever sees an event.
    fn flushes(&self) -> bool {
        false
    }

    /// Says which source the next batch's events come from (a stable number per file,
    /// 0 for a stream without one), before any of them is applied. Aggregating filters
    /// keep a watermark per source; the rest ignore it.
    fn source(&mut self, _source: u64) {}
}

/// What filter constructors may need from outside the config text.
#[derive(Clone, Default)]
pub struct BuildContext {
    /// Directory of the config file, for relative paths such as `patterns_dir`.
    pub config_dir: PathBuf,
    /// Path of the config file, which with a block's position identifies shared state.
    pub config_path: String,
    /// Shared state of the aggregating filters.
    pub aggregations: Arc<Aggregations>,
}

/// Names of the filter plugins logship implements.
pub const FILTER_NAMES: &[&str] = &[
    "grok",
    "date",
    "mutate",
    "dissect",
    "kv",
    "json",
    "csv",
    "urldecode",
    "useragent",
    "fingerprint",
    "drop",
    "math",
    "window_stats",
];

/// Whether `name` is a filter that exists only in test builds (the `fault-injection`
/// feature), which is not listed among the plugins logship offers.
pub fn is_test_filter(name: &str) -> bool {
    cfg!(feature = "fault-injection") && name == "fault_injection"
}

/// Builds the filter `name` (with plugin id `id`), or `None` when logship has no such
/// filter.
pub fn build(name: &str, id: &str, s: &mut Settings, ctx: &BuildContext) -> Option<Box<dyn Filter>> {
    Some(match name {
        "grok" => Box::new(grok::Grok::from_settings(s, ctx)),
        "date" => Box::new(date::Date::from_settings(s)),
        "mutate" => Box::new(mutate::Mutate::from_settings(s)),
        "dissect" => Box::new(dissect::Dissect::from_settings(s)),
        "kv" => Box::new(kv::Kv::from_settings(s)),
        "json" => Box::new(json::Json::from_settings(s)),
        "csv" => Box::new(csv::Csv::from_settings(s)),
        "urldecode" => Box::new(urldecode::UrlDecode::from_settings(s)),
        "useragent" => Box::new(useragent::UserAgent::from_settings(s)),
        "fingerprint" => Box::new(fingerprint::Fingerprint::from_settings(s)),
        "drop" => Box::new(drop::Drop::from_settings(s)),
        "math" => Box::new(math::Math::from_settings(s)),
        "window_stats" => Box::new(window_stats::WindowStats::from_settings(s, ctx, id)),
        #[cfg(feature = "fault-injection")]
        "fault_injection" => Box::new(fault_injection::FaultInjection::from_settings(s)),
        _ => return None,
    })
}

/// `add_field`, `add_tag`, `remove_field`, `remove_tag`: applied after a filter succeeds.
#[derive(Debug, Clone, Default)]
pub struct CommonOptions {
    add_field: Vec<(FieldName, Template)>,
    add_tag: Vec<Template>,
    remove_field: Vec<FieldName>,
    remove_tag: Vec<Template>,
}

impl CommonOptions {
    /// Reads the common options (and accepts `enable_metric` / `periodic_flush`).
    pub fn from_settings(s: &mut Settings) -> Self {
        s.accept(&["enable_metric", "periodic_flush"]);
        let add_field = s
            .string_hash("add_field")
            .into_iter()
            .map(|(k, v)| (FieldName::new(&k.node), Template::new(&v.node)))
            .collect();
        Self {
            add_field,
            add_tag: s.templates("add_tag"),
            remove_field: s.strings("remove_field").iter().map(|f| FieldName::new(&f.node)).collect(),
            remove_tag: s.templates("remove_tag"),
        }
    }

    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        self.add_field.is_empty()
            && self.add_tag.is_empty()
            && self.remove_field.is_empty()
            && self.remove_tag.is_empty()
    }

    /// Applies the options to `event`, in Logstash's order.
    pub fn apply(&self, event: &mut Event) {
        for (k, v) in &self.add_field {
            let value = v.render_value(event);
            if let Some(r) = k.resolve(event) {
                add_value(event, &r, value);
            }
        }
        for t in &self.add_tag {
            let tag = t.render(event);
            event.add_tag(&tag);
        }
        for f in &self.remove_field {
            if let Some(r) = f.resolve(event) {
                event.remove(&r);
            }
        }
        for t in &self.remove_tag {
            let tag = t.render(event);
            event.remove_tag(&tag);
        }
    }
}

/// A field name that may be a sprintf template; constant names are parsed once.
#[derive(Debug, Clone)]
pub enum FieldName {
    /// A constant field reference.
    Fixed(FieldRef),
    /// A name computed per event.
    Template(Template),
}

impl FieldName {
    /// Parses `text` now if it is constant and a valid reference.
    pub fn new(text: &str) -> Self {
        let t = Template::new(text);
        match (t.is_constant(), FieldRef::parse(text)) {
            (true, Ok(r)) => FieldName::Fixed(r),
            _ => FieldName::Template(t),
        }
    }

    /// The reference for `event`: the fixed one, or the rendered name when it is valid.
    pub fn resolve(&self, event: &Event) -> Option<Cow<'_, FieldRef>> {
        match self {
            FieldName::Fixed(r) => Some(Cow::Borrowed(r)),
            FieldName::Template(t) => FieldRef::parse_runtime(&t.render(event)).ok().map(Cow::Owned),
        }
    }
}

/// Sets `r` to `value`, or appends to what is there (turning a scalar into an array),
/// which is how Logstash's `add_field` behaves.
pub fn add_value(event: &mut Event, r: &FieldRef, value: Value) {
    event.set_or_merge(r, value, |field, value| match field {
        Value::Null => *field = value,
        Value::Array(a) => a.push(value),
        existing => {
            let old = existing.take();
            *existing = Value::Array(vec![old, value]);
        }
    });
}

/// A filter with its id and common options, as placed in the plan.
pub struct FilterNode {
    /// The plugin id (`id => …` or a generated `name-N`), which per-plugin metrics are
    /// keyed by.
    pub id: String,
    filter: Box<dyn Filter>,
    /// `None` when the block sets none: one test per event instead of four lists.
    common: Option<Box<CommonOptions>>,
    counts: NodeCounts,
}

impl FilterNode {
    /// Records that the filter panicked on `event`: tags it, says which plugin and why,
    /// and counts the fault. The event then goes on through the rest of the pipeline.
    pub fn record_fault(&mut self, event: &mut Event, payload: &(dyn std::any::Any + Send)) {
        // `run` counted the event in before the filter panicked.
        self.counts.faults += 1;
        event.add_tag(FILTER_ERROR_TAG);
        let id = crate::field_ref::FieldRef::from_segments(["filter_error", "plugin_id"]);
        let message = crate::field_ref::FieldRef::from_segments(["filter_error", "message"]);
        event.set(&id, Value::from(self.id.as_str()));
        event.set(&message, Value::from(panic_message(payload)));
    }
}

/// One event in this many has its time in each filter measured (two clock reads per
/// filter it reaches), and counts for this many in [`NodeCounts::nanos`]: timing every
/// event would cost more than most filters do.
pub const TIMING_SAMPLE: u64 = 128;

/// What one filter did since its counts were last taken (plain integers: each worker
/// owns its pipeline, and publishes these once per batch).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NodeCounts {
    /// Events that reached the filter.
    pub events_in: u64,
    /// Events it applied to (matched, parsed…).
    pub applied: u64,
    /// Events it dropped.
    pub dropped: u64,
    /// Estimated time spent in the filter, in nanoseconds: each timed event's time
    /// (common options included) times [`TIMING_SAMPLE`], plus all of an aggregating
    /// filter's flushing (window metrics are recorded and built there), less the time
    /// the events it emitted spent in routing and encoding.
    pub nanos: u64,
    /// Events the filter panicked on (contained: the event went on tagged
    /// [`FILTER_ERROR_TAG`]).
    pub faults: u64,
}

impl NodeCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: NodeCounts) {
        self.events_in += other.events_in;
        self.applied += other.applied;
        self.dropped += other.dropped;
        self.nanos += other.nanos;
        self.faults += other.faults;
    }
}

/// The tag of an event a filter panicked on; `[filter_error][plugin_id]` and
/// `[filter_error][message]` say which filter and why.
pub const FILTER_ERROR_TAG: &str = "_filter_error";

/// The text of a panic's payload (`panic!` with a literal or a formatted message).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".to_string())
}

/// `d` in whole nanoseconds, saturating (a u64 of nanoseconds lasts 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What one clock read costs on this machine (the least of 256 back-to-back pairs),
/// measured once. It is taken off every timed run: most filters take a few tens of
/// nanoseconds, so uncorrected estimates would be largely the timer's own cost.
fn clock_read_nanos() -> u64 {
    static COST: OnceLock<u64> = OnceLock::new();
    *COST.get_or_init(|| (0..256).map(|_| nanos(Instant::now().elapsed())).min().unwrap_or(0))
}

impl FilterNode {
    /// Wraps a built filter.
    pub fn new(id: String, filter: Box<dyn Filter>, common: CommonOptions) -> Self {
        let common = (!common.is_empty()).then(|| Box::new(common));
        Self { id, filter, common, counts: NodeCounts::default() }
    }

    /// The counts since the last call, resetting them.
    pub fn take_counts(&mut self) -> NodeCounts {
        std::mem::take(&mut self.counts)
    }

    /// Tells the filter the next batch's source (see [`Filter::source`]).
    pub fn source(&mut self, source: u64) {
        self.filter.source(source);
    }

    /// The events the filter emits by itself (see [`Filter::flush`]). For a filter
    /// that [flushes](Filter::flushes), the time it takes counts as the filter's,
    /// except what `emit` spends on each event.
    pub fn flush(&mut self, when: Flush, emit: &mut dyn FnMut(Event)) -> bool {
        if !self.filter.flushes() {
            return self.filter.flush(when, emit);
        }
        let started = Instant::now();
        let mut downstream = Duration::ZERO;
        let more = self.filter.flush(when, &mut |event| {
            let handed = Instant::now();
            emit(event);
            downstream += handed.elapsed();
        });
        self.counts.nanos += nanos(started.elapsed().saturating_sub(downstream));
        more
    }

    /// [`FilterNode::run`], timed for the filter's estimated time (see [`TIMING_SAMPLE`]).
    pub fn run_timed(&mut self, event: &mut Event) -> bool {
        let started = Instant::now();
        let kept = self.run(event);
        let spent = nanos(started.elapsed()).saturating_sub(clock_read_nanos());
        self.counts.nanos += spent.saturating_mul(TIMING_SAMPLE);
        kept
    }

    /// Runs the filter and, if it applied, the common options. Returns false to drop.
    pub fn run(&mut self, event: &mut Event) -> bool {
        self.counts.events_in += 1;
        match self.filter.apply(event) {
            Outcome::Applied => {
                self.counts.applied += 1;
                if let Some(common) = &self.common {
                    common.apply(event);
                }
                true
            }
            Outcome::Skipped => true,
            Outcome::Drop => {
                self.counts.dropped += 1;
                false
            }
        }
    }
}

/// Builds a filter from the body of its config block, for unit tests; the settings
/// must all be known to it.
#[cfg(test)]
pub(crate) fn from_config<F>(name: &str, body: &str, build: impl FnOnce(&mut Settings) -> F) -> F {
    let cfg = crate::parser::parse_config(&format!("filter {{ {name} {{ {body} }} }}")).expect("test config parses");
    let crate::ast::Statement::Plugin(p) = &cfg.sections[0].body[0] else { panic!("not a plugin") };
    let mut s = Settings::new(p);
    let filter = build(&mut s);
    let errors = s.finish();
    assert!(errors.is_empty(), "{errors:?}");
    filter
}

/// Reads a `source`/`target`-style field option with a default.
pub fn field_or(s: &mut Settings, key: &str, default: &str) -> FieldRef {
    s.field_ref(key).unwrap_or_else(|| FieldRef::from_segments([default]))
}

/// Reads `tag_on_failure`-style tag lists, with a default when absent.
pub fn failure_tags(s: &mut Settings, key: &str, default: &str) -> Vec<String> {
    if s.raw(key).is_none() {
        return vec![default.to_string()];
    }
    s.strings(key).into_iter().map(|t| t.node).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_options_with_fixed_and_sprintf_names() {
        let common = from_config(
            "mutate",
            r#"add_field => { "[a][b]" => "x" "f_%{kind}" => "%{kind}" } add_tag => ["t_%{kind}"] remove_field => ["drop_me", "[gone_%{kind}]"] remove_tag => ["old"]"#,
            CommonOptions::from_settings,
        );
        let mut e = Event::from_message("m".into(), chrono::Utc::now());
        for (k, v) in [("kind", "k"), ("drop_me", "1"), ("gone_k", "2")] {
            e.set(&FieldRef::parse(k).unwrap(), Value::from(v));
        }
        e.add_tag("old");
        common.apply(&mut e);
        assert_eq!(e.get_str(&FieldRef::parse("[a][b]").unwrap()), Some("x"));
        assert_eq!(e.get_str(&FieldRef::parse("f_k").unwrap()), Some("k"));
        assert!(e.has_tag("t_k") && !e.has_tag("old"));
        assert!(!e.contains(&FieldRef::parse("drop_me").unwrap()));
        assert!(!e.contains(&FieldRef::parse("gone_k").unwrap()));
    }
}
