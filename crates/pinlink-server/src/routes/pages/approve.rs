//! Approving a device: the short code typed at `/link`, or the strong code
//! of an app's approval link at `/auth`. Both show the same confirmation
//! screen (what is asking, from where, since when) before anything is
//! linked, and both call the same core operations as the API.

use axum::extract::{OriginalUri, Query, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{Redirect, Response};
use pinlink_core::{CoreError, Expect, Pin};
use serde::Deserialize;

use super::reply::{render, PageError};
use super::views::{wait_text, AuthFragmentPage, ConfirmPage, LinkPage, MessagePage, PinFacts};
use super::visitor::{Posted, Visitor};
use super::CONTENT_SECURITY_POLICY;
use crate::error::ApiError;
use crate::state::AppState;

// ------------------------------------------------------------------- /link

#[derive(Deserialize, Default)]
pub struct LinkQuery {
    #[serde(default)]
    pin: String,
}

/// The code form, prefilled from `?pin=` (the QR code's link) but never
/// submitted by itself.
pub async fn link_form(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    visitor: Visitor,
    Query(query): Query<LinkQuery>,
) -> Result<Response, PageError> {
    visitor.require_account(&here)?;
    let page = LinkPage {
        nav: visitor.nav(&state),
        error: None,
        code: query.pin.chars().take(64).collect(),
    };
    Ok(visitor.finish(render(StatusCode::OK, &page)))
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// The typed code's confirmation screen, or the form again with what went
/// wrong.
pub async fn link_confirm(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, form }: Posted<CodeForm>,
) -> Result<Response, PageError> {
    let account = visitor.require_account(&here)?;
    match state
        .core
        .pin_to_approve(account, &form.code, &visitor.from, Expect::ANY)
        .await
    {
        Ok(pin) => Ok(confirm_page(
            &state, &visitor, &pin, "/link", &form.code, None, None,
        )),
        Err(e) => code_form_again(&state, &visitor, e, form.code),
    }
}

#[derive(Deserialize)]
pub struct Decision {
    code: String,
    #[serde(rename = "clientID")]
    client_id: Option<String>,
    #[serde(rename = "forwardUrl")]
    forward_url: Option<String>,
}

impl Decision {
    /// What `/auth` accepts: only a strong code, of the client the link
    /// named.
    fn strong_for_client(&self) -> Expect<'_> {
        Expect {
            strong_only: true,
            client_identifier: Some(self.client_id.as_deref().unwrap_or("")),
        }
    }
}

pub async fn link_approve(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, form }: Posted<Decision>,
) -> Result<Response, PageError> {
    let account = visitor.require_account(&here)?;
    match state
        .core
        .approve_code(account, &form.code, &visitor.from, Expect::ANY)
        .await
    {
        Ok(pin) => Ok(linked_page(&state, &visitor, &pin)),
        Err(e) => code_form_again(&state, &visitor, e, String::new()),
    }
}

pub async fn link_deny(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, form }: Posted<Decision>,
) -> Result<Response, PageError> {
    let account = visitor.require_account(&here)?;
    match state
        .core
        .deny_code(account, &form.code, &visitor.from, Expect::ANY)
        .await
    {
        Ok(()) => Ok(denied_page(&state, &visitor)),
        Err(e) => code_form_again(&state, &visitor, e, String::new()),
    }
}

/// The code form with a message for a wrong, expired or rate-limited code;
/// any other error is an error page.
fn code_form_again(
    state: &AppState,
    visitor: &Visitor,
    error: CoreError,
    code: String,
) -> Result<Response, PageError> {
    let message = match &error {
        CoreError::PinNotFound => {
            "That code is wrong or has expired. Check the code your device shows now.".to_owned()
        }
        CoreError::TooManyAttempts { retry_after_secs } => format!(
            "Too many wrong codes. Try again {}.",
            wait_text(*retry_after_secs)
        ),
        _ => return Err(error.into()),
    };
    let status = ApiError::Core(error).public().status;
    let page = LinkPage {
        nav: visitor.nav(state),
        error: Some(message),
        code,
    };
    Ok(visitor.finish(render(status, &page)))
}

// ------------------------------------------------------------------- /auth

#[derive(Deserialize, Default)]
pub struct AuthQuery {
    #[serde(rename = "clientID")]
    client_id: Option<String>,
    code: Option<String>,
    #[serde(rename = "forwardUrl")]
    forward_url: Option<String>,
}

/// An app's approval link. Without a code in the query this is plex.tv's
/// `/auth#?…` form: a small script moves the fragment into the query.
pub async fn auth_confirm(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    visitor: Visitor,
    Query(query): Query<AuthQuery>,
) -> Result<Response, PageError> {
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        let page = AuthFragmentPage {
            nav: visitor.nav(&state),
        };
        return Ok(visitor.finish(render(StatusCode::OK, &page)));
    };
    visitor.require_account(&here)?;
    let Some(client_id) = query.client_id.filter(|c| !c.is_empty()) else {
        return Err(PageError::Core(CoreError::InvalidInput(
            "This approval link is incomplete: it names no clientID.".into(),
        )));
    };
    // Opening a link is not a deliberate act (another site can send the
    // browser here), so this spends no budget; the core only looks up
    // strong codes this way, which cannot be guessed.
    let pin = state
        .core
        .pin_behind_approval_link(&code, &client_id)
        .await?;
    let forward = query.forward_url.as_deref().and_then(forward_target);
    let mut response = confirm_page(
        &state,
        &visitor,
        &pin,
        "/auth",
        &code,
        Some(client_id.clone()),
        forward.as_ref().map(|f| f.url.clone()),
    );
    if let Some(forward) = forward {
        // Approve redirects to forwardUrl, and browsers hold a form's
        // redirect to the page's form-action: allow exactly that origin.
        let policy = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'",
            &format!("form-action 'self' {}", forward.origin),
        );
        if let Ok(value) = HeaderValue::from_str(&policy) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    Ok(response)
}

pub async fn auth_approve(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, form }: Posted<Decision>,
) -> Result<Response, PageError> {
    let account = visitor.require_account(&here)?;
    let pin = state
        .core
        .approve_code(account, &form.code, &visitor.from, form.strong_for_client())
        .await?;
    match form.forward_url.as_deref().and_then(forward_target) {
        Some(forward) => Ok(visitor.finish(Redirect::to(&forward.url))),
        None => Ok(linked_page(&state, &visitor, &pin)),
    }
}

pub async fn auth_deny(
    State(state): State<AppState>,
    OriginalUri(here): OriginalUri,
    Posted { visitor, form }: Posted<Decision>,
) -> Result<Response, PageError> {
    let account = visitor.require_account(&here)?;
    state
        .core
        .deny_code(account, &form.code, &visitor.from, form.strong_for_client())
        .await?;
    Ok(denied_page(&state, &visitor))
}

/// Where an approval may send the browser on: an absolute http(s) URL.
struct Forward {
    url: String,
    /// `scheme://host[:port]`, for the page's form-action.
    origin: String,
}

fn forward_target(raw: &str) -> Option<Forward> {
    let uri: Uri = raw.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    if !(scheme == "http" || scheme == "https") || !is_plain_host(authority.host()) {
        return None;
    }
    // The origin goes into the Content-Security-Policy header, so it is
    // rebuilt from parts that can hold no `;`, quote or space.
    let origin = match authority.port_u16() {
        Some(port) => format!("{scheme}://{}:{port}", authority.host()),
        None => format!("{scheme}://{}", authority.host()),
    };
    if authority.as_str() != &origin[scheme.len() + 3..] {
        // Userinfo (`user@`), an empty or odd port: not a plain origin.
        return None;
    }
    Some(Forward {
        url: uri.to_string(),
        origin,
    })
}

/// A DNS name or IPv4 address (letters, digits, dots, dashes) or a bracketed
/// IPv6 literal; nothing else may reach a CSP source expression.
fn is_plain_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

// ---------------------------------------------------------------- screens

fn confirm_page(
    state: &AppState,
    visitor: &Visitor,
    pin: &Pin,
    action: &'static str,
    code: &str,
    client_id: Option<String>,
    forward_url: Option<String>,
) -> Response {
    let username = visitor
        .account()
        .map(|a| a.username.as_str().to_owned())
        .unwrap_or_default();
    let page = ConfirmPage {
        nav: visitor.nav(state),
        username,
        pin: PinFacts::of(pin, state.core.now()),
        action,
        code: code.to_owned(),
        client_id,
        forward_url,
    };
    visitor.finish(render(StatusCode::OK, &page))
}

fn linked_page(state: &AppState, visitor: &Visitor, pin: &Pin) -> Response {
    let page = MessagePage {
        nav: visitor.nav(state),
        heading: "Device linked",
        text: format!(
            "{} is now signed in to your account. It may take a few seconds to notice.",
            pin.device.product.as_str()
        ),
        tone: "ok",
        link: Some(("/devices", "See your devices")),
    };
    visitor.finish(render(StatusCode::OK, &page))
}

fn denied_page(state: &AppState, visitor: &Visitor) -> Response {
    let page = MessagePage {
        nav: visitor.nav(state),
        heading: "Nothing was linked",
        text: "The request was denied and its code no longer works.".to_owned(),
        tone: "bad",
        link: Some(("/", "Back to the start page")),
    };
    visitor.finish(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_forwarded_to() {
        let f = forward_target("https://app.example:8443/done?x=1").expect("https");
        assert_eq!(f.origin, "https://app.example:8443");
        assert_eq!(f.url, "https://app.example:8443/done?x=1");
        assert!(forward_target("http://127.0.0.1:9/x").is_some());
        assert!(forward_target("javascript:alert(1)").is_none());
        assert!(forward_target("data:text/html,hi").is_none());
        assert!(forward_target("/relative").is_none());
        assert!(forward_target("https://user@evil.example/").is_none());
        assert!(forward_target("ftp://files.example/").is_none());
        // Nothing but a plain host and port may reach the CSP header.
        assert!(forward_target("https://evil.example;script-src*/").is_none());
        assert!(forward_target("https://a%3Bb.example/").is_none());
        assert!(forward_target("https://a'b.example/").is_none());
        assert!(forward_target("https://app.example:/x").is_none());
        let v6 = forward_target("http://[::1]:8080/done").expect("ipv6 literal");
        assert_eq!(v6.origin, "http://[::1]:8080");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    proptest! {
        /// A forwardUrl is either refused or gives an origin that is one CSP
        /// source expression: no `;`, quote, comma or space can get out.
        #[test]
        fn forward_origins_are_plain(raw in prop_oneof![
            any::<String>(),
            "(https?|ftp|javascript)://[a-z0-9.;:'\", @\\[\\]%-]{0,30}(/[ -~]{0,10})?",
        ]) {
            if let Some(forward) = super::forward_target(&raw) {
                prop_assert!(forward.origin.starts_with("http://") || forward.origin.starts_with("https://"));
                prop_assert!(!forward.origin.contains([';', '\'', '"', ',', ' ', '@']));
                prop_assert!(axum::http::HeaderValue::from_str(&forward.url).is_ok());
            }
        }
    }
}
