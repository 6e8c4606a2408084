//! The web pages a person uses: first-start setup, sign in and out, link a
//! code, approve an app's strong code, manage devices. Server-rendered with
//! askama and usable without JavaScript; like the API handlers they call
//! [`pinlink_core::Pinlink`] directly, never the API over HTTP.
//!
//! - `visitor`: the browser's session cookie and the forgery checks every
//!   form post passes (`Posted`), with [`form_tokens`];
//! - `account`: the start page, first start, signing in (both steps) and
//!   out, sign-up; `settings`: the account page (`/account`); `passkeys`:
//!   the passkey ceremonies the pages' script runs; `reset`: the page an
//!   operator's reset link opens;
//! - `next`: where signing in may send a browser;
//! - `views`: the templates and the values they show;
//! - `reply`: rendering, and the HTML error pages.

mod account;
mod approve;
mod assets;
pub mod devices;
pub mod form_tokens;
mod next;
mod passkeys;
mod reply;
mod reset;
mod settings;
mod views;
mod visitor;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request};
use axum::routing::{get, post};
use axum::Router;
use tower::Layer;
use tower_http::set_header::{SetResponseHeader, SetResponseHeaderLayer};

use crate::state::AppState;

pub use reply::not_found;

/// No inline script or style anywhere: scripts and styles come only from
/// this server, forms post only to it, and no other site may frame a page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(account::home))
        .route("/setup", post(account::setup))
        .route("/login", get(account::login_form).post(account::login))
        .route("/login/code", post(account::login_code))
        .route("/login/passkey/start", post(passkeys::start_sign_in))
        .route("/login/passkey/finish", post(passkeys::finish_sign_in))
        .route("/account", get(settings::page))
        .route("/account/password", post(settings::change_password))
        .route("/account/email", post(settings::change_email))
        .route("/account/two-step/start", post(settings::start_two_step))
        .route(
            "/account/two-step/confirm",
            post(settings::confirm_two_step),
        )
        .route("/account/two-step/off", post(settings::stop_two_step))
        .route(
            "/account/two-step/recovery-codes",
            post(settings::renew_recovery_codes),
        )
        .route("/account/two-step/qr.png", get(settings::two_step_qr))
        .route(
            "/account/passkeys/start",
            post(passkeys::start_registration),
        )
        .route(
            "/account/passkeys/finish",
            post(passkeys::finish_registration),
        )
        .route(
            "/account/passkeys/{id}/remove",
            post(settings::remove_passkey),
        )
        .route("/account/delete", post(settings::delete_account))
        .route("/reset", get(reset::form).post(reset::reset))
        .route("/logout", post(account::logout))
        .route("/signup", get(account::signup_form).post(account::signup))
        .route("/link", get(approve::link_form).post(approve::link_confirm))
        .route("/link/approve", post(approve::link_approve))
        .route("/link/deny", post(approve::link_deny))
        .route("/auth", get(approve::auth_confirm))
        .route("/auth/approve", post(approve::auth_approve))
        .route("/auth/deny", post(approve::auth_deny))
        .route("/devices/{id}/revoke", post(devices::revoke))
        .route("/static/pinlink.css", get(assets::stylesheet))
        .route("/static/auth.js", get(assets::auth_script))
        .route("/static/passkeys.js", get(assets::passkeys_script))
}

/// Security headers for every response (pages and API alike); a handler
/// that sets its own Content-Security-Policy keeps it.
pub fn with_security_headers<S>(inner: S) -> WithSecurityHeaders<S> {
    let fixed = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let inner = fixed(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY).layer(inner);
    let inner = fixed(header::X_FRAME_OPTIONS, "DENY").layer(inner);
    let inner = fixed(header::X_CONTENT_TYPE_OPTIONS, "nosniff").layer(inner);
    // Page URLs can hold pin codes (`/link?pin=…`): never pass them to
    // another site. Not `no-referrer`: with it, browsers send
    // `Origin: null` on form posts, and the forgery check needs the origin.
    fixed(header::REFERRER_POLICY, "same-origin").layer(inner)
}

/// A service with the four fixed security headers ([`with_security_headers`]).
pub type WithSecurityHeaders<S> = SetResponseHeader<
    SetResponseHeader<
        SetResponseHeader<SetResponseHeader<S, HeaderValue>, HeaderValue>,
        HeaderValue,
    >,
    HeaderValue,
>;

/// Whether a request is a person's browser opening a page, rather than an
/// API client: it accepts HTML, names no format suffix and carries no token.
pub fn is_browser_navigation<B>(request: &Request<B>) -> bool {
    let headers: &HeaderMap = request.headers();
    let accepts_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let has_token = headers.contains_key("x-plex-token")
        || request
            .uri()
            .query()
            .is_some_and(|q| q.to_ascii_lowercase().contains("x-plex-token="));
    let suffixed = request
        .extensions()
        .get::<crate::negotiate::FormatSuffix>()
        .is_some();
    accepts_html && !has_token && !suffixed
}
