//! One bulk request: its NDJSON body, the records in it, the batches it carries, and
//! the reading of the server's per-item answers.

use super::Action;
use crate::batch::BatchAck;
use serde::Deserialize;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts the bulks still carrying part of one batch for this output; the batch is
/// done here when the last one is delivered.
pub struct PartCounter {
    remaining: AtomicUsize,
    ack: Arc<BatchAck>,
}

impl PartCounter {
    /// A counter held once by the code still adding the batch's records.
    pub fn new(ack: Arc<BatchAck>) -> Arc<Self> {
        Arc::new(Self { remaining: AtomicUsize::new(1), ack })
    }

    /// Takes one more hold (a bulk or a document waiting to be sent again).
    pub fn hold(&self) {
        self.remaining.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops one hold; the last one tells the batch this output is done with it.
    pub fn release(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.ack.output_done();
        }
    }
}

/// A bulk request being filled or in flight.
pub struct Bulk {
    /// NDJSON: action line and document per record.
    pub body: Vec<u8>,
    /// Where each record lies in `body`.
    pub records: Vec<Range<usize>>,
    /// The batches with records in this bulk (each held once).
    pub counters: Vec<Arc<PartCounter>>,
    /// For each record, its batch's place in `counters`.
    pub owners: Vec<usize>,
    /// For each record, how many sends of it failed before.
    pub attempts: Vec<u32>,
}

impl Bulk {
    /// An empty bulk writing into `buffer` (a recycled one, typically).
    pub fn new(mut buffer: Vec<u8>) -> Self {
        buffer.clear();
        Self { body: buffer, records: Vec::new(), counters: Vec::new(), owners: Vec::new(), attempts: Vec::new() }
    }

    /// Adds a record of the batch `counter` stands for, whose sends failed `attempts`
    /// times before.
    pub fn push(&mut self, record: &[u8], counter: &Arc<PartCounter>, attempts: u32) {
        self.attempts.push(attempts);
        let start = self.body.len();
        self.body.extend_from_slice(record);
        self.records.push(start..self.body.len());
        if !self.counters.last().is_some_and(|c| Arc::ptr_eq(c, counter)) {
            counter.hold();
            self.counters.push(counter.clone());
        }
        self.owners.push(self.counters.len() - 1);
    }

    /// The whole record `i` (action line and document, newline-terminated) and its batch.
    pub fn raw_record(&self, i: usize) -> (&[u8], &Arc<PartCounter>) {
        (&self.body[self.records[i].clone()], &self.counters[self.owners[i]])
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds no document.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The action line and the document of record `i`.
    pub fn record(&self, i: usize) -> (&[u8], &[u8]) {
        let r = &self.body[self.records[i].clone()];
        let r = r.strip_suffix(b"\n").unwrap_or(r);
        match memchr::memchr(b'\n', r) {
            Some(nl) => (&r[..nl], &r[nl + 1..]),
            None => (r, &[]),
        }
    }

    /// A bulk of the records `keep` (the ones to retry), written into `buffer`,
    /// carrying no batch holds.
    pub fn subset(&self, keep: &[usize], buffer: Vec<u8>) -> Bulk {
        let mut b = Bulk::new(buffer);
        for &i in keep {
            let start = b.body.len();
            b.body.extend_from_slice(&self.body[self.records[i].clone()]);
            b.records.push(start..b.body.len());
        }
        b
    }
}

/// What became of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Stored (or, for `create`, already there: 409).
    Delivered,
    /// Worth retrying (429, 5xx).
    Retry,
    /// Not answered: the whole request failed (worth retrying).
    Failed,
    /// Refused for good: status and the server's reason.
    Rejected(u16, String),
}

#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    errors: bool,
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    items: Vec<HashMap<String, Item>>,
}

#[derive(Deserialize)]
struct Item {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Reads a bulk response for `n` documents sent with `action`.
pub fn item_outcomes(body: &[u8], n: usize, action: Action) -> anyhow::Result<Vec<ItemOutcome>> {
    let head: Head = serde_json::from_slice(body)?;
    let reply: Reply = serde_json::from_slice(body)?;
    if reply.items.len() != n {
        anyhow::bail!("the bulk response lists {} items for {n} documents", reply.items.len());
    }
    if !head.errors {
        return Ok(vec![ItemOutcome::Delivered; n]);
    }
    Ok(reply
        .items
        .into_iter()
        .map(|item| {
            let Some(result) = item.into_values().next() else {
                return ItemOutcome::Retry;
            };
            match result.status {
                200..=299 => ItemOutcome::Delivered,
                409 if action == Action::Create => ItemOutcome::Delivered,
                429 | 500..=599 => ItemOutcome::Retry,
                status => ItemOutcome::Rejected(status, reason(result.error.as_ref())),
            }
        })
        .collect())
}

/// `type: reason` of an item error, with its cause when there is one.
fn reason(error: Option<&serde_json::Value>) -> String {
    let Some(e) = error else { return "no reason given".into() };
    let text = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let mut out = format!("{}: {}", text(e, "type"), text(e, "reason"));
    if let Some(cause) = e.get("caused_by") {
        out.push_str(&format!(" (caused by {}: {})", text(cause, "type"), text(cause, "reason")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_item_results_are_classified() {
        let body = br#"{"took":3,"errors":true,"items":[
            {"create":{"_index":"a","_id":"1","status":201}},
            {"create":{"_index":"a","_id":"2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"create":{"_index":"a","_id":"3","status":429,"error":{"type":"es_rejected_execution_exception","reason":"busy"}}},
            {"create":{"_index":"a","_id":"4","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [x]","caused_by":{"type":"number_format_exception","reason":"For input string: \"abc\""}}}},
            {"create":{"_index":"a","_id":"5","status":503}}]}"#;
        let got = item_outcomes(body, 5, Action::Create).unwrap();
        assert_eq!(got[0], ItemOutcome::Delivered);
        assert_eq!(got[1], ItemOutcome::Delivered, "409 on create means already delivered");
        assert_eq!(got[2], ItemOutcome::Retry);
        assert_eq!(
            got[3],
            ItemOutcome::Rejected(
                400,
                "mapper_parsing_exception: failed to parse field [x] (caused by number_format_exception: For input string: \"abc\")".into()
            )
        );
        assert_eq!(got[4], ItemOutcome::Retry);
        let got = item_outcomes(body, 5, Action::Index).unwrap();
        assert!(matches!(got[1], ItemOutcome::Rejected(409, _)), "409 on index is a real conflict");
        assert!(item_outcomes(body, 4, Action::Create).is_err(), "a count mismatch is not trusted");
    }

    #[test]
    fn records_split_into_action_and_document() {
        let ack = BatchAck::new(1, None);
        let c = PartCounter::new(ack);
        let mut b = Bulk::new(Vec::new());
        b.push(b"{\"create\":{}}\n{\"a\":1}\n", &c, 0);
        b.push(b"{\"create\":{}}\n{\"b\":2}\n", &c, 0);
        assert_eq!(b.counters.len(), 1, "one hold per batch per bulk");
        assert_eq!(b.record(1), (&b"{\"create\":{}}"[..], &b"{\"b\":2}"[..]));
        let retry = b.subset(&[1], Vec::new());
        assert_eq!(retry.body, b"{\"create\":{}}\n{\"b\":2}\n");
    }
}
