//! The 311 grok vectors transcribed from Logstash's own specs
//! (../shared/peer/grok/vectors.json) must all pass twice: with our built-in pattern
//! library, and with the upstream pattern files loaded through `patterns_dir`.

use pipeline_dsl::ast::Plugin;
use pipeline_dsl::event::Event;
use pipeline_dsl::field_ref::FieldRef;
use pipeline_dsl::filters::{BuildContext, CommonOptions, Filter, Outcome};
use pipeline_dsl::settings::Settings;
use serde_json::{Map, Value};
use std::path::PathBuf;

fn peer() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/peer/grok")
}

fn run_vector(v: &Value, upstream: bool) -> Result<(), String> {
    let ecs = v["ecs_compatibility"].as_str().unwrap();
    let anchored = v["anchored"].as_bool().unwrap_or(false);
    let wrap = |p: &Value| -> Value {
        match p {
            Value::String(s) if anchored => Value::String(format!("^{s}$")),
            Value::Array(items) if anchored => {
                Value::Array(items.iter().map(|i| Value::String(format!("^{}$", i.as_str().unwrap()))).collect())
            }
            other => other.clone(),
        }
    };
    let mut match_hash = Map::new();
    if let Some(by_field) = v.get("patterns_by_field").and_then(Value::as_object) {
        for (f, p) in by_field {
            match_hash.insert(f.clone(), wrap(p));
        }
    } else {
        let field = v.get("match_field").and_then(Value::as_str).unwrap_or("message");
        match_hash.insert(field.to_string(), wrap(&v["pattern"]));
    }
    let mut attrs = vec![
        ("match".to_string(), Value::Object(match_hash)),
        ("ecs_compatibility".to_string(), Value::String(ecs.to_string())),
    ];
    if upstream {
        let dir = peer().join(if ecs == "v1" { "ecs-v1" } else { "legacy" });
        attrs.push(("patterns_dir".to_string(), Value::String(dir.display().to_string())));
    }
    if let Some(cfg) = v.get("config").and_then(Value::as_object) {
        for (k, val) in cfg {
            attrs.push((k.clone(), val.clone()));
        }
    }
    let attrs: Vec<(&str, Value)> = attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let plugin = Plugin::from_json("grok", &attrs);
    let mut settings = Settings::new(&plugin);
    let common = CommonOptions::from_settings(&mut settings);
    let mut grok = pipeline_dsl::filters::grok::Grok::from_settings(&mut settings, &BuildContext::default());
    let errors = settings.finish();
    if !errors.is_empty() {
        return Err(format!("config errors: {:?}", errors.iter().map(|e| &e.message).collect::<Vec<_>>()));
    }
    let mut event = match v.get("event").and_then(Value::as_object) {
        Some(fields) => match pipeline_dsl::value::Value::from_json(Value::Object(fields.clone())) {
            pipeline_dsl::value::Value::Object(m) => Event::from_fields(m),
            _ => unreachable!("an object converts to an object"),
        },
        None => {
            let mut m = pipeline_dsl::value::Map::new();
            m.insert("message", pipeline_dsl::value::Value::from_json(v["input"].clone()));
            Event::from_fields(m)
        }
    };
    if grok.apply(&mut event) == Outcome::Applied {
        common.apply(&mut event);
    }
    let failure_tag = v
        .pointer("/config/tag_on_failure")
        .and_then(|t| t.as_array().and_then(|a| a.first()).or(Some(t)))
        .and_then(Value::as_str)
        .unwrap_or("_grokparsefailure");
    let failed = event.has_tag(failure_tag);
    let doc = serde_json::to_string(event.fields()).unwrap();
    if v["match"].as_bool().unwrap() == failed {
        return Err(format!("expected match={} but got {doc}", v["match"]));
    }
    let get = |f: &str| event.get(&FieldRef::parse(f).unwrap()).map(pipeline_dsl::value::Value::to_json);
    for (f, want) in v.get("expect").and_then(Value::as_object).into_iter().flatten() {
        let got = get(f);
        if !json_eq(got.as_ref(), want) {
            return Err(format!("{f}: expected {want}, got {got:?} in {doc}"));
        }
    }
    for (f, want) in v.get("expect_to_s").and_then(Value::as_object).into_iter().flatten() {
        let got = get(f).map(|g| match g {
            Value::String(s) => s,
            other => other.to_string(),
        });
        if got.as_deref() != want.as_str() {
            return Err(format!("{f}: expected to_s {want}, got {got:?}"));
        }
    }
    for f in v.get("expect_present").and_then(Value::as_array).into_iter().flatten() {
        if !event.contains(&FieldRef::parse(f.as_str().unwrap()).unwrap()) {
            return Err(format!("{f} should be present in {doc}"));
        }
    }
    for f in v.get("expect_absent").and_then(Value::as_array).into_iter().flatten() {
        if get(f.as_str().unwrap()).is_some_and(|x| !x.is_null()) {
            return Err(format!("{f} should be absent in {doc}"));
        }
    }
    for t in v.get("expect_tags_include").and_then(Value::as_array).into_iter().flatten() {
        if !event.has_tag(t.as_str().unwrap()) {
            return Err(format!("tag {t} missing in {doc}"));
        }
    }
    Ok(())
}

/// Deep equality where 200 (int) and 200.0 differ but 0.1 parsed twice is equal.
fn json_eq(got: Option<&Value>, want: &Value) -> bool {
    match (got, want) {
        (None, Value::Null) => true,
        (Some(Value::Number(a)), Value::Number(b)) => a.is_f64() == b.is_f64() && a.as_f64() == b.as_f64(),
        (Some(Value::Array(a)), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(Some(x), y))
        }
        (Some(Value::Object(a)), Value::Object(b)) => a.len() == b.len() && b.iter().all(|(k, y)| json_eq(a.get(k), y)),
        (Some(a), b) => a == b,
        (None, _) => false,
    }
}

fn run_all(upstream: bool) {
    let text = std::fs::read_to_string(peer().join("vectors.json")).unwrap();
    let vectors: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(vectors.len(), 311);
    let failures: Vec<String> = vectors
        .iter()
        .filter_map(|v| run_vector(v, upstream).err().map(|e| format!("{}: {e}", v["id"].as_str().unwrap())))
        .collect();
    assert!(failures.is_empty(), "{} of 311 vectors failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn vectors_pass_with_upstream_pattern_files() {
    run_all(true);
}

#[test]
fn vectors_pass_with_builtin_library() {
    run_all(false);
}

/// Our library defines every name of the upstream grok-patterns, httpd, aws, java and
/// linux-syslog files, in the matching flavour.
#[test]
fn builtin_library_defines_every_upstream_name() {
    use pipeline_dsl::filters::grok::library::{Flavour, Library};
    for (flavour, dir) in [(Flavour::Legacy, "legacy"), (Flavour::EcsV1, "ecs-v1")] {
        let lib = Library::builtin(flavour);
        for file in ["grok-patterns", "httpd", "aws", "java", "linux-syslog"] {
            let text = std::fs::read_to_string(peer().join(dir).join(file)).unwrap();
            let missing: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|name| lib.get(name).is_none())
                .collect();
            assert!(missing.is_empty(), "{dir}/{file}: not in the built-in library: {missing:?}");
        }
    }
}
