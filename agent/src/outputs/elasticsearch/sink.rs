//! The output's delivery loop: fills bulks from incoming batches (bounded by count and
//! bytes, sent after `flush_interval` when partial), keeps up to `max_in_flight` bulks
//! outstanding, and drives each bulk until every document in it is delivered or
//! dead-lettered.
//!
//! Retries never resend a document that the server confirmed: only the items answered
//! 429 or 5xx (or the whole bulk, when no per-item answer arrived) go again, with
//! exponential backoff and jitter, for as long as it takes. Because every document has
//! a deterministic id and the default action is `create`, even a bulk that was indexed
//! but whose answer was lost is harmless to resend: its documents come back 409.

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

impl ElasticsearchSink {
    /// A sink for validated settings.
    pub fn new(config: EsConfig) -> Self {
        Self { config: Arc::new(config) }
    }

    /// Delivers batches until the sequencer closes the channel; then finishes the
    /// bulks in flight.
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
            // A body being filled, one per bulk in flight, and their request payloads.
            buffers: BufferPool::new(2 * config.max_in_flight + 2, 4 * config.bulk_max_bytes.max(1 << 20)),
        });
        if config.manage_template && !install_templates(&delivery, &shutdown).await {
            health.abort();
            return Ok(());
        }

        let mut bulk = Bulk::new(delivery.buffers.take());
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut flush_at: Option<Instant> = None;
        loop {
            let flush_sleep =
                tokio::time::sleep_until(flush_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)));
            tokio::select! {
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    done.context("a bulk delivery task failed")?;
                }
                received = ctx.receiver.recv(), if in_flight.len() < config.max_in_flight => {
                    let Some(batch) = received else { break };
                    let counter = PartCounter::new(batch.ack);
                    for i in 0..batch.encoded.len() {
                        let record = batch.encoded.record(i);
                        let full = bulk.len() >= config.bulk_max_events
                            || (!bulk.is_empty() && bulk.body.len() + record.len() > config.bulk_max_bytes);
                        if full {
                            while in_flight.len() >= config.max_in_flight {
                                if let Some(done) = in_flight.join_next().await {
                                    done.context("a bulk delivery task failed")?;
                                }
                            }
                            let full = std::mem::replace(&mut bulk, Bulk::new(delivery.buffers.take()));
                            in_flight.spawn(delivery.clone().deliver(full));
                            flush_at = None;
                        }
                        bulk.push(record, &counter);
                    }
                    counter.release();
                    ctx.buffers.give(batch.encoded.data);
                    if !bulk.is_empty() && flush_at.is_none() {
                        flush_at = Some(Instant::now() + config.flush_interval);
                    }
                }
                _ = flush_sleep, if flush_at.is_some() => {
                    flush_at = None;
                    while in_flight.len() >= config.max_in_flight {
                        if let Some(done) = in_flight.join_next().await {
                            done.context("a bulk delivery task failed")?;
                        }
                    }
                    if !bulk.is_empty() {
                        let ready = std::mem::replace(&mut bulk, Bulk::new(delivery.buffers.take()));
                        in_flight.spawn(delivery.clone().deliver(ready));
                    }
                }
            }
        }
        if !bulk.is_empty() {
            in_flight.spawn(delivery.clone().deliver(bulk));
        }
        while let Some(done) = in_flight.join_next().await {
            done.context("a bulk delivery task failed")?;
        }
        health.abort();
        Ok(())
    }
}

impl Delivery {
    /// Sends `bulk` until each of its documents is delivered or dead-lettered, then
    /// releases the batches it carried.
    async fn deliver(self: Arc<Self>, bulk: Bulk) {
        // Retries carry only the documents still pending, in a smaller bulk of their own.
        let mut retrying: Option<Bulk> = None;
        let mut attempt = 0u32;
        loop {
            let pending = retrying.as_ref().unwrap_or(&bulk);
            let outcomes = self.attempt(pending).await;
            self.stats.up.set(i64::from(self.client.any_up()));
            let mut retry = Vec::new();
            let mut rejected = Vec::new();
            let mut delivered = 0u64;
            for (i, item) in outcomes.into_iter().enumerate() {
                match item {
                    ItemOutcome::Delivered => delivered += 1,
                    ItemOutcome::Retry => retry.push(i),
                    ItemOutcome::Rejected(status, reason) => {
                        let (action, doc) = pending.record(i);
                        rejected.push((status, reason, action, doc));
                    }
                }
            }
            self.stats.events.inc_by(delivered);
            if !rejected.is_empty() {
                self.dead_letter.write(&rejected);
                self.stats.dead_lettered.inc_by(rejected.len() as u64);
            }
            if retry.is_empty() {
                break;
            }
            self.stats.retries.inc_by(retry.len() as u64);
            let next = pending.subset(&retry, self.buffers.take());
            if let Some(old) = retrying.replace(next) {
                self.buffers.give(old.body);
            }
            tokio::time::sleep(backoff(self.config.retry_initial, self.config.retry_max, attempt)).await;
            attempt = attempt.saturating_add(1);
        }
        for c in &bulk.counters {
            c.release();
        }
        if let Some(r) = retrying {
            self.buffers.give(r.body);
        }
        self.buffers.give(bulk.body);
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
            vec![ItemOutcome::Retry; n]
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
