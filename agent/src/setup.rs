//! `logship setup`: installs our index templates and a lifecycle policy into a cluster,
//! and imports our Kibana dashboards through the saved-objects import API, reporting
//! each step and each object.
//!
//! Elasticsearch and Kibana are reached with the same credentials and TLS settings as
//! the `elasticsearch` output (user/password or API key, a CA file, verification on by
//! default).

use crate::outputs::elasticsearch::client::{Client, Reply};
use crate::outputs::elasticsearch::{templates, Auth, EsConfig};
use anyhow::Context;
use elasticsearch::http::headers::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use elasticsearch::http::Method;
use pipeline_dsl::secret::SecretUrl;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Our Kibana saved objects (see `dashboards/README.md`).
pub const DASHBOARDS: &str = include_str!("../../dashboards/kibana/logship.ndjson");

/// Where and how to connect.
pub struct Target {
    /// Elasticsearch URLs (none: skip the templates).
    pub elasticsearch: Vec<SecretUrl>,
    /// Kibana URL (none: skip the dashboards).
    pub kibana: Option<SecretUrl>,
    /// Kibana space (none: the default space).
    pub space: Option<String>,
    /// Credentials for both.
    pub auth: Auth,
    /// CA certificate file (PEM).
    pub ca_file: Option<PathBuf>,
    /// Verify server certificates.
    pub verify: bool,
}

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done, with a detail.
    Done(String),
    /// Not applicable to this server, with the reason.
    Skipped(String),
    /// Failed, with the server's reason.
    Failed(String),
}

/// One reported step: what, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What was attempted (`index template logship-events`, `dashboard logship-cdn-cache` …).
    pub what: String,
    /// How it ended.
    pub outcome: Outcome,
}

impl Step {
    fn new(what: impl Into<String>, outcome: Outcome) -> Self {
        Self { what: what.into(), outcome }
    }
}

fn client(id: &str, hosts: Vec<SecretUrl>, target: &Target) -> anyhow::Result<Client> {
    Client::new(&EsConfig::connection(id, hosts, target.auth.clone(), target.ca_file.clone(), target.verify))
}

/// The server's complaint in a reply: `error.reason` (Elasticsearch), `message`
/// (Kibana), or the start of the body.
fn reason(r: &Reply) -> String {
    let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
    let text = body["error"]["reason"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&r.body[..r.body.len().min(300)]).into_owned());
    format!("HTTP {}: {text}", r.status)
}

/// An error for a reply that is not 2xx, naming credentials when they were refused.
fn refused(server: &str, r: &Reply) -> anyhow::Error {
    match r.status {
        401 | 403 => anyhow::anyhow!("{server} at {} refused the credentials ({})", r.host, reason(r)),
        _ => anyhow::anyhow!("{server} at {} answered {}", r.host, reason(r)),
    }
}

/// Installs the lifecycle policy and the index templates. An unreachable cluster or
/// refused credentials are an error; each install is a step.
pub async fn install_templates(target: &Target) -> anyhow::Result<Vec<Step>> {
    let es = client("setup", target.elasticsearch.clone(), target)?;
    let root = es.send(Method::Get, "/", HeaderMap::new(), &[], None).await.context("cannot reach Elasticsearch")?;
    if !(200..300).contains(&root.status) {
        return Err(refused("Elasticsearch", &root));
    }
    let info: Value = serde_json::from_slice(&root.body).unwrap_or_default();
    let histogram = templates::supports_histogram(&info);
    let opensearch = templates::is_opensearch(&info);
    let mut steps = Vec::new();
    let (path, policy, what) = if opensearch {
        (format!("/_plugins/_ism/policies/{}", templates::LIFECYCLE_POLICY), ism_policy(), "ISM lifecycle policy")
    } else {
        (format!("/_ilm/policy/{}", templates::LIFECYCLE_POLICY), ilm_policy(), "ILM lifecycle policy")
    };
    let mut json_headers = HeaderMap::new();
    json_headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let reply = es.send(Method::Put, &path, json_headers.clone(), &[], Some(policy.to_string().into_bytes())).await?;
    let lifecycle = (200..300).contains(&reply.status);
    let what = format!("{what} {}", templates::LIFECYCLE_POLICY);
    steps.push(match reply.status {
        200..=299 => Step::new(what, Outcome::Done("delete indices 30 days after creation".into())),
        // OpenSearch updates an existing ISM policy only with its sequence numbers.
        409 if opensearch => Step::new(what, Outcome::Done("already present".into())),
        400 | 404 | 405 => {
            Step::new(what, Outcome::Skipped(format!("this server has no lifecycle API ({})", reason(&reply))))
        }
        401 | 403 => return Err(refused("Elasticsearch", &reply)),
        _ => Step::new(what, Outcome::Failed(reason(&reply))),
    });
    let lifecycle = (lifecycle && !opensearch).then_some(templates::LIFECYCLE_POLICY);
    for name in templates::NAMES {
        let body = templates::body(name, histogram, lifecycle);
        let reply =
            es.send(Method::Put, &format!("/_index_template/{name}"), json_headers.clone(), &[], Some(body)).await?;
        let detail = match (name, histogram) {
            ("logship-metrics", true) => "with the histogram field",
            ("logship-metrics", false) => "histogram kept in _source (no histogram type on this server)",
            _ => "",
        };
        steps.push(Step::new(
            format!("index template {name}"),
            if (200..300).contains(&reply.status) {
                Outcome::Done(detail.into())
            } else {
                Outcome::Failed(reason(&reply))
            },
        ));
    }
    Ok(steps)
}

fn ilm_policy() -> Value {
    json!({ "policy": {
        "_meta": { "managed_by": "logship" },
        "phases": {
            "hot": { "min_age": "0ms", "actions": {} },
            "delete": { "min_age": "30d", "actions": { "delete": {} } }
        }
    }})
}

fn ism_policy() -> Value {
    json!({ "policy": {
        "description": "logship indices: deleted 30 days after creation",
        "default_state": "hot",
        "states": [
            { "name": "hot", "actions": [], "transitions": [{ "state_name": "delete", "conditions": { "min_index_age": "30d" } }] },
            { "name": "delete", "actions": [{ "delete": {} }], "transitions": [] }
        ],
        "ism_template": [{ "index_patterns": ["logship-*"], "priority": 100 }]
    }})
}

/// One part of the setup (`Elasticsearch`, `Kibana`): its steps, or why it could not run.
pub type PartResult = (&'static str, anyhow::Result<Vec<Step>>);

/// Runs the requested parts on a small runtime of its own, templates first.
pub fn run(target: &Target, templates: bool, dashboards: bool) -> anyhow::Result<Vec<PartResult>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the I/O runtime")?;
    let mut parts = Vec::new();
    if templates {
        parts.push(("Elasticsearch", rt.block_on(install_templates(target))));
    }
    if dashboards {
        parts.push(("Kibana", rt.block_on(import_dashboards(target))));
    }
    Ok(parts)
}

/// The multipart body of a saved-objects import: one part named `file`.
pub fn import_body(ndjson: &str, boundary: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(b"Content-Disposition: form-data; name=\"file\"; filename=\"logship.ndjson\"\r\n");
    body.extend_from_slice(b"Content-Type: application/ndjson\r\n\r\n");
    body.extend_from_slice(ndjson.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// Imports our saved objects into Kibana (overwriting objects with the same ids) and
/// reports each object from Kibana's answer.
pub async fn import_dashboards(target: &Target) -> anyhow::Result<Vec<Step>> {
    let Some(kibana) = &target.kibana else { return Ok(Vec::new()) };
    let client = client("setup-kibana", vec![kibana.clone()], target)?;
    let boundary = format!("logship-{:016x}", fastrand::u64(..));
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static("kbn-xsrf"), HeaderValue::from_static("logship"));
    let content_type = HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
        .context("building the multipart header")?;
    headers.insert(CONTENT_TYPE, content_type);
    let path = match &target.space {
        Some(space) => format!("/s/{space}/api/saved_objects/_import"),
        None => "/api/saved_objects/_import".to_string(),
    };
    let reply = client
        .send(Method::Post, &path, headers, &[("overwrite", "true")], Some(import_body(DASHBOARDS, &boundary)))
        .await
        .context("cannot reach Kibana")?;
    if !(200..300).contains(&reply.status) {
        return Err(refused("Kibana", &reply));
    }
    let answer: Value = serde_json::from_slice(&reply.body).context("Kibana's import answer is not JSON")?;
    Ok(import_steps(&answer))
}

/// One step per object we sent, from Kibana's `successResults` and `errors`.
pub fn import_steps(answer: &Value) -> Vec<Step> {
    let mut steps = Vec::new();
    for line in DASHBOARDS.lines() {
        let Ok(object) = serde_json::from_str::<Value>(line) else { continue };
        let (kind, id) = (object["type"].as_str().unwrap_or(""), object["id"].as_str().unwrap_or(""));
        let title = object["attributes"]["title"].as_str().unwrap_or("");
        let matches = |r: &Value| r["type"] == kind && r["id"] == id;
        let what = format!("{kind} {id} ({title})");
        let outcome = if let Some(e) = answer["errors"].as_array().into_iter().flatten().find(|r| matches(r)) {
            let error = &e["error"];
            let mut text = error["type"].as_str().unwrap_or("error").to_string();
            if let Some(refs) = error["references"].as_array() {
                let missing: Vec<String> = refs
                    .iter()
                    .map(|r| format!("{} {}", r["type"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or("")))
                    .collect();
                text.push_str(&format!(": missing {}", missing.join(", ")));
            }
            if let Some(m) = error["message"].as_str() {
                text.push_str(&format!(": {m}"));
            }
            Outcome::Failed(text)
        } else if answer["successResults"].as_array().into_iter().flatten().any(matches) {
            Outcome::Done("imported".into())
        } else {
            Outcome::Failed("not in Kibana's answer".into())
        };
        steps.push(Step::new(what, outcome));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_import_body_is_one_file_part() {
        let body = String::from_utf8(import_body("{\"a\":1}\n", "B")).unwrap();
        assert_eq!(
            body,
            "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"logship.ndjson\"\r\nContent-Type: application/ndjson\r\n\r\n{\"a\":1}\n\r\n--B--\r\n"
        );
    }

    #[test]
    fn each_object_is_reported_from_kibanas_answer() {
        let answer = json!({
            "success": false,
            "successCount": 1,
            "successResults": [{ "type": "index-pattern", "id": "logship-events", "meta": { "title": "logship-*" } }],
            "errors": [{ "type": "dashboard", "id": "logship-cdn-cache", "title": "CDN cache",
                         "error": { "type": "missing_references", "references": [{ "type": "lens", "id": "logship-title-misses" }] } }]
        });
        let steps = import_steps(&answer);
        assert_eq!(steps.len(), DASHBOARDS.lines().count());
        let find = |id: &str| steps.iter().find(|s| s.what.contains(id)).unwrap().outcome.clone();
        assert_eq!(find("logship-events"), Outcome::Done("imported".into()));
        assert_eq!(
            find("logship-cdn-cache"),
            Outcome::Failed("missing_references: missing lens logship-title-misses".into())
        );
        assert_eq!(find("logship-streaming-health"), Outcome::Failed("not in Kibana's answer".into()));
    }
}
