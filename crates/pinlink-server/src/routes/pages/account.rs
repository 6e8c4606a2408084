//! The start page, first-start setup, signing in and out, and sign-up.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use pinlink_core::{Account, CoreError, Password, SignIn, TwoStepTicket};
use serde::Deserialize;

use super::next::safe_next;
use super::reply::{render, PageError};
use super::views::{HomePage, LoginCodePage, LoginPage, SetupPage, SignupPage};
use super::visitor::{Posted, Visitor};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

/// `/`: the first-account form while no account exists, then the signed-in
/// start page.
pub async fn home(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<SetupQuery>,
) -> Result<Response, PageError> {
    if state.core.needs_first_account().await? {
        let page = SetupPage {
            nav: visitor.nav(&state),
            error: None,
            token: query.token,
            username: String::new(),
            email: String::new(),
        };
        return Ok(visitor.finish(render(StatusCode::OK, &page)));
    }
    let Some(account) = visitor.account() else {
        return Ok(visitor.finish(Redirect::to("/login")));
    };
    let page = HomePage {
        nav: visitor.nav(&state),
        username: account.username.as_str().to_owned(),
    };
    Ok(visitor.finish(render(StatusCode::OK, &page)))
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    username: String,
    email: String,
    password: String,
}

pub async fn setup(
    State(state): State<AppState>,
    Posted { visitor, form }: Posted<SetupForm>,
) -> Result<Response, PageError> {
    let created = state
        .core
        .create_first_account(
            &form.token,
            &form.username,
            &form.email,
            form.password.clone(),
        )
        .await;
    match created {
        Ok(account) => {
            tracing::info!(
                account = account.id.0,
                "first account created from the setup page"
            );
            sign_in_and_go(
                &state,
                &visitor,
                account.username.as_str(),
                form.password,
                "/",
            )
            .await
        }
        Err(e) if is_form_mistake(&e) => {
            let status = ApiError::Core(e).public();
            let page = SetupPage {
                nav: visitor.nav(&state),
                error: Some(status.message),
                token: form.token,
                username: form.username,
                email: form.email,
            };
            Ok(visitor.finish(render(status.status, &page)))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

pub async fn login_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = safe_next(&query.next).to_owned();
    if visitor.account().is_some() {
        return Ok(visitor.finish(Redirect::to(&next)));
    }
    if state.core.needs_first_account().await? {
        return Ok(visitor.finish(Redirect::to("/")));
    }
    let page = LoginPage {
        nav: visitor.nav(&state),
        error: None,
        login: String::new(),
        next,
        open_signup: state.open_signup,
        passkeys: state.core.passkeys_available(),
    };
    Ok(visitor.finish(render(StatusCode::OK, &page)))
}

#[derive(Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(state): State<AppState>,
    Posted { visitor, form }: Posted<LoginForm>,
) -> Result<Response, PageError> {
    let next = safe_next(&form.next).to_owned();
    match sign_in_and_go(&state, &visitor, &form.login, form.password, &next).await {
        // The password was right; the account wants its code too.
        Err(PageError::Core(CoreError::VerificationCodeRequired { ticket })) => {
            let page = LoginCodePage {
                nav: visitor.nav(&state),
                error: None,
                ticket: ticket.expose().to_owned(),
                next,
            };
            Ok(visitor.finish(render(StatusCode::OK, &page)))
        }
        Err(PageError::Core(e)) if is_sign_in_refusal(&e) => {
            let (status, message) = sign_in_refusal(e);
            let page = LoginPage {
                nav: visitor.nav(&state),
                error: Some(message),
                login: form.login,
                next,
                open_signup: state.open_signup,
                passkeys: state.core.passkeys_available(),
            };
            Ok(visitor.finish(render(status, &page)))
        }
        other => other,
    }
}

/// Refusals a person reads on the sign-in page rather than on an error page.
fn is_sign_in_refusal(e: &CoreError) -> bool {
    matches!(
        e,
        CoreError::Unauthenticated
            | CoreError::SignInLockedOut { .. }
            | CoreError::AccountDisabled
            | CoreError::VerificationCodeWrong
            | CoreError::PasskeyRefused
    )
}

/// A refused sign-in, worded for the page: its status and message.
fn sign_in_refusal(e: CoreError) -> (StatusCode, String) {
    let plain = matches!(e, CoreError::Unauthenticated);
    let public = ApiError::Core(e).public();
    let message = match public.retry_after_secs {
        Some(secs) => format!(
            "Too many failed sign-ins. Try again {}.",
            super::views::wait_text(secs)
        ),
        None if plain => "Wrong username or password.".to_owned(),
        None => public.message,
    };
    (public.status, message)
}

#[derive(Deserialize)]
pub struct LoginCodeForm {
    ticket: String,
    code: String,
    #[serde(default)]
    next: String,
}

/// `/login`'s second step: the code, with the ticket of the first.
pub async fn login_code(
    State(state): State<AppState>,
    Posted { visitor, form }: Posted<LoginCodeForm>,
) -> Result<Response, PageError> {
    let next = safe_next(&form.next).to_owned();
    let (client_identifier, device) = visitor.as_device()?;
    let ticket = TwoStepTicket::presented(form.ticket.clone());
    let signed_in = state
        .core
        .sign_in_with_ticket(&ticket, &form.code, client_identifier, device, visitor.from)
        .await;
    match signed_in {
        Ok((_, token)) => Ok(visitor.signed_in(&token, &next)),
        // The ticket is forged or ran out: from the start.
        Err(CoreError::Unauthenticated) => {
            let page = LoginPage {
                nav: visitor.nav(&state),
                error: Some("That took too long: sign in again.".to_owned()),
                login: String::new(),
                next,
                open_signup: state.open_signup,
                passkeys: state.core.passkeys_available(),
            };
            Ok(visitor.finish(render(StatusCode::UNAUTHORIZED, &page)))
        }
        Err(e) if is_sign_in_refusal(&e) => {
            let (status, message) = sign_in_refusal(e);
            let page = LoginCodePage {
                nav: visitor.nav(&state),
                error: Some(message),
                ticket: form.ticket,
                next,
            };
            Ok(visitor.finish(render(status, &page)))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    Posted { visitor, .. }: Posted<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    if let Some(session) = &visitor.session {
        state.core.sign_out(session).await?;
    }
    Ok(visitor.signed_out("/login"))
}

pub async fn signup_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<NextQuery>,
) -> Result<Response, PageError> {
    if !state.open_signup {
        return Err(PageError::NotFound);
    }
    let page = SignupPage {
        nav: visitor.nav(&state),
        error: None,
        username: String::new(),
        email: String::new(),
        next: safe_next(&query.next).to_owned(),
    };
    Ok(visitor.finish(render(StatusCode::OK, &page)))
}

#[derive(Deserialize)]
pub struct SignupForm {
    username: String,
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn signup(
    State(state): State<AppState>,
    Posted { visitor, form }: Posted<SignupForm>,
) -> Result<Response, PageError> {
    if !state.open_signup {
        return Err(PageError::NotFound);
    }
    let next = safe_next(&form.next).to_owned();
    let created: Result<Account, CoreError> = state
        .core
        .sign_up(
            &form.username,
            &form.email,
            form.password.clone(),
            &visitor.from,
        )
        .await;
    match created {
        Ok(account) => {
            sign_in_and_go(
                &state,
                &visitor,
                account.username.as_str(),
                form.password,
                &next,
            )
            .await
        }
        Err(e) if is_form_mistake(&e) => {
            let public = ApiError::Core(e).public();
            let page = SignupPage {
                nav: visitor.nav(&state),
                error: Some(public.message),
                username: form.username,
                email: form.email,
                next,
            };
            Ok(visitor.finish(render(public.status, &page)))
        }
        Err(e) => Err(e.into()),
    }
}

/// Errors a person fixes by changing what they typed.
fn is_form_mistake(e: &CoreError) -> bool {
    matches!(
        e,
        CoreError::InvalidInput(_) | CoreError::AccountExists(_) | CoreError::SetupRefused
    )
}

/// Signs the browser in as a device of the account (the same operation as
/// `POST /api/v2/users/signin`, with the same lock-outs) and redirects.
async fn sign_in_and_go(
    state: &AppState,
    visitor: &Visitor,
    login: &str,
    password: String,
    next: &str,
) -> Result<Response, PageError> {
    let (client_identifier, device) = visitor.as_device()?;
    let (_, token) = state
        .core
        .sign_in(SignIn {
            login: login.to_owned(),
            password: Password::presented(password),
            verification_code: None,
            client_identifier,
            device,
            from: visitor.from,
        })
        .await?;
    Ok(visitor.signed_in(&token, next))
}
