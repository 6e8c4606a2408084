//! plex.tv's JWT endpoints (reference §A.2): `POST /api/v2/auth/jwk`,
//! `GET /api/v2/auth/nonce`, `POST /api/v2/auth/token`,
//! `GET /api/v2/auth/keys`. Clients call them on `clients.plex.tv`; pointed
//! at pinlink they reach the same paths on its one host.

use axum::extract::State;
use axum::http::StatusCode;
use pinlink_core::plex_jwt::Jwk;
use pinlink_core::CoreError;
use pinlink_proto::{JwtKeys, Nonce, PlexJwtToken};

use super::authenticate;
use crate::error::ApiError;
use crate::reply::Reply;
use crate::request::PlexRequest;
use crate::state::AppState;

/// `POST /api/v2/auth/jwk` with an account token of that client and
/// `{"jwk": {…}}`: registers the device's public key; 204.
#[utoipa::path(post, path = "/api/v2/auth/jwk", tag = "plex-jwt", security(("plex_token" = []), ("bearer" = [])), params(crate::openapi::ClientHeader), request_body(content = crate::openapi::JwkForm, content_type = "application/json"),
    responses((status = 204, description = "Registered"), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn register_key(
    State(state): State<AppState>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    let session = authenticate(&state, &request).await?;
    let client = request.client_identifier()?;
    let jwk = request
        .json_object("jwk")?
        .ok_or_else(|| CoreError::InvalidInput("jwk is required".into()))?;
    let jwk = Jwk::parse(&jwk)?;
    state
        .core
        .register_device_key(&session, &client, jwk, &request.client_address())
        .await?;
    Ok(Reply::status(StatusCode::NO_CONTENT))
}

/// `GET /api/v2/auth/nonce`: no token; `{"nonce": uuid}`, 5 minutes.
#[utoipa::path(get, path = "/api/v2/auth/nonce", tag = "plex-jwt", params(crate::openapi::ClientHeader),
    responses((status = 200, description = "A nonce for the next device JWT", content((crate::openapi::NonceBody = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn nonce(State(state): State<AppState>, request: PlexRequest) -> Result<Reply, ApiError> {
    let client = request.client_identifier()?;
    let nonce = state
        .core
        .new_jwt_nonce(&client, &request.client_address())
        .await?;
    Ok(Reply::ok(Nonce { nonce }))
}

/// `POST /api/v2/auth/token` with `{"jwt": device JWT}`: a new Plex JWT.
#[utoipa::path(post, path = "/api/v2/auth/token", tag = "plex-jwt", params(crate::openapi::ClientHeader), request_body(content = crate::openapi::JwtForm, content_type = "application/json"),
    responses((status = 200, description = "A Plex JWT", content((crate::openapi::PlexJwtBody = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn token(State(state): State<AppState>, request: PlexRequest) -> Result<Reply, ApiError> {
    let jwt = request
        .get("jwt")
        .ok_or_else(|| CoreError::InvalidInput("jwt is required".into()))?;
    let token = state.core.exchange_device_jwt(jwt).await?;
    Ok(Reply::ok(PlexJwtToken { token }))
}

/// `GET /api/v2/auth/keys`: every public key that may verify a live Plex JWT.
#[utoipa::path(get, path = "/api/v2/auth/keys", tag = "plex-jwt",
    responses((status = 200, description = "The keys that may verify a live Plex JWT", content((crate::openapi::JwtKeysBody = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn keys(State(state): State<AppState>) -> Reply {
    Reply::ok(JwtKeys {
        keys: state.core.jwt_keys().iter().map(Jwk::to_json).collect(),
    })
}
