//! The control API, on 127.0.0.1:9898 by default (`--api-addr`): the agent's health, its
//! metrics for Prometheus, and the JSON snapshot the console polls every second.
//!
//! - `GET /health`: `{"status":"ok"}`, or `"degraded"` with the outputs that cannot
//!   deliver, those whose server turned away more than a tenth of the items in the last
//!   10 s, and the filters that panicked on an event (still HTTP 200: the agent itself
//!   is alive and holding data safely);
//! - `GET /metrics`: OpenMetrics text (see [`crate::metrics`]);
//! - `GET /api/v1/snapshot`: [`pipeline_dsl::api::Snapshot`] as JSON.

use crate::metrics::Metrics;
use axum::extract::{Request, State};
use axum::http::header;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use pipeline_dsl::secret::Secret;
use std::sync::Arc;

/// Serves the API on `listener` until the runtime shuts down. With `token`, every
/// request must carry `Authorization: Bearer TOKEN`; others get 401.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>, token: Option<Secret>) {
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(prometheus))
        .route("/api/v1/snapshot", get(snapshot))
        .with_state(metrics)
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            let token = token.clone();
            async move {
                if let Some(t) = &token {
                    let given = request
                        .headers()
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "));
                    if !given.is_some_and(|g| same_bytes(g.as_bytes(), t.expose().as_bytes())) {
                        return (
                            StatusCode::UNAUTHORIZED,
                            [(header::WWW_AUTHENTICATE, "Bearer")],
                            "a bearer token is required\n",
                        )
                            .into_response();
                    }
                }
                next.run(request).await
            }
        }));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "Control API stopped");
    }
}

/// Compares in time that depends only on the lengths, so a token cannot be guessed
/// byte by byte from response times.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Rejection rate above which an output makes `/health` degraded.
const REJECTING: f64 = 0.1;

async fn health(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    let snapshot = m.snapshot();
    let down: Vec<String> = snapshot.outputs.iter().filter(|o| !o.up).map(|o| o.id.clone()).collect();
    // A cluster that turns away more than a tenth of what it is sent is struggling:
    // delivery goes on (rejected items are sent again), but slower.
    let rejecting: Vec<String> =
        snapshot.outputs.into_iter().filter(|o| o.rejection_rate > REJECTING).map(|o| o.id).collect();
    // A filter that panicked is a bug that tags events instead of parsing them: the
    // agent stays degraded until it restarts, so that the bug is seen and reported.
    let faulted: Vec<String> = snapshot.pipeline.filters.into_iter().filter(|f| f.faults > 0).map(|f| f.id).collect();
    let encode_faults = snapshot.pipeline.encode_faults;
    let healthy = down.is_empty() && rejecting.is_empty() && faulted.is_empty() && encode_faults == 0;
    let status = if healthy { "ok" } else { "degraded" };
    Json(serde_json::json!({
        "status": status,
        "outputs_down": down,
        "outputs_rejecting": rejecting,
        "filters_faulted": faulted,
        "encode_faults": encode_faults,
    }))
}

async fn prometheus(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], m.prometheus_text())
}

async fn snapshot(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    Json(m.snapshot())
}
