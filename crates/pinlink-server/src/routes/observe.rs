//! Every request, by route template (never the raw path or query, which can
//! carry pin codes and tokens): a DEBUG log line (a device polls every
//! second, so INFO would drown everything else; PINLINK_LOG=debug shows
//! them), an ERROR line for a 5xx (but for a deliberate refusal: a cap,
//! the password checks full), and the `pinlink_request_duration_seconds`
//! histogram for Prometheus. Applied route by route: the matched route
//! exists only inside the router. With neither metrics nor DEBUG on, a
//! request costs one clock read here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Set once a metrics exporter is installed (`--metrics-listen`).
pub static METRICS_ON: AtomicBool = AtomicBool::new(false);

pub async fn observe(request: Request, next: Next) -> Response {
    let metrics_on = METRICS_ON.load(Ordering::Relaxed);
    if !metrics_on && !tracing::enabled!(tracing::Level::DEBUG) {
        let started = Instant::now();
        let response = next.run(request).await;
        if failed(&response) {
            tracing::error!(status = response.status().as_u16(), elapsed = ?started.elapsed(), "request failed");
        }
        return response;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "(no route)".to_owned());
    let request_id = request
        .extensions()
        .get::<crate::http::request_id::RequestId>()
        .map(ToString::to_string)
        .unwrap_or_default();
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    if metrics_on {
        metrics::histogram!(
            "pinlink_request_duration_seconds",
            "route" => route.clone(),
            "method" => method.to_string(),
        )
        .record(elapsed.as_secs_f64());
    }
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if failed(&response) {
        tracing::error!(%method, route, status, latency_ms, request_id, "request failed");
    } else {
        tracing::debug!(%method, route, status, latency_ms, request_id, "request");
    }
    response
}

/// A 5xx that is not a [`crate::error::DeliberateRefusal`] (those are
/// logged at DEBUG with the other requests).
fn failed(response: &Response) -> bool {
    response.status().is_server_error()
        && response
            .extensions()
            .get::<crate::error::DeliberateRefusal>()
            .is_none()
}
