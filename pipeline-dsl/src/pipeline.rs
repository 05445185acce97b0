//! Compiling parsed configs into an executable plan, and running events through it.
//!
//! Filters are built here; inputs and outputs are returned as declarations for the
//! agent to build (they need I/O), but every plugin name is checked here so
//! `logship check` reports unknown plugins by name and position.

use crate::aggregation::Aggregations;
use crate::ast::{self, Plugin, SectionKind, Spanned, Statement};
use crate::condition::Condition;
use crate::diagnostics::{Diagnostic, SourceDiagnostics};
use crate::env;
use crate::event::Event;
use crate::filters::{self, BuildContext, CommonOptions, FilterNode, Flush, NodeCounts, TIMING_SAMPLE};
use crate::parser::parse_config;
use crate::settings::Settings;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A config file's path and text.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// Path as given by the user.
    pub path: String,
    /// File contents.
    pub text: String,
}

impl ConfigSource {
    /// Reads a config file.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        Ok(Self { path: path.display().to_string(), text: std::fs::read_to_string(path)? })
    }
}

/// A tree of plugins under conditionals.
pub enum Node<T> {
    /// A plugin.
    Plugin(T),
    /// `if / else if / else`.
    Branch {
        /// Conditions with their bodies.
        arms: Vec<(Condition, Vec<Node<T>>)>,
        /// The `else` body (possibly empty).
        otherwise: Vec<Node<T>>,
    },
}

/// An input or output plugin as declared, for the agent to build.
#[derive(Debug, Clone)]
pub struct PluginDecl {
    /// Index of the config file it came from.
    pub file: usize,
    /// The parsed plugin block.
    pub plugin: Plugin,
}

impl PluginDecl {
    /// Its settings, ready for typed reading.
    pub fn settings(&self) -> Settings {
        Settings::new(&self.plugin)
    }
}

/// The compiled pipeline.
pub struct Pipeline {
    /// Input declarations.
    pub inputs: Vec<PluginDecl>,
    /// The filter tree.
    pub filters: Vec<Node<FilterNode>>,
    /// Output declarations, in order.
    pub outputs: Vec<PluginDecl>,
    /// Which outputs an event goes to (indices into `outputs`).
    pub output_routes: Vec<Node<usize>>,
    /// The config files, for rendering later diagnostics.
    pub sources: Vec<ConfigSource>,
    /// Events filtered so far: every [`TIMING_SAMPLE`]th is timed.
    filtered: u64,
    /// Index lists of a batch's branches, kept for the next batch.
    spare_lists: Vec<Vec<usize>>,
}

/// Every problem found in a set of config files.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<SourceDiagnostics>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.0 {
            f.write_str(&d.render())?;
        }
        let n: usize = self.0.iter().map(|d| d.diagnostics.len()).sum();
        write!(f, "{n} error{} in the configuration", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for ConfigErrors {}

impl ConfigErrors {
    /// Groups `(file index, diagnostic)` pairs by file.
    pub fn from_pairs(sources: &[ConfigSource], pairs: Vec<(usize, Diagnostic)>) -> Self {
        let mut out: Vec<SourceDiagnostics> = Vec::new();
        for (file, d) in pairs {
            match out.iter_mut().find(|s| s.path == sources[file].path) {
                Some(s) => s.diagnostics.push(d),
                None => out.push(SourceDiagnostics {
                    path: sources[file].path.clone(),
                    source: sources[file].text.clone(),
                    diagnostics: vec![d],
                }),
            }
        }
        for s in &mut out {
            s.diagnostics.sort_by_key(|d| d.span.start);
        }
        ConfigErrors(out)
    }
}

/// Load-time settings of the config language.
pub struct LoadOptions<'a> {
    /// Looks up `${VAR}` values (the process environment, normally).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Translate backslash escapes in quoted strings (Logstash's
    /// `config.support_escapes`); off by default, as in Logstash.
    pub support_escapes: bool,
    /// Where aggregating filters keep their shared state: pass the same registry to
    /// every compilation of one config (one per filter worker).
    pub aggregations: Arc<Aggregations>,
}

/// Parses and compiles config files, concatenating their sections in order.
/// `input_names`/`output_names` are the plugins the agent can build.
pub fn compile(
    sources: Vec<ConfigSource>,
    input_names: &[&str],
    output_names: &[&str],
    options: &LoadOptions,
) -> Result<Pipeline, ConfigErrors> {
    let mut errors: Vec<(usize, Diagnostic)> = Vec::new();
    let mut inputs = Vec::new();
    let mut filters_tree = Vec::new();
    let mut outputs = Vec::new();
    let mut output_routes = Vec::new();
    let mut counter = 0usize;
    for (file, source) in sources.iter().enumerate() {
        let mut config = match parse_config(&source.text) {
            Ok(c) => c,
            Err(d) => {
                errors.push((file, d));
                continue;
            }
        };
        for d in env::substitute(&mut config, options.env) {
            errors.push((file, d));
        }
        if options.support_escapes {
            crate::escapes::apply(&mut config);
        }
        let ctx = BuildContext {
            config_dir: Path::new(&source.path).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")),
            config_path: source.path.clone(),
            aggregations: options.aggregations.clone(),
        };
        let mut c = Compiler { file, ctx, errors: &mut errors, counter: &mut counter };
        for section in &config.sections {
            match section.kind {
                SectionKind::Filter => filters_tree.extend(c.filters(&section.body)),
                SectionKind::Input => {
                    for p in c.flat_plugins(&section.body, "input") {
                        c.check_name(&p, "input", input_names);
                        inputs.push(PluginDecl { file, plugin: p });
                    }
                }
                SectionKind::Output => output_routes.extend(c.outputs(&section.body, output_names, &mut outputs)),
            }
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors::from_pairs(&sources, errors));
    }
    Ok(Pipeline {
        inputs,
        filters: filters_tree,
        outputs,
        output_routes,
        sources,
        filtered: 0,
        spare_lists: Vec::new(),
    })
}

struct Compiler<'a> {
    file: usize,
    ctx: BuildContext,
    errors: &'a mut Vec<(usize, Diagnostic)>,
    counter: &'a mut usize,
}

impl Compiler<'_> {
    fn error(&mut self, d: Diagnostic) {
        self.errors.push((self.file, d));
    }

    fn check_name(&mut self, p: &Plugin, kind: &str, known: &[&str]) -> bool {
        if known.contains(&p.name.node.as_str()) {
            return true;
        }
        self.error(Diagnostic::new(
            format!("unsupported {kind} plugin `{}`", p.name.node),
            p.name.span.clone(),
            format!("logship's {kind} plugins are: {}", known.join(", ")),
        ));
        false
    }

    fn condition(&mut self, c: &Spanned<ast::Condition>) -> Condition {
        let mut errs = Vec::new();
        let compiled = Condition::compile(c, &mut errs);
        for e in errs {
            self.error(e);
        }
        compiled
    }

    fn flat_plugins(&mut self, body: &[Statement], kind: &str) -> Vec<Plugin> {
        let mut out = Vec::new();
        for st in body {
            match st {
                Statement::Plugin(p) => out.push(p.clone()),
                Statement::If(chain) => {
                    let span = chain.branches.first().map(|b| b.0.span.clone()).unwrap_or_default();
                    self.error(Diagnostic::new(
                        format!("conditionals are not allowed in {kind} sections"),
                        span,
                        "remove this conditional",
                    ));
                }
            }
        }
        out
    }

    fn filters(&mut self, body: &[Statement]) -> Vec<Node<FilterNode>> {
        let mut out = Vec::new();
        for st in body {
            match st {
                Statement::Plugin(p) => {
                    if !filters::is_test_filter(&p.name.node) && !self.check_name(p, "filter", filters::FILTER_NAMES) {
                        continue;
                    }
                    let mut s = Settings::new(p);
                    let id = s.string("id").map(|i| i.node);
                    let common = CommonOptions::from_settings(&mut s);
                    *self.counter += 1;
                    let id = id.unwrap_or_else(|| format!("{}-{}", p.name.node, *self.counter));
                    let built = filters::build(&p.name.node, &id, &mut s, &self.ctx);
                    for d in s.finish() {
                        self.error(d);
                    }
                    if let Some(f) = built {
                        out.push(Node::Plugin(FilterNode::new(id, f, common)));
                    }
                }
                Statement::If(chain) => {
                    let arms = chain.branches.iter().map(|(c, b)| (self.condition(c), self.filters(b))).collect();
                    let otherwise = chain.otherwise.as_deref().map(|b| self.filters(b)).unwrap_or_default();
                    out.push(Node::Branch { arms, otherwise });
                }
            }
        }
        out
    }

    fn outputs(&mut self, body: &[Statement], known: &[&str], decls: &mut Vec<PluginDecl>) -> Vec<Node<usize>> {
        let mut out = Vec::new();
        for st in body {
            match st {
                Statement::Plugin(p) => {
                    if self.check_name(p, "output", known) {
                        decls.push(PluginDecl { file: self.file, plugin: p.clone() });
                        out.push(Node::Plugin(decls.len() - 1));
                    }
                }
                Statement::If(chain) => {
                    let arms = chain
                        .branches
                        .iter()
                        .map(|(c, b)| (self.condition(c), self.outputs(b, known, decls)))
                        .collect();
                    let otherwise =
                        chain.otherwise.as_deref().map(|b| self.outputs(b, known, decls)).unwrap_or_default();
                    out.push(Node::Branch { arms, otherwise });
                }
            }
        }
        out
    }
}

impl Pipeline {
    /// Runs one event through the filters; returns false when it was dropped.
    pub fn filter(&mut self, event: &mut Event) -> bool {
        let mut kept = [true];
        self.filter_batch(std::slice::from_mut(event), &mut kept);
        kept[0]
    }

    /// Runs a batch of events through the filters, each filter over every event that
    /// reaches it before the next filter starts (as Logstash runs its batches). The
    /// agent runs `pipeline.conf` about 10 % faster so (BENCHMARKS.md), most likely as
    /// each filter's code and tables stay in cache. Each filter still sees the events
    /// in batch order. `kept` holds a flag per event: events whose flag is false
    /// are skipped, and a filter that drops an event clears its flag.
    pub fn filter_batch(&mut self, events: &mut [Event], kept: &mut [bool]) {
        let first = self.filtered;
        self.filtered = self.filtered.wrapping_add(events.len() as u64);
        let mut batch = Batch { events, kept, first, lists: &mut self.spare_lists };
        let mut live = batch.list();
        live.extend((0..batch.events.len().min(batch.kept.len())).filter(|&i| batch.kept[i]));
        run_filters(&mut self.filters, &mut batch, &mut live);
        batch.lists.push(live);
    }

    /// Tells every filter which source the next batch comes from (see
    /// [`filters::Filter::source`]).
    pub fn source(&mut self, source: u64) {
        for_each_filter(&mut self.filters, &mut |f| f.source(source));
    }

    /// Hands each event the filters make by themselves (window metrics) to `emit`,
    /// with the outputs it is routed to. Such events skip the filters. True when some
    /// filter has more waiting for the next turn.
    pub fn flush(&mut self, when: Flush, emit: &mut dyn FnMut(&Event, &[usize])) -> bool {
        let output_routes = &self.output_routes;
        let mut routes = Vec::new();
        let mut each = |event: Event| {
            routes.clear();
            route_nodes(output_routes, &event, &mut routes);
            emit(&event, &routes);
        };
        let mut more = false;
        for_each_filter(&mut self.filters, &mut |f| more |= f.flush(when, &mut each));
        more
    }

    /// Indices of the outputs `event` is routed to, in declaration order.
    pub fn route(&self, event: &Event, out: &mut Vec<usize>) {
        out.clear();
        route_nodes(&self.output_routes, event, out);
    }

    /// The ids of every filter plugin, in config order.
    pub fn filter_ids(&self) -> Vec<String> {
        fn walk(nodes: &[Node<FilterNode>], out: &mut Vec<String>) {
            for n in nodes {
                match n {
                    Node::Plugin(f) => out.push(f.id.clone()),
                    Node::Branch { arms, otherwise } => {
                        for (_, body) in arms {
                            walk(body, out);
                        }
                        walk(otherwise, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.filters, &mut out);
        out
    }

    /// Adds every filter's counts since the last call to `out` (in [`Self::filter_ids`]
    /// order, which `out` must match in length) and resets them.
    pub fn drain_counts(&mut self, out: &mut [NodeCounts]) {
        let mut slots = out.iter_mut();
        for_each_filter(&mut self.filters, &mut |f| {
            let counts = f.take_counts();
            if let Some(slot) = slots.next() {
                slot.add(counts);
            }
        });
    }
}

/// Calls `f` on every filter of the tree, in config order (every branch included).
fn for_each_filter(nodes: &mut [Node<FilterNode>], f: &mut dyn FnMut(&mut FilterNode)) {
    for n in nodes {
        match n {
            Node::Plugin(filter) => f(filter),
            Node::Branch { arms, otherwise } => {
                for (_, body) in arms.iter_mut() {
                    for_each_filter(body, f);
                }
                for_each_filter(otherwise, f);
            }
        }
    }
}

/// The events of one [`Pipeline::filter_batch`] call and what running them needs.
struct Batch<'a> {
    events: &'a mut [Event],
    kept: &'a mut [bool],
    /// Events filtered before this batch, for choosing the ones to time.
    first: u64,
    lists: &'a mut Vec<Vec<usize>>,
}

impl Batch<'_> {
    /// An empty index list, recycled when there is one.
    fn list(&mut self) -> Vec<usize> {
        let mut list = self.lists.pop().unwrap_or_default();
        list.clear();
        list
    }
}

/// Runs the events at the indices `live` through `nodes`, node by node; indices of
/// events a filter drops leave `live`. An event is timed (see [`TIMING_SAMPLE`]) when
/// its number among all the pipeline's events is a multiple of the sample.
fn run_filters(nodes: &mut [Node<FilterNode>], batch: &mut Batch<'_>, live: &mut Vec<usize>) {
    for node in nodes {
        if live.is_empty() {
            return;
        }
        match node {
            Node::Plugin(f) => {
                let mut dropped = false;
                // A panic in a filter is contained here: the event it was working on goes
                // on tagged (`_filter_error`, with the plugin id), the filter is counted
                // as faulted, and the rest of the batch carries on. Catching once per
                // batch, not per event, keeps the common path as it was.
                let mut at = 0;
                while at < live.len() {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        while at < live.len() {
                            let i = live[at];
                            let timed = batch.first.wrapping_add(i as u64 + 1).is_multiple_of(TIMING_SAMPLE);
                            let event = &mut batch.events[i];
                            if !(if timed { f.run_timed(event) } else { f.run(event) }) {
                                batch.kept[i] = false;
                                dropped = true;
                            }
                            at += 1;
                        }
                    }));
                    if let Err(payload) = outcome {
                        f.record_fault(&mut batch.events[live[at]], payload.as_ref());
                        at += 1;
                    }
                }
                if dropped {
                    live.retain(|&i| batch.kept[i]);
                }
            }
            Node::Branch { arms, otherwise } => {
                // Conditions read only their own event, so every event's arm can be
                // chosen before any arm runs.
                let arm_for = |event: &Event| arms.iter().position(|(c, _)| c.eval(event)).unwrap_or(arms.len());
                let mut arm_of = batch.list();
                arm_of.extend(live.iter().map(|&i| arm_for(&batch.events[i])));
                let mut bodies = arms.iter_mut().map(|(_, body)| body).chain(std::iter::once(otherwise));
                let first = arm_of[0];
                if arm_of.iter().all(|&arm| arm == first) {
                    // One arm for all (always so for a single event): no lists to make.
                    batch.lists.push(arm_of);
                    if let Some(body) = bodies.nth(first) {
                        run_filters(body, batch, live);
                    }
                } else {
                    for (arm, body) in bodies.enumerate() {
                        let mut taken = batch.list();
                        taken.extend(live.iter().zip(&arm_of).filter(|&(_, &a)| a == arm).map(|(&i, _)| i));
                        if !taken.is_empty() {
                            run_filters(body, batch, &mut taken);
                        }
                        batch.lists.push(taken);
                    }
                    batch.lists.push(arm_of);
                    live.retain(|&i| batch.kept[i]);
                }
            }
        }
    }
}

fn route_nodes(nodes: &[Node<usize>], event: &Event, out: &mut Vec<usize>) {
    for node in nodes {
        match node {
            Node::Plugin(i) => out.push(*i),
            Node::Branch { arms, otherwise } => {
                let body = arms.iter().find(|(c, _)| c.eval(event)).map_or(otherwise, |(_, b)| b);
                route_nodes(body, event, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::field_ref::FieldRef;

    fn pipeline(text: &str) -> Pipeline {
        let source = ConfigSource { path: "t.conf".into(), text: text.into() };
        let options = LoadOptions { env: &|_| None, support_escapes: false, aggregations: Default::default() };
        compile(vec![source], &[], &[], &options).expect("the test config compiles")
    }

    /// The repository's pipeline.conf, with the plugins it declares.
    fn root_pipeline() -> Pipeline {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipeline.conf");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let source = ConfigSource { path: path.display().to_string(), text };
        let options = LoadOptions { env: &|_| None, support_escapes: false, aggregations: Default::default() };
        compile(vec![source], &["replay"], &["elasticsearch"], &options).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn batches_give_what_one_event_at_a_time_gives() {
        // Every sample log line, interleaved across the three kinds so that batches
        // take every branch, plus lines that fail to parse and CloudFront header lines
        // (dropped).
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-logs");
        let mut files: Vec<Vec<String>> = ["cdn-edge.log", "cloudfront.log", "playback.log"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
                text.lines().map(str::to_string).collect()
            })
            .collect();
        files.push(vec!["not a log line".into(), "{\"broken json".into(), "#Version: 1.0".into()]);
        let longest = files.iter().map(Vec::len).max().unwrap_or(0);
        let lines: Vec<&String> = (0..longest).flat_map(|i| files.iter().filter_map(move |f| f.get(i))).collect();
        assert!(lines.len() > 300, "{} sample lines", lines.len());
        let at = chrono::DateTime::from_timestamp(1_790_000_000, 0).expect("a valid time");
        let fresh = |line: &String| Event::from_message(line.clone(), at);

        let mut single = root_pipeline();
        let expected: Vec<Option<Event>> = lines
            .iter()
            .map(|l| {
                let mut e = fresh(l);
                single.filter(&mut e).then_some(e)
            })
            .collect();
        assert!(expected.iter().any(Option::is_none), "some line is dropped");

        let mut batched = root_pipeline();
        let mut got = Vec::new();
        for chunk in lines.chunks(37) {
            let mut events: Vec<Event> = chunk.iter().map(|l| fresh(l)).collect();
            let mut kept = vec![true; events.len()];
            batched.filter_batch(&mut events, &mut kept);
            got.extend(events.into_iter().zip(kept).map(|(e, k)| k.then_some(e)));
        }
        assert_eq!(got.len(), expected.len());
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "line {i}: {}", lines[i]);
        }

        // The window blocks saw the same events in the same order: the same metrics.
        let metrics = |p: &mut Pipeline| {
            let mut out = Vec::new();
            p.flush(Flush::Final(0), &mut |e, _| out.push(e.clone()));
            out
        };
        let expected_metrics = metrics(&mut single);
        assert!(!expected_metrics.is_empty());
        assert_eq!(metrics(&mut batched), expected_metrics);

        // Each filter saw each event once, in both.
        let counts = |p: &mut Pipeline| {
            let mut c = vec![NodeCounts::default(); p.filter_ids().len()];
            p.drain_counts(&mut c);
            c.iter().map(|c| (c.events_in, c.applied, c.dropped)).collect::<Vec<_>>()
        };
        assert_eq!(counts(&mut batched), counts(&mut single));
    }

    #[test]
    fn in_a_batch_each_event_takes_the_first_arm_that_holds_and_drops_end_its_run() {
        let mut p = pipeline(
            r#"filter {
                 if [message] =~ /^drop/ { drop {} mutate { id => "after_drop" add_tag => ["never"] } }
                 else if [message] =~ /a/ { mutate { add_tag => ["a"] } }
                 else if [message] =~ /b/ { mutate { add_tag => ["b"] } }
                 else { mutate { add_tag => ["other"] } }
                 mutate { id => "last" add_tag => ["last"] }
               }"#,
        );
        let messages = ["ab", "drop a", "b", "c", "a", "skipped a"];
        let mut events: Vec<Event> =
            messages.iter().map(|m| Event::from_message(m.to_string(), chrono::Utc::now())).collect();
        let untouched = events[5].clone();
        let mut kept = [true, true, true, true, true, false];
        p.filter_batch(&mut events, &mut kept);
        assert_eq!(kept, [true, false, true, true, true, false]);
        let tags = |e: &Event| match e.get(&FieldRef::parse("tags").expect("a reference")) {
            Some(crate::value::Value::Array(a)) => a.iter().map(crate::event::value_to_string).collect(),
            _ => Vec::new(),
        };
        assert_eq!(tags(&events[0]), ["a", "last"], "the first arm only, though /b/ holds too");
        assert_eq!(tags(&events[2]), ["b", "last"]);
        assert_eq!(tags(&events[3]), ["other", "last"]);
        assert_eq!(tags(&events[4]), ["a", "last"]);
        assert_eq!(events[5], untouched, "an event whose flag was cleared is not filtered");
        let ids = p.filter_ids();
        let mut counts = vec![NodeCounts::default(); ids.len()];
        p.drain_counts(&mut counts);
        let reached = |id: &str| ids.iter().position(|i| i == id).map(|i| counts[i].events_in);
        assert_eq!(reached("after_drop"), Some(0), "a dropped event reaches no later filter");
        assert_eq!(reached("last"), Some(4), "the dropped and the skipped event never reach it");
    }

    #[test]
    fn one_event_in_timing_sample_is_timed_in_the_filters_it_reaches() {
        let mut p = pipeline(
            r#"filter {
                 if [message] =~ /^GET/ { grok { id => "taken" match => { "message" => "^%{WORD:verb} %{NOTSPACE:path}" } } }
                 else { grok { id => "skipped" match => { "message" => "%{WORD:other}" } } }
               }"#,
        );
        let mut counts = vec![NodeCounts::default(); 2];
        let run = |p: &mut Pipeline, n: u64| {
            for _ in 0..n {
                let mut e = Event::from_message("GET /vod/t1/seg.ts".into(), chrono::Utc::now());
                assert!(p.filter(&mut e));
            }
        };
        run(&mut p, TIMING_SAMPLE - 1);
        p.drain_counts(&mut counts);
        assert_eq!(counts[0].events_in, TIMING_SAMPLE - 1);
        assert_eq!(counts[0].nanos, 0, "no event timed yet");

        run(&mut p, 1);
        p.drain_counts(&mut counts);
        assert_eq!(counts[0].events_in, TIMING_SAMPLE);
        assert!(counts[0].nanos > 0, "the {TIMING_SAMPLE}th event is timed");
        assert_eq!(counts[1], NodeCounts::default(), "a filter no event reached has no time");
    }
}
