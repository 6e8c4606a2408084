//! What a handler answers: a status and a wire body that is not rendered
//! yet. The [`crate::negotiate`] middleware renders it as JSON or XML once
//! the format is known, so handlers and [`crate::error`] never pick one.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pinlink_proto::WireBody;

/// A body waiting for the middleware to render it in the negotiated format.
#[derive(Clone)]
pub struct RenderLater(pub Arc<dyn WireBody + Send + Sync>);

/// Marks a body that is XML whatever the client asked for: plex.tv's v1
/// endpoints (`/api/resources`, `/api/users`, `/api/home/users`) answer XML
/// even to `Accept: application/json`, and their callers parse XML.
#[derive(Clone, Copy)]
pub struct XmlOnly;

/// A handler's successful answer.
pub struct Reply {
    status: StatusCode,
    body: Option<Arc<dyn WireBody + Send + Sync>>,
    xml_only: bool,
}

impl Reply {
    pub fn new(status: StatusCode, body: impl WireBody + Send + Sync + 'static) -> Reply {
        Reply {
            status,
            body: Some(Arc::new(body)),
            xml_only: false,
        }
    }
    /// 200 with a v1 body, in XML whatever the request asked for.
    pub fn xml_only(body: impl WireBody + Send + Sync + 'static) -> Reply {
        Reply {
            xml_only: true,
            ..Reply::ok(body)
        }
    }
    pub fn ok(body: impl WireBody + Send + Sync + 'static) -> Reply {
        Reply::new(StatusCode::OK, body)
    }
    pub fn status(status: StatusCode) -> Reply {
        Reply {
            status,
            body: None,
            xml_only: false,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(body) = self.body {
            response.extensions_mut().insert(RenderLater(body));
        }
        if self.xml_only {
            response.extensions_mut().insert(XmlOnly);
        }
        response
    }
}
