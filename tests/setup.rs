//! `logship setup` through the real binary: the index templates into osmem-server (and
//! the sample metric documents indexed through them), the dashboards into a local
//! server that records the import request and answers as Kibana does, and clear errors
//! for unreachable servers, refused credentials and rejected objects.
//! No real Kibana was available: the recorded request is checked against the
//! saved-objects import API as Kibana documents and answers it.

mod common;

use common::osmem::Osmem;
use common::{logship, metric_documents, read};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;

/// One request as the fake Kibana saw it.
struct Recorded {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A one-request HTTP server answering `status` with `answer(request body)`.
fn fake_kibana(
    status: u16,
    answer: impl FnOnce(&[u8]) -> Value + Send + 'static,
) -> (String, mpsc::Receiver<Recorded>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let reply = answer(&body).to_string();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
            reply.len()
        )
        .unwrap();
        tx.send(Recorded { request_line: request_line.trim_end().to_string(), headers, body }).unwrap();
    });
    (addr, rx)
}

/// Kibana's answer to an import: every object imported except `failing` (type, id).
fn kibana_answer(body: &[u8], failing: Option<(&str, &str)>) -> Value {
    let text = String::from_utf8_lossy(body);
    let mut success = Vec::new();
    let mut errors = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let o: Value = serde_json::from_str(line).unwrap();
        let (t, id) = (o["type"].as_str().unwrap(), o["id"].as_str().unwrap());
        if failing == Some((t, id)) {
            errors.push(json!({"type": t, "id": id, "title": o["attributes"]["title"],
                               "error": {"type": "unknown", "message": "Unsupported saved object type"}}));
        } else {
            success.push(json!({"type": t, "id": id, "meta": {"title": o["attributes"]["title"]}}));
        }
    }
    json!({"success": errors.is_empty(), "successCount": success.len(), "successResults": success, "errors": errors})
}

fn setup(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_logship"))
        .arg("setup")
        .args(args)
        .env_remove("ELASTICSEARCH_HOSTS")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn dashboards_are_imported_with_kibanas_import_api_and_each_object_is_reported() {
    let shipped = std::fs::read_to_string(common::root().join("dashboards/kibana/logship.ndjson")).unwrap();
    let objects = shipped.lines().count();

    let (addr, requests) = fake_kibana(200, |body| kibana_answer(body, None));
    let (ok, out) = setup(&[
        "--kibana",
        &format!("http://{addr}"),
        "--space",
        "ops",
        "--dashboards-only",
        "--user",
        "elastic",
        "--password",
        "s3cret",
    ]);
    assert!(ok, "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("ok ")).count(), objects, "{out}");
    assert!(out.contains("ok       Kibana: dashboard logship-streaming-health (Streaming health): imported"), "{out}");
    assert!(!out.contains("s3cret"));

    let r = requests.recv().unwrap();
    assert_eq!(r.request_line, "POST /s/ops/api/saved_objects/_import?overwrite=true HTTP/1.1");
    assert!(r.header("kbn-xsrf").is_some(), "kbn-xsrf header");
    assert_eq!(r.header("authorization"), Some("Basic ZWxhc3RpYzpzM2NyZXQ="));
    let content_type = r.header("content-type").unwrap();
    let boundary = content_type.strip_prefix("multipart/form-data; boundary=").expect("multipart");
    let body = String::from_utf8(r.body.clone()).unwrap();
    let expected = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"logship.ndjson\"\r\nContent-Type: application/ndjson\r\n\r\n{shipped}\r\n--{boundary}--\r\n"
    );
    assert_eq!(body, expected, "one `file` part holding the NDJSON as shipped");

    // A rejected object is reported by name and makes the command fail.
    let (addr, _) = fake_kibana(200, |body| kibana_answer(body, Some(("lens", "logship-title-misses"))));
    let (ok, out) = setup(&["--kibana", &format!("http://{addr}"), "--dashboards-only"]);
    assert!(!ok, "{out}");
    assert!(out.contains("FAILED   Kibana: lens logship-title-misses (Cache misses by title): unknown: Unsupported saved object type"), "{out}");

    // Wrong credentials.
    let (addr, _) = fake_kibana(
        401,
        |_| json!({"statusCode": 401, "error": "Unauthorized", "message": "[security_exception]: unable to authenticate user"}),
    );
    let (ok, out) =
        setup(&["--kibana", &format!("http://{addr}"), "--dashboards-only", "--user", "x", "--password", "y"]);
    assert!(!ok);
    assert!(out.contains("refused the credentials") && out.contains("unable to authenticate user"), "{out}");
}

#[test]
fn templates_go_into_the_cluster_and_metric_documents_index_through_them() {
    let osmem = Osmem::start("127.0.0.1:0");
    let (ok, out) = setup(&["--elasticsearch", &format!("http://{}", osmem.addr), "--templates-only"]);
    assert!(ok, "{out}");
    assert!(out.contains("ok       Elasticsearch: index template logship-events"), "{out}");
    assert!(out.contains("ok       Elasticsearch: index template logship-metrics: histogram kept in _source"), "{out}");
    assert!(out.contains("Elasticsearch: ISM lifecycle policy logship"), "the lifecycle step is reported: {out}");
    for name in ["logship-events", "logship-metrics"] {
        let (status, _) = osmem.request("GET", &format!("/_index_template/{name}"), None);
        assert_eq!(status, 200, "{name}");
    }
    // The sample metric documents index through the template with the intended types.
    let docs = metric_documents(
        &logship(&["--config", "pipeline.conf", "--stdin", "--stdout"], &read("sample-logs/playback.log")).stdout,
    );
    let mut bulk = String::new();
    for d in &docs {
        bulk.push_str("{\"index\":{\"_index\":\"logship-metrics-2026.11.20\"}}\n");
        bulk.push_str(&d.to_string());
        bulk.push('\n');
    }
    let (status, text) = common::http(&osmem.addr, "POST", "/_bulk", &bulk);
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains("\"errors\":true"), "{}", &text[..text.len().min(500)]);
    assert_eq!(osmem.count("logship-metrics-*"), docs.len() as u64);
    let (_, mapping) = osmem.request("GET", "/logship-metrics-2026.11.20/_mapping", None);
    let metric = &mapping["logship-metrics-2026.11.20"]["mappings"]["properties"]["metric"]["properties"];
    assert_eq!(metric["value"]["properties"]["p95"]["type"], "long");
    assert_eq!(metric["sum"]["properties"]["watch_ms"]["type"], "double");
    assert_eq!(metric["ratio_parts"]["properties"]["rebuffer_ratio"]["properties"]["numerator"]["type"], "double");
}

#[test]
fn unreachable_servers_and_missing_urls_are_clear_errors() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (ok, out) = setup(&["--elasticsearch", &format!("http://127.0.0.1:{port}"), "--templates-only"]);
    assert!(!ok);
    assert!(
        out.contains("FAILED   Elasticsearch: cannot reach Elasticsearch") && out.contains("Connection refused"),
        "{out}"
    );
    let (ok, out) = setup(&["--kibana", &format!("http://127.0.0.1:{port}"), "--dashboards-only"]);
    assert!(!ok);
    assert!(out.contains("FAILED   Kibana: cannot reach Kibana"), "{out}");
    let (ok, out) = setup(&["--kibana", "http://127.0.0.1:1", "--dashboards-only", "--user", "elastic"]);
    assert!(!ok && out.contains("credentials: `user` and `password` go together"), "{out}");
    for args in [&["--templates-only"][..], &["--templates-only", "--elasticsearch", " , "][..]] {
        let (ok, out) = setup(args);
        assert!(!ok && out.contains("--elasticsearch URL is needed"), "{out}");
    }
    let (ok, out) = setup(&["--elasticsearch", "http://127.0.0.1:1"]);
    assert!(!ok && out.contains("--kibana URL is needed"), "{out}");
}
