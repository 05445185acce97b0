//! Replays every log in ../shared/peer/cloudfront and ../shared/peer/nginx through the
//! real binary with the root pipeline.conf. Each output is compared with our golden
//! file; where Elastic publishes the documents its own ingest pipelines produce, every
//! field our ECS mapping covers must have Elastic's value, `event.original` included.

mod common;

use common::*;
use serde_json::{Map, Value};

/// Fields of Elastic's documents that logship does not produce, or deliberately maps
/// differently (each listed with its reason in README.md, "Differences from Elastic's
/// integrations").
const NOT_COVERED: &[&str] = &[
    // No GeoIP/ASN enrichment and no public-suffix list in logship.
    "source.geo.",
    "source.as.",
    "url.registered_domain",
    "url.subdomain",
    "url.top_level_domain",
    // Set by Elastic's test harness or its ingest node, not by the log.
    "ecs.version",
    "tags",
    "event.created",
    "event.ingested",
    "_tmp",
    // User agents are classified by woothee, not ua-parser: the original string is
    // compared, the derived name/os/device fields are not.
    "user_agent.name",
    "user_agent.version",
    "user_agent.os.",
    "user_agent.device.",
];

fn covered(key: &str) -> bool {
    !NOT_COVERED.iter().any(|p| if p.ends_with('.') { key.starts_with(p) } else { key == *p })
}

/// Compares every covered field of `want` with `got`.
fn compare(label: &str, want: &Value, got: &Value, exceptions: &[(&str, Value)]) -> Vec<String> {
    let want: Map<String, Value> = flatten(want).into_iter().filter(|(k, _)| covered(k)).collect();
    let got = flatten(got);
    let mut out = Vec::new();
    for (k, w) in &want {
        let expected = exceptions.iter().find(|(f, _)| f == k).map_or(w, |(_, v)| v);
        if got.get(k) != Some(expected) {
            out.push(format!("{label}: {k}: Elastic has {w}, logship has {:?}", got.get(k)));
        }
    }
    out
}

fn run_file(path: &str) -> Vec<Value> {
    let input = std::fs::read(peer().join(path)).unwrap();
    let run = logship(&["--config", "pipeline.conf", "--stdin", "--stdout"], &input);
    assert!(run.status.success(), "{path}: {}", run.stderr);
    documents(&run.stdout)
}

#[test]
fn cloudfront_matches_elastic_integration_documents() {
    let docs = run_file("cloudfront/elastic-integrations/test-cloudfront.log");
    let expected: Value = serde_json::from_slice(
        &std::fs::read(peer().join("cloudfront/elastic-integrations/test-cloudfront.log-expected.json")).unwrap(),
    )
    .unwrap();
    // Header lines are null in Elastic's list and dropped by us.
    let expected: Vec<&Value> = expected["expected"].as_array().unwrap().iter().filter(|e| !e.is_null()).collect();
    assert_eq!(docs.len(), expected.len());
    let mut failures = Vec::new();
    for (i, (got, want)) in docs.iter().zip(&expected).enumerate() {
        // Elastic resolves the forwarded value `localhost:8080` to 127.0.0.1; logship
        // keeps what the log says (README, "Differences").
        let exceptions: Vec<(&str, Value)> = if got["network"]["forwarded_ip"] == serde_json::json!(["localhost:8080"])
        {
            vec![
                ("network.forwarded_ip", serde_json::json!(["localhost:8080"])),
                ("related.ip", serde_json::json!([got["source"]["ip"], "localhost:8080"])),
            ]
        } else {
            Vec::new()
        };
        failures.extend(compare(&format!("line {}", i + 3), want, got, &exceptions));
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
    assert_golden("peer-cloudfront-elastic", &docs);
}

/// pipeline.conf with its input section replaced by `input`, written to a temp file.
fn pipeline_with_input(name: &str, input: &str) -> common::TempFile {
    let text = String::from_utf8(read("pipeline.conf")).unwrap();
    let config = pipeline_dsl::parser::parse_config(&text).unwrap();
    let section = config.sections.iter().find(|s| s.kind == pipeline_dsl::ast::SectionKind::Input).unwrap();
    let replaced = format!("{}{input}{}", &text[..section.span.start], &text[section.span.end..]);
    temp_config("peer", name, replaced.as_bytes())
}

/// Elastic's nginx test harness joins lines with a multiline rule (a new event starts
/// only at a line beginning with an IPv4 address); the same rule is given to logship's
/// multiline codec, so documents correspond one to one.
fn nginx_case(log: &str, expected: &str, lowercase_method: bool) {
    // One file per log: the tests run in parallel and must not rewrite each other's config.
    let name = format!("{}.conf", log.replace('/', "_"));
    let config = pipeline_with_input(
        &name,
        r#"input { stdin { codec => multiline { pattern => "^(?:[0-9]{1,3}\.){3}[0-9]{1,3}" negate => true what => "previous" } } }"#,
    );
    let input = std::fs::read(peer().join(log)).unwrap();
    let run = logship(&["--config", config.to_str().unwrap(), "--stdout"], &input);
    assert!(run.status.success(), "{log}: {}", run.stderr);
    let docs = documents(&run.stdout);
    let expected: Value = serde_json::from_slice(&std::fs::read(peer().join(expected)).unwrap()).unwrap();
    let expected = expected["expected"].as_array().unwrap();
    assert_eq!(docs.len(), expected.len(), "{log}: one document per joined event");
    let mut failures = Vec::new();
    for (got, want) in docs.iter().zip(expected) {
        let first_line = want["event"]["original"].as_str().unwrap().lines().next().unwrap().to_string();
        let mut exceptions = vec![];
        // elastic-package's copy predates the pipeline change that stopped lower-casing
        // the method (the integrations copy of the same log has "GET").
        let method = got["http"]["request"]["method"].clone();
        if lowercase_method
            && want["http"]["request"]["method"].as_str() == method.as_str().map(str::to_lowercase).as_deref()
        {
            exceptions.push(("http.request.method", method));
        }
        // Elastic picks the first *public* address of an X-Forwarded-For chain; logship
        // keeps the first (client-most) entry (README, "Differences").
        let list = got["nginx"]["access"]["remote_ip_list"].clone();
        if list.as_array().is_some_and(|l| l.len() > 1) {
            exceptions.push(("source.address", list[0].clone()));
            exceptions.push(("source.ip", list[0].clone()));
            let elastic_source = &want["source"]["address"];
            let mut related: Vec<Value> = Vec::new();
            for ip in want["related"]["ip"].as_array().into_iter().flatten() {
                let ip = if ip == elastic_source { list[0].clone() } else { ip.clone() };
                if !related.contains(&ip) {
                    related.push(ip);
                }
            }
            exceptions.push(("related.ip", Value::Array(related)));
        }
        failures.extend(compare(&first_line, want, got, &exceptions));
    }
    assert!(failures.is_empty(), "{log}: {} differences:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn nginx_access_matches_elastic_integration_documents() {
    nginx_case(
        "nginx/elastic-integrations/test-access.log",
        "nginx/elastic-integrations/test-access.log-expected.json",
        false,
    );
    let docs = run_file("nginx/elastic-integrations/test-access.log");
    assert_golden("peer-nginx-access", &docs);
}

#[test]
fn nginx_xff_and_host_variants_match_elastic_package_documents() {
    nginx_case("nginx/elastic-package/test-nginx.log", "nginx/elastic-package/test-nginx.log-expected.json", true);
    nginx_case(
        "nginx/elastic-package/test-test-with-host.log",
        "nginx/elastic-package/test-test-with-host.log-expected.json",
        true,
    );
}

#[test]
fn other_peer_logs_match_golden_documents() {
    for (path, golden) in [
        ("cloudfront/aws-docs_standard-log-example.log", "peer-cloudfront-aws-docs"),
        ("cloudfront/node-cloudfront-log-parser/web-1-0.txt", "peer-cloudfront-web-1-0"),
        ("cloudfront/node-cloudfront-log-parser/web-1-0-2019-12.txt", "peer-cloudfront-web-2019-12"),
        ("cloudfront/node-cloudfront-log-parser/kinesis-1-0.txt", "peer-cloudfront-kinesis"),
        ("nginx/elastic-package/test-nginx.log", "peer-nginx-xff"),
        ("nginx/elastic-package/test-test-with-host.log", "peer-nginx-with-host"),
        ("nginx/elastic-examples_apache_logs.log", "peer-apache-combined"),
    ] {
        let docs = run_file(path);
        let text = String::from_utf8_lossy(&std::fs::read(peer().join(path)).unwrap()).into_owned();
        let lines = text.lines().count();
        let headers = text.lines().filter(|l| l.starts_with('#')).count();
        assert_eq!(docs.len() + headers, lines, "{path}: documents lost");
        assert_golden(golden, &docs);
    }
}
