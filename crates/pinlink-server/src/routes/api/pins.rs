//! `/api/v2/pins`: create, poll, link, and the QR image.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use pinlink_core::plex_jwt::Jwk;
use pinlink_core::{CoreError, NewPin, Pin, PinCode, PinId, UnixTime};
use pinlink_proto::PinBody;

use super::authenticate;
use crate::error::ApiError;
use crate::reply::Reply;
use crate::request::PlexRequest;
use crate::state::AppState;

fn pin_body(state: &AppState, pin: &Pin, auth_token: Option<String>, now: UnixTime) -> PinBody {
    PinBody {
        id: pin.id.0,
        code: pin.code.as_str().to_owned(),
        product: pin.device.product.as_str().to_owned(),
        trusted: false,
        qr: format!("{}/api/v2/pins/qr/{}", state.public_url, pin.code.as_str()),
        client_identifier: pin.client_identifier.as_str().to_owned(),
        location: state.location.clone(),
        expires_in: pin.expires_in(now),
        created_at: pin.created_at.0,
        expires_at: pin.expires_at.0,
        // plex.tv sends null until the pin is claimed and false after
        // (protocol reference §2); pinlink never creates accounts on link.
        new_registration: auth_token.as_ref().map(|_| false),
        auth_token,
    }
}

/// `POST /api/v2/pins`: 201 with the new pin.
#[utoipa::path(post, path = "/api/v2/pins", tag = "pins", params(crate::openapi::DeviceHeaders, crate::openapi::ClientHeader, ("strong" = Option<bool>, Query, description = "A 25-character code for approval links and QR codes rather than 4 characters to type")),
    responses((status = 201, description = "The new pin", content((pinlink_proto::PinBody = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn create(
    State(state): State<AppState>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    let jwk = request
        .json_object("jwk")?
        .map(|jwk| Jwk::parse(&jwk))
        .transpose()?;
    let new_pin = NewPin {
        client_identifier: request.client_identifier()?,
        device: request.device_info()?,
        strong: request.flag("strong")?,
        requester: request.client_address(),
        jwk,
        grant: None,
    };
    let pin = state.core.create_pin(new_pin).await?;
    Ok(Reply::new(
        StatusCode::CREATED,
        pin_body(&state, &pin, None, state.core.now()),
    ))
}

/// `GET /api/v2/pins/{id}`: the pin, with its token once linked. With
/// `wait=N` (pinlink's own, seconds, at most 25) a pin not linked yet is
/// held until it is, or N seconds pass: a long poll.
#[utoipa::path(get, path = "/api/v2/pins/{id}", tag = "pins", params(("id" = u32, Path, description = "The pin's id"), crate::openapi::ClientHeader, ("wait" = Option<u32>, Query, minimum = 0, maximum = 4294967295_u64, description = "Hold the answer until the pin is linked, up to this many seconds (at most 25 are held): pinlink's long poll")),
    responses((status = 200, description = "The pin; `authToken` once linked", content((pinlink_proto::PinBody = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn poll(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    let id = PinId::parse(&id)?;
    let client = request.client_identifier()?;
    let wait = request.wait()?;
    let polled = state
        .core
        .poll_waiting(
            id,
            &client,
            request.get("deviceJWT"),
            wait,
            &request.client_address(),
        )
        .await?;
    Ok(Reply::ok(pin_body(
        &state,
        &polled.pin,
        polled.auth_token,
        state.core.now(),
    )))
}

/// `PUT /api/v2/pins/link`: the signed-in account claims a code; 204.
#[utoipa::path(put, path = "/api/v2/pins/link", tag = "pins", security(("plex_token" = []), ("bearer" = [])), request_body(content = crate::openapi::CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 204, description = "Linked to the token's account"), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn link(State(state): State<AppState>, request: PlexRequest) -> Result<Reply, ApiError> {
    let session = authenticate(&state, &request).await?;
    let code = request.get("code").unwrap_or_default();
    state
        .core
        .link_code(&session, code, &request.client_address())
        .await?;
    Ok(Reply::status(StatusCode::NO_CONTENT))
}

/// `GET /api/v2/pins/qr/{code}`: a PNG QR code of the page where a person
/// approves a pin with this code, `/link?pin=CODE`.
///
/// The image is made from the code alone, without looking it up: anyone may
/// fetch it, so an answer that depended on the pin would tell a stranger
/// which codes are live (an oracle that lists every live code in a minute).
/// Any well-formed code gets its image; the page it leads to asks for a
/// sign-in and spends the budget of wrong codes like every other.
#[utoipa::path(get, path = "/api/v2/pins/qr/{code}", tag = "pins", params(("code" = String, Path, description = "A pin code")),
    responses((status = 200, description = "A PNG QR code of `/link?pin=CODE`, drawn from the code alone", content_type = "image/png", body = Vec<u8>), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn qr(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let code = PinCode::parse_user_input(&code).ok_or(CoreError::PinNotFound)?;
    let target = link_url(&state.public_url, &code);
    let png = crate::qr::png(&target).map_err(CoreError::Internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response())
}

/// The page where a person types or confirms `code` (both kinds are
/// accepted there).
pub fn link_url(public_url: &str, code: &PinCode) -> String {
    format!("{public_url}/link?pin={}", code.as_str())
}
