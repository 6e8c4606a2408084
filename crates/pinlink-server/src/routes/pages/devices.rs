//! `/devices`: the account's devices, each with a Revoke button.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use pinlink_core::DeviceId;

use super::reply::{render, PageError};
use super::views::{DeviceRow, DevicesPage};
use super::visitor::{Posted, Visitor};
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let account = visitor.require_account(&here)?;
    let now = state.core.now();
    let this_browser = visitor.session.as_ref().map(|s| s.device_id);
    let devices = state
        .core
        .devices(account)
        .await?
        .iter()
        .map(|d| DeviceRow::of(d, now, Some(d.id) == this_browser))
        .collect();
    let page = DevicesPage {
        nav: visitor.nav(&state),
        notice: None,
        devices,
    };
    Ok(visitor.finish(render(StatusCode::OK, &page)))
}

/// Revokes a device: every token it holds stops working at once. Revoking
/// this browser signs it out.
pub async fn revoke(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Path(id): Path<i64>,
    Posted { visitor, .. }: Posted<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let account = visitor.require_account(&here)?;
    state
        .core
        .remove_device(account, DeviceId(id), &visitor.from)
        .await?;
    if visitor.session.as_ref().map(|s| s.device_id) == Some(DeviceId(id)) {
        return Ok(visitor.signed_out("/login"));
    }
    Ok(visitor.finish(Redirect::to("/devices")))
}
