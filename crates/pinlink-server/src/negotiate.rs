//! JSON or XML: decided once per request, applied to every body and error.
//!
//! plex.tv answers JSON only when asked for it and XML otherwise (protocol
//! reference §1). The [`negotiate`] middleware wraps the whole router: it
//! reads the `.json`/`.xml` path suffix (stripping it, so routes are declared
//! once) or the `Accept` header, and after the handler ran it renders the
//! handler's [`Reply`](crate::reply::Reply) or error in that format. Handlers never pick a format.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, uri, HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pinlink_proto::WireBody;

use crate::error::{error_body_for_status, ApiError};
use crate::reply::{RenderLater, XmlOnly};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// JSON only when every media range the client accepts is
    /// `application/json`. Observed on plex.tv: `application/json` gives
    /// JSON, while axios' `application/json, text/plain, */*` and a missing
    /// header give XML.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Xml;
        };
        let mut ranges = accept
            .split(',')
            .map(|r| r.split(';').next().unwrap_or("").trim())
            .filter(|r| !r.is_empty())
            .peekable();
        if ranges.peek().is_some() && ranges.all(|r| r.eq_ignore_ascii_case("application/json")) {
            Format::Json
        } else {
            Format::Xml
        }
    }

    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
        })
    }

    pub fn render(self, body: &dyn WireBody) -> String {
        match self {
            Format::Json => body.to_json(),
            Format::Xml => body.to_xml(),
        }
    }
}

/// Marks a request whose path named its format (`/devices.xml`): an API
/// call, never a page.
#[derive(Debug, Clone, Copy)]
pub struct FormatSuffix;

/// Limits the middleware enforces before anything else runs.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLimit {
    pub max_header_bytes: usize,
}

/// Splits a `.json`/`.xml` suffix off the last path segment.
fn strip_format_suffix(path: &str) -> Option<(&str, Format)> {
    if let Some(stripped) = path.strip_suffix(".json") {
        Some((stripped, Format::Json))
    } else {
        path.strip_suffix(".xml")
            .map(|stripped| (stripped, Format::Xml))
    }
}

fn with_path(original: &Uri, path: &str) -> Option<Uri> {
    let mut parts = uri::Parts::from(original.clone());
    let pq = match original.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    parts.path_and_query = Some(pq.parse().ok()?);
    Uri::from_parts(parts).ok()
}

pub async fn negotiate(
    State(limit): State<HeaderLimit>,
    mut request: Request,
    next: Next,
) -> Response {
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let mut format = Format::from_accept(accept);
    if let Some((path, suffix_format)) = strip_format_suffix(request.uri().path()) {
        if let Some(uri) = with_path(request.uri(), path) {
            format = suffix_format;
            *request.uri_mut() = uri;
            request.extensions_mut().insert(FormatSuffix);
        }
    }

    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > limit.max_header_bytes {
        return finish(ApiError::HeadersTooLarge.into_response(), format).await;
    }

    request.extensions_mut().insert(format);
    let response = next.run(request).await;
    finish(response, format).await
}

/// Renders a pending body, or gives plex.tv's error body to an error that
/// did not come from a handler: a bare status (the router's 405, say) or one
/// of axum's own extractor rejections, which answer `text/plain` (a path
/// segment that is not UTF-8, a malformed query for a page). Their text,
/// which says what was wrong, becomes the message.
async fn finish(response: Response, format: Format) -> Response {
    let (mut parts, body) = response.into_parts();
    let format = match parts.extensions.remove::<XmlOnly>() {
        Some(XmlOnly) => Format::Xml,
        None => format,
    };
    let rendered = match parts.extensions.remove::<RenderLater>() {
        Some(RenderLater(body)) => format.render(body.as_ref()),
        None => {
            let status = parts.status;
            let plain = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| v.starts_with("text/plain"));
            if plain && (status.is_client_error() || status.is_server_error()) {
                let text = axum::body::to_bytes(body, 1024).await.unwrap_or_default();
                let message = String::from_utf8_lossy(&text).trim().to_owned();
                let mut error = error_body_for_status(status);
                if !message.is_empty() && !status.is_server_error() {
                    error.errors[0].message = message;
                }
                format.render(&error)
            } else {
                return Response::from_parts(parts, body);
            }
        }
    };
    parts
        .headers
        .insert(header::CONTENT_TYPE, format.content_type());
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(rendered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_rules_match_what_plex_tv_does() {
        assert_eq!(Format::from_accept(Some("application/json")), Format::Json);
        assert_eq!(
            Format::from_accept(Some("Application/JSON; charset=utf-8")),
            Format::Json
        );
        assert_eq!(
            Format::from_accept(Some("application/json, text/plain, */*")),
            Format::Xml
        );
        assert_eq!(Format::from_accept(Some("*/*")), Format::Xml);
        assert_eq!(Format::from_accept(Some("")), Format::Xml);
        assert_eq!(Format::from_accept(None), Format::Xml);
    }

    #[test]
    fn suffixes() {
        assert_eq!(
            strip_format_suffix("/api/v2/pins/1.json"),
            Some(("/api/v2/pins/1", Format::Json))
        );
        assert_eq!(
            strip_format_suffix("/devices.xml"),
            Some(("/devices", Format::Xml))
        );
        assert_eq!(strip_format_suffix("/api/v2/pins"), None);
        let uri: Uri = "/devices.xml?X-Plex-Token=t".parse().expect("uri");
        assert_eq!(
            with_path(&uri, "/devices")
                .map(|u| u.to_string())
                .as_deref(),
            Some("/devices?X-Plex-Token=t")
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    proptest! {
        /// Any Accept header picks a format; JSON only when every range is
        /// application/json.
        #[test]
        fn every_accept_header_picks_a_format(raw in prop_oneof![any::<String>(), "[a-z/*;=,. +0-9]{0,60}"]) {
            let format = super::Format::from_accept(Some(&raw));
            if format == super::Format::Json {
                prop_assert!(raw.to_ascii_lowercase().contains("application/json"));
            }
            let _ = super::strip_format_suffix(&raw);
        }
    }
}
