//! The web forms' anti-forgery tokens and the session cookie's seal (web
//! concerns, so here rather than in the core). The `Visitor` and `Posted`
//! extractors (`visitor.rs`) check them.

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

    /// The session cookie's value for a token a page's sign-in granted:
    /// `{token}.{seal}`. Only pages' sign-ins make one, so a token a device
    /// was given (a linked pin's, a device grant's) is no page session: it
    /// cannot change what protects the account.
    pub fn session_cookie(&self, token: &str) -> String {
        format!("{token}.{}", self.seal(token))
    }

    /// The token in a session cookie, if the page sign-in's seal is on it.
    pub fn session_token<'a>(&self, cookie: &'a str) -> Option<&'a str> {
        let (token, seal) = cookie.rsplit_once('.')?;
        constant_time_eq(&self.seal(token), seal).then_some(token)
    }

    fn seal(&self, token: &str) -> String {
        self.0
            .lookup_hash(Purpose::PageSession, token)
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sealed_cookie_names_a_session() {
        let tokens = FormTokens::new(&ServerKey::generate());
        let cookie = tokens.session_cookie("abc");
        assert_eq!(tokens.session_token(&cookie), Some("abc"));
        assert_eq!(tokens.session_token("abc"), None, "a bare token");
        assert_eq!(tokens.session_token("abd.00"), None);
        let other = FormTokens::new(&ServerKey::generate());
        assert_eq!(other.session_token(&cookie), None, "another server's key");
        let forged = format!("abd.{}", cookie.rsplit_once('.').expect("sealed").1);
        assert_eq!(tokens.session_token(&forged), None, "a seal moved");
    }
}
