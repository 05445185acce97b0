//! `elasticsearch` output: bulk indexing with per-item results, retries, failover and a
//! dead-letter file. Works with Elasticsearch 7.x/8.x and OpenSearch 2.x/3.x (it speaks
//! only the documented bulk, index-template and root APIs).
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `hosts` | `["http://127.0.0.1:9200"]` | one or more URLs (an entry may list several, comma-separated); requests go round-robin over healthy hosts |
//! | `index` | `logship-%{+YYYY.MM.dd}` | target index, sprintf |
//! | `document_id` | file fingerprint + byte offset | sprintf; the default makes re-reads idempotent |
//! | `action` | `create` | `create` (a 409 means already delivered) or `index` |
//! | `user` / `password` | none | basic authentication |
//! | `api_key` | none | `id:key`, or the base64 form |
//! | `ssl_certificate_authorities` | system roots | PEM file of the CA to trust |
//! | `ssl_verification_mode` | `full` | `full` or `none` (not for production) |
//! | `http_compression` | `true` | gzip request bodies (level 1) |
//! | `bulk_max_events` / `bulk_max_bytes` | 1000 / 5 MiB | bounds of one bulk request |
//! | `flush_interval` | 1 s | a partial bulk is sent after this long |
//! | `max_in_flight` | 2 | most bulk requests outstanding at once; fewer while the server struggles (see below) |
//! | `retry_initial_interval` / `retry_max_interval` | 1 s / 64 s | a document the server did not take is sent again after a backoff from a tenth of the initial interval, doubling per failure up to the maximum, with jitter; while every request fails, requests start at most one per initial interval |
//! | `timeout` | 60 s | per request |
//! | `dead_letter_path` | `<data dir>/dead_letter/<id>.jsonl` | documents rejected for good (4xx other than 409/429) |
//! | `data_stream` | `false` | write to the data stream `<type>-<dataset>-<namespace>` (`data_stream_type`, `data_stream_dataset`, `data_stream_namespace`, default `logs`, `generic`, `default`) |
//! | `manage_template` | `true` | install our index templates at start: `logship-*` (events) and `logship-metrics-*` (window metrics; its histogram field where the server has the type) |
//!
//! A server under write pressure answers some items 429 and some requests 503, or
//! drops connections. Documents it did not take go back into the queue and ride in the
//! following bulks; no request slot waits out a backoff. The output adapts how many
//! requests it keeps in flight (halved when a request fails or a quarter of its items
//! are turned away, grown by one per round of clean answers), so a struggling cluster
//! is not hammered and full speed returns as soon as it recovers. `/metrics` and the
//! snapshot show per output the requests allowed in flight, the share of items turned
//! away in the last 10 s and the documents waiting to be sent again; `/health` is
//! degraded while that share is above a tenth. A batch's checkpoint moves once each of
//! its documents is delivered or dead-lettered, in whatever order.
//!
//! Credentials are never logged.

mod bulk;
pub mod client;
mod sink;
pub mod templates;

pub use sink::ElasticsearchSink;

use super::{Encoder, EventSource, Sink};
use crate::batch::Encoded;
use pipeline_dsl::event::Event;
use pipeline_dsl::secret::{Secret, SecretUrl};
use pipeline_dsl::settings::Settings;
use pipeline_dsl::sprintf::Template;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

impl EsConfig {
    /// Settings for talking to a cluster outside an output (`logship setup`): its hosts,
    /// credentials and TLS; the delivery settings keep their defaults.
    pub fn connection(id: &str, hosts: Vec<SecretUrl>, auth: Auth, ca_file: Option<PathBuf>, verify: bool) -> Self {
        Self {
            id: id.to_string(),
            hosts,
            auth,
            ca_file,
            verify,
            compression: false,
            bulk_max_events: 1000,
            bulk_max_bytes: 5 * 1024 * 1024,
            flush_interval: Duration::from_secs(1),
            max_in_flight: 1,
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(64),
            timeout: Duration::from_secs(30),
            dead_letter_path: None,
            action: Action::Create,
            manage_template: false,
        }
    }
}

/// The bulk action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `create`: a document that already exists (409) counts as delivered.
    Create,
    /// `index`: overwrite.
    Index,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Index => "index",
        }
    }
}

/// How to authenticate. Passwords and keys are [`Secret`]s: shown as `***`.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No credentials.
    None,
    /// Basic authentication.
    Basic(String, Secret),
    /// `id:key` API key.
    ApiKey(String, Secret),
    /// Base64-encoded API key.
    EncodedApiKey(Secret),
}

impl Auth {
    /// Credentials from a user and password, or an API key (`id:key` or its base64
    /// form). Empty values count as unset, so `${ELASTICSEARCH_USER:}` can default to
    /// nothing.
    pub fn from_parts(
        user: Option<String>,
        password: Option<String>,
        api_key: Option<String>,
    ) -> Result<Auth, &'static str> {
        let set = |v: Option<String>| v.filter(|s| !s.is_empty());
        match (set(user), set(password), set(api_key)) {
            (Some(u), Some(p), None) => Ok(Auth::Basic(u, Secret::new(p))),
            (None, None, Some(k)) => Ok(match k.split_once(':') {
                Some((id, key)) => Auth::ApiKey(id.to_string(), Secret::new(key)),
                None => Auth::EncodedApiKey(Secret::new(k)),
            }),
            (None, None, None) => Ok(Auth::None),
            (_, _, Some(_)) => Err("use either `api_key` or `user`/`password`, not both"),
            _ => Err("`user` and `password` go together"),
        }
    }
}

/// Validated settings of one `elasticsearch` output.
pub struct EsConfig {
    /// Plugin id.
    pub id: String,
    /// Base URLs (credentials in them are shown as `***`).
    pub hosts: Vec<SecretUrl>,
    /// Credentials.
    pub auth: Auth,
    /// CA certificate file (PEM).
    pub ca_file: Option<PathBuf>,
    /// Verify server certificates.
    pub verify: bool,
    /// Gzip request bodies.
    pub compression: bool,
    /// Most documents per bulk.
    pub bulk_max_events: usize,
    /// Most bytes per bulk (uncompressed).
    pub bulk_max_bytes: usize,
    /// Longest wait before a partial bulk is sent.
    pub flush_interval: Duration,
    /// Bulk requests outstanding at once.
    pub max_in_flight: usize,
    /// First retry delay.
    pub retry_initial: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Dead-letter file (`None`: under the data directory).
    pub dead_letter_path: Option<PathBuf>,
    /// The action used.
    pub action: Action,
    /// Install the index template at start.
    pub manage_template: bool,
}

/// Builds the bulk records: action line and document per event.
pub struct BulkEncoder {
    index: Template,
    document_id: Option<Template>,
    action: Action,
    /// `data_stream` fields added to documents that have none.
    data_stream: Option<String>,
}

impl Encoder for BulkEncoder {
    fn encode(&self, event: &Event, source: EventSource<'_>, out: &mut Encoded) {
        let data = &mut out.data;
        data.extend_from_slice(b"{\"");
        data.extend_from_slice(self.action.name().as_bytes());
        data.extend_from_slice(b"\":{\"_index\":");
        pipeline_dsl::json_writer::write_str(data, &self.index.render(event));
        match (&self.document_id, source.origin.fingerprint) {
            (Some(t), _) => {
                let id = t.render(event);
                if !id.is_empty() {
                    data.extend_from_slice(b",\"_id\":");
                    pipeline_dsl::json_writer::write_str(data, &id);
                }
            }
            // Hex digits, a dash and decimal digits: nothing to escape.
            (None, Some(fp)) => {
                let _ = write!(data, ",\"_id\":\"{fp:016x}-{}\"", source.offset);
            }
            (None, None) => {}
        }
        data.extend_from_slice(b"}}\n");
        pipeline_dsl::json_writer::write_map(data, event.fields());
        if let Some(ds) = &self.data_stream {
            if event.fields().get("data_stream").is_none() && data.last() == Some(&b'}') {
                data.pop();
                if data.last() != Some(&b'{') {
                    data.push(b',');
                }
                data.extend_from_slice(ds.as_bytes());
                data.push(b'}');
            }
        }
        data.push(b'\n');
        out.end_record();
    }
}

/// Reads the settings in the module documentation.
pub fn build(s: &mut Settings, id: &str) -> Option<(Arc<dyn Encoder>, Sink)> {
    s.accept(&["ecs_compatibility", "ilm_enabled", "template_overwrite", "pipeline", "ssl_enabled", "ssl"]);
    let mut hosts = Vec::new();
    for h in s.strings("hosts") {
        // One string may list several hosts separated by commas, as an environment
        // variable such as ELASTICSEARCH_HOSTS does.
        for host in h.node.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            let text = if host.contains("://") { host.to_string() } else { format!("http://{host}") };
            match url::Url::parse(&text) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => hosts.push(SecretUrl::new(u)),
                _ => {
                    // The text is not shown: it may hold a password.
                    s.error("a `hosts` entry is not an http(s) URL", h.span.clone(), "expected e.g. https://es1:9200")
                }
            }
        }
    }
    if hosts.is_empty() {
        hosts.push(SecretUrl::new(url::Url::parse("http://127.0.0.1:9200").ok()?));
    }
    let user = s.string("user").map(|u| u.node);
    let password = s.string("password").map(|p| p.node);
    let api_key = s.string("api_key");
    let key_span = api_key.as_ref().map_or_else(|| s.plugin_span(), |k| k.span.clone());
    let auth = match Auth::from_parts(user, password, api_key.map(|k| k.node)) {
        Ok(auth) => auth,
        Err(problem) => {
            s.error(problem, key_span, "conflicting or incomplete credentials");
            Auth::None
        }
    };
    let ca_file = s
        .strings("ssl_certificate_authorities")
        .into_iter()
        .chain(s.string("cacert"))
        .next()
        .map(|p| PathBuf::from(p.node));
    let verify = s.choice("ssl_verification_mode", &["full", "none"]) == "full";
    let data_stream = matches!(s.string("data_stream").map(|d| d.node).as_deref(), Some("true"));
    let ds_type = s.string_or("data_stream_type", "logs");
    let ds_dataset = s.string_or("data_stream_dataset", "generic");
    let ds_namespace = s.string_or("data_stream_namespace", "default");
    let action = match s.choice("action", &["create", "index"]) {
        "index" if !data_stream => Action::Index,
        _ => Action::Create,
    };
    let index = if data_stream {
        if let Some(i) = s.string("index") {
            s.error(
                "`index` cannot be used with `data_stream`",
                i.span,
                "the data stream is <type>-<dataset>-<namespace>",
            );
        }
        format!("{ds_type}-{ds_dataset}-{ds_namespace}")
    } else {
        s.string_or("index", "logship-%{+YYYY.MM.dd}")
    };
    let config = EsConfig {
        id: id.to_string(),
        hosts,
        auth,
        ca_file,
        verify,
        compression: s.bool_or("http_compression", true),
        bulk_max_events: s.int("bulk_max_events").map_or(1000, |n| n.max(1) as usize),
        bulk_max_bytes: s.int("bulk_max_bytes").map_or(5 * 1024 * 1024, |n| n.max(1024) as usize),
        flush_interval: s.duration("flush_interval").unwrap_or(Duration::from_secs(1)),
        max_in_flight: s.int("max_in_flight").map_or(2, |n| n.clamp(1, 64) as usize),
        retry_initial: s.duration("retry_initial_interval").unwrap_or(Duration::from_secs(1)),
        retry_max: s.duration("retry_max_interval").unwrap_or(Duration::from_secs(64)),
        timeout: s.duration("timeout").unwrap_or(Duration::from_secs(60)),
        dead_letter_path: s.string("dead_letter_path").map(|p| PathBuf::from(p.node)),
        action,
        manage_template: s.bool_or("manage_template", true) && !data_stream,
    };
    let encoder = BulkEncoder {
        index: Template::new(&index),
        document_id: s.string("document_id").map(|d| Template::new(&d.node)),
        action,
        data_stream: data_stream.then(|| {
            format!(
                "\"data_stream\":{{\"type\":{},\"dataset\":{},\"namespace\":{}}}",
                serde_json::Value::from(ds_type),
                serde_json::Value::from(ds_dataset),
                serde_json::Value::from(ds_namespace)
            )
        }),
    };
    Some((Arc::new(encoder), Sink::Elasticsearch(Box::new(ElasticsearchSink::new(config)))))
}

#[cfg(test)]
mod auth_tests {
    use super::Auth;

    #[test]
    fn credentials_from_their_parts() {
        let s = |v: &str| Some(v.to_string());
        assert!(
            matches!(Auth::from_parts(s("u"), s("p"), None), Ok(Auth::Basic(u, p)) if u == "u" && p.expose() == "p")
        );
        assert!(
            matches!(Auth::from_parts(None, None, s("id:key")), Ok(Auth::ApiKey(i, k)) if i == "id" && k.expose() == "key")
        );
        assert!(matches!(Auth::from_parts(None, None, s("aWQ6a2V5")), Ok(Auth::EncodedApiKey(_))));
        assert!(matches!(Auth::from_parts(s(""), s(""), s("")), Ok(Auth::None)), "empty values are unset");
        assert!(Auth::from_parts(s("u"), None, None).is_err());
        assert!(Auth::from_parts(s("u"), s("p"), s("k")).is_err());
    }
}
