//! A minimal Elasticsearch bulk endpoint on loopback, for tests and benchmarks, and a
//! fault-injecting proxy ([`proxy`]) to put in front of a real server.
//!
//! It speaks just enough HTTP/1.1 (keep-alive, `Content-Length`, gzip request bodies)
//! to serve `POST /_bulk`, `PUT /_index_template/…` and `GET /`, and answers each bulk
//! item with the status a test script chooses (201 by default), so that tests can make
//! items fail with 429, 400 or 409 and whole requests fail with 503. It records the
//! documents it accepted and the headers of every bulk request. It does no indexing at
//! all, so a benchmark against it measures the agent's output path alone.
#![deny(missing_docs)]

pub mod proxy;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// Decides the status of one bulk item: `(request number, item index in the request,
/// action line, document)` → HTTP status. Return 0 to fail the whole request with 503.
pub type Script = dyn Fn(usize, usize, &Value, &Value) -> u16 + Send + Sync;

/// What the endpoint has seen.
#[derive(Default)]
pub struct Seen {
    /// Documents answered 201 (and their action lines).
    pub accepted: Vec<(Value, Value)>,
    /// Number of bulk requests received.
    pub bulk_requests: usize,
    /// Headers of every bulk request, lower-cased names.
    pub headers: Vec<Vec<(String, String)>>,
    /// Items received, whatever their answer.
    pub items: usize,
}

/// A running endpoint; it serves until the process ends.
pub struct BulkEndpoint {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    seen: Arc<Mutex<Seen>>,
}

impl BulkEndpoint {
    /// Starts an endpoint answering every item 201.
    pub fn start() -> anyhow::Result<Self> {
        Self::with_script(Arc::new(|_, _, _, _| 201))
    }

    /// Starts an endpoint answering as `script` says.
    pub fn with_script(script: Arc<Script>) -> anyhow::Result<Self> {
        Self::bind("127.0.0.1:0", script, true, usize::MAX)
    }

    /// Starts an endpoint answering every item 201, but refusing with 413 (request
    /// too large) any bulk of more than `max_items` documents.
    pub fn with_limit(max_items: usize) -> anyhow::Result<Self> {
        Self::bind("127.0.0.1:0", Arc::new(|_, _, _, _| 201), true, max_items)
    }

    /// Starts an endpoint on `addr`; with `parse` false, bulk bodies are only counted
    /// (lines), not parsed, for benchmarks. Bulks of more than `max_items` documents
    /// are refused with 413.
    pub fn bind(addr: &str, script: Arc<Script>, parse: bool, max_items: usize) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?.to_string();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let state = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, state) = (script.clone(), state.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, script.as_ref(), &state, parse, max_items);
                });
            }
        });
        Ok(Self { addr, seen })
    }

    /// Reads what was seen so far.
    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

fn serve(stream: TcpStream, script: &Script, seen: &Mutex<Seen>, parse: bool, max_items: usize) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        if header("content-encoding") == Some("gzip") {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain)?;
            body = plain;
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let items = body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() / 2;
        let (status, reply) = if path.starts_with("/_bulk") && items > max_items {
            (413, r#"{"error":{"type":"request_too_large","reason":"too many items"},"status":413}"#.to_string())
        } else if path.starts_with("/_bulk") {
            bulk(&body, script, seen, headers.clone(), parse)
        } else if path == "/" {
            (
                200,
                r#"{"version":{"number":"8.15.0","distribution":"testkit"},"tagline":"You Know, for Search"}"#
                    .to_string(),
            )
        } else {
            (200, r#"{"acknowledged":true}"#.to_string())
        };
        // One write per response: with Nagle's algorithm, a response in pieces waits
        // for the client's delayed ACK (40 ms per request).
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
            reply.len()
        );
        writer.write_all(response.as_bytes())?;
        writer.flush()?;
    }
}

fn bulk(
    body: &[u8],
    script: &Script,
    seen: &Mutex<Seen>,
    headers: Vec<(String, String)>,
    parse: bool,
) -> (u16, String) {
    let request = {
        let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
        s.bulk_requests += 1;
        s.headers.push(headers);
        s.bulk_requests - 1
    };
    if !parse {
        let n = body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() / 2;
        seen.lock().unwrap_or_else(|p| p.into_inner()).items += n;
        let item = r#"{"create":{"status":201}}"#;
        return (200, format!(r#"{{"errors":false,"items":[{}]}}"#, vec![item; n].join(",")));
    }
    let lines: Vec<Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap_or(Value::Null))
        .collect();
    let mut items = Vec::new();
    let mut errors = false;
    let mut accepted = Vec::new();
    for (i, pair) in lines.chunks(2).enumerate() {
        let (action, doc) = (&pair[0], pair.get(1).unwrap_or(&Value::Null));
        let status = script(request, i, action, doc);
        if status == 0 {
            return (503, r#"{"error":{"type":"unavailable","reason":"scripted outage"},"status":503}"#.into());
        }
        let name = action.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_else(|| "index".into());
        let mut result = serde_json::json!({"_id": action[&name]["_id"], "status": status});
        if status >= 300 {
            errors = true;
            let kind = match status {
                409 => "version_conflict_engine_exception",
                429 => "es_rejected_execution_exception",
                400 => "mapper_parsing_exception",
                _ => "scripted_failure",
            };
            result["error"] = serde_json::json!({"type": kind, "reason": format!("scripted status {status}")});
        } else {
            accepted.push((action.clone(), doc.clone()));
        }
        items.push(serde_json::json!({ name: result }));
    }
    let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
    s.items += items.len();
    s.accepted.extend(accepted);
    (200, serde_json::json!({"took": 1, "errors": errors, "items": items}).to_string())
}
