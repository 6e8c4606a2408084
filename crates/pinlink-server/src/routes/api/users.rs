//! Accounts: sign in, who am I, sign out.

use axum::extract::State;
use axum::http::StatusCode;
use pinlink_core::{Account, AuthToken, CoreError, Password, SignIn, UnixTime};
use pinlink_proto::{UserBody, UserEnvelope, UserFacts};

use super::authenticate;
use crate::error::ApiError;
use crate::reply::Reply;
use crate::request::PlexRequest;
use crate::state::AppState;

/// How long plex.tv says a "remembered" sign-in lasts.
const REMEMBER_SECS: i64 = 14 * 24 * 3600;

/// The product a signing-in device is listed under when it names none.
pub(super) const UNNAMED_PRODUCT: &str = "Unknown client";

/// Where an account's picture would be.
pub(super) fn avatar_url(state: &AppState, account: &Account) -> String {
    format!("{}/users/{}/avatar", state.public_url, account.uuid)
}

pub(super) fn user_body(
    state: &AppState,
    account: &Account,
    token: &AuthToken,
    now: UnixTime,
) -> UserBody {
    UserBody::new(UserFacts {
        id: account.id.0,
        uuid: account.uuid.clone(),
        username: account.username.as_str().to_owned(),
        email: account.email.as_str().to_owned(),
        joined_at: account.created_at.0,
        auth_token: token.expose().to_owned(),
        thumb: avatar_url(state, account),
        remember_expires_at: now.plus_secs(REMEMBER_SECS).0,
    })
}

/// `POST /api/v2/users/signin` with form `login` and `password` (and
/// `verificationCode` when the account has two-step verification): 201
/// with the user and a new token for the signing-in device; without the
/// code, plex.tv's 401/1029 "Please enter the verification code".
#[utoipa::path(post, path = "/api/v2/users/signin", tag = "users", params(crate::openapi::ClientHeader), request_body(content = crate::openapi::SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, description = "The user, with a new token for this client", content((pinlink_proto::UserBody = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn sign_in(
    State(state): State<AppState>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    // Older clients send Rails-style `user[login]` / `user[password]`.
    let login = request.get("login").or_else(|| request.get("user[login]"));
    let password = request
        .get("password")
        .or_else(|| request.get("user[password]"));
    let (Some(login), Some(password)) = (login, password) else {
        return Err(CoreError::InvalidInput("login and password are required".into()).into());
    };
    let sign_in = SignIn {
        login: login.to_owned(),
        password: Password::presented(password.to_owned()),
        verification_code: request.verification_code(),
        client_identifier: request.client_identifier()?,
        device: request.device_info_or(UNNAMED_PRODUCT)?,
        from: request.client_address(),
    };
    let (account, token) = state.core.sign_in(sign_in).await?;
    Ok(Reply::new(
        StatusCode::CREATED,
        user_body(&state, &account, &token, state.core.now()),
    ))
}

/// `GET /api/v2/user`: the token's account; 401 if the token is not valid.
#[utoipa::path(get, path = "/api/v2/user", tag = "users", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The token's account", content((pinlink_proto::UserBody = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn me(State(state): State<AppState>, request: PlexRequest) -> Result<Reply, ApiError> {
    let session = authenticate(&state, &request).await?;
    Ok(Reply::ok(user_body(
        &state,
        &session.account,
        &session.token,
        state.core.now(),
    )))
}

/// `GET /users/account(.json)`: the legacy `{"user": {…}}` wrapper.
#[utoipa::path(get, path = "/users/account", tag = "users", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The legacy wrapper", content((crate::openapi::UserEnvelopeBody = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn account_legacy(
    State(state): State<AppState>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    let session = authenticate(&state, &request).await?;
    let user = user_body(&state, &session.account, &session.token, state.core.now());
    Ok(Reply::ok(UserEnvelope { user }))
}

/// `DELETE /api/v2/users/signout`: the token stops working; 204.
#[utoipa::path(delete, path = "/api/v2/users/signout", tag = "users", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 204, description = "The token no longer works"), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn sign_out(
    State(state): State<AppState>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    let session = authenticate(&state, &request).await?;
    state.core.sign_out(&session).await?;
    Ok(Reply::status(StatusCode::NO_CONTENT))
}
