//! `/reset?token=…`: the page an operator's reset link opens (`pinlink
//! user reset NAME`), where the person sets a new password. The link works
//! once, for a day; using it signs every device of the account out.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use pinlink_core::{CoreError, Origin};
use serde::Deserialize;

use super::reply::{render, PageError};
use super::views::{MessagePage, ResetPage};
use super::visitor::{Posted, Visitor};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct ResetQuery {
    #[serde(default)]
    token: String,
}

fn expired(state: &AppState, visitor: &Visitor) -> Response {
    let page = MessagePage {
        nav: visitor.nav(state),
        heading: "This link does not work",
        text: "It has run out, or it was used already. Ask the server's operator for a new one."
            .to_owned(),
        tone: "bad",
        link: None,
    };
    visitor.finish(render(StatusCode::NOT_FOUND, &page))
}

/// `GET /reset?token=…`.
pub async fn form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<ResetQuery>,
) -> Result<Response, PageError> {
    let Some((account, drops_two_step)) = state.core.password_reset_account(&query.token).await?
    else {
        return Ok(expired(&state, &visitor));
    };
    let page = ResetPage {
        nav: visitor.nav(&state),
        error: None,
        token: query.token,
        username: account.username.as_str().to_owned(),
        drops_two_step,
    };
    Ok(visitor.finish(render(StatusCode::OK, &page)))
}

#[derive(Deserialize)]
pub struct ResetForm {
    token: String,
    password: String,
    again: String,
}

/// `POST /reset`.
pub async fn reset(
    State(state): State<AppState>,
    Posted { visitor, form }: Posted<ResetForm>,
) -> Result<Response, PageError> {
    let Some((account, drops_two_step)) = state.core.password_reset_account(&form.token).await?
    else {
        return Ok(expired(&state, &visitor));
    };
    let problem = |message: String, status: StatusCode| {
        let page = ResetPage {
            nav: visitor.nav(&state),
            error: Some(message),
            token: form.token.clone(),
            username: account.username.as_str().to_owned(),
            drops_two_step,
        };
        visitor.finish(render(status, &page))
    };
    if form.password != form.again {
        return Ok(problem(
            "The passwords differ.".to_owned(),
            StatusCode::BAD_REQUEST,
        ));
    }
    let (_, device) = visitor.as_device()?;
    let origin = Origin::of(&visitor.from, &device);
    match state
        .core
        .complete_password_reset(&form.token, form.password.clone(), &origin)
        .await
    {
        Ok(_) => {
            let page = MessagePage {
                nav: visitor.nav(&state),
                heading: "Your password is set",
                text: "Every device and browser was signed out. Sign in with the new password."
                    .to_owned(),
                tone: "ok",
                link: Some(("/login", "Sign in")),
            };
            Ok(visitor.signed_out_with(render(StatusCode::OK, &page)))
        }
        Err(CoreError::PinNotFound) => Ok(expired(&state, &visitor)),
        Err(e @ CoreError::InvalidInput(_)) => {
            let public = ApiError::Core(e).public();
            Ok(problem(public.message, public.status))
        }
        Err(e) => Err(e.into()),
    }
}
