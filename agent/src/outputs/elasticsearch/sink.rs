//! The output's delivery loop: fills bulks from incoming batches (bounded by count and
//! bytes, sent after `flush_interval` when partial), sends them while the server keeps
//! up, and puts every document the server did not take back into the queue, to ride in
//! a following bulk.
//!
//! Retries never resend a document that the server confirmed: only the items answered
//! 429 or 5xx (or the whole bulk, when no per-item answer arrived) go again. Because
//! every document has a deterministic id and the default action is `create`, even a
//! bulk that was indexed but whose answer was lost is harmless to resend: its documents
//! come back 409. A batch is acknowledged once each of its documents is delivered or
//! dead-lettered, in whatever order that happens.
//!
//! No request slot ever waits in a sleep. A document to retry waits in the retry queue
//! (its own exponential backoff with jitter, from a tenth of `retry_initial_interval`)
//! while other bulks go out. How many requests go out at once follows the server
//! ([`Pace`]): halved when a request fails or most of its items are turned away, grown
//! by one per round of clean answers up to `max_in_flight`, and, while every request
//! fails at one in flight, spaced out up to `retry_initial_interval` apart.

use super::bulk::{item_outcomes, Bulk, ItemOutcome, PartCounter};
use super::client::{Client, Reply};
use super::templates;
use super::EsConfig;
use crate::batch::BufferPool;
use crate::metrics::OutputStats;
use crate::outputs::SinkContext;
use crate::shutdown::Shutdown;
use anyhow::Context;
use elasticsearch::http::Method;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The I/O half of an `elasticsearch` output.
pub struct ElasticsearchSink {
    config: Arc<EsConfig>,
}

/// Everything a bulk's delivery task needs.
struct Delivery {
    client: Arc<Client>,
    config: Arc<EsConfig>,
    stats: OutputStats,
    dead_letter: Arc<DeadLetter>,
    /// Bulk bodies and request payloads, recycled.
    buffers: BufferPool,
}

/// A document the server did not take, waiting to be sent again.
struct Retry {
    /// Action line and document, newline-terminated.
    record: Vec<u8>,
    /// Its batch, held until the document is delivered or dead-lettered.
    counter: Arc<PartCounter>,
    /// Sends that failed so far.
    attempts: u32,
}

/// What became of one request.
struct Sent {
    /// When it started.
    started: Instant,
    /// Documents in it.
    items: usize,
    /// Documents the server did not take.
    retry: Vec<Retry>,
    /// Whether it failed as a whole (no per-item answer).
    failed: bool,
}

impl ElasticsearchSink {
    /// A sink for validated settings.
    pub fn new(config: EsConfig) -> Self {
        Self { config: Arc::new(config) }
    }

    /// Delivers batches until the sequencer closes the channel; then finishes the
    /// bulks in flight and the documents waiting to be sent again.
    pub async fn run(self, mut ctx: SinkContext, shutdown: Shutdown) -> anyhow::Result<()> {
        let config = self.config;
        let client = Arc::new(Client::new(&config)?);
        let health = tokio::spawn({
            let client = client.clone();
            async move { client.health_checks().await }
        });
        let dead_letter_path = match &config.dead_letter_path {
            Some(p) => p.clone(),
            None => ctx.data_dir.join("dead_letter").join(format!("{}.jsonl", config.id)),
        };
        let delivery = Arc::new(Delivery {
            client: client.clone(),
            config: config.clone(),
            stats: ctx.stats.clone(),
            dead_letter: Arc::new(DeadLetter { path: dead_letter_path, file: Mutex::new(None) }),
            // Bodies being filled or waiting, one per bulk in flight, and their payloads.
            buffers: BufferPool::new(2 * config.max_in_flight + 4, 4 * config.bulk_max_bytes.max(1 << 20)),
        });
        if config.manage_template && !install_templates(&delivery, &shutdown).await {
            health.abort();
            return Ok(());
        }

        let mut out = Outbox::new(delivery.clone());
        let mut closed = false;
        loop {
            let now = Instant::now();
            out.pace.refresh(now, &out.delivery.stats);
            out.take_due_retries(now);
            if out.ready_to_send(now, closed) {
                out.send(now);
                continue;
            }
            if closed && out.is_empty() {
                break;
            }
            let accept = !closed && out.has_room();
            let wake = out.next_wake(now, closed);
            let sleep = tokio::time::sleep_until(wake.unwrap_or_else(|| now + Duration::from_secs(3600)));
            tokio::select! {
                Some(done) = out.in_flight.join_next(), if !out.in_flight.is_empty() => {
                    out.finished(done.context("a bulk delivery task failed")?);
                }
                received = ctx.receiver.recv(), if accept => {
                    let Some(batch) = received else {
                        closed = true;
                        continue;
                    };
                    let counter = PartCounter::new(batch.ack);
                    for i in 0..batch.encoded.len() {
                        out.push(batch.encoded.record(i), &counter, 0, now);
                    }
                    counter.release();
                    ctx.buffers.give(batch.encoded.data);
                }
                _ = sleep, if wake.is_some() => {}
            }
        }
        health.abort();
        Ok(())
    }
}

/// The delivery loop's state: the bulk being filled, full bulks waiting for a slot,
/// documents waiting to be sent again, requests in flight and the pace.
struct Outbox {
    delivery: Arc<Delivery>,
    bulk: Bulk,
    /// When the bulk being filled goes out even if not full.
    flush_at: Option<Instant>,
    /// Full bulks waiting for a request slot.
    ready: VecDeque<Bulk>,
    /// Documents to send again, by when they may go (and a tie-breaking number).
    retries: BTreeMap<(Instant, u64), Retry>,
    retry_bytes: usize,
    retry_number: u64,
    in_flight: JoinSet<Sent>,
    pace: Pace,
}

impl Outbox {
    fn new(delivery: Arc<Delivery>) -> Self {
        let config = delivery.config.clone();
        delivery.stats.concurrency.set(config.max_in_flight as i64);
        Self {
            bulk: Bulk::new(delivery.buffers.take()),
            delivery,
            flush_at: None,
            ready: VecDeque::new(),
            retries: BTreeMap::new(),
            retry_bytes: 0,
            retry_number: 0,
            in_flight: JoinSet::new(),
            pace: Pace::new(config.max_in_flight, config.retry_initial),
        }
    }

    /// Whether nothing is left to deliver.
    fn is_empty(&self) -> bool {
        self.bulk.is_empty() && self.ready.is_empty() && self.retries.is_empty() && self.in_flight.is_empty()
    }

    /// Whether another batch may come in: a full bulk at most waits for a slot, and
    /// the documents waiting to be sent again stay within a few bulks (so a cluster
    /// that turns everything away holds the inputs back instead of filling memory).
    fn has_room(&self) -> bool {
        let c = &self.delivery.config;
        self.ready.is_empty()
            && self.retries.len() < 4 * c.bulk_max_events.max(1) * c.max_in_flight
            && self.retry_bytes < 4 * c.bulk_max_bytes.max(1 << 20)
    }

    fn full(&self, extra: usize) -> bool {
        let c = &self.delivery.config;
        self.bulk.len() >= c.bulk_max_events
            || (!self.bulk.is_empty() && self.bulk.body.len() + extra > c.bulk_max_bytes)
    }

    /// Adds one record of the batch `counter` stands for, whose sends failed
    /// `attempts` times before.
    fn push(&mut self, record: &[u8], counter: &Arc<PartCounter>, attempts: u32, now: Instant) {
        if self.full(record.len()) {
            let full = std::mem::replace(&mut self.bulk, Bulk::new(self.delivery.buffers.take()));
            self.ready.push_back(full);
            self.flush_at = None;
        }
        self.bulk.push(record, counter, attempts);
        if self.flush_at.is_none() {
            self.flush_at = Some(now + self.delivery.config.flush_interval);
        }
    }

    /// Moves the documents whose backoff is over into the bulk being filled. A bulk of
    /// retried documents only (no new ones are coming) goes out within
    /// [`RETRY_GATHER`] rather than `flush_interval`: they have waited their backoff
    /// already (and, with `--once`, the run's end waits for them). Mixed with new
    /// documents, they go when the bulk is full or due, as any bulk.
    fn take_due_retries(&mut self, now: Instant) {
        let mut moved = false;
        while self.ready.is_empty() {
            let Some(entry) = self.retries.first_entry() else { break };
            if entry.key().0 > now {
                break;
            }
            let retry = entry.remove();
            self.retry_bytes -= retry.record.len();
            self.push(&retry.record, &retry.counter, retry.attempts, now);
            // The bulk holds the batch now; the waiting document's hold goes.
            retry.counter.release();
            moved = true;
        }
        if moved && self.bulk.attempts.iter().all(|&a| a > 0) {
            let soon = now + RETRY_GATHER;
            self.flush_at = Some(self.flush_at.map_or(soon, |t| t.min(soon)));
        }
        self.delivery.stats.retry_queue.set(self.retries.len() as i64);
    }

    /// Whether a request should start now.
    fn ready_to_send(&self, now: Instant, closed: bool) -> bool {
        let has_bulk =
            !self.ready.is_empty() || (!self.bulk.is_empty() && (closed || self.flush_at.is_some_and(|t| t <= now)));
        has_bulk && self.in_flight.len() < self.pace.limit() && now >= self.pace.next_start
    }

    /// When the loop must look again without any event: the flush time or the end of
    /// the pace's pause (with a request slot free), the next retry's end of backoff
    /// (with room in the bulk being filled), the rejection rate's next expiry. Only
    /// times after which something can be done: a time that has passed with nothing
    /// to do would spin the loop.
    fn next_wake(&self, now: Instant, closed: bool) -> Option<Instant> {
        let slot = self.in_flight.len() < self.pace.limit();
        let waiting = !self.ready.is_empty() || (!self.bulk.is_empty() && closed);
        let pause = (waiting && slot).then_some(self.pace.next_start.max(now));
        let flush = self.flush_at.filter(|_| slot).map(|t| t.max(self.pace.next_start));
        let retry = self.retries.keys().next().map(|k| k.0).filter(|_| self.ready.is_empty());
        [flush, retry, pause, self.pace.next_expiry()].into_iter().flatten().min()
    }

    fn send(&mut self, now: Instant) {
        let bulk = match self.ready.pop_front() {
            Some(b) => b,
            None => {
                self.flush_at = None;
                std::mem::replace(&mut self.bulk, Bulk::new(self.delivery.buffers.take()))
            }
        };
        self.pace.started(now);
        self.in_flight.spawn(self.delivery.clone().deliver(bulk));
    }

    /// Takes a request's result: its documents to retry join the queue, each after its
    /// own backoff, and the pace learns from it.
    fn finished(&mut self, sent: Sent) {
        let now = Instant::now();
        let c = &self.delivery.config;
        if self.pace.finished(&sent, now, &self.delivery.stats) {
            // The server takes documents again: those that backed off while it refused
            // everything go now, not after backoffs grown during the outage.
            let waiting = std::mem::take(&mut self.retries);
            for ((_, number), retry) in waiting {
                self.retries.insert((now, number), retry);
            }
        }
        for retry in sent.retry {
            let wait = backoff(c.retry_initial / 10, c.retry_max, retry.attempts.saturating_sub(1));
            self.retry_bytes += retry.record.len();
            self.retry_number += 1;
            self.retries.insert((now + wait, self.retry_number), retry);
        }
        self.delivery.stats.retry_queue.set(self.retries.len() as i64);
    }
}

/// How many requests go out at once and how soon the next may start, learnt from the
/// server's answers (additive increase, multiplicative decrease, as TCP and Vector's
/// adaptive concurrency do), and the recent rejection rate.
struct Pace {
    /// Requests allowed in flight, 1 to `max`.
    limit: f64,
    max: f64,
    /// The wait before the next request while every request fails at one in flight.
    pause: Duration,
    /// The longest such wait.
    longest_pause: Duration,
    next_start: Instant,
    /// Answers to requests started before this do not lower the limit again: one
    /// decrease per round of requests.
    last_decrease: Instant,
    /// (when, items sent, items not taken) per answer, the last 10 s, and their sums.
    recent: VecDeque<(Instant, usize, usize)>,
    recent_items: usize,
    recent_away: usize,
}

/// Share of a bulk's items turned away from which the server counts as overloaded.
const OVERLOADED: f64 = 0.25;
/// Share from which nothing is getting through: requests are spaced out.
const REFUSING: f64 = 0.5;
/// How long documents due for a retry wait for others to share their bulk.
const RETRY_GATHER: Duration = Duration::from_millis(20);
/// How far back the rejection rate looks.
const RECENT: Duration = Duration::from_secs(10);

impl Pace {
    fn new(max_in_flight: usize, longest_pause: Duration) -> Self {
        let now = Instant::now();
        let max = max_in_flight.max(1) as f64;
        Self {
            limit: max,
            max,
            pause: Duration::ZERO,
            longest_pause: longest_pause.max(Duration::from_millis(100)),
            next_start: now,
            last_decrease: now,
            recent: VecDeque::new(),
            recent_items: 0,
            recent_away: 0,
        }
    }

    fn limit(&self) -> usize {
        (self.limit as usize).max(1)
    }

    fn started(&mut self, now: Instant) {
        self.next_start = now + self.pause;
    }

    /// Learns from one answer; true when it is the first clean one after requests
    /// were being spaced out (the server has recovered).
    fn finished(&mut self, sent: &Sent, now: Instant, stats: &OutputStats) -> bool {
        let mut recovered = false;
        let turned_away = if sent.failed { sent.items } else { sent.retry.len() };
        let share = if sent.items == 0 { 0.0 } else { turned_away as f64 / sent.items as f64 };
        if sent.failed || share >= OVERLOADED {
            if sent.started >= self.last_decrease {
                self.limit = (self.limit / 2.0).max(1.0);
                self.last_decrease = now;
            }
            if (sent.failed || share >= REFUSING) && self.limit <= 1.0 {
                let doubled = (self.pause * 2).max(Duration::from_millis(50));
                self.pause = doubled.min(self.longest_pause);
                let jittered = self.pause.mul_f64(0.5 + fastrand::f64() * 0.5);
                self.next_start = self.next_start.max(now + jittered);
            }
        } else {
            self.limit = (self.limit + 1.0 / self.limit).min(self.max);
            recovered = !self.pause.is_zero();
            self.pause = Duration::ZERO;
            self.next_start = now;
        }
        self.recent.push_back((now, sent.items, turned_away));
        self.recent_items += sent.items;
        self.recent_away += turned_away;
        stats.concurrency.set(self.limit() as i64);
        self.refresh(now, stats);
        recovered
    }

    /// Forgets answers older than [`RECENT`] and publishes the rejection rate of the
    /// rest (none left: 0, so that a cluster that recovered while nothing was sent
    /// does not look rejecting for ever).
    fn refresh(&mut self, now: Instant, stats: &OutputStats) {
        while let Some(&(t, items, away)) = self.recent.front() {
            if now.duration_since(t) < RECENT {
                break;
            }
            self.recent.pop_front();
            self.recent_items -= items;
            self.recent_away -= away;
        }
        let permille = (self.recent_away * 1000).checked_div(self.recent_items).unwrap_or(0);
        stats.rejection_permille.set(permille as i64);
    }

    /// When the oldest remembered answer is to be forgotten.
    fn next_expiry(&self) -> Option<Instant> {
        self.recent.front().map(|(t, _, _)| *t + RECENT)
    }
}

impl Delivery {
    /// Sends `bulk` once: delivered documents are counted, refused ones dead-lettered,
    /// the rest come back to be sent again (each holding its batch); then the bulk's
    /// holds on its batches go.
    async fn deliver(self: Arc<Self>, bulk: Bulk) -> Sent {
        let started = Instant::now();
        let outcomes = self.attempt(&bulk).await;
        self.stats.up.set(i64::from(self.client.any_up()));
        let failed = !outcomes.is_empty() && outcomes.iter().all(|o| *o == ItemOutcome::Failed);
        let mut retry = Vec::new();
        let mut rejected = Vec::new();
        let mut delivered = 0u64;
        for (i, item) in outcomes.into_iter().enumerate() {
            match item {
                ItemOutcome::Delivered => delivered += 1,
                ItemOutcome::Retry | ItemOutcome::Failed => {
                    let (record, counter) = bulk.raw_record(i);
                    counter.hold();
                    retry.push(Retry {
                        record: record.to_vec(),
                        counter: counter.clone(),
                        attempts: bulk.attempts[i].saturating_add(1),
                    });
                }
                ItemOutcome::Rejected(status, reason) => {
                    let (action, doc) = bulk.record(i);
                    rejected.push((status, reason, action, doc));
                }
            }
        }
        self.stats.events.inc_by(delivered);
        if !rejected.is_empty() {
            self.dead_letter.write(&rejected);
            self.stats.dead_lettered.inc_by(rejected.len() as u64);
        }
        self.stats.retries.inc_by(retry.len() as u64);
        for c in &bulk.counters {
            c.release();
        }
        let items = bulk.len();
        self.buffers.give(bulk.body);
        Sent { started, items, retry, failed }
    }

    /// Sends `bulk` once and returns what became of each document. A request that
    /// fails as a whole makes every document `Retry`; one the server finds too large
    /// (413) is sent again in halves, down to single documents, which are rejected.
    fn attempt<'a>(&'a self, bulk: &'a Bulk) -> Pin<Box<dyn Future<Output = Vec<ItemOutcome>> + Send + 'a>> {
        Box::pin(async move {
            let n = bulk.len();
            let started = std::time::Instant::now();
            let reply = self.client.request(Method::Post, "/_bulk", Some(&bulk.body), true, &self.buffers).await;
            self.stats.observe_request(started);
            let failure = match reply {
                Ok(reply) if reply.status == 200 => match item_outcomes(&reply.body, n, self.config.action) {
                    Ok(items) => return items,
                    Err(e) => format!("{}: unreadable bulk response: {e}", reply.host),
                },
                Ok(reply) if reply.status == 413 && n > 1 => {
                    tracing::warn!(output = %self.config.id, documents = n, "Bulk too large for the server (413); sending it in halves (consider a lower bulk_max_bytes)");
                    let (first, second) = ((0..n / 2).collect::<Vec<_>>(), (n / 2..n).collect::<Vec<_>>());
                    let mut items = Vec::with_capacity(n);
                    for half in [first, second] {
                        let part = bulk.subset(&half, self.buffers.take());
                        items.extend(self.attempt(&part).await);
                        self.buffers.give(part.body);
                    }
                    return items;
                }
                Ok(reply) if reply.status == 413 => {
                    return vec![ItemOutcome::Rejected(413, "document larger than the server accepts".into())];
                }
                Ok(reply) => format!(
                    "{}: HTTP {}: {}",
                    reply.host,
                    reply.status,
                    String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)])
                ),
                Err(e) => format!("{e:#}"),
            };
            tracing::warn!(output = %self.config.id, error = %failure, documents = n, "Bulk request failed; retrying");
            vec![ItemOutcome::Failed; n]
        })
    }
}

/// Exponential backoff from `initial`, capped at `max`, with jitter (50–100 % of the
/// step) so that many agents do not retry in step.
fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let step = initial.saturating_mul(2u32.saturating_pow(attempt.min(20))).min(max);
    step.mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// Installs our index templates, fitted to the server's flavour (see [`templates`]).
/// Returns false if the agent stopped first.
async fn install_templates(d: &Delivery, shutdown: &Shutdown) -> bool {
    let Some(root) = request_until_ok(d, shutdown, Method::Get, "/", None, "read the server version").await else {
        return false;
    };
    let root: serde_json::Value = serde_json::from_slice(&root.body).unwrap_or_default();
    let histogram = templates::supports_histogram(&root);
    // Name the lifecycle policy only where `logship setup` installed it (Elasticsearch
    // ILM; OpenSearch's ISM policy attaches itself by index pattern).
    let policy_path = format!("/_ilm/policy/{}", templates::LIFECYCLE_POLICY);
    let lifecycle = match templates::is_opensearch(&root) {
        true => None,
        false => match d.client.request(Method::Get, &policy_path, None, false, &d.buffers).await {
            Ok(r) if (200..300).contains(&r.status) => Some(templates::LIFECYCLE_POLICY),
            _ => None,
        },
    };
    for name in templates::NAMES {
        let body = templates::body(name, histogram, lifecycle);
        let path = format!("/_index_template/{name}");
        if request_until_ok(d, shutdown, Method::Put, &path, Some(&body), "install the index template").await.is_none()
        {
            return false;
        }
        tracing::info!(output = %d.config.id, template = name, histogram_field = histogram, "Index template installed");
    }
    true
}

/// Sends a request until the server answers 2xx, retrying with backoff while it is
/// unreachable or refuses; `None` if the agent stopped first.
async fn request_until_ok(
    d: &Delivery,
    shutdown: &Shutdown,
    method: Method,
    path: &str,
    body: Option<&[u8]>,
    what: &str,
) -> Option<Reply> {
    let mut attempt = 0;
    loop {
        match d.client.request(method, path, body, false, &d.buffers).await {
            Ok(r) if (200..300).contains(&r.status) => return Some(r),
            Ok(r) => tracing::error!(
                output = %d.config.id,
                status = r.status,
                path,
                body = %String::from_utf8_lossy(&r.body[..r.body.len().min(300)]),
                "Elasticsearch refused to {what}; retrying"
            ),
            Err(e) => {
                tracing::warn!(output = %d.config.id, error = %format!("{e:#}"), "Cannot reach Elasticsearch to {what}; retrying")
            }
        }
        d.stats.up.set(i64::from(d.client.any_up()));
        if shutdown.is_triggered() {
            return None;
        }
        tokio::time::sleep(backoff(d.config.retry_initial, d.config.retry_max, attempt)).await;
        attempt += 1;
    }
}

/// Documents the server refused for good, one JSON object per line with the reason.
struct DeadLetter {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl DeadLetter {
    /// Appends rejected documents (status, reason, action line, document), then syncs
    /// the file once.
    fn write(&self, rejected: &[(u16, String, &[u8], &[u8])]) {
        let mut lines = Vec::new();
        let now = pipeline_dsl::event::format_timestamp(chrono::Utc::now());
        for (status, reason, action, doc) in rejected {
            tracing::warn!(path = %self.path.display(), status, reason, "Document rejected; written to the dead-letter file");
            lines.extend_from_slice(b"{\"@timestamp\":");
            let _ = serde_json::to_writer(&mut lines, &now);
            lines.extend_from_slice(format!(",\"status\":{status},\"reason\":").as_bytes());
            let _ = serde_json::to_writer(&mut lines, reason);
            lines.extend_from_slice(b",\"action\":");
            lines.extend_from_slice(action);
            lines.extend_from_slice(b",\"document\":");
            lines.extend_from_slice(doc);
            lines.extend_from_slice(b"}\n");
        }
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let result = (|| -> std::io::Result<()> {
            if guard.is_none() {
                if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    crate::private_fs::create_dir_all(dir)?;
                }
                *guard = Some(crate::private_fs::append(&self.path)?);
            }
            let f = guard.as_mut().ok_or_else(|| std::io::Error::other("dead-letter file not open"))?;
            f.write_all(&lines)?;
            f.sync_data()
        })();
        if let Err(e) = result {
            tracing::error!(path = %self.path.display(), error = %e, documents = %String::from_utf8_lossy(&lines), "Cannot write the dead-letter file; the rejected documents are logged here instead");
        }
    }
}
