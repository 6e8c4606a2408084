//! The router: which path goes to which handler. The API (`api`) and the
//! web pages (`pages`) are separate adapters over the same core.

pub mod api;
pub mod health;
pub mod oauth;
pub(crate) mod observe;
pub mod pages;

use axum::extract::{Request, State};
use axum::handler::Handler;
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
    // (`crate::openapi`); only aliases and the web pages are added here.
    let (documented, _document) = crate::openapi::api_router();
    let router = documented
        // The v1 friends list with a trailing slash, as some clients ask.
        .route("/api/users/", get(api::account::friends))
        // `/openapi.json`, documented with the rest (the suffix is stripped
        // before routing).
        .route("/openapi", get(crate::openapi::document))
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

/// `/devices` is both plex.tv's device list (`/devices.xml`, with a token)
/// and the page where a person manages their devices.
#[utoipa::path(get, path = "/devices", tag = "devices", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The legacy device list (`<MediaContainer><Device …/>` in XML, an array in JSON); a browser gets the devices page", content((Vec<pinlink_proto::DeviceBody> = "application/json"), (String = "application/xml"))),
        (status = "default", description = "plex.tv's error", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn devices(State(state): State<AppState>, request: Request) -> Response {
    if pages::is_browser_navigation(&request) {
        pages::devices::list.call(request, state).await
    } else {
        api::devices::list_legacy.call(request, state).await
    }
}

/// An HTML page for a browser, plex.tv's error body for everyone else.
async fn not_found(request: Request) -> Response {
    if pages::is_browser_navigation(&request) {
        pages::not_found()
    } else {
        ApiError::RouteNotFound.into_response()
    }
}
