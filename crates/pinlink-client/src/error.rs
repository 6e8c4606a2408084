//! What can go wrong, typed so callers can act on it.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pin expired before anyone approved it.
    #[error("the pin expired before it was approved")]
    PinExpired,
    /// 404: unknown pin or code (or one that was denied), unknown device.
    #[error("not found: {message}")]
    NotFound { code: Option<i64>, message: String },
    /// 401: no, a wrong, or a revoked token or password (plex.tv code 1001),
    /// or a sign-in lock-out (1031).
    #[error("unauthorized: {message}")]
    Unauthorized { code: Option<i64>, message: String },
    /// 498: a Plex JWT that has expired: refresh it
    /// ([`crate::Client::refresh_jwt`]).
    #[error("the token has expired: {message}")]
    TokenExpired { message: String },
    /// 429: slow down; retry after the given time if the server said one.
    #[error("rate limited by the server")]
    RateLimited { retry_after: Option<Duration> },
    /// Any other 4xx: the request itself was refused.
    #[error("request refused (HTTP {status}): {message}")]
    Rejected {
        status: u16,
        code: Option<i64>,
        message: String,
    },
    /// 5xx: the server failed; retrying later may work.
    #[error("server error (HTTP {status}): {message}")]
    Server {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The server could not be reached or the connection failed.
    #[error("network error: {0}")]
    Network(#[from] reqwest::Error),
    /// A 2xx answer this library could not read.
    #[error("unexpected response: {0}")]
    Unexpected(String),
    /// A bad argument (empty product name, malformed base URL).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// Whether waiting and trying again may help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. } | Error::Server { .. } | Error::Network(_)
        )
    }
}
