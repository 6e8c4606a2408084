//! The passkey ceremonies, between the pages' one small script
//! (`assets/passkeys.js`) and the core: registering a passkey from
//! `/account`, signing in with one on `/login`. The script posts forms
//! (with the page's anti-forgery token, so every post passes the same
//! checks as the pages' forms) and gets JSON back: the options for
//! `navigator.credentials`, then the outcome.

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pinlink_core::{CoreError, Origin, PasskeyCeremony};
use serde::Deserialize;
use serde_json::{json, Value};

use super::next::safe_next;
use super::reply::PageError;
use super::visitor::Posted;
use crate::error::ApiError;
use crate::state::AppState;

/// A ceremony's start, for the script.
fn started(visitor: &super::visitor::Visitor, ceremony: PasskeyCeremony) -> Response {
    visitor.finish(Json(json!({
        "ceremony": ceremony.id,
        "options": ceremony.options,
    })))
}

/// A refusal, for the script to show: `{"error": message}` with the
/// status the API would answer.
fn refused(e: CoreError) -> Response {
    let public = ApiError::Core(e).public();
    (public.status, Json(json!({ "error": public.message }))).into_response()
}

/// The browser's credential, as the script sends it (JSON in a form field).
fn credential(text: &str) -> Result<Value, CoreError> {
    serde_json::from_str(text).map_err(|_| CoreError::PasskeyRefused)
}

/// `POST /account/passkeys/start`.
pub async fn start_registration(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, .. }: Posted<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    visitor.require_account(&here)?;
    let Some(session) = visitor.session.as_ref() else {
        return Err(PageError::Forged);
    };
    Ok(match state.core.start_passkey_registration(session).await {
        Ok(ceremony) => started(&visitor, ceremony),
        Err(e) => refused(e),
    })
}

#[derive(Deserialize)]
pub struct RegistrationForm {
    ceremony: String,
    credential: String,
    #[serde(default)]
    name: String,
}

/// `POST /account/passkeys/finish`.
pub async fn finish_registration(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, form }: Posted<RegistrationForm>,
) -> Result<Response, PageError> {
    visitor.require_account(&here)?;
    let Some(session) = visitor.session.as_ref() else {
        return Err(PageError::Forged);
    };
    let (_, device) = visitor.as_device()?;
    let origin = Origin::of(&visitor.from, &device);
    let finished = match credential(&form.credential) {
        Ok(answer) => {
            state
                .core
                .finish_passkey_registration(session, &form.ceremony, &form.name, &answer, &origin)
                .await
        }
        Err(e) => Err(e),
    };
    Ok(match finished {
        Ok(()) => visitor.finish((StatusCode::CREATED, Json(json!({ "ok": true })))),
        Err(e) => refused(e),
    })
}

/// `POST /login/passkey/start`: no session needed.
pub async fn start_sign_in(
    State(state): State<AppState>,
    Posted { visitor, .. }: Posted<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    Ok(
        match state.core.start_passkey_sign_in(&visitor.from).await {
            Ok(ceremony) => started(&visitor, ceremony),
            Err(e) => refused(e),
        },
    )
}

#[derive(Deserialize)]
pub struct SignInForm {
    ceremony: String,
    credential: String,
    #[serde(default)]
    next: String,
}

/// `POST /login/passkey/finish`: on success the browser is signed in (the
/// session cookie) and told where to go.
pub async fn finish_sign_in(
    State(state): State<AppState>,
    Posted { visitor, form }: Posted<SignInForm>,
) -> Result<Response, PageError> {
    let (client_identifier, device) = visitor.as_device()?;
    let signed_in = match credential(&form.credential) {
        Ok(answer) => {
            state
                .core
                .finish_passkey_sign_in(
                    &form.ceremony,
                    &answer,
                    client_identifier,
                    device,
                    visitor.from,
                )
                .await
        }
        Err(e) => Err(e),
    };
    Ok(match signed_in {
        Ok((_, token)) => {
            let next = safe_next(&form.next).to_owned();
            visitor.signed_in_with(&token, Json(json!({ "next": next })))
        }
        Err(e) => refused(e),
    })
}
