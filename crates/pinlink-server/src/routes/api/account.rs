//! What apps call right after a login (reference §B.2): `ping`, the
//! account's friends, its home's users, its webhooks and servers, and the
//! legacy password sign-in with HTTP Basic. pinlink keeps no friends, homes
//! or webhooks, so those answer the shape the real clients parse: the owner
//! as the home's only user, empty lists elsewhere. Servers are the account's
//! devices that provide `server`, with the connections they published.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use base64::Engine as _;
use pinlink_core::{Account, CoreError, Password, SignIn};
use pinlink_proto::{
    EmptyList, Friends, HomeUser, HomeUsers, Pong, ResourceBody, ResourceConnection, Resources,
    UserEnvelope,
};

use super::authenticate;
use super::users::{user_body, UNNAMED_PRODUCT};
use crate::error::ApiError;
use crate::reply::Reply;
use crate::request::PlexRequest;
use crate::state::AppState;

/// `GET /api/v2/ping`: `pong` for a live token, 401 for a dead one, whatever
/// client identifier comes with it (Overseerr pings with a random one).
#[utoipa::path(get, path = "/api/v2/ping", tag = "account", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The token is live", content((crate::openapi::PongBody = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn ping(State(state): State<AppState>, request: PlexRequest) -> Result<Reply, ApiError> {
    authenticate(&state, &request).await?;
    Ok(Reply::ok(Pong))
}

/// v1 `GET /api/users` (and `/api/users/`): the account's friends, none.
#[utoipa::path(get, path = "/api/users", tag = "account", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The account's friends (none), v1: always XML", content_type = "application/xml", body = String), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn friends(
    State(state): State<AppState>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    let session = authenticate(&state, &request).await?;
    Ok(Reply::xml_only(Friends {
        machine_identifier: session.account.uuid.clone(),
    }))
}

fn home_users(state: &AppState, account: &Account) -> HomeUsers {
    let name = account.username.as_str().to_owned();
    HomeUsers {
        home_id: account.id.0,
        name: name.clone(),
        machine_identifier: account.uuid.clone(),
        users: vec![HomeUser {
            id: account.id.0,
            uuid: account.uuid.clone(),
            title: name.clone(),
            username: name.clone(),
            email: account.email.as_str().to_owned(),
            friendly_name: name,
            thumb: super::users::avatar_url(state, account),
            has_password: true,
            restricted: false,
            updated_at: account.created_at.0,
            restriction_profile: None,
            admin: true,
            guest: false,
            protected: false,
        }],
    }
}

/// `GET /api/v2/home/users`: the account's home, with the owner as its one user.
#[utoipa::path(get, path = "/api/v2/home/users", tag = "account", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The account's home: the owner", content((crate::openapi::HomeBody = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn home_users_v2(
    State(state): State<AppState>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    let session = authenticate(&state, &request).await?;
    Ok(Reply::ok(home_users(&state, &session.account)))
}

/// v1 `GET /api/home/users`: the same, as plex.tv's v1 XML.
#[utoipa::path(get, path = "/api/home/users", tag = "account", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The same, v1: always XML", content_type = "application/xml", body = String), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn home_users_v1(
    State(state): State<AppState>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    let session = authenticate(&state, &request).await?;
    Ok(Reply::xml_only(home_users(&state, &session.account)))
}

/// `GET /api/v2/user/webhooks`: none.
#[utoipa::path(get, path = "/api/v2/user/webhooks", tag = "account", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 200, description = "None", content((Vec<crate::openapi::Object> = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn webhooks(
    State(state): State<AppState>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    authenticate(&state, &request).await?;
    Ok(Reply::ok(EmptyList {
        element: "webhooks",
    }))
}

/// The account's servers (devices that provide `server`), with the
/// connections they published; none is an empty list, not a 404 (Home
/// Assistant then says "no servers found").
async fn resources(
    state: &AppState,
    request: &PlexRequest,
    v1: bool,
) -> Result<Resources, ApiError> {
    let session = authenticate(state, request).await?;
    let servers = state.core.resources(&session).await?;
    Ok(Resources {
        resources: servers
            .iter()
            .map(|d| ResourceBody {
                name: d.info.device_name.to_string(),
                product: d.info.product.as_str().to_owned(),
                product_version: d.info.version.to_string(),
                platform: d.info.platform.to_string(),
                platform_version: d.info.platform_version.to_string(),
                device: d.info.device.to_string(),
                client_identifier: d.client_identifier.as_str().to_owned(),
                created_at: d.created_at.0,
                last_seen_at: d.last_seen_at.0,
                provides: d.info.provides.to_string(),
                access_token: d
                    .token
                    .as_ref()
                    .map(|t| t.expose().to_owned())
                    .unwrap_or_default(),
                connections: d
                    .connections
                    .iter()
                    .filter_map(|uri| ResourceConnection::from_uri(uri))
                    .collect(),
            })
            .collect(),
        v1,
    })
}

/// `GET /api/v2/resources`: JSON or XML.
#[utoipa::path(get, path = "/api/v2/resources", tag = "account", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The account's servers", content((Vec<crate::openapi::ResourceJson> = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn resources_v2(
    State(state): State<AppState>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    Ok(Reply::ok(resources(&state, &request, false).await?))
}

/// v1 `GET /api/resources`: always XML.
#[utoipa::path(get, path = "/api/resources", tag = "account", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The account's servers, v1: always XML", content_type = "application/xml", body = String), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn resources_v1(
    State(state): State<AppState>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    Ok(Reply::xml_only(resources(&state, &request, true).await?))
}

/// The login and password of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (login, password) = text.split_once(':')?;
    Some((login.to_owned(), password.to_owned()))
}

/// Legacy `POST /users/sign_in.json` / `.xml`: the login and password in an
/// HTTP Basic header (or the form fields of the v2 sign-in); 201 with
/// `{"user": {…}}`. The same core sign-in, with the same budgets.
#[utoipa::path(post, path = "/users/sign_in", tag = "users", params(crate::openapi::ClientHeader), request_body(content = crate::openapi::SignInForm, content_type = "application/x-www-form-urlencoded", description = "Or HTTP Basic"),
    responses((status = 201, description = "The legacy wrapper, with a new token", content((crate::openapi::UserEnvelopeBody = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn sign_in_legacy(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    let (login, password) = match basic_credentials(&headers) {
        Some(credentials) => credentials,
        None => {
            let login = request.get("login").or_else(|| request.get("user[login]"));
            let password = request
                .get("password")
                .or_else(|| request.get("user[password]"));
            match (login, password) {
                (Some(login), Some(password)) => (login.to_owned(), password.to_owned()),
                _ => {
                    return Err(CoreError::InvalidInput(
                        "login and password are required (HTTP Basic or form fields)".into(),
                    )
                    .into())
                }
            }
        }
    };
    let sign_in = SignIn {
        login,
        password: Password::presented(password),
        verification_code: request.verification_code(),
        client_identifier: request.client_identifier()?,
        device: request.device_info_or(UNNAMED_PRODUCT)?,
        from: request.client_address(),
    };
    let (account, token) = state.core.sign_in(sign_in).await?;
    let user = user_body(&state, &account, &token, state.core.now());
    Ok(Reply::new(StatusCode::CREATED, UserEnvelope { user }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn basic_credentials_are_read_and_anything_else_is_not() {
        let mut headers = HeaderMap::new();
        // "alice:correct horse:with colon"
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YWxpY2U6Y29ycmVjdCBob3JzZTp3aXRoIGNvbG9u"),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("alice".into(), "correct horse:with colon".into()))
        );
        for bad in ["Bearer abc", "Basic !!!", "Basic YWxpY2U=", "Basic"] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(basic_credentials(&headers), None, "{bad}");
        }
    }
}
