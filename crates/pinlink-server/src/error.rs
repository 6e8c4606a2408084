//! The one place that decides a status code: every domain error and every
//! HTTP-level refusal becomes plex.tv's `errors[]` body here (rendered as JSON
//! or XML by [`crate::negotiate`]), or, on the OAuth endpoints, RFC 6749's
//! `{"error": …}` ([`OAuthError`]). 5xx bodies say nothing about the cause;
//! the cause goes to the log.

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pinlink_core::CoreError;
use pinlink_proto::{ErrorBody, ErrorCode};

use crate::reply::RenderLater;

#[derive(Debug)]
pub enum ApiError {
    Core(CoreError),
    BodyTooLarge,
    HeadersTooLarge,
    RouteNotFound,
    /// A web form post that failed the forgery checks (`pages/visitor.rs`).
    FormForged,
    /// A web form body that is not a form.
    FormMalformed,
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError::Core(e)
    }
}

struct Mapped {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    retry_after_secs: Option<i64>,
}

fn mapped(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Mapped {
    Mapped {
        status,
        code,
        message: message.into(),
        retry_after_secs: None,
    }
}

impl ApiError {
    fn map(&self) -> Mapped {
        use StatusCode as S;
        let core = match self {
            ApiError::BodyTooLarge => {
                return mapped(
                    S::PAYLOAD_TOO_LARGE,
                    ErrorCode::TooLarge,
                    "Request body too large",
                )
            }
            ApiError::HeadersTooLarge => {
                return mapped(
                    S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    ErrorCode::TooLarge,
                    "Request headers too large",
                )
            }
            ApiError::RouteNotFound => {
                return mapped(S::NOT_FOUND, ErrorCode::NotFound, "Not found")
            }
            ApiError::FormForged => {
                return mapped(
                    S::FORBIDDEN,
                    ErrorCode::BadRequest,
                    "The form was not sent from this site, or it is too old",
                )
            }
            ApiError::FormMalformed => {
                return mapped(
                    S::BAD_REQUEST,
                    ErrorCode::BadRequest,
                    "The form is malformed",
                )
            }
            ApiError::Core(core) => core,
        };
        let message = core.to_string();
        match core {
            CoreError::ClientIdentifierMissing
            | CoreError::ProductMissing
            | CoreError::InvalidInput(_) => mapped(S::BAD_REQUEST, ErrorCode::BadRequest, message),
            CoreError::PinNotFound => mapped(S::NOT_FOUND, ErrorCode::CodeNotFound, message),
            CoreError::PinNotApprovable(_) => {
                mapped(S::BAD_REQUEST, ErrorCode::BadRequest, message)
            }
            CoreError::SetupRefused => mapped(S::FORBIDDEN, ErrorCode::BadRequest, message),
            CoreError::Unauthenticated => {
                mapped(S::UNAUTHORIZED, ErrorCode::Unauthenticated, message)
            }
            // plex.tv's two-step answer: python-plexapi raises
            // TwoFactorRequired on a 401 whose text says "verification
            // code", the plex-api crate on 1029. A wrong code says so too,
            // so a client asks for the code again.
            CoreError::VerificationCodeRequired { .. } | CoreError::VerificationCodeWrong => {
                mapped(
                    S::UNAUTHORIZED,
                    ErrorCode::VerificationCodeRequired,
                    message,
                )
            }
            CoreError::AccountDisabled => {
                mapped(S::UNAUTHORIZED, ErrorCode::Unauthenticated, message)
            }
            CoreError::PasskeyRefused => {
                mapped(S::UNAUTHORIZED, ErrorCode::Unauthenticated, message)
            }
            CoreError::PasskeysUnavailable => mapped(S::NOT_FOUND, ErrorCode::NotFound, message),
            CoreError::InsufficientScope | CoreError::NotForGrantTokens => {
                mapped(S::FORBIDDEN, ErrorCode::BadRequest, message)
            }
            CoreError::SignInLockedOut { retry_after_secs } => Mapped {
                retry_after_secs: Some(*retry_after_secs),
                ..mapped(S::UNAUTHORIZED, ErrorCode::SignInLockedOut, message)
            },
            CoreError::TooManyAttempts { retry_after_secs } => {
                metrics::counter!("pinlink_rate_limited_total", "budget" => "wrong_codes")
                    .increment(1);
                Mapped {
                    retry_after_secs: Some(*retry_after_secs),
                    ..mapped(S::TOO_MANY_REQUESTS, ErrorCode::TooManyAttempts, message)
                }
            }
            CoreError::RateLimited { retry_after_secs } => {
                metrics::counter!("pinlink_rate_limited_total", "budget" => "requests")
                    .increment(1);
                Mapped {
                    retry_after_secs: Some(*retry_after_secs),
                    ..mapped(S::TOO_MANY_REQUESTS, ErrorCode::RateLimited, message)
                }
            }
            CoreError::AtCapacity { retry_after_secs } | CoreError::Busy { retry_after_secs } => {
                Mapped {
                    retry_after_secs: Some(*retry_after_secs),
                    ..mapped(S::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, message)
                }
            }
            CoreError::AccountExists(_) => mapped(S::CONFLICT, ErrorCode::Conflict, message),
            CoreError::DeviceNotFound | CoreError::NoSuchAccount(_) => {
                mapped(S::NOT_FOUND, ErrorCode::NotFound, message)
            }
            // plex.tv's "token expired": the client keeps its key and refreshes.
            CoreError::TokenExpired => mapped(
                S::from_u16(498).unwrap_or(S::UNAUTHORIZED),
                ErrorCode::Unauthenticated,
                message,
            ),
            CoreError::JwtRejected(_) => {
                mapped(S::UNPROCESSABLE_ENTITY, ErrorCode::BadRequest, message)
            }
            // Only the OAuth endpoints report these, through `OAuthError`.
            CoreError::Grant(_) => mapped(S::BAD_REQUEST, ErrorCode::BadRequest, message),
            CoreError::InvalidClient => {
                mapped(S::UNAUTHORIZED, ErrorCode::Unauthenticated, message)
            }
            CoreError::Unavailable(cause) => {
                metrics::counter!("pinlink_database_errors_total").increment(1);
                tracing::warn!(error = %cause, "storage unavailable");
                Mapped {
                    retry_after_secs: Some(5),
                    ..mapped(
                        S::SERVICE_UNAVAILABLE,
                        ErrorCode::Unavailable,
                        "Service temporarily unavailable, try again shortly",
                    )
                }
            }
            CoreError::Internal(cause) => {
                metrics::counter!("pinlink_internal_errors_total").increment(1);
                tracing::error!(error = %cause, "internal error");
                mapped(
                    S::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "Internal server error",
                )
            }
        }
    }
}

/// What a caller is told about an error: the web pages show the same status,
/// message and retry time as the API, in HTML.
pub struct Public {
    pub status: StatusCode,
    pub message: String,
    pub retry_after_secs: Option<i64>,
}

impl ApiError {
    pub fn public(&self) -> Public {
        let m = self.map();
        Public {
            status: m.status,
            message: m.message,
            retry_after_secs: m.retry_after_secs,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let m = self.map();
        let body = ErrorBody::single(m.code, m.message, m.status.as_u16());
        let mut response = m.status.into_response();
        if let Some(secs) = m.retry_after_secs {
            if let Ok(value) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
            .extensions_mut()
            .insert(RenderLater(Arc::new(body)));
        if let ApiError::Core(CoreError::AtCapacity { .. } | CoreError::Busy { .. }) = self {
            response.extensions_mut().insert(DeliberateRefusal);
        }
        response
    }
}

/// Marks a 5xx answer that is the server working as designed — a cap or
/// the password checks full, with `Retry-After` — rather than failing: the
/// request log does not report it as an error (a flood of them would
/// otherwise write an ERROR line per request).
#[derive(Debug, Clone, Copy)]
pub struct DeliberateRefusal;

/// For a bare error status that did not come from a handler (the router's 405,
/// say): the same `errors[]` shape, with the status's reason as message.
pub fn error_body_for_status(status: StatusCode) -> ErrorBody {
    let code = match status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ErrorCode::TooLarge
        }
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    let message = status.canonical_reason().unwrap_or("Error");
    ErrorBody::single(code, message, status.as_u16())
}

/// An error on the OAuth endpoints (`/oauth/*`), as RFC 6749 §5.2 and RFC
/// 8628 §3.5 shape it and as the client libraries need it (protocol
/// reference §D.2): a JSON body `{"error", "error_description"}`, status 400
/// for everything the client can act on, 401 with `WWW-Authenticate` only
/// for a failed client authentication, never a bare 429 on the token
/// endpoint, 503 with `Retry-After` when busy, and `Cache-Control:
/// no-store`.
#[derive(Debug)]
pub enum OAuthError {
    Core(CoreError),
    /// A required parameter is missing or malformed.
    InvalidRequest(String),
    UnsupportedGrantType,
    /// Asked too often (a budget): 503 with `Retry-After`, which clients
    /// honour (`slow_down` belongs to the device code's polling).
    TryLater {
        retry_after_secs: i64,
    },
}

/// RFC 6750 §3: what a resource that takes a Bearer token (`/userinfo`)
/// answers when the token does not do: 401 with `WWW-Authenticate: Bearer`
/// (and `error="invalid_token"` for a token that is unknown, expired or
/// revoked), 403 `insufficient_scope` for one without the scope it needs.
#[derive(Debug)]
pub enum BearerError {
    /// No token came.
    Missing,
    /// The token came in the URL (RFC 6750 §2.3: not accepted here).
    InQuery,
    Core(CoreError),
}

impl From<CoreError> for BearerError {
    fn from(e: CoreError) -> Self {
        BearerError::Core(e)
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        use StatusCode as S;
        let (status, error, challenge) = match self {
            BearerError::Missing => (S::UNAUTHORIZED, "invalid_request", "Bearer"),
            BearerError::InQuery => (
                S::BAD_REQUEST,
                "invalid_request",
                "Bearer error=\"invalid_request\"",
            ),
            BearerError::Core(CoreError::Unauthenticated | CoreError::AccountDisabled) => (
                S::UNAUTHORIZED,
                "invalid_token",
                "Bearer error=\"invalid_token\"",
            ),
            BearerError::Core(CoreError::InsufficientScope) => (
                S::FORBIDDEN,
                "insufficient_scope",
                "Bearer error=\"insufficient_scope\", scope=\"openid\"",
            ),
            // Busy, unavailable, internal: as the API answers them.
            BearerError::Core(other) => return ApiError::Core(other).into_response(),
        };
        let body = serde_json::json!({ "error": error });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// A 401 for a request whose token came as `Authorization: Bearer` (and
/// not as `X-Plex-Token`) says so in RFC 6750's terms too: OAuth libraries
/// read `WWW-Authenticate` to learn that the access token expired. The body
/// stays plex.tv's.
pub async fn bearer_challenge(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        && !request.headers().contains_key("x-plex-token")
        && !request
            .uri()
            .query()
            .is_some_and(|q| q.to_ascii_lowercase().contains("x-plex-token="));
    let mut response = next.run(request).await;
    if bearer
        && response.status() == StatusCode::UNAUTHORIZED
        && !response.headers().contains_key(header::WWW_AUTHENTICATE)
    {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    response
}

impl From<CoreError> for OAuthError {
    fn from(e: CoreError) -> Self {
        OAuthError::Core(e)
    }
}

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Core(core) => OAuthError::Core(core),
            other => OAuthError::InvalidRequest(other.public().message),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        use StatusCode as S;
        let (status, error, description, retry_after) = match self {
            OAuthError::InvalidRequest(why) => (S::BAD_REQUEST, "invalid_request", why, None),
            OAuthError::UnsupportedGrantType => (
                S::BAD_REQUEST,
                "unsupported_grant_type",
                "Only urn:ietf:params:oauth:grant-type:device_code and refresh_token are supported"
                    .to_owned(),
                None,
            ),
            OAuthError::TryLater { retry_after_secs } => (
                S::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "Too many requests from this address: try again later".to_owned(),
                Some(retry_after_secs),
            ),
            OAuthError::Core(core) => match core {
                CoreError::Grant(refusal) => {
                    (S::BAD_REQUEST, refusal.code(), refusal.to_string(), None)
                }
                CoreError::InvalidClient => {
                    (S::UNAUTHORIZED, "invalid_client", core.to_string(), None)
                }
                CoreError::InvalidInput(why) => (S::BAD_REQUEST, "invalid_request", why, None),
                // A grant's budget of new codes: RFC 8628 has no word for
                // it; `slow_down` is what every client understands.
                CoreError::RateLimited { retry_after_secs } => (
                    S::BAD_REQUEST,
                    "slow_down",
                    core.to_string(),
                    Some(retry_after_secs),
                ),
                other => {
                    // Everything else as the API maps it (and logs it).
                    let public = ApiError::Core(other).public();
                    let error = if public.status.is_server_error() {
                        "temporarily_unavailable"
                    } else {
                        "invalid_request"
                    };
                    let status = if public.status == S::INTERNAL_SERVER_ERROR {
                        S::INTERNAL_SERVER_ERROR
                    } else if public.status.is_server_error() {
                        S::SERVICE_UNAVAILABLE
                    } else {
                        S::BAD_REQUEST
                    };
                    let error = if status == S::INTERNAL_SERVER_ERROR {
                        "server_error"
                    } else {
                        error
                    };
                    (status, error, public.message, public.retry_after_secs)
                }
            },
        };
        let body = serde_json::json!({ "error": error, "error_description": description });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == S::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"pinlink\""),
            );
        }
        if let Some(secs) = retry_after {
            if let Ok(value) = HeaderValue::from_str(&secs.max(1).to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
