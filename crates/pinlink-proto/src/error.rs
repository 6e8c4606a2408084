//! plex.tv's error body: `{"errors":[{"code","message","status"}]}` in JSON,
//! `<errors><error code message status/></errors>` in XML (protocol §10).
//! `status` is always present: the `plex-api` crate requires it.

use serde::{Deserialize, Serialize};

use crate::xml::Element;
use crate::WireBody;

/// The error codes pinlink sends. The first five are plex.tv's own; plex.tv
/// publishes no catalogue for the rest, so pinlink's own codes sit in a range
/// (19xx) no plex.tv sample uses, where a client falls back on `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400: a required parameter is missing or malformed.
    BadRequest = 1000,
    /// 401: no, a wrong, or a revoked token or password.
    Unauthenticated = 1001,
    /// 429: "API rate limit exceeded" (too many new pins, say).
    RateLimited = 1003,
    /// 404: pin code or id unknown, expired or not yours.
    CodeNotFound = 1020,
    /// 401: a two-step verification code is required, or was wrong.
    VerificationCodeRequired = 1029,
    /// 401: sign-in locked out after repeated failures.
    SignInLockedOut = 1031,
    /// 404: no such route or object (pinlink's).
    NotFound = 1900,
    /// 429: too many wrong link codes (pinlink's).
    TooManyAttempts = 1929,
    /// 409: an account with that name exists (pinlink's).
    Conflict = 1909,
    /// 413/431: request body or headers too large (pinlink's).
    TooLarge = 1913,
    /// 500: an internal error; details are only in the server log (pinlink's).
    Internal = 1950,
    /// 503: the database is unreachable; retry later (pinlink's).
    Unavailable = 1953,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorItem {
    pub code: i64,
    pub message: String,
    pub status: u16,
}

/// plex.tv's error shape, for every error of its API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub errors: Vec<ErrorItem>,
}

impl ErrorBody {
    pub fn single(code: ErrorCode, message: impl Into<String>, status: u16) -> ErrorBody {
        ErrorBody {
            errors: vec![ErrorItem {
                code: code as i64,
                message: message.into(),
                status,
            }],
        }
    }
}

impl WireBody for ErrorBody {
    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    fn to_xml(&self) -> String {
        Element::new("errors")
            .children(self.errors.iter().map(|e| {
                Element::new("error")
                    .attr("code", e.code)
                    .attr("message", &e.message)
                    .attr("status", e.status)
            }))
            .to_document()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes() {
        let body = ErrorBody::single(ErrorCode::CodeNotFound, "Code not found or expired", 404);
        assert_eq!(
            body.to_json(),
            r#"{"errors":[{"code":1020,"message":"Code not found or expired","status":404}]}"#
        );
        assert!(body
            .to_xml()
            .contains(r#"<errors><error code="1020" message="Code not found or expired" status="404"/></errors>"#));
    }
}
