//! OpenID Connect on the device grant: discovery, the keys that verify ID
//! tokens, and UserInfo — a thin adapter over
//! `pinlink_core::service::backend_tokens`. The ID tokens themselves come
//! with the token answers (`oauth.rs`).

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::oauth::{
    no_store, AUTH_METHODS, DEVICE_CODE_GRANT, REFRESH_GRANT, SCOPES, SECRET_AUTH_METHODS,
};
use crate::error::{ApiError, BearerError};
use crate::request::PlexRequest;
use crate::state::AppState;

/// `GET /.well-known/openid-configuration` (OpenID Connect Discovery §3),
/// with the same issuer as the RFC 8414 document: the public URL exactly.
/// pinlink has only the device grant; `authorization_endpoint` is required
/// by the document's schema (and by some client libraries), and answers
/// that the flow is not offered.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "openid-connect",
    responses((status = 200, description = "OpenID Provider metadata", body = crate::openapi::Object)))]
pub async fn configuration(State(state): State<AppState>) -> Response {
    let base = &state.public_url;
    no_store(Json(json!({
        "issuer": base.as_ref(),
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "device_authorization_endpoint": format!("{base}/oauth/device_authorization"),
        "token_endpoint": format!("{base}/oauth/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/oauth/jwks"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "scopes_supported": SCOPES,
        "response_types_supported": [],
        "grant_types_supported": [DEVICE_CODE_GRANT, REFRESH_GRANT],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": SECRET_AUTH_METHODS,
        "claims_supported": [
            "iss", "sub", "aud", "azp", "exp", "iat", "auth_time",
            "preferred_username", "name", "email", "email_verified"
        ],
        "service_documentation": format!("{base}/link"),
    })))
}

/// `GET /oauth/jwks`: the public keys of every signing generation whose ID
/// tokens may still be live (RSA for RS256, Ed25519 for EdDSA), each with
/// its `kid`.
#[utoipa::path(get, path = "/oauth/jwks", tag = "openid-connect",
    responses((status = 200, description = "A JSON Web Key Set (RFC 7517)", body = crate::openapi::Object)))]
pub async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys = state.core.oidc_jwks()?;
    let mut response = Json(keys).into_response();
    // Public, and changes only with `pinlink keys rotate`: a client may
    // keep it a few minutes.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

/// `GET` or `POST /userinfo` (OpenID Connect Core §5.3) with a device
/// grant's access token as `Authorization: Bearer` (or `access_token` in a
/// posted form; not `X-Plex-Token`, a plex.tv client's header): `sub` and
/// the claims of the granted scopes.
#[utoipa::path(get, path = "/userinfo", tag = "openid-connect", security(("bearer" = [])),
    responses((status = 200, description = "The account's claims", body = crate::openapi::Object), (status = 401, description = "No token, or one unknown, expired or revoked (WWW-Authenticate: Bearer)"), (status = 403, description = "The grant has no openid scope")))]
pub async fn user_info(
    State(state): State<AppState>,
    uri: Uri,
    request: Result<PlexRequest, ApiError>,
) -> Result<Response, BearerError> {
    if super::oauth::refuse_secrets_in_query(&uri).is_err() {
        return Err(BearerError::InQuery);
    }
    let request = request.map_err(|_| BearerError::Missing)?;
    let token = request
        .bearer_token()
        .or_else(|| request.get("access_token"))
        .ok_or(BearerError::Missing)?;
    let info = state.core.user_info(token).await?;
    let mut claims = serde_json::to_value(&info.profile).unwrap_or_else(|_| json!({}));
    claims["sub"] = json!(info.sub);
    Ok(no_store(Json(claims)))
}

/// `POST /userinfo`: the same as `GET`.
#[utoipa::path(post, path = "/userinfo", tag = "openid-connect", security(("bearer" = [])),
    responses((status = 200, description = "The account's claims", body = crate::openapi::Object), (status = 401, description = "No token, or one unknown, expired or revoked (WWW-Authenticate: Bearer)"), (status = 403, description = "The grant has no openid scope")))]
pub async fn user_info_posted(
    state: State<AppState>,
    uri: Uri,
    request: Result<PlexRequest, ApiError>,
) -> Result<Response, BearerError> {
    user_info(state, uri, request).await
}

/// `/oauth/authorize`: not offered. pinlink signs devices in with the
/// device grant only; the answer says so (RFC 6749 §4.1.2.1's
/// `unsupported_response_type`, without a redirect: no client is trusted
/// with one).
pub async fn authorize() -> Response {
    (
        axum::http::StatusCode::BAD_REQUEST,
        Json(json!({
            "error": "unsupported_response_type",
            "error_description": "pinlink offers only the device authorization grant \
                                  (device_authorization_endpoint)",
        })),
    )
        .into_response()
}
