//! The plex.tv-compatible API: handlers that translate requests into calls
//! on the core and the core's answers into wire bodies.

pub mod account;
pub mod auth;
pub mod devices;
pub mod pins;
pub mod users;

use pinlink_core::{CoreError, Session};

use crate::error::ApiError;
use crate::request::PlexRequest;
use crate::state::AppState;

/// The account behind the request's `X-Plex-Token`, or 401.
pub async fn authenticate(state: &AppState, request: &PlexRequest) -> Result<Session, ApiError> {
    let token = request.token().ok_or(CoreError::Unauthenticated)?;
    Ok(state.core.authenticate(token).await?)
}
