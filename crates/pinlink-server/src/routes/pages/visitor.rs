//! Who is looking at a page: the browser's session (a cookie holding the
//! token its sign-in was granted, like a device's `X-Plex-Token`, sealed
//! with the server's key so that only a page's sign-in makes one: a token
//! handed to a device is no page session), its anti-forgery binding, and
//! its address.
//!
//! Forgery protection, twice over:
//! - every form carries a token derived from a random value the browser
//!   holds in a `SameSite=Strict` cookie ([`Posted`] refuses a post without
//!   the matching token), and
//! - a post whose `Origin` is not this server is refused outright.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use pinlink_core::{
    Account, AuthToken, ClientAddress, ClientIdentifier, CoreError, DeviceInfo, RawDeviceInfo,
    Session,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::reply::PageError;
use super::views::Nav;
use crate::state::AppState;

const SESSION_COOKIE: &str = "pinlink_session";
const FORM_COOKIE: &str = "pinlink_form";
/// A random identifier the browser keeps across sign-ins: its client
/// identifier as a device, so that the account knows it again (a known
/// client is not slowed when strangers guess the password).
const BROWSER_COOKIE: &str = "pinlink_browser";
/// How long a browser keeps its identifier.
const BROWSER_COOKIE_DAYS: i64 = 400;
/// What a signed-in browser is called in the account's device list.
pub const WEB_PRODUCT: &str = "pinlink web";

pub struct Visitor {
    /// Where the browser is ([`crate::client_address`]).
    pub from: ClientAddress,
    pub session: Option<Session>,
    /// The random value the form tokens are bound to.
    form_binding: String,
    /// The binding was made for this request; the response must set it.
    new_binding: bool,
    /// The browser's identifier as a device; new (to be set) when `None`
    /// came with the request.
    browser_id: String,
    new_browser_id: bool,
    /// The session cookie named a token that no longer works.
    stale_session: bool,
    /// The `Origin` header, when the browser sent one, is this server.
    same_origin: bool,
    secure_cookies: bool,
    user_agent: String,
    seals: std::sync::Arc<super::form_tokens::FormTokens>,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let jar = CookieJar::from_headers(&parts.headers);
        let from = crate::client_address::of(&parts.extensions);
        let cookie = jar.get(SESSION_COOKIE).map(Cookie::value);
        let (session, stale_session) = match cookie.map(|c| state.form_tokens.session_token(c)) {
            None => (None, false),
            // Not a page's sign-in's: dropped.
            Some(None) => (None, true),
            Some(Some(token)) => match state.core.authenticate(token).await {
                Ok(session) => (Some(session), false),
                Err(CoreError::Unauthenticated) => (None, true),
                Err(e) => return Err(e.into()),
            },
        };
        let (form_binding, new_binding) = match jar.get(FORM_COOKIE).map(Cookie::value) {
            Some(value) if value.len() >= 32 => (value.to_owned(), false),
            _ => (uuid::Uuid::new_v4().simple().to_string(), true),
        };
        let (browser_id, new_browser_id) = match jar.get(BROWSER_COOKIE).map(Cookie::value) {
            Some(value) if uuid::Uuid::parse_str(value).is_ok() => (value.to_owned(), false),
            _ => (uuid::Uuid::new_v4().to_string(), true),
        };
        Ok(Visitor {
            from,
            browser_id,
            new_browser_id,
            session,
            form_binding,
            new_binding,
            stale_session,
            same_origin: same_origin(&parts.headers, &state.public_url),
            secure_cookies: state.public_url.starts_with("https://"),
            seals: state.form_tokens.clone(),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
        })
    }
}

impl Visitor {
    pub fn account(&self) -> Option<&Account> {
        self.session.as_ref().map(|s| &s.account)
    }

    /// The signed-in account, or a detour through `/login` that comes back
    /// to `here`.
    pub fn require_account(&self, here: &Uri) -> Result<&Account, PageError> {
        self.account().ok_or_else(|| {
            PageError::SignInFirst(
                here.path_and_query()
                    .map(|pq| pq.as_str().to_owned())
                    .unwrap_or_else(|| "/".to_owned()),
            )
        })
    }

    pub fn nav(&self, state: &AppState) -> Nav {
        Nav {
            username: self.account().map(|a| a.username.as_str().to_owned()),
            csrf: state.form_tokens.token(&self.form_binding),
            test_mode: crate::state::test_mode(),
        }
    }

    /// Who this browser is as a device: the identifier it keeps in a
    /// cookie across sign-ins, and a name taken from its user agent.
    pub fn as_device(&self) -> Result<(ClientIdentifier, DeviceInfo), CoreError> {
        let (browser, platform) = describe_user_agent(&self.user_agent);
        let client = ClientIdentifier::parse(Some(&self.browser_id))?;
        let info = DeviceInfo::parse(RawDeviceInfo {
            product: Some(WEB_PRODUCT),
            device: Some(browser),
            device_name: Some(browser),
            platform: Some(platform),
            ..RawDeviceInfo::default()
        })?;
        Ok((client, info))
    }

    /// Adds the cookies this visit needs to a response: the form binding
    /// when it is new, removal of a session cookie that stopped working.
    pub fn finish(&self, response: impl IntoResponse) -> Response {
        let mut jar = CookieJar::new();
        if self.new_binding {
            jar = jar.add(
                Cookie::build((FORM_COOKIE, self.form_binding.clone()))
                    .path("/")
                    .http_only(true)
                    .secure(self.secure_cookies)
                    .same_site(SameSite::Strict),
            );
        }
        if self.stale_session {
            jar = jar.add(session_removal());
        }
        if self.new_browser_id {
            jar = jar.add(
                Cookie::build((BROWSER_COOKIE, self.browser_id.clone()))
                    .path("/")
                    .http_only(true)
                    .secure(self.secure_cookies)
                    .same_site(SameSite::Lax)
                    .max_age(time::Duration::days(BROWSER_COOKIE_DAYS)),
            );
        }
        let mut response = (jar, response).into_response();
        // Pages carry form tokens and personal data: never cache them.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    /// Signs the browser in: the session cookie holds its token.
    pub fn signed_in(&self, token: &AuthToken, to: &str) -> Response {
        self.signed_in_with(token, Redirect::to(to))
    }

    pub fn signed_out(&self, to: &str) -> Response {
        self.signed_out_with(Redirect::to(to))
    }

    /// `response`, and the browser drops its session cookie.
    pub fn signed_out_with(&self, response: impl IntoResponse) -> Response {
        let jar = CookieJar::new().add(session_removal());
        self.finish((jar, response))
    }

    /// `response`, and the browser is signed in with `token` (a sign-in
    /// answered to a script rather than with a redirect).
    pub fn signed_in_with(&self, token: &AuthToken, response: impl IntoResponse) -> Response {
        let cookie = Cookie::build((SESSION_COOKIE, self.seals.session_cookie(token.expose())))
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies)
            .same_site(SameSite::Lax);
        self.finish((CookieJar::new().add(cookie), response))
    }
}

/// A `Set-Cookie` that makes the browser drop its session cookie. (A jar's
/// `remove` only does that for cookies the jar was read from.)
fn session_removal() -> Cookie<'static> {
    let mut cookie = Cookie::build((SESSION_COOKIE, "")).path("/").build();
    cookie.make_removal();
    cookie
}

/// A form post that passed the forgery checks, with the visitor who sent
/// it. Every page handler that changes something takes one of these.
pub struct Posted<T> {
    pub visitor: Visitor,
    pub form: T,
}

#[derive(Deserialize)]
struct FormToken {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, state.max_body_bytes)
            .await
            .map_err(|_| PageError::BadForm)?;
        let token: FormToken =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadForm)?;
        if !visitor.same_origin
            || visitor.new_binding
            || !state
                .form_tokens
                .matches(&visitor.form_binding, &token.csrf)
        {
            return Err(PageError::Forged);
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadForm)?;
        Ok(Posted { visitor, form })
    }
}

/// No `Origin` (older browsers, some same-origin navigations) passes; one
/// that names another site does not. "This server" is the public URL or the
/// `Host` the browser used.
fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if origin.eq_ignore_ascii_case(public_url) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// A short browser and platform name for the device list, e.g. ("Chrome",
/// "Linux"). Only a label: nothing depends on it.
fn describe_user_agent(agent: &str) -> (&'static str, &'static str) {
    let browser = if agent.contains("Firefox/") {
        "Firefox"
    } else if agent.contains("Edg/") {
        "Edge"
    } else if agent.contains("Chrome/") || agent.contains("Chromium/") {
        "Chrome"
    } else if agent.contains("Safari/") {
        "Safari"
    } else {
        "Web browser"
    };
    let platform = if agent.contains("Android") {
        "Android"
    } else if agent.contains("iPhone") || agent.contains("iPad") {
        "iOS"
    } else if agent.contains("Windows") {
        "Windows"
    } else if agent.contains("Mac OS") {
        "macOS"
    } else if agent.contains("Linux") {
        "Linux"
    } else {
        ""
    };
    (browser, platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_must_be_this_server() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&headers, "http://127.0.0.1:8080"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&headers, "https://link.example"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://localhost:9999"),
        );
        assert!(!same_origin(&headers, "http://127.0.0.1:8080"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://link.example"),
        );
        assert!(same_origin(&headers, "https://link.example"));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&headers, "http://127.0.0.1:8080"));
    }

    #[test]
    fn user_agents_get_a_short_name() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";
        assert_eq!(describe_user_agent(chrome), ("Chrome", "Linux"));
        assert_eq!(describe_user_agent(""), ("Web browser", ""));
    }
}
