#!/usr/bin/env python3
"""Writes dashboards/kibana/logship.ndjson: logship's Kibana 8.x saved objects.

Two data views (events, window metrics), eight Lens visualizations and two dashboards
("Streaming health", "CDN cache"), with stable ids and references between them. The
Lens panels read the window metric documents of the `window_stats` filter; latency
percentiles come from the `metric.value.histogram` field, so windows from many
agents merge.

    scripts/gen-dashboards.py           # rewrite the file
    scripts/gen-dashboards.py --check   # exit 1 if the file differs from what this writes
"""
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "dashboards" / "kibana" / "logship.ndjson"
METRICS_VIEW = "logship-metrics"
EVENTS_VIEW = "logship-events"
CORE = "8.8.0"


def data_view(view_id, title, name):
    return {
        "type": "index-pattern",
        "id": view_id,
        "attributes": {
            "title": title,
            "name": name,
            "timeFieldName": "@timestamp",
            "fields": "[]",
            "fieldAttrs": "{}",
            "runtimeFieldMap": "{}",
            "sourceFilters": "[]",
            "allowNoIndex": True,
        },
        "references": [],
        "coreMigrationVersion": CORE,
        "typeMigrationVersion": "8.0.0",
    }


def date_column():
    return {
        "label": "@timestamp",
        "dataType": "date",
        "operationType": "date_histogram",
        "sourceField": "@timestamp",
        "isBucketed": True,
        "scale": "interval",
        "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False},
    }


def terms_column(field, size, order_by, label):
    return {
        "label": label,
        "dataType": "string",
        "operationType": "terms",
        "sourceField": field,
        "isBucketed": True,
        "scale": "ordinal",
        "params": {
            "size": size,
            "orderBy": {"type": "column", "columnId": order_by},
            "orderDirection": "desc",
            "otherBucket": False,
            "missingBucket": False,
            "parentFormat": {"id": "terms"},
        },
    }


def percentile_column(field, percentile, label):
    return {
        "label": label,
        "dataType": "number",
        "operationType": "percentile",
        "sourceField": field,
        "isBucketed": False,
        "scale": "ratio",
        "params": {"percentile": percentile},
        "customLabel": True,
    }


def sum_column(field, label, custom=True):
    return {
        "label": label,
        "dataType": "number",
        "operationType": "sum",
        "sourceField": field,
        "isBucketed": False,
        "scale": "ratio",
        "params": {"emptyAsNull": True},
        "customLabel": custom,
    }


def formula_columns(col, label, text, fields, ast, percent=True):
    """A Lens formula column as Kibana stores it: one hidden `sum` column per field
    (`<col>X0`, `<col>X1`, …), a `math` column over them, and the formula column."""
    columns = {}
    for i, field in enumerate(fields):
        columns[f"{col}X{i}"] = sum_column(field, f"Part of {text}")
    math_id = f"{col}X{len(fields)}"

    def resolve(node):
        if isinstance(node, int):
            return f"{col}X{node}"
        return {"type": "function", "name": node[0], "args": [resolve(a) for a in node[1:]]}

    tree = resolve(ast)
    tree["location"] = {"min": 0, "max": len(text)}
    tree["text"] = text
    columns[math_id] = {
        "label": f"Part of {text}",
        "dataType": "number",
        "operationType": "math",
        "isBucketed": False,
        "scale": "ratio",
        "params": {"tinymathAst": tree},
        "references": [f"{col}X{i}" for i in range(len(fields))],
        "customLabel": True,
    }
    params = {"formula": text, "isFormulaBroken": False}
    if percent:
        params["format"] = {"id": "percent", "params": {"decimals": 2}}
    columns[col] = {
        "label": label,
        "dataType": "number",
        "operationType": "formula",
        "isBucketed": False,
        "scale": "ratio",
        "params": params,
        "references": [math_id],
        "customLabel": True,
    }
    return columns


def lens(lens_id, title, description, metric_name, columns, order, x, accessors, split=None, series="line"):
    layer = "layer1"
    layer_state = {"layerId": layer, "accessors": accessors, "seriesType": series, "layerType": "data", "xAccessor": x}
    if split:
        layer_state["splitAccessor"] = split
    return {
        "type": "lens",
        "id": lens_id,
        "attributes": {
            "title": title,
            "description": description,
            "visualizationType": "lnsXY",
            "state": {
                "datasourceStates": {
                    "formBased": {"layers": {layer: {"columns": columns, "columnOrder": order, "incompleteColumns": {}}}}
                },
                "visualization": {
                    "legend": {"isVisible": True, "position": "right"},
                    "valueLabels": "hide",
                    "preferredSeriesType": series,
                    "layers": [layer_state],
                },
                "query": {"query": f'metric.name : "{metric_name}"', "language": "kuery"},
                "filters": [],
                "internalReferences": [],
                "adHocDataViews": {},
            },
        },
        "references": [
            {"type": "index-pattern", "id": METRICS_VIEW, "name": "indexpattern-datasource-current-indexpattern"},
            {"type": "index-pattern", "id": METRICS_VIEW, "name": f"indexpattern-datasource-layer-{layer}"},
        ],
        "coreMigrationVersion": CORE,
        "typeMigrationVersion": "8.9.0",
    }


def over_time(lens_id, title, description, metric_name, value_columns, split_field=None, split_size=5):
    columns = {"time": date_column()}
    columns.update(value_columns)
    accessors = [c for c, v in value_columns.items() if "X" not in c]
    order = ["time"]
    split = None
    if split_field:
        split = "split"
        columns["split"] = terms_column(split_field, split_size, accessors[0], f"Top {split_size} {split_field}")
        order = ["split", "time"]
    order += list(value_columns)
    return lens(lens_id, title, description, metric_name, columns, order, "time", accessors, split)


def top_bars(lens_id, title, description, metric_name, field, value_field, value_label):
    columns = {
        "key": terms_column(field, 10, "value", f"Top 10 {field}"),
        "value": sum_column(value_field, value_label),
    }
    return lens(lens_id, title, description, metric_name, columns, ["key", "value"], "key", ["value"], series="bar_horizontal")


def dashboard(dash_id, title, description, panels):
    """`panels`: (lens id, x, y, w, h) on Kibana's 48-column grid."""
    panel_list, references = [], []
    for i, (lens_id, x, y, w, h) in enumerate(panels):
        index = f"p{i}"
        panel_list.append(
            {
                "type": "lens",
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": index},
                "panelIndex": index,
                "embeddableConfig": {"enhancements": {}},
                "panelRefName": f"panel_{index}",
            }
        )
        references.append({"type": "lens", "id": lens_id, "name": f"panel_{index}"})
    return {
        "type": "dashboard",
        "id": dash_id,
        "attributes": {
            "title": title,
            "description": description,
            "panelsJSON": json.dumps(panel_list, separators=(",", ":")),
            "optionsJSON": json.dumps(
                {"useMargins": True, "syncColors": False, "syncCursor": True, "syncTooltips": False, "hidePanelTitles": False},
                separators=(",", ":"),
            ),
            "timeRestore": True,
            "timeFrom": "now-1h",
            "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 10000},
            "version": 1,
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": json.dumps({"query": {"query": "", "language": "kuery"}, "filter": []}, separators=(",", ":"))
            },
        },
        "references": references,
        "coreMigrationVersion": CORE,
        "typeMigrationVersion": "10.2.0",
    }


def objects():
    hist = "metric.value.histogram"
    latency = over_time(
        "logship-title-latency",
        "CDN latency p95 / p99 by title (ms)",
        "Percentiles of the merged window histograms of the busiest titles.",
        "cdn_title",
        {"p95": percentile_column(hist, 95, "p95 latency (ms)"), "p99": percentile_column(hist, 99, "p99 latency (ms)")},
        split_field="streaming.title.id",
    )
    error_rate = over_time(
        "logship-error-rate",
        "CDN error rate",
        "Server errors (5xx) per request, all titles.",
        "cdn_title",
        formula_columns(
            "rate", "Error rate", "sum(metric.errors) / sum(metric.count)", ["metric.errors", "metric.count"], ("divide", 0, 1)
        ),
    )
    top_errors = top_bars(
        "logship-top-titles-errors", "Top titles by errors", "Server errors per title.", "cdn_title",
        "streaming.title.id", "metric.errors", "Errors",
    )
    startup = over_time(
        "logship-startup-p95",
        "Playback startup time p95 (ms)",
        "Time to first frame of the sessions started, p95 over the merged histograms.",
        "playback_title",
        {"p95": percentile_column(hist, 95, "Startup p95 (ms)")},
    )
    rebuffer = over_time(
        "logship-rebuffer-ratio",
        "Rebuffer ratio",
        "Stall time per watch time.",
        "playback_title",
        formula_columns(
            "ratio", "Rebuffer ratio", "sum(metric.sum.rebuffer_ms) / sum(metric.sum.watch_ms)",
            ["metric.sum.rebuffer_ms", "metric.sum.watch_ms"], ("divide", 0, 1),
        ),
    )
    hit_ratio = over_time(
        "logship-pop-hit-ratio",
        "Cache hit ratio by POP",
        "Hits / (hits + misses) per POP.",
        "cdn_pop",
        formula_columns(
            "hits", "Cache hit ratio", "sum(metric.cache.hits) / (sum(metric.cache.hits) + sum(metric.cache.misses))",
            ["metric.cache.hits", "metric.cache.hits", "metric.cache.misses"], ("divide", 0, ("add", 1, 2)),
        ),
        split_field="cdn.pop",
        split_size=10,
    )
    misses = top_bars(
        "logship-title-misses", "Cache misses by title", "Requests the CDN had to fetch from the origin.", "cdn_title",
        "streaming.title.id", "metric.cache.misses", "Cache misses",
    )
    bytes_served = over_time(
        "logship-bytes-served",
        "Bytes served",
        "Response bytes per CDN (edge, CloudFront).",
        "cdn_title",
        {"bytes": sum_column("metric.bytes", "Bytes served")},
        split_field="event.dataset",
    )
    return [
        data_view(EVENTS_VIEW, "logship-*,-logship-metrics-*", "logship events"),
        data_view(METRICS_VIEW, "logship-metrics-*", "logship window metrics"),
        latency, error_rate, top_errors, startup, rebuffer, hit_ratio, misses, bytes_served,
        dashboard(
            "logship-streaming-health",
            "Streaming health",
            "Per-title CDN latency and errors, playback startup and rebuffering (logship window_stats).",
            [
                ("logship-title-latency", 0, 0, 48, 14),
                ("logship-error-rate", 0, 14, 24, 12),
                ("logship-top-titles-errors", 24, 14, 24, 12),
                ("logship-startup-p95", 0, 26, 24, 12),
                ("logship-rebuffer-ratio", 24, 26, 24, 12),
            ],
        ),
        dashboard(
            "logship-cdn-cache",
            "CDN cache",
            "Cache hit ratio by POP, misses by title and bytes served (logship window_stats).",
            [
                ("logship-pop-hit-ratio", 0, 0, 48, 14),
                ("logship-title-misses", 0, 14, 24, 14),
                ("logship-bytes-served", 24, 14, 24, 14),
            ],
        ),
    ]


def render():
    return "".join(json.dumps(o, sort_keys=True, separators=(",", ":")) + "\n" for o in objects())


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is not what scripts/gen-dashboards.py writes; run it", file=sys.stderr)
            sys.exit(1)
    else:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(text)
