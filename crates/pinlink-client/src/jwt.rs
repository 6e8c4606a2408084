//! plex.tv's JWT login for devices: an Ed25519 key of the device's own
//! ([`DeviceKey`]), the device JWTs it signs, and checking the Plex JWT a
//! server answers against the server's published keys ([`verify_plex_jwt`]).
//! The HTTP side is on [`crate::Client`] (`create_jwt_pin`, `wait_for_jwt`,
//! `register_key`, `refresh_jwt`, `jwt_keys`).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The scopes plex.tv's own clients ask for.
pub const DEFAULT_SCOPES: &str = "username,email,friendly_name,restricted,anonymous,joinedAt";
/// How long the device JWTs made here are valid (what clients use).
const DEVICE_JWT_SECS: i64 = 300;

/// The device's Ed25519 key pair.
#[derive(Clone)]
pub struct DeviceKey {
    key: SigningKey,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey")
            .field("kid", &self.kid())
            .finish()
    }
}

impl DeviceKey {
    /// A new key from the operating system's random generator (two random
    /// UUIDs: 244 random bits).
    pub fn generate() -> DeviceKey {
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_mut(16) {
            chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        DeviceKey {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The 32-byte private key, as stored by [`DeviceKey::private_bytes`].
    pub fn from_private_bytes(bytes: &[u8]) -> Result<DeviceKey, Error> {
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Config("a device key is 32 bytes".into()))?;
        Ok(DeviceKey {
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn private_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key id: SHA-256 of the private and public key, in hex — what
    /// python-plexapi and Plex's own clients use, so a Plex JWT's
    /// `thumbprint` can be checked against it.
    pub fn kid(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(self.key.to_bytes());
        hash.update(self.key.verifying_key().as_bytes());
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The public key as the JWK a server registers.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes()),
            "use": "sig",
            "alg": "EdDSA",
            "kid": self.kid(),
        })
    }

    /// A device JWT: this key's `kid`, `iss` the client identifier, `aud`
    /// `plex.tv`, valid five minutes, carrying the server's `nonce`.
    pub fn device_jwt(&self, client_identifier: &str, nonce: &str, scopes: &str) -> String {
        let now = unix_now();
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": self.kid()});
        let claims = json!({
            "nonce": nonce,
            "scope": scopes,
            "aud": "plex.tv",
            "iss": client_identifier,
            "iat": now,
            "exp": now + DEVICE_JWT_SECS,
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = URL_SAFE_NO_PAD.encode(self.key.sign(signed.as_bytes()).to_bytes());
        format!("{signed}.{signature}")
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What a verified Plex JWT says.
#[derive(Debug, Clone, Deserialize)]
pub struct PlexJwtClaims {
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub thumbprint: String,
    /// `id`, `uuid`, and what the scopes asked for.
    pub user: Value,
}

impl PlexJwtClaims {
    /// Seconds until it expires (negative once it has).
    pub fn expires_in(&self) -> i64 {
        self.exp - unix_now()
    }
}

/// Checks a Plex JWT as a careful client does: EdDSA, signed by one of the
/// server's published `keys` (by `kid`), issuer `plex.tv`, audience holding
/// this client's identifier, not expired, issued to this device's key
/// (`thumbprint`).
pub fn verify_plex_jwt(
    jwt: &str,
    keys: &[Value],
    client_identifier: &str,
    device_kid: &str,
) -> Result<PlexJwtClaims, Error> {
    let bad = |why: &str| Error::Unexpected(format!("the Plex JWT {why}"));
    let mut parts = jwt.split('.');
    let (Some(header), Some(body), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("is not a JWT"));
    };
    let decode = |part: &str| -> Result<Value, Error> {
        URL_SAFE_NO_PAD
            .decode(part)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| bad("is malformed"))
    };
    let header = decode(header)?;
    if header["alg"] != "EdDSA" {
        return Err(bad("is not EdDSA"));
    }
    let key = keys
        .iter()
        .find(|k| k["kid"] == header["kid"] && k["crv"] == "Ed25519")
        .ok_or_else(|| bad("is signed by a key the server does not publish"))?;
    let x: [u8; 32] = key["x"]
        .as_str()
        .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
        .and_then(|x| x.try_into().ok())
        .ok_or_else(|| bad("names a malformed key"))?;
    let verifying = VerifyingKey::from_bytes(&x).map_err(|_| bad("names a malformed key"))?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| bad("has a malformed signature"))?;
    let signed = &jwt[..jwt.len() - parts_len_after_body(jwt)];
    verifying
        .verify(signed.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| bad("has a wrong signature"))?;
    let claims_value = decode(body)?;
    let audience_ok = match &claims_value["aud"] {
        Value::String(one) => one == client_identifier,
        Value::Array(many) => many.iter().any(|a| a == client_identifier),
        _ => false,
    };
    if !audience_ok {
        return Err(bad("is not for this client identifier"));
    }
    let claims: PlexJwtClaims =
        serde_json::from_value(claims_value).map_err(|_| bad("lacks a required claim"))?;
    if claims.iss != "plex.tv" {
        return Err(bad("was not issued by plex.tv"));
    }
    if claims.thumbprint != device_kid {
        return Err(bad("was issued to another device key"));
    }
    if claims.expires_in() <= 0 {
        return Err(bad("has expired"));
    }
    Ok(claims)
}

/// Seconds until a JWT's `exp`, read without checking anything (to decide
/// whether to refresh it); `None` if it is not a JWT.
pub fn unverified_expires_in(jwt: &str) -> Option<i64> {
    let body = jwt.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
    Some(claims["exp"].as_i64()? - unix_now())
}

/// The length of `.signature` at the end of a compact JWS.
fn parts_len_after_body(jwt: &str) -> usize {
    jwt.rfind('.').map_or(0, |dot| jwt.len() - dot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_jwts_carry_the_key_id_and_verify_with_the_public_key() {
        let key = DeviceKey::from_private_bytes(&[5; 32]).expect("key");
        assert_eq!(key.kid().len(), 64);
        let jwt = key.device_jwt("tv", "n", DEFAULT_SCOPES);
        let mut parts = jwt.split('.');
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(parts.next().expect("h"))
                .expect("b64"),
        )
        .expect("json");
        assert_eq!(header["kid"], key.kid());
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(parts.next().expect("c"))
                .expect("b64"),
        )
        .expect("json");
        assert_eq!(claims["iss"], "tv");
        assert_eq!(claims["aud"], "plex.tv");
        assert_eq!(claims["nonce"], "n");
        let again = DeviceKey::from_private_bytes(&key.private_bytes()).expect("key");
        assert_eq!(again.kid(), key.kid());
        assert!(DeviceKey::from_private_bytes(&[1; 5]).is_err());
    }
}
