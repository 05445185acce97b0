//! The Kibana saved objects in `dashboards/kibana/logship.ndjson`: every line parses and
//! has what Kibana requires for its type, every reference resolves, and every field a
//! visualization reads exists in our metric index template with a compatible type.
//! (No Kibana could be run here; these checks are what can be verified without one.)

mod common;

use common::root;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn objects() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("dashboards/kibana/logship.ndjson")).unwrap();
    text.lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}", i + 1)))
        .collect()
}

/// A stringified-JSON attribute, parsed.
fn embedded(v: &Value, what: &str) -> Value {
    let text = v.as_str().unwrap_or_else(|| panic!("{what} must be a JSON string, as Kibana stores it"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Field name → mapping type in the metric template, with the dynamic templates applied
/// to `metric.sum.*` (double) and `metric.count_if.*` (long).
fn template_fields() -> BTreeMap<String, String> {
    fn walk(prefix: &str, props: &Value, out: &mut BTreeMap<String, String>) {
        for (name, m) in props.as_object().unwrap() {
            let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            if let Some(t) = m["type"].as_str() {
                out.insert(path.clone(), t.to_string());
            }
            if m["properties"].is_object() {
                walk(&path, &m["properties"], out);
            }
        }
    }
    let text = std::fs::read_to_string(root().join("dashboards/templates/logship-metrics.json")).unwrap();
    let t: Value = serde_json::from_str(&text).unwrap();
    let mut out = BTreeMap::new();
    walk("", &t["template"]["mappings"]["properties"], &mut out);
    for d in t["template"]["mappings"]["dynamic_templates"].as_array().unwrap() {
        let (_, rule) = d.as_object().unwrap().iter().next().unwrap();
        if let Some(pattern) = rule["path_match"].as_str() {
            out.insert(pattern.to_string(), rule["mapping"]["type"].as_str().unwrap().to_string());
        }
    }
    out
}

fn mapping_type(fields: &BTreeMap<String, String>, field: &str) -> Option<String> {
    fields.get(field).cloned().or_else(|| {
        fields
            .iter()
            .find(|(pattern, _)| pattern.ends_with(".*") && field.starts_with(&pattern[..pattern.len() - 1]))
            .map(|(_, t)| t.clone())
    })
}

#[test]
fn the_generator_wrote_the_file() {
    let status =
        std::process::Command::new("python3").arg(root().join("scripts/gen-dashboards.py")).arg("--check").status();
    assert!(status.unwrap().success(), "dashboards/kibana/logship.ndjson is stale: run scripts/gen-dashboards.py");
}

#[test]
fn every_object_has_what_kibana_requires() {
    let objects = objects();
    let ids: Vec<(String, String)> = objects
        .iter()
        .map(|o| (o["type"].as_str().unwrap().to_string(), o["id"].as_str().unwrap().to_string()))
        .collect();
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "ids are unique");
    // Stable ids: the dashboards and data views users link to.
    for (t, id) in [
        ("index-pattern", "logship-events"),
        ("index-pattern", "logship-metrics"),
        ("dashboard", "logship-streaming-health"),
        ("dashboard", "logship-cdn-cache"),
    ] {
        assert!(ids.contains(&(t.to_string(), id.to_string())), "{t} {id}");
    }
    for o in &objects {
        let a = &o["attributes"];
        let what = format!("{} {}", o["type"], o["id"]);
        assert!(a["title"].as_str().is_some_and(|t| !t.is_empty()), "{what}: title");
        assert!(o["references"].is_array(), "{what}: references");
        assert!(o["coreMigrationVersion"].as_str().is_some_and(|v| v.starts_with("8.")), "{what}");
        match o["type"].as_str().unwrap() {
            "index-pattern" => {
                assert_eq!(a["timeFieldName"], "@timestamp", "{what}");
                embedded(&a["fields"], "fields");
            }
            "lens" => {
                assert_eq!(a["visualizationType"], "lnsXY", "{what}");
                let state = &a["state"];
                let layers = state["datasourceStates"]["formBased"]["layers"].as_object().unwrap();
                for layer in state["visualization"]["layers"].as_array().unwrap() {
                    let id = layer["layerId"].as_str().unwrap();
                    let columns = &layers[id]["columns"];
                    let order: Vec<&str> =
                        layers[id]["columnOrder"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
                    // Every column the chart and the formulas use exists and is listed.
                    let mut used: Vec<&str> =
                        layer["accessors"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
                    used.extend(layer["xAccessor"].as_str());
                    used.extend(layer["splitAccessor"].as_str());
                    for (cid, c) in columns.as_object().unwrap() {
                        assert!(order.contains(&cid.as_str()), "{what}: {cid} missing from columnOrder");
                        used.extend(c["references"].as_array().into_iter().flatten().map(|r| r.as_str().unwrap()));
                        if let Some(by) = c["params"]["orderBy"]["columnId"].as_str() {
                            used.push(by);
                        }
                    }
                    for u in used {
                        assert!(columns[u].is_object(), "{what}: column {u} is used but not defined");
                    }
                }
                assert_eq!(state["query"]["language"], "kuery");
            }
            "dashboard" => {
                let panels = embedded(&a["panelsJSON"], "panelsJSON");
                assert!(!panels.as_array().unwrap().is_empty(), "{what}: panels");
                for p in panels.as_array().unwrap() {
                    let g = &p["gridData"];
                    let (x, w) = (g["x"].as_u64().unwrap(), g["w"].as_u64().unwrap());
                    assert!(x + w <= 48 && g["h"].as_u64().unwrap() > 0, "{what}: panels fit the 48-column grid");
                    assert_eq!(g["i"], p["panelIndex"]);
                }
                embedded(&a["optionsJSON"], "optionsJSON");
                embedded(&a["kibanaSavedObjectMeta"]["searchSourceJSON"], "searchSourceJSON");
            }
            other => panic!("unexpected type {other}"),
        }
    }
}

#[test]
fn every_reference_resolves() {
    let objects = objects();
    let present: BTreeSet<(String, String)> = objects
        .iter()
        .map(|o| (o["type"].as_str().unwrap().to_string(), o["id"].as_str().unwrap().to_string()))
        .collect();
    for o in &objects {
        let names: BTreeSet<&str> =
            o["references"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        for r in o["references"].as_array().unwrap() {
            let target = (r["type"].as_str().unwrap().to_string(), r["id"].as_str().unwrap().to_string());
            assert!(present.contains(&target), "{}: reference {target:?} is not in the file", o["id"]);
        }
        match o["type"].as_str().unwrap() {
            "dashboard" => {
                for p in embedded(&o["attributes"]["panelsJSON"], "panelsJSON").as_array().unwrap() {
                    let name = p["panelRefName"].as_str().unwrap();
                    assert!(names.contains(name), "{}: panel reference {name}", o["id"]);
                }
            }
            "lens" => {
                for layer in
                    o["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].as_object().unwrap().keys()
                {
                    let name = format!("indexpattern-datasource-layer-{layer}");
                    assert!(names.contains(name.as_str()), "{}: {name}", o["id"]);
                }
            }
            _ => {}
        }
    }
    // Every visualization is on a dashboard.
    let on_dashboards: BTreeSet<String> = objects
        .iter()
        .filter(|o| o["type"] == "dashboard")
        .flat_map(|o| o["references"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()))
        .collect();
    for o in objects.iter().filter(|o| o["type"] == "lens") {
        assert!(on_dashboards.contains(o["id"].as_str().unwrap()), "{} is on no dashboard", o["id"]);
    }
}

#[test]
fn every_field_a_visualization_reads_is_mapped_with_a_fitting_type() {
    let fields = template_fields();
    let mut checked = 0;
    for o in objects().iter().filter(|o| o["type"] == "lens") {
        let state = &o["attributes"]["state"];
        for layer in state["datasourceStates"]["formBased"]["layers"].as_object().unwrap().values() {
            for c in layer["columns"].as_object().unwrap().values() {
                let Some(field) = c["sourceField"].as_str() else { continue };
                let mapped =
                    mapping_type(&fields, field).unwrap_or_else(|| panic!("{}: {field} is not mapped", o["id"]));
                let fits = match c["operationType"].as_str().unwrap() {
                    "date_histogram" => mapped == "date",
                    "terms" => mapped == "keyword",
                    "percentile" => ["histogram", "long", "double"].contains(&mapped.as_str()),
                    "sum" => ["long", "double", "histogram"].contains(&mapped.as_str()),
                    other => panic!("{}: unexpected operation {other}", o["id"]),
                };
                assert!(fits, "{}: {field} is {mapped}, not usable for {}", o["id"], c["operationType"]);
                checked += 1;
            }
        }
        // The query filters on metric.name, a keyword.
        assert!(state["query"]["query"].as_str().unwrap().starts_with("metric.name : "));
        assert_eq!(mapping_type(&fields, "metric.name").as_deref(), Some("keyword"));
    }
    assert!(checked >= 20, "{checked} fields checked");
}
