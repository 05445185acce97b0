//! Helpers shared by the end-to-end tests: run the real `logship` binary, read and
//! write golden files, compare documents field by field.

#![allow(dead_code)]

pub mod cdn;
pub mod osmem;

use serde_json::{Map, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/peer` beside the repository.
pub fn peer() -> PathBuf {
    root().join("../shared/peer")
}

/// Output of one run of the binary.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// A test's temp directory. It is removed when dropped, unless the test is failing: then
/// it is kept for inspection and its path printed.
pub struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the failing test's files in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

/// A fresh, empty directory for one test's files, removed with the returned guard.
pub fn temp_dir(name: &str) -> TempDir {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("logship-test-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    TempDir(dir)
}

/// A file in its own temp directory ([`temp_config`]); both go when it is dropped.
pub struct TempFile {
    path: PathBuf,
    _dir: TempDir,
}

impl std::ops::Deref for TempFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempFile {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Runs `logship` with `args` in the repository root, feeding `stdin`, with a fresh
/// data directory (so checkpoints of one run never affect another).
pub fn logship(args: &[&str], stdin: &[u8]) -> Run {
    let data_dir = temp_dir("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_logship"))
        .args(args)
        .env("LOGSHIP_DATA_DIR", &data_dir)
        .env("LOGSHIP_LOG", "warn")
        .env("LOGSHIP_API_ADDR", "off")
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start logship");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The binary may exit before reading everything (e.g. on a config error).
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for logship");
    writer.join().expect("stdin writer");
    Run { status: out.status, stdout: out.stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

/// Parses JSON-lines output into its event documents, leaving out the window metric
/// documents of the `window_stats` filters ([`metric_documents`]). A document whose line
/// did not parse keeps the time it was read as `@timestamp`; that is replaced by
/// `<read time>` so golden files are stable.
pub fn documents(stdout: &[u8]) -> Vec<Value> {
    all_documents(stdout)
        .into_iter()
        .filter(|d| !is_metric(d))
        .map(|mut d| {
            let failed = d["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t.as_str().is_some_and(|t| t.ends_with("failure"))));
            if failed {
                d["@timestamp"] = Value::String("<read time>".into());
            }
            d
        })
        .collect()
}

/// The window metric documents in JSON-lines output.
pub fn metric_documents(stdout: &[u8]) -> Vec<Value> {
    all_documents(stdout).into_iter().filter(is_metric).collect()
}

/// Whether `d` is a window metric document.
pub fn is_metric(d: &Value) -> bool {
    d["event"]["kind"] == "metric" && d["metric"]["name"].is_string()
}

fn all_documents(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .expect("output is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

/// Compares `docs` with the gzip'd golden file `name`, or rewrites it when
/// `LOGSHIP_BLESS=1`. Reports the first differing document and field.
pub fn assert_golden(name: &str, docs: &[Value]) {
    let path = root().join("tests/golden").join(format!("{name}.jsonl.gz"));
    if std::env::var("LOGSHIP_BLESS").as_deref() == Ok("1") {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        for d in docs {
            serde_json::to_writer(&mut enc, d).unwrap();
            enc.write_all(b"\n").unwrap();
        }
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        return;
    }
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run with LOGSHIP_BLESS=1 to create)", path.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut text).unwrap();
    let golden: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (i, (got, want)) in docs.iter().zip(&golden).enumerate() {
        if got != want {
            let diffs = diff(&flatten(want), &flatten(got));
            panic!("{name}: document {i} differs from the golden file:\n{}", diffs.join("\n"));
        }
    }
    assert_eq!(docs.len(), golden.len(), "{name}: number of documents differs from the golden file");
}

/// Flattens nested objects into dotted keys (arrays stay values).
pub fn flatten(v: &Value) -> Map<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }
    let mut out = Map::new();
    walk("", v, &mut out);
    out
}

/// Human-readable differences between two flattened documents.
pub fn diff(want: &Map<String, Value>, got: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, w) in want {
        match got.get(k) {
            Some(g) if g == w => {}
            Some(g) => out.push(format!("  {k}: expected {w}, got {g}")),
            None => out.push(format!("  {k}: expected {w}, missing")),
        }
    }
    for k in got.keys() {
        if !want.contains_key(k) {
            out.push(format!("  {k}: unexpected {}", got[k]));
        }
    }
    out
}

/// Writes `text` to a file `name` in a fresh temp directory for `test`.
pub fn temp_config(test: &str, name: &str, text: &[u8]) -> TempFile {
    let dir = temp_dir(test);
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    TempFile { path, _dir: dir }
}

/// Reads a file under the repository root.
pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let p = root().join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The agent running in the background, as a long-running process.
pub struct Agent {
    child: std::process::Child,
    stderr_path: PathBuf,
}

impl Agent {
    /// Starts `logship --config CONFIG --data-dir DATA ARGS…` in the repository root.
    pub fn start(config: &Path, data_dir: &Path, args: &[&str]) -> Agent {
        let stderr_path = Agent::log_path(data_dir);
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&stderr_path).expect("stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_logship"))
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--api-addr", "127.0.0.1:0"])
            .args(args)
            .env("LOGSHIP_LOG", "info")
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start logship");
        Agent { child, stderr_path }
    }

    /// Where agents with data directory `data_dir` log (all runs share the file).
    pub fn log_path(data_dir: &Path) -> PathBuf {
        data_dir.with_extension(format!("stderr-{}", std::process::id()))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The control API address the agent logged (`127.0.0.1:PORT`), once it is up.
    pub fn api_addr(&self) -> String {
        let mut addr = String::new();
        wait_for("the control API to listen", || {
            addr = logged_api_addr(&self.stderr()).unwrap_or_default();
            !addr.is_empty()
        });
        addr
    }

    /// What the agent logged so far (all runs sharing this data directory).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stderr_path).unwrap_or_default()).into_owned()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        signal(self.pid(), "TERM");
        self.child.wait().expect("wait for logship")
    }

    /// Kills the agent with SIGKILL.
    pub fn kill(mut self) {
        signal(self.pid(), "KILL");
        let _ = self.child.wait();
    }

    /// Waits for the agent to exit on its own.
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for logship")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The control API address (`127.0.0.1:PORT`) an agent's log announced last, if any.
pub fn logged_api_addr(log: &str) -> Option<String> {
    let plain = strip_ansi(log);
    let line = plain.lines().rev().find(|l| l.contains("Control API listening"))?;
    Some(line.split("addr=").nth(1)?.split_whitespace().next()?.to_string())
}

/// Sends signal `sig` (`TERM`, `KILL`, `STOP`, `CONT`) to process `pid`.
pub fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().expect("run kill");
    assert!(status.success(), "kill -{sig} {pid} failed");
}

/// Polls `cond` until it holds. The limit (three minutes) only guards against a hung
/// test; nothing here asserts how fast the agent is.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let limit = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while !cond() {
        assert!(std::time::Instant::now() < limit, "gave up waiting for: {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The documents in a JSON-lines file (none if it does not exist yet).
pub fn json_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A line still being written is ignored until complete.
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

/// Appends `text` to `path`.
pub fn append(path: &Path, text: &[u8]) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open for append");
    f.write_all(text).expect("append");
}

/// Sends an HTTP/1.1 request to `addr` (`host:port`) and returns the status and body.
pub fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").expect("HTTP response");
    let status: u16 = head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status code");
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
    (status, body)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// Text without terminal colour codes.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The root pipeline.conf's filters between the given input and output sections; the
/// output receives the event documents (window metrics are routed away, as the root
/// config routes them to their own indices).
pub fn pipeline_with(input: &str, output: &str) -> String {
    format!("input {{\n{input}\n}}\n{}\noutput {{\nif \"metric\" not in [tags] {{\n{output}\n}}\n}}\n", root_filters())
}

/// The filter section of the root pipeline.conf.
pub fn root_filters() -> String {
    let text = std::fs::read_to_string(root().join("pipeline.conf")).expect("read pipeline.conf");
    let filter_start = text.find("\nfilter {").expect("filter section");
    let output_start = text.find("\noutput {").expect("output section");
    text[filter_start..output_start].to_string()
}

/// A config reading every sample log once (`file` input, read mode) through the root
/// pipeline.conf's filters to JSON lines on standard output.
pub fn sample_logs_config(test: &str) -> TempFile {
    let text =
        pipeline_with(r#"file { path => ["sample-logs/*.log"] mode => "read" }"#, "stdout { codec => json_lines }");
    temp_config(test, "samples.conf", text.as_bytes())
}

/// A server on a free loopback port that answers every request with 401 (a cluster
/// that refuses the credentials); runs until the test process ends.
pub fn refusing_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let mut buf = [0u8; 65536];
                let mut seen = Vec::new();
                // Read the head (and whatever body came with it), then answer.
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let body =
                    r#"{"error":{"type":"security_exception","reason":"unable to authenticate user"},"status":401}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nWWW-Authenticate: Basic realm=\"security\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A config in `dir` reading `dir/in.log` (two lines, from the beginning) into
/// `output` (the body of an output section, such as `null {}`).
pub fn two_line_file_config(dir: &Path, output: &str) -> PathBuf {
    let input = dir.join("in.log");
    std::fs::write(&input, "one\ntwo\n").unwrap();
    let config = dir.join("p.conf");
    std::fs::write(
        &config,
        format!(
            "input {{ file {{ path => \"{}\" start_position => \"beginning\" }} }}\noutput {{ {output} }}\n",
            input.display()
        ),
    )
    .unwrap();
    config
}
