//! Our index templates (in `dashboards/templates/`), fitted to the server they go to.
//!
//! The metric template maps `metric.value.histogram` as Elasticsearch's `histogram`
//! field type, which merges windows from many agents in a percentiles aggregation.
//! OpenSearch and Elasticsearch before 7.6 have no such type: there the field is kept
//! in `_source` only (`enabled: false`), and the plain numeric percentile fields,
//! mapped on every server, carry the figures.

use serde_json::Value as Json;

/// Template for event documents (`logship-*`).
const EVENTS: &str = include_str!("../../../../dashboards/templates/logship-events.json");
/// Template for window metric documents (`logship-metrics-*`, higher priority).
const METRICS: &str = include_str!("../../../../dashboards/templates/logship-metrics.json");

/// The templates' names, in installation order.
pub const NAMES: [&str; 2] = ["logship-events", "logship-metrics"];

/// The lifecycle policy `logship setup` installs (ILM on Elasticsearch, ISM on
/// OpenSearch); templates name it on Elasticsearch when it exists.
pub const LIFECYCLE_POLICY: &str = "logship";

/// Whether the server described by its root endpoint (`GET /`) is OpenSearch.
pub fn is_opensearch(root: &Json) -> bool {
    root["version"]["distribution"].as_str() == Some("opensearch")
}

/// Whether the server described by its root endpoint (`GET /`) has the `histogram`
/// field type: Elasticsearch 7.6 and later; not OpenSearch.
pub fn supports_histogram(root: &Json) -> bool {
    let version = &root["version"];
    if is_opensearch(root) {
        return false;
    }
    let mut parts = version["number"].as_str().unwrap_or("").split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (7, 6)
}

/// The body of template `name` for a server with or without the histogram type, naming
/// the Elasticsearch lifecycle policy `lifecycle` when given.
pub fn body(name: &str, histogram: bool, lifecycle: Option<&str>) -> Vec<u8> {
    let text = if name == "logship-metrics" { METRICS } else { EVENTS };
    let Ok(mut t) = serde_json::from_str::<Json>(text) else { return text.as_bytes().to_vec() };
    if name == "logship-metrics" && !histogram {
        let field =
            &mut t["template"]["mappings"]["properties"]["metric"]["properties"]["value"]["properties"]["histogram"];
        *field = serde_json::json!({ "type": "object", "enabled": false });
    }
    if let Some(policy) = lifecycle {
        t["template"]["settings"]["index"]["lifecycle"] = serde_json::json!({ "name": policy });
    }
    serde_json::to_vec(&t).unwrap_or_else(|_| text.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn histogram_support_follows_the_server_flavour() {
        assert!(supports_histogram(&json!({"version": {"number": "8.15.0"}})));
        assert!(supports_histogram(&json!({"version": {"number": "7.6.0", "build_flavor": "default"}})));
        assert!(!supports_histogram(&json!({"version": {"number": "7.5.2"}})));
        assert!(!supports_histogram(&json!({"version": {"number": "3.8.0", "distribution": "opensearch"}})));
        assert!(!supports_histogram(&json!({})));
    }

    #[test]
    fn metric_template_swaps_the_histogram_mapping_only_where_unsupported() {
        let value = |histogram| -> Json {
            let t: Json = serde_json::from_slice(&body("logship-metrics", histogram, None)).unwrap();
            t["template"]["mappings"]["properties"]["metric"]["properties"]["value"]["properties"].clone()
        };
        assert_eq!(value(true)["histogram"], json!({"type": "histogram"}));
        assert_eq!(value(false)["histogram"], json!({"type": "object", "enabled": false}));
        assert_eq!(value(false)["p99"], json!({"type": "long"}));
        let events: Json = serde_json::from_slice(&body("logship-events", false, None)).unwrap();
        assert_eq!(events["index_patterns"], json!(["logship-*"]));
        assert!(events["template"]["settings"]["index"]["lifecycle"].is_null());
        let managed: Json = serde_json::from_slice(&body("logship-events", true, Some("logship"))).unwrap();
        assert_eq!(managed["template"]["settings"]["index"]["lifecycle"]["name"], "logship");
    }
}
