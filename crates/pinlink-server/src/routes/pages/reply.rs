//! Rendering pages, and what a page shows when something goes wrong. The
//! status code and message of a domain error come from the same mapping as
//! the API's ([`crate::error::ApiError::public`]); only the body is HTML.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use pinlink_core::CoreError;

use super::next::to_login;
use super::views::{MessagePage, Nav};
use crate::error::ApiError;

/// Renders a template to an HTML response.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => PageError::Render(e.to_string()).into_response(),
    }
}

#[derive(Debug)]
pub enum PageError {
    Core(CoreError),
    /// The page needs a signed-in account; come back to this path after.
    SignInFirst(String),
    /// A form post without a valid anti-forgery token, or from another site.
    Forged,
    /// A form body that is not a form.
    BadForm,
    NotFound,
    Render(String),
}

impl From<CoreError> for PageError {
    fn from(e: CoreError) -> Self {
        PageError::Core(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        // The status (and, for domain errors, the message) comes from the
        // one mapping in `error.rs`; this only words it for a person.
        let (error, heading, text) = match self {
            PageError::SignInFirst(next) => return to_login(&next),
            PageError::Forged => (
                ApiError::FormForged,
                "This form has expired",
                Some("The form was not sent from this site's page, or it is too old. Go back, reload the page and try again."),
            ),
            PageError::BadForm => (
                ApiError::FormMalformed,
                "Something is wrong with that form",
                Some("Go back, reload the page and try again."),
            ),
            PageError::NotFound => (
                ApiError::RouteNotFound,
                "Page not found",
                Some("There is nothing at this address."),
            ),
            PageError::Render(cause) => (
                ApiError::Core(CoreError::Internal(format!("a page failed to render: {cause}"))),
                "Something went wrong",
                Some("The server could not show this page. Try again in a moment."),
            ),
            PageError::Core(e) => (ApiError::Core(e), "", None),
        };
        let public = error.public();
        let heading = match (heading, public.status) {
            ("", StatusCode::NOT_FOUND) => "Not found",
            ("", StatusCode::SERVICE_UNAVAILABLE) => "Temporarily unavailable",
            ("", s) if s.is_server_error() => "Something went wrong",
            ("", _) => "That did not work",
            (heading, _) => heading,
        };
        let text = text.map_or(public.message, str::to_owned);
        error_page(public.status, heading, text)
    }
}

/// The page for unknown paths.
pub fn not_found() -> Response {
    PageError::NotFound.into_response()
}

fn error_page(status: StatusCode, heading: &str, text: String) -> Response {
    let page = MessagePage {
        // Error pages carry no forms, so no form token.
        nav: Nav {
            username: None,
            csrf: String::new(),
            test_mode: crate::state::test_mode(),
        },
        heading,
        text,
        tone: "bad",
        link: Some(("/", "Go to the start page")),
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        // The simplest page there is, when even the error template fails.
        Err(_) => (status, Html(format!("<h1>{heading}</h1>"))).into_response(),
    }
}
