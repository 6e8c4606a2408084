//! The account's devices: list and revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use pinlink_core::{CoreError, Device, DeviceId};
use pinlink_proto::{DeviceBody, DeviceList};

use super::authenticate;
use crate::error::ApiError;
use crate::reply::Reply;
use crate::request::PlexRequest;
use crate::state::AppState;

fn device_body(device: &Device) -> DeviceBody {
    let info = &device.info;
    DeviceBody {
        id: device.id.0,
        name: info.device_name.to_string(),
        product: info.product.as_str().to_owned(),
        product_version: info.version.to_string(),
        platform: info.platform.to_string(),
        platform_version: info.platform_version.to_string(),
        device: info.device.to_string(),
        model: info.model.to_string(),
        vendor: info.vendor.to_string(),
        provides: info.provides.to_string(),
        client_identifier: device.client_identifier.as_str().to_owned(),
        version: info.version.to_string(),
        token: device
            .token
            .as_ref()
            .map(|t| t.expose().to_owned())
            .unwrap_or_default(),
        created_at: device.created_at.0,
        last_seen_at: device.last_seen_at.0,
        screen_resolution: String::new(),
        screen_density: String::new(),
        public_address: String::new(),
        connections: device.connections.clone(),
    }
}

/// `PUT /devices/{clientIdentifier}` (some clients put the numeric id) with
/// `Connection[][uri]=…` (repeated): what a Plex Media Server does to
/// publish how to reach it. Replaces the device's connections; 200.
#[utoipa::path(put, path = "/devices/{id}", tag = "devices", security(("plex_token" = []), ("bearer" = [])), params(("id" = String, Path, description = "The device's client identifier (or numeric id)")), request_body(content = crate::openapi::ConnectionsForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The server's connections replaced"), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn publish(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    let session = authenticate(&state, &request).await?;
    let mut uris: Vec<String> = request
        .all("Connection[][uri]")
        .into_iter()
        .chain(request.all("Connection[uri]"))
        .map(str::to_owned)
        .collect();
    uris.dedup();
    state.core.publish_connections(&session, &id, uris).await?;
    Ok(Reply::status(StatusCode::OK))
}

async fn device_list(
    state: &AppState,
    request: &PlexRequest,
    legacy: bool,
) -> Result<Reply, ApiError> {
    let session = authenticate(state, request).await?;
    let devices = state.core.devices(&session.account).await?;
    Ok(Reply::ok(DeviceList {
        devices: devices.iter().map(device_body).collect(),
        legacy,
    }))
}

/// `GET /api/v2/devices`: a JSON array, or `<devices>` in XML.
#[utoipa::path(get, path = "/api/v2/devices", tag = "devices", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The account's devices", content((Vec<pinlink_proto::DeviceBody> = "application/json"), (String = "application/xml"))), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn list(State(state): State<AppState>, request: PlexRequest) -> Result<Reply, ApiError> {
    device_list(&state, &request, false).await
}

/// `GET /devices.xml`: python-plexapi's `<MediaContainer><Device …/>`.
pub async fn list_legacy(
    State(state): State<AppState>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    device_list(&state, &request, true).await
}

/// `DELETE /devices/{id}.xml` (and `/api/v2/devices/{id}`): the device's
/// tokens stop working at once.
#[utoipa::path(delete, path = "/api/v2/devices/{id}", tag = "devices", security(("plex_token" = []), ("bearer" = [])), params(("id" = i64, Path, description = "The device's id")),
    responses((status = 200, description = "Revoked: its tokens no longer work"), (status = "default", description = "plex.tv's error: `{\"errors\": [{code, message, status}]}` (XML without `Accept: application/json`)", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    let session = authenticate(&state, &request).await?;
    let id: i64 = id
        .parse()
        .map_err(|_| CoreError::InvalidInput(format!("device id {id:?} is not a number")))?;
    state
        .core
        .remove_device_with_token(&session, DeviceId(id), &request.client_address())
        .await?;
    Ok(Reply::status(StatusCode::OK))
}

/// `DELETE /devices/{id}` (`.xml`): [`revoke`] under plex.tv's legacy path.
#[utoipa::path(delete, path = "/devices/{id}", tag = "devices", security(("plex_token" = []), ("bearer" = [])), params(("id" = i64, Path, description = "The device's id")),
    responses((status = 200, description = "Revoked: its tokens no longer work"), (status = "default", description = "plex.tv's error", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn revoke_legacy(
    state: State<AppState>,
    id: Path<String>,
    request: PlexRequest,
) -> Result<Reply, ApiError> {
    revoke(state, id, request).await
}

/// `/devices` is both plex.tv's device list (`/devices.xml`, with a token)
/// and the page where a person manages their devices.
#[utoipa::path(get, path = "/devices", tag = "devices", security(("plex_token" = []), ("bearer" = [])),
    responses((status = 200, description = "The legacy device list (`<MediaContainer><Device …/>` in XML, an array in JSON); a browser gets the devices page", content((Vec<pinlink_proto::DeviceBody> = "application/json"), (String = "application/xml"))),
        (status = "default", description = "plex.tv's error", content((pinlink_proto::ErrorBody = "application/json"), (String = "application/xml")))))]
pub async fn list_or_page(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::handler::Handler;
    if crate::routes::pages::is_browser_navigation(&request) {
        crate::routes::pages::devices::list
            .call(request, state)
            .await
    } else {
        list_legacy.call(request, state).await
    }
}
