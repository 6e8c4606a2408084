//! The router: which path goes to which handler.

pub mod api;

use axum::extract::MatchedPath;
use axum::http::Request;
use axum::routing::{delete, get, post, put};
use axum::Router;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::ApiError;
use crate::state::AppState;

/// Every route. Paths are declared without `.json`/`.xml`: the negotiate
/// middleware strips the suffix before routing (so `/devices.xml` is served
/// by `/devices`, `/api/v2/pins/link.json` by `/api/v2/pins/link`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v2/pins", post(api::pins::create))
        .route("/api/v2/pins/link", put(api::pins::link))
        .route("/api/v2/pins/qr/{code}", get(api::pins::qr))
        .route("/api/v2/pins/{id}", get(api::pins::poll))
        .route("/api/v2/users/signin", post(api::users::sign_in))
        .route("/api/v2/users/signout", delete(api::users::sign_out))
        .route("/api/v2/user", get(api::users::me))
        .route("/users/account", get(api::users::account_legacy))
        .route("/api/v2/devices", get(api::devices::list))
        .route("/api/v2/devices/{id}", delete(api::devices::revoke))
        .route("/devices", get(api::devices::list_legacy))
        .route("/devices/{id}", delete(api::devices::revoke))
        .fallback(|| async { ApiError::RouteNotFound })
        .layer(
            // Logged by route template, never by raw path or query: those can
            // carry pin codes and tokens.
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map(MatchedPath::as_str)
                        .unwrap_or("(no route)");
                    tracing::debug_span!("request", method = %request.method(), route)
                })
                .on_request(())
                // DEBUG, not INFO: a device polls every second, and a log line per
                // poll would drown everything else (PINLINK_LOG=debug shows them).
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
        .with_state(state)
}
