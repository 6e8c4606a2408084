//! The stylesheet and the two scripts, compiled into the binary so the
//! pages work offline and without a CDN.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

const STYLESHEET: &str = include_str!("../../../assets/pinlink.css");
const AUTH_SCRIPT: &str = include_str!("../../../assets/auth.js");
const PASSKEYS_SCRIPT: &str = include_str!("../../../assets/passkeys.js");

pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

pub async fn auth_script() -> Response {
    asset("text/javascript; charset=utf-8", AUTH_SCRIPT)
}

pub async fn passkeys_script() -> Response {
    asset("text/javascript; charset=utf-8", PASSKEYS_SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}
