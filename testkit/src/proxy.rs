//! A fault-injecting HTTP proxy for an Elasticsearch-compatible server: the bad day
//! of a cluster under write pressure, reproducible from a seed.
//!
//! Each request is forwarded to the upstream server, except as the current
//! [`Faults`] decide (drawn from one seeded generator, in the order requests arrive):
//! a share of bulk items is answered 429 and not forwarded (not indexed), a share of
//! requests is answered 503 without forwarding, a share of bulk requests is forwarded
//! and then the connection is closed without an answer (indexed, but the client cannot
//! know), a share of requests is stalled before forwarding. The faults can be changed
//! while it runs (an outage, a phase rejecting everything). It records every request's
//! start, end and outcome, so that tests and benchmarks can read request rates and
//! concurrency per phase.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What goes wrong, as shares between 0 and 1.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Bulk items answered 429 (`es_rejected_execution_exception`) and not indexed.
    pub item_429: f64,
    /// Requests answered 503 without reaching the server.
    pub request_503: f64,
    /// Bulk requests indexed, then the connection closed without an answer.
    pub reset_after: f64,
    /// Requests held for `stall_for` before they are forwarded.
    pub stall: f64,
    /// How long a stalled request is held.
    pub stall_for: Duration,
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When it arrived and when its answer (or reset) went out, since the proxy started.
    pub start: Duration,
    /// See `start`.
    pub end: Duration,
    /// Whether it was a bulk request.
    pub bulk: bool,
    /// Items in it (bulk requests).
    pub items: usize,
    /// Items answered 429 by the proxy.
    pub rejected: usize,
    /// What happened to it: `forwarded`, `503`, `reset`, `stalled` (then forwarded).
    pub outcome: &'static str,
}

struct State {
    faults: Faults,
    rng: u64,
    seen: Vec<Seen>,
}

/// A running proxy; it serves until the process ends.
pub struct FaultProxy {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    started: Instant,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// Starts a proxy on `listen` (`127.0.0.1:0` picks a port) in front of `upstream`
    /// (`host:port`), with `faults` drawn from `seed`.
    pub fn start(listen: &str, upstream: &str, faults: Faults, seed: u64) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?.to_string();
        let started = Instant::now();
        let state = Arc::new(Mutex::new(State { faults, rng: seed ^ 0x9e37_79b9_7f4a_7c15, seen: Vec::new() }));
        let shared = state.clone();
        let upstream = upstream.to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (state, upstream) = (shared.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &upstream, &state, started);
                });
            }
        });
        Ok(Self { addr, started, state })
    }

    /// Changes the faults from now on.
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.state).faults = faults;
    }

    /// Time since the proxy started (the clock of [`Seen`]).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Every request finished so far.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.state).seen.clone()
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A uniform draw in [0, 1) from the shared generator.
fn draw(state: &mut State) -> f64 {
    state.rng ^= state.rng << 13;
    state.rng ^= state.rng >> 7;
    state.rng ^= state.rng << 17;
    (state.rng >> 11) as f64 / (1u64 << 53) as f64
}

/// An HTTP/1.1 message read from a stream: start line, headers, body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads one message (`Content-Length` or chunked body); `None` at the end of the stream.
fn read_message(reader: &mut impl BufRead) -> anyhow::Result<Option<Message>> {
    let mut start = String::new();
    if reader.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            anyhow::bail!("the stream ended inside the headers");
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut message = Message { start: start.trim_end().to_string(), headers, body: Vec::new() };
    if message.header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            message.body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = message.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        message.body = vec![0; n];
        reader.read_exact(&mut message.body)?;
    }
    if message.header("content-encoding") == Some("gzip") {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&message.body[..]).read_to_end(&mut plain)?;
        message.body = plain;
        message.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-encoding"));
    }
    Ok(Some(message))
}

/// Writes `message` with a `Content-Length` body (and `extra` headers).
fn write_message(w: &mut impl Write, message: &Message, extra: &[(&str, &str)]) -> std::io::Result<()> {
    let mut out = format!("{}\r\n", message.start);
    for (k, v) in &message.headers {
        let skip = ["content-length", "transfer-encoding", "connection"];
        if !skip.iter().any(|s| k.eq_ignore_ascii_case(s)) {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", message.body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&message.body);
    w.write_all(&bytes)?;
    w.flush()
}

/// Sends `request` to `upstream` on a connection of its own and reads the answer.
fn forward(upstream: &str, request: &Message) -> anyhow::Result<Message> {
    let stream = TcpStream::connect(upstream)?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    write_message(&mut writer, request, &[("connection", "close")])?;
    read_message(&mut BufReader::new(stream))?.ok_or_else(|| anyhow::anyhow!("the server closed without answering"))
}

fn answer(status: u16, body: String) -> Message {
    Message {
        start: format!("HTTP/1.1 {status} X"),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into_bytes(),
    }
}

fn serve(stream: TcpStream, upstream: &str, state: &Mutex<State>, started: Instant) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    while let Some(mut request) = read_message(&mut reader)? {
        let start = started.elapsed();
        let bulk = request.start.split_whitespace().nth(1).is_some_and(|p| p.contains("_bulk"));
        let lines: Vec<&[u8]> = request.body.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        let items = if bulk { lines.len() / 2 } else { 0 };
        // Every draw under one lock, in arrival order: the same seed, the same faults.
        let (fail, reset, stall, rejected) = {
            let mut s = lock(state);
            let f = s.faults.clone();
            let fail = draw(&mut s) < f.request_503;
            let reset = bulk && draw(&mut s) < f.reset_after;
            let stall = (draw(&mut s) < f.stall).then_some(f.stall_for);
            let rejected: Vec<bool> = (0..items).map(|_| draw(&mut s) < f.item_429).collect();
            (fail, reset, stall, rejected)
        };
        let record = |outcome: &'static str, rejected: usize| {
            let seen = Seen { start, end: started.elapsed(), bulk, items, rejected, outcome };
            lock(state).seen.push(seen);
        };
        if let Some(d) = stall {
            std::thread::sleep(d);
        }
        if fail {
            let body = r#"{"error":{"type":"unavailable_shards_exception","reason":"injected"},"status":503}"#;
            write_message(&mut writer, &answer(503, body.into()), &[])?;
            record("503", 0);
            continue;
        }
        let n_rejected = rejected.iter().filter(|&&r| r).count();
        if n_rejected > 0 {
            let mut kept = Vec::with_capacity(request.body.len());
            for (pair, _) in lines.chunks(2).zip(&rejected).filter(|(_, &r)| !r) {
                for line in pair {
                    kept.extend_from_slice(line);
                    kept.push(b'\n');
                }
            }
            request.body = kept;
        }
        let reply = if n_rejected == items && items > 0 {
            answer(200, r#"{"errors":false,"items":[]}"#.into())
        } else {
            match forward(upstream, &request) {
                Ok(r) => r,
                Err(e) => answer(502, format!(r#"{{"error":{{"type":"proxy","reason":"{e}"}},"status":502}}"#)),
            }
        };
        if reset {
            // Indexed upstream; the client never hears of it.
            let _ = writer.shutdown(std::net::Shutdown::Both);
            record("reset", n_rejected);
            return Ok(());
        }
        let reply = if n_rejected > 0 && reply.start.split_whitespace().nth(1) == Some("200") {
            splice_rejections(reply, &rejected)?
        } else {
            reply
        };
        write_message(&mut writer, &reply, &[])?;
        record(if stall.is_some() { "stalled" } else { "forwarded" }, n_rejected);
    }
    Ok(())
}

/// The upstream answer for the items forwarded, with a 429 item put back in the place
/// of each item the proxy rejected. The items are spliced as text (a bulk answer is
/// large, and parsing it would make the proxy the slowest part of a benchmark).
fn splice_rejections(mut reply: Message, rejected: &[bool]) -> anyhow::Result<Message> {
    const REJECTED: &[u8] =
        br#"{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"injected"}}}"#;
    let body = &reply.body;
    let open = find(body, b"\"items\"")
        .and_then(|i| body[i..].iter().position(|&b| b == b'[').map(|j| i + j + 1))
        .ok_or_else(|| anyhow::anyhow!("no items in the bulk answer"))?;
    let forwarded = top_level_objects(body, open)?;
    let mut out = Vec::with_capacity(body.len() + rejected.len() * REJECTED.len());
    out.extend_from_slice(br#"{"took":1,"errors":true,"items":["#);
    let mut next = forwarded.iter();
    for (i, &r) in rejected.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match (r, next.clone().next()) {
            (true, _) | (false, None) => out.extend_from_slice(REJECTED),
            (false, Some(range)) => {
                out.extend_from_slice(&body[range.clone()]);
                next.next();
            }
        }
    }
    out.extend_from_slice(b"]}");
    reply.body = out;
    Ok(reply)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The byte ranges of the objects of the JSON array starting at `start` (just after its
/// `[`).
fn top_level_objects(body: &[u8], start: usize) -> anyhow::Result<Vec<std::ops::Range<usize>>> {
    let (mut depth, mut in_string, mut escaped, mut from) = (0usize, false, false, 0);
    let mut objects = Vec::new();
    for (i, &b) in body.iter().enumerate().skip(start) {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                if depth == 0 {
                    from = i;
                }
                depth += 1;
            }
            b'}' | b']' if depth == 0 => return Ok(objects),
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    objects.push(from..i + 1);
                }
            }
            _ => {}
        }
    }
    anyhow::bail!("the bulk answer's items do not end")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_items_are_put_back_in_their_places() {
        let upstream = br#"{"took":3,"errors":false,"items":[{"create":{"_id":"a","status":201}},{"create":{"_id":"c]}","status":201}}]}"#;
        let reply = Message { start: "HTTP/1.1 200 OK".into(), headers: Vec::new(), body: upstream.to_vec() };
        let spliced = splice_rejections(reply, &[false, true, false]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&spliced.body).unwrap();
        let statuses: Vec<u64> =
            v["items"].as_array().unwrap().iter().map(|i| i["create"]["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, [201, 429, 201]);
        assert_eq!(v["items"][2]["create"]["_id"], "c]}");
        assert_eq!(v["errors"], true);
    }
}
