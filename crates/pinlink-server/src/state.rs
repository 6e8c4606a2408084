//! What every handler can reach.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Whether this process serves in test mode (`pinlink serve --test-mode`):
/// every page says so.
static TEST_MODE: AtomicBool = AtomicBool::new(false);

pub fn set_test_mode() {
    TEST_MODE.store(true, Ordering::Relaxed);
}

pub fn test_mode() -> bool {
    TEST_MODE.load(Ordering::Relaxed)
}

use pinlink_core::Pinlink;

use crate::routes::pages::form_tokens::FormTokens;
use pinlink_proto::Location;

/// Handlers get a clone per request: one reference count, whatever is in
/// it ([`Shared`]).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
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
