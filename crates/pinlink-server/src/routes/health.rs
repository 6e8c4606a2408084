//! For load balancers and orchestrators: `GET /healthz` (the process
//! serves) and `GET /readyz` (the database answers and, on PostgreSQL, the
//! other instances' changes are heard; 503 otherwise). Plain JSON, not
//! plex.tv's shapes; logged at DEBUG like every request.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::AppState;

/// `GET /healthz`: 200 while the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process serves", body = crate::openapi::Status)))]
pub async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: 200 when this instance can do its work, 503 with the
/// reason when not.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready", body = crate::openapi::Status), (status = 503, description = "Not ready, with the reason", body = crate::openapi::Status)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.core.readiness().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "reason": reason })),
        )
            .into_response(),
    }
}
