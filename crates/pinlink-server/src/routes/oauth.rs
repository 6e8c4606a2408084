//! RFC 8628, the OAuth 2.0 Device Authorization Grant, with RFC 8414
//! discovery, refresh tokens, RFC 7009 revocation and RFC 7662
//! introspection: a thin adapter over the same core as the plex.tv pins
//! (`pinlink_core::service::{device_grant, backend_tokens}`). Every answer
//! is JSON; errors are [`OAuthError`]s. OpenID Connect's endpoints are in
//! `oidc.rs`.
//!
//! What the client libraries need of these endpoints is in the protocol
//! reference, §D.2: exactly 200 on success, integer `expires_in` and
//! `interval`, 400 with a JSON `error` for every refusal a device acts on,
//! `token_type` `Bearer`, `scope` as a string. Beyond the RFC: `wait=N`
//! holds a pending token request until the code is approved (a long poll);
//! `code` is read as `device_code` and Google's grant type name is
//! accepted, for `yup-oauth2`'s defaults.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pinlink_core::{Application, ClientIdentifier, CoreError, NewDeviceGrant, RawDeviceInfo};
use serde_json::json;

use crate::error::{ApiError, OAuthError};
use crate::request::PlexRequest;
use crate::state::AppState;

pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The grant type `yup-oauth2` sends unless told otherwise (Google's).
const GOOGLE_DEVICE_GRANT: &str = "http://oauth.net/grant_type/device/1.0";

/// How an application may authenticate at the token, revocation and
/// introspection endpoints.
pub(crate) const AUTH_METHODS: [&str; 3] = ["none", "client_secret_basic", "client_secret_post"];
/// Introspection is for confidential applications only.
pub(crate) const SECRET_AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];
pub(crate) const REFRESH_GRANT: &str = "refresh_token";
/// The scopes pinlink knows: `openid` for an ID token, `profile` and
/// `email` for their claims, `offline_access` for a refresh token (which
/// pinlink gives to every grant whose access tokens expire).
pub(crate) const SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// `GET /.well-known/oauth-authorization-server` (RFC 8414): where the
/// endpoints are. `issuer` is the public URL exactly.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "device-grant",
    responses((status = 200, description = "RFC 8414 metadata", body = crate::openapi::MetadataBody)))]
pub async fn metadata(State(state): State<AppState>) -> Response {
    let base = &state.public_url;
    no_store(Json(json!({
        "issuer": base.as_ref(),
        "device_authorization_endpoint": format!("{base}/oauth/device_authorization"),
        "token_endpoint": format!("{base}/oauth/token"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "jwks_uri": format!("{base}/oauth/jwks"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "grant_types_supported": [DEVICE_CODE_GRANT, REFRESH_GRANT],
        "response_types_supported": [],
        "scopes_supported": SCOPES,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": SECRET_AUTH_METHODS,
        "service_documentation": format!("{base}/link"),
    })))
}

/// `POST /oauth/device_authorization` (RFC 8628 §3.1–3.2).
#[utoipa::path(post, path = "/oauth/device_authorization", tag = "device-grant", request_body(content = crate::openapi::DeviceAuthorizationForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "RFC 8628 §3.2", body = crate::openapi::DeviceAuthorizationBody), (status = "default", description = "RFC 6749 §5.2: 400 for what the client can act on, 401 (with WWW-Authenticate) only for a failed client authentication, 503 when busy", body = crate::openapi::OAuthErrorBody)))]
pub async fn device_authorization(
    State(state): State<AppState>,
    uri: Uri,
    request: Result<PlexRequest, ApiError>,
) -> Result<Response, OAuthError> {
    let (application, request) = client_request(&state, &uri, request, Hot::No).await?;
    let scope = request.get("scope").unwrap_or_default().trim().to_owned();
    if scope.len() > 1024 || scope.chars().any(pinlink_core::is_forbidden_char) {
        return Err(OAuthError::InvalidRequest("scope is malformed".into()));
    }
    let client_identifier = match request.get("X-Plex-Client-Identifier") {
        Some(raw) => Some(ClientIdentifier::parse(Some(raw))?),
        None => None,
    };
    let started = state
        .core
        .start_device_grant(NewDeviceGrant {
            device: device_info(&request, &application)?,
            application,
            scope,
            client_identifier,
            requester: request.client_address(),
        })
        .await?;
    let now = state.core.now();
    let user_code = started.pin.code.display();
    let base = &state.public_url;
    Ok(no_store(Json(json!({
        "device_code": started.device_code,
        "user_code": user_code,
        "verification_uri": format!("{base}/link"),
        "verification_uri_complete": format!("{base}/link?pin={user_code}"),
        "expires_in": started.pin.expires_in(now),
        "interval": started.interval_secs,
    }))))
}

/// `POST /oauth/token`: the device code grant (RFC 8628 §3.4–3.5), and
/// `refresh_token` (RFC 6749 §6): new tokens for a grant, the refresh token
/// rotated at every use.
#[utoipa::path(post, path = "/oauth/token", tag = "device-grant", request_body(content = crate::openapi::TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The device's tokens: once for a device code, at every refresh for a refresh token", body = crate::openapi::TokenBody), (status = "default", description = "RFC 6749 §5.2: 400 for what the client can act on (a refresh token used before: invalid_grant, and the grant is ended), 401 (with WWW-Authenticate) only for a failed client authentication, 503 when busy", body = crate::openapi::OAuthErrorBody)))]
pub async fn token(
    State(state): State<AppState>,
    uri: Uri,
    request: Result<PlexRequest, ApiError>,
) -> Result<Response, OAuthError> {
    refuse_secrets_in_query(&uri)?;
    let request = request?;
    let refresh = match request.get("grant_type") {
        None => return Err(OAuthError::InvalidRequest("grant_type is missing".into())),
        Some(DEVICE_CODE_GRANT | GOOGLE_DEVICE_GRANT) => false,
        Some(REFRESH_GRANT) => true,
        Some(_) => return Err(OAuthError::UnsupportedGrantType),
    };
    let application = authenticate_client(&state, &request, Hot::Yes).await?;
    let issued = if refresh {
        let presented = request
            .get("refresh_token")
            .ok_or_else(|| OAuthError::InvalidRequest("refresh_token is missing".into()))?;
        match state
            .core
            .refresh_grant(&application, presented, &request.client_address())
            .await
        {
            Err(CoreError::RateLimited { retry_after_secs }) => {
                return Err(OAuthError::TryLater { retry_after_secs })
            }
            other => other?,
        }
    } else {
        let device_code = request
            .get("device_code")
            .or_else(|| request.get("code"))
            .ok_or_else(|| OAuthError::InvalidRequest("device_code is missing".into()))?;
        let wait = request.wait()?;
        state
            .core
            .redeem_device_code(&application, device_code, wait, &request.client_address())
            .await?
    };
    let mut answer = json!({
        "access_token": issued.token.expose(),
        "token_type": "Bearer",
    });
    // A string, as clients need (octokit splits it); left out when none
    // was asked for.
    if !issued.scope.is_empty() {
        answer["scope"] = json!(issued.scope.as_ref());
    }
    if let Some(secs) = issued.expires_in {
        answer["expires_in"] = json!(secs);
    }
    if let Some(refresh_token) = &issued.refresh_token {
        answer["refresh_token"] = json!(refresh_token.expose());
    }
    if let Some(id_token) = &issued.id_token {
        answer["id_token"] = json!(id_token);
    }
    Ok(no_store(Json(answer)))
}

/// `POST /oauth/introspect` (RFC 7662), for confidential applications: what
/// a live access token of this server is (whose, for which application,
/// which scope, until when), or exactly `{"active": false}` for anything
/// else — unknown, expired, revoked, a refresh token, a plex.tv device's
/// token.
#[utoipa::path(post, path = "/oauth/introspect", tag = "device-grant", request_body(content = crate::openapi::RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "RFC 7662 §2.2", body = crate::openapi::IntrospectionBody), (status = "default", description = "401 invalid_client for a public application or a wrong secret", body = crate::openapi::OAuthErrorBody)))]
pub async fn introspect(
    State(state): State<AppState>,
    uri: Uri,
    request: Result<PlexRequest, ApiError>,
) -> Result<Response, OAuthError> {
    let (application, request) = client_request(&state, &uri, request, Hot::Yes).await?;
    let answer = match state
        .core
        .introspect(&application, token_field(&request)?)
        .await?
    {
        None => json!({ "active": false }),
        Some(live) => {
            let mut answer = json!({
                "active": true,
                "sub": live.sub,
                "client_id": live.client_id.as_str(),
                "username": live.username,
                "scope": live.scope,
                "iat": live.iat,
                "token_type": "Bearer",
                "iss": state.public_url.as_ref(),
            });
            if let Some(exp) = live.exp {
                answer["exp"] = json!(exp);
            }
            answer
        }
    };
    Ok(no_store(Json(answer)))
}

/// `POST /oauth/revoke` (RFC 7009): the device holding the token is
/// removed; 200 for an unknown token too (§2.2).
#[utoipa::path(post, path = "/oauth/revoke", tag = "device-grant", request_body(content = crate::openapi::RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Revoked (or unknown: RFC 7009 §2.2)"), (status = "default", description = "RFC 6749 §5.2: 400 for what the client can act on, 401 (with WWW-Authenticate) only for a failed client authentication, 503 when busy", body = crate::openapi::OAuthErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    uri: Uri,
    request: Result<PlexRequest, ApiError>,
) -> Result<Response, OAuthError> {
    let (application, request) = client_request(&state, &uri, request, Hot::No).await?;
    let token = token_field(&request)?;
    state
        .core
        .revoke_for_application(&application, token)
        .await?;
    Ok(no_store(StatusCode::OK))
}

/// Names of the parameters that carry a secret.
const SECRET_PARAMETERS: [&str; 6] = [
    "client_secret",
    "refresh_token",
    "device_code",
    "code",
    "token",
    "access_token",
];

/// Credentials come in the body or the `Authorization` header, never in the
/// URL, which proxies and browsers keep in their logs (RFC 6749 §2.3.1 and
/// §3.2, RFC 7662 §2.1, RFC 6750 §2.3).
pub(crate) fn refuse_secrets_in_query(uri: &Uri) -> Result<(), OAuthError> {
    let Some(query) = uri.query() else {
        return Ok(());
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    match pairs
        .iter()
        .find(|(name, _)| SECRET_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()))
    {
        Some((name, _)) => Err(OAuthError::InvalidRequest(format!(
            "{name} must be sent in the request body, not in the URL"
        ))),
        None => Ok(()),
    }
}

/// Whether a request is on the hot path (token requests, every few
/// seconds per device), where the application may come from memory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hot {
    Yes,
    No,
}

/// The application making the request (RFC 6749 §2.3): HTTP Basic, or
/// `client_id` (and `client_secret`) in the body; not both.
/// How the endpoints a client calls with its credentials begin: no
/// secrets in the URL, a readable request, the application authenticated.
async fn client_request(
    state: &AppState,
    uri: &Uri,
    request: Result<PlexRequest, ApiError>,
    hot: Hot,
) -> Result<(Application, PlexRequest), OAuthError> {
    refuse_secrets_in_query(uri)?;
    let request = request?;
    let application = authenticate_client(state, &request, hot).await?;
    Ok((application, request))
}

/// RFC 7009's and RFC 7662's `token` field.
fn token_field(request: &PlexRequest) -> Result<&str, OAuthError> {
    request
        .get("token")
        .ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))
}

async fn authenticate_client(
    state: &AppState,
    request: &PlexRequest,
    hot: Hot,
) -> Result<Application, OAuthError> {
    let (id, secret) = match request.basic_credentials() {
        Some(credentials) => {
            let (id, secret) = credentials.map_err(|_| CoreError::InvalidClient)?;
            // A public client may send an empty password.
            let secret = Some(secret).filter(|s| !s.is_empty());
            if request
                .get("client_id")
                .is_some_and(|body_id| body_id != id)
            {
                return Err(OAuthError::InvalidRequest(
                    "client_id differs from the Basic credentials".into(),
                ));
            }
            (id, secret)
        }
        None => {
            let id = request
                .get("client_id")
                .ok_or_else(|| OAuthError::InvalidRequest("client_id is missing".into()))?;
            // Some libraries always send `client_secret`, empty for a
            // public client (yup-oauth2).
            let secret = request
                .get("client_secret")
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            (id.to_owned(), secret)
        }
    };
    let core = &state.core;
    Ok(match hot {
        Hot::Yes => {
            core.authenticate_application_for_token(&id, secret.as_deref())
                .await?
        }
        Hot::No => {
            core.authenticate_application(&id, secret.as_deref())
                .await?
        }
    })
}

/// The device's metadata: `X-Plex-*` parameters if it sent them, else the
/// plain form fields a device-grant client may send (`device_name`,
/// `platform`, …); the product is the application's name unless it says
/// otherwise.
fn device_info(
    request: &PlexRequest,
    application: &Application,
) -> Result<pinlink_core::DeviceInfo, CoreError> {
    let either = |plex: &str, plain: &str| request.get(plex).or_else(|| request.get(plain));
    let product = either("X-Plex-Product", "product")
        .filter(|p| !p.trim().is_empty())
        .unwrap_or(&application.name);
    pinlink_core::DeviceInfo::parse(RawDeviceInfo {
        product: Some(product),
        version: either("X-Plex-Version", "version"),
        platform: either("X-Plex-Platform", "platform"),
        platform_version: either("X-Plex-Platform-Version", "platform_version"),
        device: either("X-Plex-Device", "device"),
        device_name: either("X-Plex-Device-Name", "device_name"),
        model: either("X-Plex-Model", "model"),
        vendor: either("X-Plex-Device-Vendor", "vendor"),
        provides: request.get("X-Plex-Provides"),
    })
}

/// Tokens and codes must not be cached (RFC 6749 §5.1).
pub(crate) fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
