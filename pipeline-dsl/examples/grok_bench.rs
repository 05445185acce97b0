//! Grok throughput matrix: lines per CPU-second of the `grok` filter for every distinct
//! matching case of the upstream grok vectors, plus the CDN and web patterns on
//! generated log lines. Run through `scripts/bench-grok.sh`, which builds this in
//! release mode and generates the input files.
//!
//! What is timed: `Filter::apply` (matching and storing the captures) over events made
//! beforehand, on one thread, measured with the thread's CPU clock. Reading lines and
//! making events is left out, so that the figure is grok's own.
//!
//! Usage: `grok_bench VECTORS_JSON EDGE_LOG CLOUDFRONT_LOG [REPEAT]`

use pipeline_dsl::ast::Plugin;
use pipeline_dsl::event::Event;
use pipeline_dsl::filters::{self, BuildContext, CommonOptions, Filter, Outcome};
use pipeline_dsl::settings::Settings;
use serde_json::{json, Value};

/// The same allocator as the `logship` binary, so the figures match what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Per-case floor for the vector cases, and for the named patterns on generated lines.
const VECTOR_TARGET: f64 = 500_000.0;
const MEDIAN_TARGET: f64 = 2_000_000.0;
const NAMED_TARGET: f64 = 1_000_000.0;

/// The hand-written nginx pattern of the usual kind (unanchored).
const NGINX: &str = r#"%{IPORHOST} %{USER} %{USER} \[%{HTTPDATE}\] "%{WORD} %{NOTSPACE} HTTP/%{NUMBER}" %{NUMBER:int} (?:%{NUMBER:int}|-) %{QS} %{QS} %{NUMBER:float} %{NOTSPACE} %{NOTSPACE}"#;

struct Case {
    label: String,
    settings: Vec<(String, Value)>,
    inputs: Vec<String>,
    /// A grok block of pipeline.conf, by id, instead of `settings`.
    root_block: Option<&'static str>,
}

/// The `grok` block with `id => …` in pipeline.conf.
fn root_block(id: &str) -> Plugin {
    use pipeline_dsl::ast::{Statement, Value as Ast};
    fn find(body: &[Statement], id: &str) -> Option<Plugin> {
        body.iter().find_map(|st| match st {
            Statement::Plugin(p) => p
                .attributes
                .iter()
                .any(|a| a.name.node == "id" && a.value.node == Ast::String(id.to_string()))
                .then(|| p.clone()),
            Statement::If(chain) => chain
                .branches
                .iter()
                .find_map(|(_, b)| find(b, id))
                .or_else(|| chain.otherwise.as_deref().and_then(|b| find(b, id))),
        })
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipeline.conf");
    let text = std::fs::read_to_string(path).expect("read pipeline.conf");
    let config = pipeline_dsl::parser::parse_config(&text).expect("parse pipeline.conf");
    config.sections.iter().find_map(|s| find(&s.body, id)).expect("grok id in pipeline.conf")
}

fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn build(case: &Case) -> Result<Box<dyn Filter>, String> {
    let attrs: Vec<(&str, Value)> = case.settings.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let plugin = match case.root_block {
        Some(id) => root_block(id),
        None => Plugin::from_json("grok", &attrs),
    };
    let mut s = Settings::new(&plugin);
    // Common options (add_field, add_tag, …) run after grok; they are not timed here.
    let _common = CommonOptions::from_settings(&mut s);
    s.accept(&["id"]);
    let filter = filters::build("grok", "bench", &mut s, &BuildContext::default()).ok_or("grok did not build")?;
    let errors = s.finish();
    if !errors.is_empty() {
        return Err(errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; "));
    }
    Ok(filter)
}

/// Lines per CPU-second over `total` events cycling through `inputs`, and whether every
/// event matched.
fn measure(case: &Case, total: usize) -> Result<(f64, bool), String> {
    let mut filter = build(case)?;
    let now = chrono::Utc::now();
    let make = |from: usize, n: usize| -> Vec<Event> {
        (from..from + n).map(|i| Event::from_message(case.inputs[i % case.inputs.len()].clone(), now)).collect()
    };
    // Warm up: compiled automata, caches and allocator pages.
    for mut e in make(0, 1000) {
        filter.apply(&mut e);
    }
    // Batches made and dropped outside the timing, as the agent's workers drop each
    // batch's events: memory is reused rather than taken fresh from the kernel.
    let (mut cpu, mut done, mut all_matched) = (0.0, 0, true);
    while done < total {
        let n = BATCH.min(total - done);
        let mut events = make(done, n);
        let start = thread_cpu_seconds();
        for e in &mut events {
            all_matched &= filter.apply(e) == Outcome::Applied;
        }
        cpu += thread_cpu_seconds() - start;
        done += n;
    }
    Ok((total as f64 / f64::max(cpu, 1e-9), all_matched))
}

/// Events per timed batch.
const BATCH: usize = 1024;

fn vector_cases(path: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(path).expect("read vectors.json");
    let vectors: Vec<Value> = serde_json::from_str(&text).expect("vectors.json is JSON");
    let mut seen = std::collections::HashSet::new();
    let mut cases = Vec::new();
    for v in vectors {
        let (Some(input), Some(pattern)) = (v["input"].as_str(), v.get("pattern")) else { continue };
        if v["match"] != json!(true) || v.get("event").is_some() {
            continue;
        }
        let ecs = v["ecs_compatibility"].as_str().unwrap_or("v1").to_string();
        let anchored = v["anchored"].as_bool().unwrap_or(false);
        let wrap = |p: &Value| match p.as_str() {
            Some(s) if anchored => json!(format!("^{s}$")),
            _ => p.clone(),
        };
        let pattern = match pattern {
            Value::Array(items) => Value::Array(items.iter().map(wrap).collect()),
            p => wrap(p),
        };
        let field = v.get("match_field").and_then(Value::as_str).unwrap_or("message");
        if field != "message" {
            continue;
        }
        let config = v.get("config").cloned().unwrap_or(json!({}));
        if !seen.insert((pattern.to_string(), ecs.clone(), input.to_string(), config.to_string())) {
            continue;
        }
        let mut settings =
            vec![("match".to_string(), json!({ "message": pattern })), ("ecs_compatibility".to_string(), json!(ecs))];
        for (k, val) in config.as_object().into_iter().flatten() {
            settings.push((k.clone(), val.clone()));
        }
        let shown = match &pattern {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        cases.push(Case {
            label: format!("{} {ecs} {}", v["id"].as_str().unwrap_or("?"), shorten(&shown, 60)),
            settings,
            inputs: vec![input.to_string()],
            root_block: None,
        });
    }
    cases
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

fn lines(path: &str, n: usize) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
        .lines()
        .filter(|l| !l.starts_with('#'))
        .take(n)
        .map(str::to_string)
        .collect()
}

fn named_cases(vectors: &str, edge: &str, cloudfront: &str) -> Vec<Case> {
    let edge = lines(edge, 50_000);
    let cloudfront = lines(cloudfront, 50_000);
    let cf_vector: Vec<String> = {
        let text = std::fs::read_to_string(vectors).expect("read vectors.json");
        let all: Vec<Value> = serde_json::from_str(&text).expect("vectors.json is JSON");
        all.iter()
            .filter(|v| v["pattern"] == json!("%{CLOUDFRONT_ACCESS_LOG}") && v["match"] == json!(true))
            .filter_map(|v| v["input"].as_str().map(str::to_string))
            .take(1)
            .collect()
    };
    let mut cases = Vec::new();
    let mut add = |label: String, pattern: &str, ecs: &str, inputs: &[String]| {
        cases.push(Case {
            label,
            settings: vec![
                ("match".to_string(), json!({ "message": pattern })),
                ("ecs_compatibility".to_string(), json!(ecs)),
            ],
            inputs: inputs.to_vec(),
            root_block: None,
        });
    };
    for ecs in ["v1", "disabled"] {
        if !cf_vector.is_empty() {
            add(
                format!("CLOUDFRONT_ACCESS_LOG {ecs}, upstream vector line"),
                "%{CLOUDFRONT_ACCESS_LOG}",
                ecs,
                &cf_vector,
            );
        }
        add(format!("CLOUDFRONT_ACCESS_LOG {ecs}, generated lines"), "%{CLOUDFRONT_ACCESS_LOG}", ecs, &cloudfront);
        for name in ["HTTPD_COMBINEDLOG", "COMBINEDAPACHELOG", "HTTPD_COMMONLOG", "COMMONAPACHELOG"] {
            add(format!("{name} {ecs}, generated edge lines"), &format!("%{{{name}}}"), ecs, &edge);
        }
        add(format!("hand-written nginx pattern {ecs}, generated edge lines"), NGINX, ecs, &edge);
    }
    for (id, inputs) in [("edge", &edge), ("cloudfront", &cloudfront)] {
        cases.push(Case {
            label: format!("pipeline.conf grok `{id}`, generated lines"),
            settings: Vec::new(),
            inputs: inputs.clone(),
            root_block: Some(id),
        });
    }
    cases
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: grok_bench VECTORS_JSON EDGE_LOG CLOUDFRONT_LOG [REPEAT]");
        std::process::exit(2);
    }
    let repeat: usize = args.get(4).and_then(|r| r.parse().ok()).unwrap_or(20_000);
    let filter = std::env::var("GROK_BENCH_FILTER").ok();
    let wanted = |c: &Case| filter.as_deref().is_none_or(|f| c.label.contains(f));

    println!("# vector cases: each matching (pattern, ecs mode, input) case, the input repeated {repeat} times");
    println!("{:>14}  case", "lines/CPU-s");
    let mut rates = Vec::new();
    for case in vector_cases(&args[1]).iter().filter(|c| wanted(c)) {
        match measure(case, repeat) {
            Ok((rate, matched)) => {
                let flag = if matched { "" } else { "  (NO MATCH)" };
                println!("{rate:>14.0}  {}{flag}", case.label);
                rates.push(rate);
            }
            Err(e) => println!("{:>14}  {}: {e}", "error", case.label),
        }
    }
    rates.sort_by(f64::total_cmp);
    let below = |t: f64| rates.iter().filter(|&&r| r < t).count();
    println!(
        "# {} cases: minimum {:.0}, 10th percentile {:.0}, median {:.0}; below {:.0}: {}, below {:.0}: {}",
        rates.len(),
        rates.first().copied().unwrap_or(0.0),
        rates.get(rates.len() / 10).copied().unwrap_or(0.0),
        median(&rates),
        VECTOR_TARGET,
        below(VECTOR_TARGET),
        MEDIAN_TARGET,
        below(MEDIAN_TARGET),
    );
    println!();
    println!("# CDN and web patterns on generated lines (target {NAMED_TARGET:.0} lines/CPU-s each)");
    let mut named_below = 0;
    for case in named_cases(&args[1], &args[2], &args[3]).iter().filter(|c| wanted(c)) {
        let total = repeat.max(case.inputs.len());
        match measure(case, total) {
            Ok((rate, matched)) => {
                let flag = if matched { "" } else { "  (NOT EVERY LINE MATCHED)" };
                named_below += usize::from(rate < NAMED_TARGET);
                println!("{rate:>14.0}  {}{flag}", case.label);
            }
            Err(e) => println!("{:>14}  {}: {e}", "error", case.label),
        }
    }
    println!("# named patterns below {NAMED_TARGET:.0}: {named_below}");
}
