//! A local OpenSearch-compatible server for tests: `osmem-server` from PyPI (installed
//! by scripts/test.sh), started on a loopback port, and a minimal HTTP client for it.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running osmem-server; it exits when dropped (its stdin closes).
pub struct Osmem {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

/// The server binary: `OSMEM_SERVER_BIN`, else the one bundled in the Python package.
pub fn binary() -> PathBuf {
    if let Ok(bin) = std::env::var("OSMEM_SERVER_BIN") {
        return PathBuf::from(bin);
    }
    let out = Command::new("python3")
        .args(["-c", "import osmem_server; print(osmem_server.resolve_binary())"])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "osmem-server is not installed (scripts/test.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

impl Osmem {
    /// Starts a server on `addr` (`127.0.0.1:0` picks a free port).
    pub fn start(addr: &str) -> Osmem {
        let mut child = Command::new(binary())
            .args(["-addr", addr])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start osmem-server");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("osmem ready line");
        let ready: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("osmem said {first:?}: {e}"));
        let url = ready["url"].as_str().expect("url").to_string();
        Osmem { child, addr: url.trim_start_matches("http://").to_string() }
    }

    /// The process id (to pause it with SIGSTOP).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a request and returns the status and JSON body.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, text) = super::http(&self.addr, method, path, &body);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Number of documents in `index`, after a refresh.
    pub fn count(&self, index: &str) -> u64 {
        self.request("POST", &format!("/{index}/_refresh"), None);
        let (_, body) = self.request("GET", &format!("/{index}/_count"), None);
        body["count"].as_u64().unwrap_or(0)
    }

    /// Every document of `index` matching `query` (at most 10,000), as (`_id`, `_source`).
    pub fn documents(&self, index: &str, query: Value) -> Vec<(String, Value)> {
        self.request("POST", &format!("/{index}/_refresh"), None);
        let (status, body) = self.request(
            "POST",
            &format!("/{index}/_search"),
            Some(&serde_json::json!({"query": query, "size": 10000})),
        );
        assert_eq!(status, 200, "search failed: {body}");
        body["hits"]["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| (h["_id"].as_str().unwrap_or_default().to_string(), h["_source"].clone()))
            .collect()
    }
}

impl Drop for Osmem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The root pipeline.conf as shipped (its own output section, pointed at `osmem`), with
/// `input` in place of its replay input.
pub fn root_config_into(osmem: &Osmem, input: &str) -> String {
    let text = std::fs::read_to_string(super::root().join("pipeline.conf")).unwrap();
    let filters_and_outputs = &text[text.find("\nfilter {").unwrap()..];
    let hosts = format!("http://{}", osmem.addr);
    format!(
        "input {{\n{input}\n}}\n{}",
        filters_and_outputs.replace("${ELASTICSEARCH_HOSTS:http://127.0.0.1:9200}", &hosts)
    )
}
