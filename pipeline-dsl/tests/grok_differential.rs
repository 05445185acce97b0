//! Differential test of grok's segment matcher: for every pattern of the built-in
//! library (both flavours, unanchored and anchored, plus hand-written shapes), random
//! and mutated inputs must give the same match or no match, and the same captures, as
//! the plain regex engine. Seeded and bounded; `GROK_DIFF_ROUNDS` raises the number of
//! mutations per seed line for longer runs.

use pipeline_dsl::filters::grok::library::{Flavour, Library};
use pipeline_dsl::filters::grok::GrokPattern;
use std::path::PathBuf;

mod common;

use common::Rng;

/// Characters that matter to log patterns: delimiters, quotes, digits, letters,
/// word/non-word edges and multi-byte text.
const ALPHABET: &[&str] = &[
    " ", "\t", "\"", "'", "-", ":", ".", "/", "[", "]", "(", ")", "=", ",", "0", "7", "9", "a", "Z", "_", "é", "€",
    "%", "?", "+", "\\", "@", "|",
];

fn mutate(rng: &mut Rng, line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if !out.is_empty() => {
                out.remove(at.min(out.len() - 1));
            }
            1 => out.insert(at, ALPHABET[rng.below(ALPHABET.len())].to_string()),
            2 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] = ALPHABET[rng.below(ALPHABET.len())].to_string();
            }
            3 => out.truncate(at),
            4 if !out.is_empty() => {
                // Repeat a stretch: doubled delimiters and fields.
                let i = at.min(out.len() - 1);
                let len = 1 + rng.below(8).min(out.len() - i - 1);
                let stretch: Vec<String> = out[i..i + len].to_vec();
                for (k, s) in stretch.into_iter().enumerate() {
                    out.insert(i + len + k, s);
                }
            }
            _ => {
                // Junk before the line: unanchored patterns must find the leftmost match.
                out.insert(0, ALPHABET[rng.below(ALPHABET.len())].to_string());
            }
        }
    }
    out.concat()
}

fn random_line(rng: &mut Rng) -> String {
    (0..rng.below(40)).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect()
}

fn peer() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/peer")
}

/// Seed lines: the upstream vector inputs and the sample logs.
fn seed_lines() -> Vec<String> {
    let mut lines = Vec::new();
    let text = std::fs::read_to_string(peer().join("grok/vectors.json")).expect("peer grok vectors");
    let vectors: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    for v in &vectors {
        if let Some(i) = v["input"].as_str() {
            lines.push(i.to_string());
        }
    }
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sample-logs");
    for f in ["cdn-edge.log", "cloudfront.log", "playback.log"] {
        let text = std::fs::read_to_string(samples.join(f)).unwrap();
        lines.extend(text.lines().filter(|l| !l.starts_with('#')).take(20).map(str::to_string));
    }
    lines.sort();
    lines.dedup();
    lines
}

fn check(p: &GrokPattern, pattern: &str, input: &str, failures: &mut Vec<String>) {
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    let a = p.match_into(input, &mut fast);
    let b = p.reference_match_into(input, &mut slow);
    let groups = p.field_groups();
    let pick = |spans: &Vec<Option<(usize, usize)>>| {
        groups.iter().map(|&g| spans.get(g).copied().flatten()).collect::<Vec<_>>()
    };
    if a != b || (a && pick(&fast) != pick(&slow)) {
        failures.push(format!(
            "{pattern} on {input:?}: fast {a} {:?}, regex {b} {:?}",
            a.then(|| pick(&fast)),
            b.then(|| pick(&slow))
        ));
    }
}

/// Patterns beyond the library's names: the shapes users write by hand.
const HAND_WRITTEN: &[&str] = &[
    r#"%{IPORHOST} %{USER} %{USER} \[%{HTTPDATE}\] "%{WORD} %{NOTSPACE} HTTP/%{NUMBER}" %{NUMBER:int} (?:%{NUMBER:int}|-) %{QS} %{QS} %{NUMBER:float} %{NOTSPACE} %{NOTSPACE}"#,
    r#"^%{IP:ip} - %{DATA:user} \[%{HTTPDATE:ts}\] "%{DATA:req}" %{INT:status} %{GREEDYDATA:rest}$"#,
    "%{DATA:a}:%{GREEDYDATA:b}",
    "%{GREEDYDATA:a} %{WORD:b}$",
    "(?<k>[a-z]+)=(?<v>[^ ]*)",
    r"\.(?<ext>[A-Za-z0-9]+)$",
    "%{WORD:w}|%{INT:i}|%{GREEDYDATA:g}",
    r"^(?:-|%{DATA:a})\t%{DATA:b}\t(?:-|%{INT:c})$",
    r"%{NOTSPACE:a}(?: %{NOTSPACE:b})? %{WORD:c}",
];

#[test]
fn segment_matcher_agrees_with_the_regex_engine() {
    let rounds: usize = std::env::var("GROK_DIFF_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let seeds = seed_lines();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut failures = Vec::new();
    let mut checked = 0usize;
    for flavour in [Flavour::Legacy, Flavour::EcsV1] {
        let lib = Library::builtin(flavour);
        let mut patterns: Vec<String> = lib.names().iter().map(|n| format!("%{{{n}}}")).collect();
        patterns.extend(lib.names().iter().map(|n| format!("^%{{{n}}}$")));
        patterns.extend(HAND_WRITTEN.iter().map(|p| p.to_string()));
        for pattern in &patterns {
            let Ok(p) = GrokPattern::compile(pattern, &lib, true) else { continue };
            // Every seed line as it is, then mutated copies of a sample of them.
            for line in &seeds {
                check(&p, pattern, line, &mut failures);
                checked += 1;
            }
            for _ in 0..rounds * 8 {
                let line = &seeds[rng.below(seeds.len())];
                check(&p, pattern, &mutate(&mut rng, line), &mut failures);
                check(&p, pattern, &random_line(&mut rng), &mut failures);
                checked += 2;
            }
        }
    }
    assert!(checked > 100_000, "only {checked} inputs checked");
    failures.truncate(20);
    assert!(failures.is_empty(), "segment matcher and regex disagree:\n{}", failures.join("\n"));
}
