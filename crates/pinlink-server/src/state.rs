//! What every handler can reach.

use std::sync::Arc;

use pinlink_core::Pinlink;

use crate::routes::pages::form_tokens::FormTokens;
use pinlink_proto::Location;

#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Pinlink>,
    /// Without a trailing slash.
    pub public_url: Arc<str>,
    pub location: Arc<Location>,
    pub max_body_bytes: usize,
    /// Whether anyone may create an account at `/signup`.
    pub open_signup: bool,
    /// The web forms' anti-forgery tokens.
    pub form_tokens: Arc<FormTokens>,
}
