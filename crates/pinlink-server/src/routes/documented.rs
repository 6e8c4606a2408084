//! The documented routes: every API route is registered here from its
//! handler, whose own `#[utoipa::path]` describes it, so a route cannot
//! exist without its description or the other way round. The document
//! (`crate::openapi` adds what no handler carries) is served at
//! `GET /openapi.json`; `docs/openapi.json` is a copy a test keeps equal.

use std::sync::OnceLock;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{api, health, oauth, oidc};
use crate::state::AppState;

/// The document's own route, which is added by hand (`routes/mod.rs`, as
/// `/openapi`: the format layer strips `.json` before routing).
#[derive(OpenApi)]
#[openapi(paths(document))]
struct DocumentItself;

/// Every documented route, and the document.
pub fn api_router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let mut head = crate::openapi::ApiDoc::openapi();
    head.merge(DocumentItself::openapi());
    OpenApiRouter::with_openapi(head)
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(api::pins::create))
        .routes(routes!(api::pins::link))
        .routes(routes!(api::pins::qr))
        .routes(routes!(api::pins::poll))
        .routes(routes!(api::users::sign_in))
        .routes(routes!(api::users::sign_out))
        .routes(routes!(api::users::me))
        .routes(routes!(api::users::account_legacy))
        .routes(routes!(api::account::sign_in_legacy))
        .routes(routes!(api::account::ping))
        .routes(routes!(api::account::resources_v2))
        .routes(routes!(api::account::resources_v1))
        .routes(routes!(api::account::friends))
        .routes(routes!(api::account::home_users_v2))
        .routes(routes!(api::account::home_users_v1))
        .routes(routes!(api::account::webhooks))
        .routes(routes!(api::auth::register_key))
        .routes(routes!(api::auth::nonce))
        .routes(routes!(api::auth::token))
        .routes(routes!(api::auth::keys))
        .routes(routes!(api::devices::list))
        .routes(routes!(api::devices::revoke))
        .routes(routes!(api::devices::list_or_page))
        .routes(routes!(api::devices::revoke_legacy, api::devices::publish))
        .routes(routes!(oauth::metadata))
        .routes(routes!(oauth::device_authorization))
        .routes(routes!(oauth::token))
        .routes(routes!(oauth::revoke))
        .routes(routes!(oauth::introspect))
        .routes(routes!(oidc::configuration))
        .routes(routes!(oidc::jwks))
        .routes(routes!(oidc::user_info, oidc::user_info_posted))
        .split_for_parts()
}

/// The document as JSON, made once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let (_, openapi) = api_router();
        openapi.to_pretty_json().unwrap_or_default() + "\n"
    })
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = crate::openapi::Object)))]
pub async fn document(State(_): State<AppState>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
        .into_response()
}
