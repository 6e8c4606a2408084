//! The bodies of plex.tv's JWT endpoints (`/api/v2/auth/*`). Their callers
//! ask for JSON; XML is given for completeness in plex.tv's v2 style.

use crate::xml::Element;
use crate::WireBody;

/// `GET /api/v2/auth/nonce`: `{"nonce": "…"}`.
#[derive(Debug, Clone)]
pub struct Nonce {
    pub nonce: String,
}

impl WireBody for Nonce {
    fn to_json(&self) -> String {
        serde_json::json!({ "nonce": self.nonce }).to_string()
    }
    fn to_xml(&self) -> String {
        Element::new("nonce")
            .attr("nonce", &self.nonce)
            .to_document()
    }
}

/// `POST /api/v2/auth/token`: plex.tv's `auth_token`, and `authToken` as
/// well (one generated SDK reads that name).
#[derive(Debug, Clone)]
pub struct PlexJwtToken {
    pub token: String,
}

impl WireBody for PlexJwtToken {
    fn to_json(&self) -> String {
        serde_json::json!({ "auth_token": self.token, "authToken": self.token }).to_string()
    }
    fn to_xml(&self) -> String {
        Element::new("token")
            .attr("auth_token", &self.token)
            .attr("authToken", &self.token)
            .to_document()
    }
}

/// `GET /api/v2/auth/keys`: `{"keys": [JWK, …]}`.
#[derive(Debug, Clone)]
pub struct JwtKeys {
    pub keys: Vec<serde_json::Value>,
}

impl WireBody for JwtKeys {
    fn to_json(&self) -> String {
        serde_json::json!({ "keys": self.keys }).to_string()
    }
    fn to_xml(&self) -> String {
        let text = |key: &serde_json::Value, name: &str| {
            key.get(name)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Element::new("keys")
            .attr("size", self.keys.len())
            .children(self.keys.iter().map(|key| {
                Element::new("key")
                    .attr("kty", text(key, "kty"))
                    .attr("crv", text(key, "crv"))
                    .attr("x", text(key, "x"))
                    .attr("use", text(key, "use"))
                    .attr("alg", text(key, "alg"))
                    .attr("kid", text(key, "kid"))
            }))
            .to_document()
    }
}
