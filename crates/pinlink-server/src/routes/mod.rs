//! The router: which path goes to which handler. The API (`api`) and the
//! web pages (`pages`) are separate adapters over the same core.

pub mod api;
pub(crate) mod documented;
pub mod health;
pub mod oauth;
pub(crate) mod observe;
pub mod oidc;
pub mod pages;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// Every route. Paths are declared without `.json`/`.xml`: the negotiate
/// middleware strips the suffix before routing (so `/devices.xml` is served
/// by `/devices`, `/api/v2/pins/link.json` by `/api/v2/pins/link`).
pub fn router(state: AppState) -> Router {
    // The API's routes come with their OpenAPI description
    // (`documented.rs`); only aliases and the web pages are added here.
    let (documented, _document) = documented::api_router();
    let router = documented
        // The v1 friends list with a trailing slash, as some clients ask.
        .route("/api/users/", get(api::account::friends))
        // `/openapi.json`, documented with the rest (the suffix is stripped
        // before routing).
        .route("/openapi", get(documented::document))
        .route(
            "/oauth/authorize",
            get(oidc::authorize).post(oidc::authorize),
        )
        .merge(pages::routes())
        .fallback(not_found);
    // The only layer applied route by route (each wraps every route on its
    // own, at a cost per request): the log and the latency histogram need
    // the matched route, which exists only inside the router. Everything
    // else wraps the router once (startup.rs).
    router
        .route_layer(axum::middleware::from_fn(observe::observe))
        .with_state(state)
}

/// An HTML page for a browser, plex.tv's error body for everyone else.
async fn not_found(request: Request) -> Response {
    if pages::is_browser_navigation(&request) {
        pages::not_found()
    } else {
        ApiError::RouteNotFound.into_response()
    }
}
