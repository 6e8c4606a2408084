//! `/account`: the signed-in person's own account — the password, the
//! e-mail, two-step verification and its recovery codes, passkeys, the
//! security log, and removing the account. Each form posts to its own path
//! and the page is shown again with what happened (or what was wrong with
//! the form); what the person must prove for a change is the core's to
//! check (`service/credentials.rs`).

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use pinlink_core::{Account, CoreError, Origin, Password, Session};
use serde::Deserialize;

use super::reply::{render, PageError};
use super::views::{when, AccountPage, LogRow, MessagePage, PasskeyRow};
use super::visitor::{Posted, Visitor};
use crate::error::ApiError;
use crate::state::AppState;

/// What the page says about the last form.
enum Outcome {
    Nothing,
    Notice(String),
    Problem(StatusCode, String),
    /// New recovery codes, shown this once.
    RecoveryCodes(String, Vec<String>),
}

impl Outcome {
    /// A refusal the person can act on (a wrong password, a code, a taken
    /// e-mail), or the error for an error page.
    fn from_error(e: CoreError) -> Result<Outcome, PageError> {
        let wording = match &e {
            CoreError::Unauthenticated => Some("The password is wrong.".to_owned()),
            CoreError::VerificationCodeRequired { .. } => {
                Some("Enter a code from your authenticator app, or a recovery code.".to_owned())
            }
            CoreError::VerificationCodeWrong
            | CoreError::InvalidInput(_)
            | CoreError::AccountExists(_)
            | CoreError::PasskeyRefused => None,
            CoreError::SignInLockedOut { retry_after_secs } => Some(format!(
                "Too many wrong passwords. Try again {}.",
                super::views::wait_text(*retry_after_secs)
            )),
            _ => return Err(e.into()),
        };
        let public = ApiError::Core(e).public();
        Ok(Outcome::Problem(
            public.status,
            wording.unwrap_or(public.message),
        ))
    }
}

#[derive(Deserialize, Default)]
pub struct LogQuery {
    before: Option<i64>,
}

/// `GET /account`.
pub async fn page(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    visitor: Visitor,
    Query(query): Query<LogQuery>,
) -> Result<Response, PageError> {
    let account = visitor.require_account(&here)?.clone();
    show(&state, &visitor, &account, query.before, Outcome::Nothing).await
}

/// The page, with the outcome of the last form.
async fn show(
    state: &AppState,
    visitor: &Visitor,
    account: &Account,
    before: Option<i64>,
    outcome: Outcome,
) -> Result<Response, PageError> {
    let core = &state.core;
    let now = core.now();
    let security = core.account_security(account).await?;
    let passkeys = core
        .list_passkeys(account)
        .await?
        .into_iter()
        .map(|p| PasskeyRow {
            id: p.id,
            name: p.name,
            created: when(p.created_at, now),
            last_used: p
                .last_used_at
                .map_or_else(|| "never".to_owned(), |at| when(at, now)),
        })
        .collect();
    let entries = core.security_log(account, before).await?;
    let older = (entries.len() as u32 == pinlink_core::service::LOG_PAGE)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let log = entries
        .into_iter()
        .map(|e| LogRow {
            when: when(e.event.at, now),
            what: e.event.kind.label(),
            warning: e.event.kind.is_warning(),
            address: e.event.address,
            client: e.event.client,
            detail: e.event.detail,
        })
        .collect();
    let (status, notice, error, recovery_codes) = match outcome {
        Outcome::Nothing => (StatusCode::OK, None, None, None),
        Outcome::Notice(text) => (StatusCode::OK, Some(text), None, None),
        Outcome::Problem(status, text) => (status, None, Some(text), None),
        Outcome::RecoveryCodes(text, codes) => (StatusCode::OK, Some(text), None, Some(codes)),
    };
    let page = AccountPage {
        nav: visitor.nav(state),
        notice,
        error,
        username: account.username.as_str().to_owned(),
        email: account.email.as_str().to_owned(),
        created: when(account.created_at, now),
        two_step: security.two_step,
        recovery_codes_left: security.recovery_codes_left,
        enrolling: security.enrolling.map(|e| grouped(&e.secret)),
        recovery_codes,
        passkeys_available: core.passkeys_available(),
        passkeys,
        log,
        older,
        newer: before.is_some(),
    };
    Ok(visitor.finish(render(status, &page)))
}

/// A key in groups of four, as authenticator apps show it.
fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The signed-in session a form was posted with (or a detour through
/// `/login`).
fn signed_in(visitor: &Visitor, here: &Uri) -> Result<Session, PageError> {
    visitor.require_account(here)?;
    visitor.session.clone().ok_or(PageError::Forged)
}

/// Where a change came from: this browser.
fn origin(visitor: &Visitor) -> Result<Origin, PageError> {
    let (_, device) = visitor.as_device()?;
    Ok(Origin::of(&visitor.from, &device))
}

/// The page again after a change: with the account read again, and the
/// outcome (or the refusal) of `result`.
async fn after<T>(
    state: &AppState,
    visitor: &Visitor,
    session: &Session,
    result: Result<T, CoreError>,
    outcome: impl FnOnce(T) -> Outcome,
) -> Result<Response, PageError> {
    let shown = match result {
        Ok(value) => outcome(value),
        Err(e) => Outcome::from_error(e)?,
    };
    let account = state
        .core
        .authenticate(session.token.expose())
        .await
        .map(|s| s.account)
        .unwrap_or_else(|_| session.account.clone());
    show(state, visitor, &account, None, shown).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    again: String,
    #[serde(default)]
    sign_out_others: Option<String>,
}

pub async fn change_password(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, form }: Posted<PasswordForm>,
) -> Result<Response, PageError> {
    let session = signed_in(&visitor, &here)?;
    if form.new != form.again {
        let problem = Outcome::Problem(
            StatusCode::BAD_REQUEST,
            "The new passwords differ.".to_owned(),
        );
        return show(&state, &visitor, &session.account, None, problem).await;
    }
    let sign_out = form.sign_out_others.is_some();
    let result = state
        .core
        .change_password(
            &session,
            Password::presented(form.current),
            form.new,
            sign_out,
            &visitor.from,
            &origin(&visitor)?,
        )
        .await;
    after(&state, &visitor, &session, result, |()| {
        Outcome::Notice(if sign_out {
            "Your password is changed, and your other browsers and devices are signed out."
                .to_owned()
        } else {
            "Your password is changed.".to_owned()
        })
    })
    .await
}

#[derive(Deserialize)]
pub struct EmailForm {
    email: String,
    password: String,
}

pub async fn change_email(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, form }: Posted<EmailForm>,
) -> Result<Response, PageError> {
    let session = signed_in(&visitor, &here)?;
    let result = state
        .core
        .change_email(
            &session,
            Password::presented(form.password),
            &form.email,
            &visitor.from,
            &origin(&visitor)?,
        )
        .await;
    after(&state, &visitor, &session, result, |()| {
        Outcome::Notice("Your e-mail is changed.".to_owned())
    })
    .await
}

pub async fn start_two_step(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, .. }: Posted<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let session = signed_in(&visitor, &here)?;
    let result = state.core.begin_two_step(&session).await;
    after(&state, &visitor, &session, result, |_| Outcome::Nothing).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

pub async fn confirm_two_step(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, form }: Posted<CodeForm>,
) -> Result<Response, PageError> {
    let session = signed_in(&visitor, &here)?;
    let result = state
        .core
        .confirm_two_step(&session, &form.code, &origin(&visitor)?)
        .await;
    after(&state, &visitor, &session, result, |codes| {
        Outcome::RecoveryCodes("Two-step verification is on.".to_owned(), codes)
    })
    .await
}

#[derive(Deserialize)]
pub struct PasswordAndCodeForm {
    password: String,
    #[serde(default)]
    code: String,
}

pub async fn stop_two_step(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, form }: Posted<PasswordAndCodeForm>,
) -> Result<Response, PageError> {
    let session = signed_in(&visitor, &here)?;
    let result = state
        .core
        .stop_two_step(
            &session,
            Password::presented(form.password),
            &form.code,
            &visitor.from,
            &origin(&visitor)?,
        )
        .await;
    after(&state, &visitor, &session, result, |()| {
        Outcome::Notice("Two-step verification is off.".to_owned())
    })
    .await
}

pub async fn renew_recovery_codes(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, form }: Posted<PasswordAndCodeForm>,
) -> Result<Response, PageError> {
    let session = signed_in(&visitor, &here)?;
    let result = state
        .core
        .renew_recovery_codes(
            &session,
            Password::presented(form.password),
            &visitor.from,
            &origin(&visitor)?,
        )
        .await;
    after(&state, &visitor, &session, result, |codes| {
        Outcome::RecoveryCodes(
            "New recovery codes: the old ones no longer work.".to_owned(),
            codes,
        )
    })
    .await
}

/// `GET /account/two-step/qr.png`: the QR code of the key being enrolled
/// (its `otpauth://` URI), for the signed-in account only; never cached.
pub async fn two_step_qr(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let account = visitor.require_account(&here)?;
    let enrolling = state
        .core
        .account_security(account)
        .await?
        .enrolling
        .ok_or(PageError::NotFound)?;
    let png = crate::qr::png(&enrolling.uri)
        .map_err(|e| PageError::Core(CoreError::Internal(format!("no QR code: {e}"))))?;
    Ok(visitor.finish(([(header::CONTENT_TYPE, "image/png")], png).into_response()))
}

pub async fn remove_passkey(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Path(id): Path<i64>,
    Posted { visitor, .. }: Posted<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let session = signed_in(&visitor, &here)?;
    let result = state
        .core
        .remove_passkey(&session, id, &origin(&visitor)?)
        .await;
    after(&state, &visitor, &session, result, |()| {
        Outcome::Notice("The passkey is removed.".to_owned())
    })
    .await
}

#[derive(Deserialize)]
pub struct DeleteForm {
    password: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

pub async fn delete_account(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, form }: Posted<DeleteForm>,
) -> Result<Response, PageError> {
    let session = signed_in(&visitor, &here)?;
    if form.confirm.is_none() {
        let problem = Outcome::Problem(
            StatusCode::BAD_REQUEST,
            "Tick the box to say you mean it.".to_owned(),
        );
        return show(&state, &visitor, &session.account, None, problem).await;
    }
    let result = state
        .core
        .delete_own_account(
            &session,
            Password::presented(form.password),
            form.code.as_deref(),
            &visitor.from,
        )
        .await;
    match result {
        Ok(()) => {
            let page = MessagePage {
                nav: super::views::Nav {
                    username: None,
                    ..visitor.nav(&state)
                },
                heading: "Your account is removed",
                text: "Every device, token and log entry of it is gone.".to_owned(),
                tone: "ok",
                link: Some(("/login", "Sign in")),
            };
            Ok(visitor.signed_out_with(render(StatusCode::OK, &page)))
        }
        Err(e) => {
            after(&state, &visitor, &session, Err::<(), _>(e), |()| {
                Outcome::Nothing
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_shown_in_groups_of_four() {
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
    }
}
