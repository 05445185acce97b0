//! Every real Logstash config in ../shared/peer/logstash-config must parse.

use pipeline_dsl::parser::parse_config;
use std::path::PathBuf;

fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/peer/logstash-config")
}

#[test]
fn every_peer_config_file_parses() {
    let mut count = 0;
    for sub in ["elastic-logstash", "elastic-examples"] {
        let dir = peer_dir().join(sub);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext != "conf" && ext != "cfg" {
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            if let Err(d) = parse_config(&src) {
                let (line, col) = pipeline_dsl::diagnostics::line_col(&src, d.span.start);
                panic!("{}:{line}:{col}: {}", path.display(), d.message);
            }
            count += 1;
        }
    }
    assert_eq!(count, 34, "expected every .conf/.cfg peer file to be found");
}

/// The docs snippets are a mix of complete configs, configs with documentation
/// callouts (`<1>` at a line end, stripped here as a reader would) and elided examples
/// (`...`, skipped). Every other snippet must parse, except the ones that are broken in
/// the docs themselves, which must be rejected.
#[test]
fn docs_snippets_parse() {
    // Snippets that are invalid as written in Logstash's docs (Logstash rejects them too).
    const BROKEN_IN_DOCS: &[(&str, u64)] = &[
        ("docs/reference/data-deserialization.md", 18), // prose after the config
        ("docs/reference/data-deserialization.md", 67), // unbalanced braces
        ("docs/reference/event-dependent-configuration.md", 72), // `add_field {` without `=>`
        ("docs/reference/event-dependent-configuration.md", 490), // not a config
        ("docs/reference/pipeline-to-pipeline.md", 83), // pipelines.yml, not a config
        ("docs/reference/pipeline-to-pipeline.md", 134),
        ("docs/reference/pipeline-to-pipeline.md", 165),
        ("docs/reference/pipeline-to-pipeline.md", 196),
        ("docs/reference/shutdown.md", 59),            // a log excerpt
        ("docs/extend/input-new-plugin.md", 187),      // Ruby code
        ("docs/reference/tips-best-practices.md", 65), // `add_field {` without `=>`
    ];
    let text = std::fs::read_to_string(peer_dir().join("elastic-logstash_docs-snippets.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let snippets = doc["snippets"].as_array().unwrap();
    let callout = regex::Regex::new(r"(?m)\s*<\d+>\s*$").unwrap();
    let mut failures = Vec::new();
    let mut parsed = 0;
    for s in snippets {
        let elided = s["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("'...'"));
        if elided {
            continue;
        }
        let code = callout.replace_all(s["text"].as_str().unwrap(), "");
        let key = (s["path"].as_str().unwrap(), s["line"].as_u64().unwrap());
        let broken = BROKEN_IN_DOCS.contains(&key);
        match (parse_config(&code), broken) {
            (Ok(_), false) => parsed += 1,
            (Err(_), true) => {}
            (Ok(_), true) => failures.push(format!("{key:?}: accepted, but it is broken in the docs")),
            (Err(d), false) => {
                let (line, col) = pipeline_dsl::diagnostics::line_col(&code, d.span.start);
                failures.push(format!("{key:?}: {line}:{col}: {}", d.message));
            }
        }
    }
    assert!(failures.is_empty(), "{} snippets failed:\n{}", failures.len(), failures.join("\n"));
    assert!(parsed > 60, "only {parsed} snippets parsed");
}
