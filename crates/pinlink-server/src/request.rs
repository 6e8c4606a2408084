//! [`PlexRequest`]: everything a plex.tv-style request says about itself.
//!
//! Real clients put `X-Plex-*` parameters in headers, in the query string or
//! in a form or JSON body, with names in any case (protocol reference §1).
//! This extractor merges all three into one case-insensitive map, with
//! headers winning over the body and the body over the query (plex.tv's own
//! precedence is not documented). Ordinary fields such as `strong`, `code`,
//! `login` and `password` come through the same map.

use std::collections::HashMap;

use axum::extract::{FromRequest, Request};
use axum::http::header;
use pinlink_core::{ClientAddress, ClientIdentifier, CoreError, DeviceInfo, RawDeviceInfo};

use crate::error::ApiError;
use crate::state::AppState;

pub struct PlexRequest {
    /// Lower-case names.
    params: HashMap<String, String>,
    /// Every value of the parameters that may repeat
    /// (`Connection[][uri]`), in order; lower-case names.
    repeated: Vec<(String, String)>,
    /// Where the request comes from ([`crate::client_address`]); shown on
    /// confirmation pages and used for budgets.
    from: ClientAddress,
    /// The `Authorization` header, if any: `Bearer` carries a token like
    /// `X-Plex-Token`; `Basic` an OAuth client's credentials.
    authorization: Option<String>,
}

impl PlexRequest {
    /// A parameter by name, in any case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn client_identifier(&self) -> Result<ClientIdentifier, CoreError> {
        ClientIdentifier::parse(self.get("X-Plex-Client-Identifier"))
    }

    /// Where the request comes from.
    pub fn client_address(&self) -> ClientAddress {
        self.from
    }

    /// Every value of a parameter that may repeat (`Connection[][uri]`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.repeated
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A parameter that holds a JSON object (sent nested in a JSON body, or
    /// as JSON text in a form field).
    pub fn json_object(&self, name: &str) -> Result<Option<serde_json::Value>, CoreError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value @ serde_json::Value::Object(_)) => Ok(Some(value)),
            _ => Err(CoreError::InvalidInput(format!(
                "{name} must be a JSON object"
            ))),
        }
    }

    /// The caller's token: `X-Plex-Token` (header, query or body), or else
    /// `Authorization: Bearer` (RFC 6750), so that OAuth libraries need
    /// nothing Plex-specific.
    pub fn token(&self) -> Option<&str> {
        self.get("X-Plex-Token").or_else(|| self.bearer_token())
    }

    /// `Authorization: Bearer` alone (RFC 6750), for the endpoints that are
    /// OAuth's rather than plex.tv's.
    pub fn bearer_token(&self) -> Option<&str> {
        let (scheme, value) = self.authorization.as_deref()?.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
    }

    /// HTTP Basic credentials (RFC 6749 §2.3.1): the id and secret, each
    /// form-url-decoded after the base64. `Some(Err)` for a malformed header.
    pub fn basic_credentials(&self) -> Option<Result<(String, String), CoreError>> {
        let (scheme, value) = self.authorization.as_deref()?.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        Some(decode_basic(value.trim()))
    }

    /// The device metadata; `X-Plex-Product` is required.
    pub fn device_info(&self) -> Result<DeviceInfo, CoreError> {
        DeviceInfo::parse(self.raw_device_info())
    }

    /// The device metadata, naming the product `fallback` when the client
    /// sent none (sign-in does not require one).
    pub fn device_info_or(&self, fallback: &str) -> Result<DeviceInfo, CoreError> {
        let mut raw = self.raw_device_info();
        if raw.product.map(str::trim).unwrap_or_default().is_empty() {
            raw.product = Some(fallback);
        }
        DeviceInfo::parse(raw)
    }

    fn raw_device_info(&self) -> RawDeviceInfo<'_> {
        RawDeviceInfo {
            product: self.get("X-Plex-Product"),
            version: self.get("X-Plex-Version"),
            platform: self.get("X-Plex-Platform"),
            platform_version: self.get("X-Plex-Platform-Version"),
            device: self.get("X-Plex-Device"),
            device_name: self.get("X-Plex-Device-Name"),
            model: self.get("X-Plex-Model"),
            vendor: self.get("X-Plex-Device-Vendor"),
            provides: self.get("X-Plex-Provides"),
        }
    }

    /// plex.tv's two-step code at sign-in (`verificationCode`; also the
    /// Rails-style `user[verificationCode]`); absent or blank is none.
    pub fn verification_code(&self) -> Option<String> {
        self.get("verificationCode")
            .or_else(|| self.get("user[verificationCode]"))
            .map(str::trim)
            .filter(|code| !code.is_empty())
            .map(str::to_owned)
    }

    /// `wait=N`, pinlink's long poll: whole seconds, 0 to 2^32 - 1 (the
    /// core holds a request at most 25 of them); absent is 0.
    pub fn wait(&self) -> Result<std::time::Duration, CoreError> {
        match self.get("wait") {
            None => Ok(std::time::Duration::ZERO),
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .map(|secs| std::time::Duration::from_secs(u64::from(secs)))
                .map_err(|_| {
                    CoreError::InvalidInput(
                        "wait must be a whole number of seconds, 0 to 4294967295".into(),
                    )
                }),
        }
    }

    /// A boolean in any spelling clients send: `true`, `True`, `1`, a JSON
    /// `true`; absent means false.
    pub fn flag(&self, name: &str) -> Result<bool, CoreError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) => match v.as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" | "" => Ok(false),
                _ => Err(CoreError::InvalidInput(format!(
                    "{name} must be true or false"
                ))),
            },
        }
    }
}

fn decode_basic(value: &str) -> Result<(String, String), CoreError> {
    use base64::Engine;
    let malformed = || CoreError::InvalidInput("the Basic credentials are malformed".into());
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    let decode = |part: &str| form_decode(part).ok_or_else(malformed);
    Ok((decode(id)?, decode(secret)?))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a
/// space, `%XX` a byte; a stray `%` or `&`, or bytes that are not UTF-8,
/// are malformed.
fn form_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(b) = rest.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = [rest.next()?, rest.next()?];
                let hex = std::str::from_utf8(&hex).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
            }
            b'&' | b'=' => return None,
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).ok()
}

/// Parameters that may come several times, each value kept.
const REPEATED: [&str; 2] = ["connection[][uri]", "connection[uri]"];

fn insert_pairs(
    params: &mut HashMap<String, String>,
    repeated: &mut Vec<(String, String)>,
    pairs: Vec<(String, String)>,
) {
    for (name, value) in pairs {
        let name = name.to_ascii_lowercase();
        if REPEATED.contains(&name.as_str()) {
            repeated.push((name.clone(), value.clone()));
        }
        params.insert(name, value);
    }
}

/// The top-level scalar fields of a JSON object body, as strings.
fn json_fields(bytes: &[u8]) -> Result<Vec<(String, String)>, CoreError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| CoreError::InvalidInput(format!("the request body is not valid JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(CoreError::InvalidInput(
            "the JSON request body must be an object".into(),
        ));
    };
    Ok(map
        .into_iter()
        .filter_map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                // A nested object (a JWK) is kept as its JSON text, for the
                // handler that reads it ([`PlexRequest::json_object`]); so is
                // an array, so that a malformed one is refused there rather
                // than silently dropped.
                nested @ (serde_json::Value::Object(_) | serde_json::Value::Array(_)) => {
                    nested.to_string()
                }
                _ => return None,
            };
            Some((name, text))
        })
        .collect())
}

impl FromRequest<AppState> for PlexRequest {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let mut params = HashMap::new();
        let mut repeated = Vec::new();

        if let Some(query) = parts.uri.query() {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
                .map_err(|_| CoreError::InvalidInput("the query string is malformed".into()))?;
            insert_pairs(&mut params, &mut repeated, pairs);
        }

        let bytes = axum::body::to_bytes(body, state.max_body_bytes)
            .await
            .map_err(|_| ApiError::BodyTooLarge)?;
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            let pairs = if content_type.starts_with("application/json") {
                json_fields(&bytes)?
            } else {
                serde_urlencoded::from_bytes(&bytes).map_err(|_| {
                    CoreError::InvalidInput("the request body is not a valid form".into())
                })?
            };
            insert_pairs(&mut params, &mut repeated, pairs);
        }

        for (name, value) in &parts.headers {
            if name.as_str().starts_with("x-plex-") {
                let value = value.to_str().map_err(|_| {
                    CoreError::InvalidInput(format!("header {name} is not valid text"))
                })?;
                params.insert(name.as_str().to_owned(), value.to_owned());
            }
        }

        let from = crate::client_address::of(&parts.extensions);
        // Not text: as if absent (plex.tv's endpoints never read it).
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(PlexRequest {
            params,
            repeated,
            from,
            authorization,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_flatten_scalars() {
        let fields =
            json_fields(br#"{"strong":true,"X-Plex-Product":"A","n":1,"jwk":{"kty":"OKP"}}"#)
                .expect("valid");
        assert!(fields.contains(&("strong".into(), "true".into())));
        assert!(fields.contains(&("n".into(), "1".into())));
        let jwk = fields.iter().find(|(k, _)| k == "jwk").expect("jwk kept");
        assert_eq!(jwk.1, r#"{"kty":"OKP"}"#);
        assert!(json_fields(b"[1]").is_err());
        assert!(json_fields(b"{").is_err());
    }

    #[test]
    fn basic_credentials_are_form_decoded_after_base64() {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode("my%20app:s%3Acret+x");
        let (id, secret) = decode_basic(&encoded).expect("well formed");
        assert_eq!((id.as_str(), secret.as_str()), ("my app", "s:cret x"));
        assert!(decode_basic("not base64!").is_err());
        let ampersand = base64::engine::general_purpose::STANDARD.encode("id:s&junk");
        assert!(decode_basic(&ampersand).is_err(), "& must be %26");
        let bad_escape = base64::engine::general_purpose::STANDARD.encode("id:s%2");
        assert!(decode_basic(&bad_escape).is_err());
        let no_colon = base64::engine::general_purpose::STANDARD.encode("justone");
        assert!(decode_basic(&no_colon).is_err());
    }
}
