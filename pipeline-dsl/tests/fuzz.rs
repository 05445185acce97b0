//! Bounded, seeded fuzzing of the hand-written parsers: the config parser on mutated
//! real configs, every filter on arbitrary and mutated lines (no filter may panic:
//! a contained panic tags the event `_filter_error`, which fails the test with the
//! plugin id), the JSON writer against serde_json byte for byte, and the Joda date
//! parser on arbitrary patterns and inputs, daylight-saving gaps and repeated hours
//! included. `FUZZ_ROUNDS` multiplies the rounds for longer runs
//! (`FUZZ_ROUNDS=100 cargo test --release -p pipeline-dsl --test fuzz`).

use pipeline_dsl::aggregation::Aggregations;
use pipeline_dsl::event::Event;
use pipeline_dsl::pipeline::{compile, ConfigSource, LoadOptions};
use pipeline_dsl::value::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod common;

use common::Rng;

fn rounds() -> usize {
    std::env::var("FUZZ_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(1)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Replaces, inserts, deletes or repeats characters, or cuts the text.
fn mutate(rng: &mut Rng, text: &str, alphabet: &[&str]) -> String {
    let mut chars: Vec<String> = text.chars().map(String::from).collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(5) {
            0 if !chars.is_empty() => {
                chars.remove(at.min(chars.len() - 1));
            }
            1 => chars.insert(at, rng.pick(alphabet).to_string()),
            2 if !chars.is_empty() => {
                let i = at.min(chars.len() - 1);
                chars[i] = rng.pick(alphabet).to_string();
            }
            3 => chars.truncate(at),
            _ if !chars.is_empty() => {
                let i = at.min(chars.len() - 1);
                let len = (1 + rng.below(12)).min(chars.len() - i);
                let stretch = chars[i..i + len].to_vec();
                for (k, c) in stretch.into_iter().enumerate() {
                    chars.insert(i + len + k, c);
                }
            }
            _ => {}
        }
    }
    chars.concat()
}

fn conf_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            conf_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "conf") {
            out.push(p);
        }
    }
}

fn compile_text(text: &str) -> Result<pipeline_dsl::pipeline::Pipeline, String> {
    let no_env = |_: &str| None;
    let options = LoadOptions { env: &no_env, support_escapes: false, aggregations: Arc::new(Aggregations::default()) };
    let source = ConfigSource { path: root().join("fuzz.conf").display().to_string(), text: text.to_string() };
    compile(
        vec![source],
        &["stdin", "file", "replay", "generator"],
        &["stdout", "null", "file", "elasticsearch"],
        &options,
    )
    .map_err(|e| e.to_string())
}

#[test]
fn the_config_parser_survives_mutated_configs() {
    let mut seeds = vec![root().join("pipeline.conf")];
    conf_files(&root().join("../shared/peer/logstash-config"), &mut seeds);
    let texts: Vec<String> = seeds.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect();
    assert!(texts.len() > 10, "seed configs");
    let alphabet = [
        "{", "}", "[", "]", "\"", "'", "=>", "=", "#", "\n", ",", "$", "%{", "\\", " ", "if", "else", "and", "=~", "/",
        "é", "\t", "0", "-1.5e3",
    ];
    let mut rng = Rng(0x00C0_4F16);
    let (mut parsed, mut rejected) = (0, 0);
    for _ in 0..rounds() * 1500 {
        let seed = rng_pick_text(&mut rng, &texts);
        let text = mutate(&mut rng, seed, &alphabet);
        // Parsing and compiling must end in a result, never a panic.
        match compile_text(&text) {
            Ok(_) => parsed += 1,
            Err(e) => {
                assert!(!e.is_empty());
                rejected += 1;
            }
        }
    }
    assert!(parsed > 0 && rejected > 0, "{parsed} parsed, {rejected} rejected");
}

fn rng_pick_text<'a>(rng: &mut Rng, texts: &'a [String]) -> &'a str {
    &texts[rng.below(texts.len())]
}

/// Filters with the settings most likely to slice text: multi-byte separators,
/// quotes, escapes, formats.
const FILTERS: &str = r#"
filter {
  kv { id => "kv-multibyte" value_split => "¦" field_split => " →" target => "kv1" }
  kv { id => "kv-default" target => "kv2" trim_key => "\"" trim_value => "é" }
  kv { id => "kv-sets" field_split => "&;" value_split => "=:" prefix => "p_" target => "kv3" }
  dissect { id => "dissect" mapping => { "message" => "%{a} %{+a} [%{b}] %{?skip} %{&skip}" } }
  dissect { id => "dissect-delims" mapping => { "message" => "%{x}¦%{y}→%{}%{z}" } }
  csv { id => "csv" target => "csv1" }
  csv { id => "csv-quote" separator => "¦" quote_char => "'" target => "csv2" }
  urldecode { id => "urldecode" field => "message" }
  date { id => "date-iso" match => ["message", "ISO8601", "UNIX", "UNIX_MS"] target => "t1" }
  date { id => "date-joda" match => ["message", "dd/MMM/yyyy:HH:mm:ss Z", "yyyy-MM-dd HH:mm:ss.SSS", "EEE, dd MMM yyyy HH:mm:ss z"] timezone => "Europe/Berlin" target => "t2" }
  json { id => "json" source => "message" target => "j" }
  mutate { id => "mutate" copy => { "message" => "m2" } }
  mutate { id => "mutate-gsub" gsub => ["m2", "[aeiou]+", "_", "m2", "é", "e"] split => { "m2" => "¦" } }
  mutate { id => "mutate-convert" copy => { "message" => "n" } }
  mutate { id => "mutate-convert2" convert => { "n" => "float" } }
  grok { id => "grok" match => { "message" => ["%{COMBINEDAPACHELOG}", "%{SYSLOGLINE}", "%{DATA:a}¦%{GREEDYDATA:b}", "^%{NOTSPACE:c}\t%{INT:d}$"] } }
  useragent { id => "useragent" source => "message" target => "ua" }
  fingerprint { id => "fingerprint" source => ["message"] method => "MURMUR3" target => "fp" }
  math { id => "math" calculate => [["add", "n", "n", "n2"], ["div", "n", "n2", "n3"]] }
}
"#;

fn seed_lines() -> Vec<String> {
    let mut lines = Vec::new();
    for f in ["cdn-edge.log", "cloudfront.log", "playback.log"] {
        let text = std::fs::read_to_string(root().join("sample-logs").join(f)).unwrap();
        lines.extend(text.lines().take(30).map(str::to_string));
    }
    lines.extend(
        [
            "a¦1 b¦2",
            "a¦1→b¦2",
            "x¦y→z",
            "k=v&x:y;z",
            "\"q\"¦'r'¦s",
            "%E9%ZZ%",
            "%",
            "%%41",
            "1700000000",
            "1700000000123",
            "20/Nov/2026:20:00:00 +0000",
            "2026-03-29 02:30:00.000",
            "2026-10-25 02:30:00.000",
            "Sun, 29 Mar 2026 02:30:00 CET",
            "{\"a\":[1,{\"b\":null}]}",
            "{\"a\":",
            "[1,2",
            "\u{0}\u{1}\u{7f}",
            "é€𝄞",
            "",
            " ",
            "[]",
            "a b [c] d e",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    lines
}

#[test]
fn no_filter_panics_on_arbitrary_lines() {
    let mut pipeline = compile_text(&format!("input {{ stdin {{}} }}\n{FILTERS}\noutput {{ null {{}} }}\n"))
        .unwrap_or_else(|e| panic!("fuzz config: {e}"));
    let seeds = seed_lines();
    let alphabet = [
        " ", "\t", "¦", "→", "=", ":", "&", ";", "\"", "'", "[", "]", "{", "}", "%", "%4", "%E9", "\\", "é", "€", "𝄞",
        "\u{0}", "0", "9", "-", ".", "+", "/", "Z", "T",
    ];
    let mut rng = Rng(0x0F11_7E25);
    let now = chrono::Utc::now();
    let mut faults = Vec::new();
    for round in 0..rounds() * 4000 {
        let line = match round % 3 {
            0 => {
                let seed = rng_pick_text(&mut rng, &seeds);
                mutate(&mut rng, seed, &alphabet)
            }
            1 => (0..rng.below(60)).map(|_| *rng.pick(&alphabet)).collect(),
            _ => {
                let bytes: Vec<u8> = (0..rng.below(80)).map(|_| rng.next() as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
        };
        let mut event = Event::from_message(line.clone(), now);
        pipeline.filter(&mut event);
        if event.has_tag("_filter_error") {
            let fields = serde_json::to_string(event.fields()).unwrap();
            faults.push(format!("{line:?}: {fields}"));
        }
    }
    faults.truncate(10);
    assert!(faults.is_empty(), "filters panicked:\n{}", faults.join("\n"));
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 1),
        2 => Value::Int(rng.next() as i64 >> rng.below(64)),
        3 => {
            let f = f64::from_bits(rng.next());
            let f = if f.is_finite() { f } else { rng.below(1000) as f64 / 7.0 };
            Value::Float(match rng.below(3) {
                0 => f,
                1 => (rng.below(2_000_000) as f64 - 1e6) / 1000.0,
                _ => rng.below(1 << 20) as f64,
            })
        }
        4 => {
            let parts =
                ["a", "é", "\"", "\\", "\n", "\t", "\u{1}", "\u{1f}", "\u{7f}", "𝄞", "€", "/", "<", " ", "\u{2028}"];
            Value::from((0..rng.below(12)).map(|_| *rng.pick(&parts)).collect::<String>())
        }
        5 => Value::Array((0..rng.below(4)).map(|_| random_value(rng, depth + 1)).collect()),
        _ => {
            let mut m = Map::new();
            for i in 0..rng.below(4) {
                let key = format!("k{i}{}", rng.pick(&["", "é", "\"", "\\n"]));
                m.insert(key.as_str(), random_value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

#[test]
fn the_json_writer_matches_serde_json_byte_for_byte() {
    let mut rng = Rng(0x0150_0123);
    for _ in 0..rounds() * 20_000 {
        let value = random_value(&mut rng, 0);
        let mut ours = Vec::new();
        pipeline_dsl::json_writer::write_value(&mut ours, &value);
        let theirs = serde_json::to_vec(&value.to_json()).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "JSON of {value:?} differs from serde_json"
        );
    }
}

#[test]
fn the_joda_parser_survives_arbitrary_patterns_and_inputs() {
    use pipeline_dsl::joda::{JodaPattern, Zone};
    let tokens = [
        "yyyy", "yy", "MM", "MMM", "MMMM", "dd", "d", "HH", "H", "hh", "mm", "ss", "SSS", "SSSSSS", "Z", "ZZ", "ZZZ",
        "z", "a", "EEE", "EEEE", "'T'", "''", " ", "-", ":", "/", ".", ",", "x", "'", "[", "]", "Y", "ww", "D",
    ];
    let zones = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"];
    let mut rng = Rng(0xDA7E);
    let now = chrono::Utc::now();
    for _ in 0..rounds() * 3000 {
        let pattern: String = (0..1 + rng.below(10)).map(|_| *rng.pick(&tokens)).collect();
        let Ok(p) = JodaPattern::compile(&pattern) else { continue };
        let zone = Zone::parse(zones[rng.below(zones.len())]).expect("known zone");
        let formatted = p.format(&now);
        for input in [
            formatted.clone(),
            mutate(&mut rng, &formatted, &["0", "9", "-", ":", " ", "é", "+", "Z", "13", "99", "\u{0}"]),
            "2026-03-29 02:30:00.000".to_string(),
            "2026-10-25 02:30:00.000".to_string(),
        ] {
            let _ = p.parse(&input, &zone);
        }
    }
    // Daylight saving: a time in the spring gap and one in the repeated autumn hour.
    let p = JodaPattern::compile("yyyy-MM-dd HH:mm:ss").unwrap();
    let berlin = Zone::parse("Europe/Berlin").unwrap();
    let gap = p.parse("2026-03-29 02:30:00", &berlin);
    let repeated = p.parse("2026-10-25 02:30:00", &berlin);
    assert!(repeated.is_some(), "a repeated hour is a real time");
    let _ = gap;
}
