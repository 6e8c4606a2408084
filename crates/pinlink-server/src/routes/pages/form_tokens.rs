//! The web forms' anti-forgery tokens (a web concern, so here rather than
//! in the core). The `Posted` extractor (`visitor.rs`) checks them.

use pinlink_core::secrets::{constant_time_eq, Purpose, Secrets};
use pinlink_core::ServerKey;

/// Anti-forgery tokens for web forms: the HMAC (under a key derived from the
/// server key) of a random value the browser holds in a `SameSite=Strict`
/// cookie. A page on another site can neither read the cookie nor compute
/// the token.
pub struct FormTokens(Secrets);

impl FormTokens {
    pub fn new(key: &ServerKey) -> FormTokens {
        FormTokens(Secrets::new(key))
    }

    pub fn token(&self, binding: &str) -> String {
        self.0
            .lookup_hash(Purpose::Csrf, binding)
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn matches(&self, binding: &str, presented: &str) -> bool {
        !binding.is_empty() && constant_time_eq(&self.token(binding), presented)
    }
}
