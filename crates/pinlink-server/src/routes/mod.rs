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
use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// Every route. Paths are declared without `.json`/`.xml`: the negotiate
/// middleware strips the suffix before routing (so `/devices.xml` is served
/// by `/devices`, `/api/v2/pins/link.json` by `/api/v2/pins/link`).
pub fn router(state: AppState) -> Router {
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v2/pins", post(api::pins::create))
        .route("/api/v2/pins/link", put(api::pins::link))
        .route("/api/v2/pins/qr/{code}", get(api::pins::qr))
        .route("/api/v2/pins/{id}", get(api::pins::poll))
        .route("/api/v2/users/signin", post(api::users::sign_in))
        .route("/api/v2/users/signout", delete(api::users::sign_out))
        .route("/api/v2/user", get(api::users::me))
        .route("/users/account", get(api::users::account_legacy))
        .route("/users/sign_in", post(api::account::sign_in_legacy))
        .route("/api/v2/ping", get(api::account::ping))
        .route("/api/v2/resources", get(api::account::resources_v2))
        .route("/api/resources", get(api::account::resources_v1))
        .route("/api/users", get(api::account::friends))
        .route("/api/users/", get(api::account::friends))
        .route("/api/v2/home/users", get(api::account::home_users_v2))
        .route("/api/home/users", get(api::account::home_users_v1))
        .route("/api/v2/user/webhooks", get(api::account::webhooks))
        .route("/api/v2/auth/jwk", post(api::auth::register_key))
        .route("/api/v2/auth/nonce", get(api::auth::nonce))
        .route("/api/v2/auth/token", post(api::auth::token))
        .route("/api/v2/auth/keys", get(api::auth::keys))
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata),
        )
        .route(
            "/oauth/device_authorization",
            post(oauth::device_authorization),
        )
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/api/v2/devices", get(api::devices::list))
        .route("/api/v2/devices/{id}", delete(api::devices::revoke))
        .route("/devices", get(devices))
        .route(
            "/devices/{id}",
            delete(api::devices::revoke).put(api::devices::publish),
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

/// `/devices` is both plex.tv's device list (`/devices.xml`, with a token)
/// and the page where a person manages their devices.
async fn devices(State(state): State<AppState>, request: Request) -> Response {
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
