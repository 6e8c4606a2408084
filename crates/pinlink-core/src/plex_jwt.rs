//! Plex JWTs: the tokens of plex.tv's newer login (reference
//! `plex-jwt-and-after-login.md` §A), signed and checked here without IO.
//!
//! Two kinds of JWT meet here, both EdDSA (Ed25519) in JWS compact form:
//! - a **device JWT**, signed by a device with its own key (registered as a
//!   JWK): `iss` its client identifier, `aud` `plex.tv`, a short `exp` and a
//!   nonce of ours. It proves the device holds the key.
//! - a **Plex JWT**, signed by this server: what the device then presents as
//!   its token. `iss` `plex.tv`, `aud` `["plex.tv", clientIdentifier]`, seven
//!   days long, `thumbprint` the device key's `kid`, and the account's `user`.
//!
//! The server's signing keys are derived from the server key (never stored),
//! so every instance that has the key file signs and checks with the same
//! keys; their public halves are published at `/api/v2/auth/keys`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;
use crate::error::CoreError;
use crate::secrets::ServerKey;

/// How long a Plex JWT lives (plex.tv: 7 days; clients refresh a day ahead).
pub const PLEX_JWT_LIFETIME_SECS: i64 = 7 * 24 * 3600;
/// The longest a device JWT may be valid for (clients use 5 minutes).
pub const DEVICE_JWT_MAX_LIFETIME_SECS: i64 = 3600;
/// How far a clock may be off.
const LEEWAY_SECS: i64 = 60;
const ISSUER: &str = "plex.tv";
/// How long after a rotation instances may still sign with the old key.
const ROTATION_MARGIN_SECS: i64 = 600;

/// An Ed25519 public key as a JWK: `{"kty":"OKP","crv":"Ed25519","x",…,"kid"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: String,
    /// The public key, base64url without padding (32 bytes).
    pub x: String,
}

impl Jwk {
    /// Reads a device's JWK; a private part (`d`) is refused, not ignored.
    pub fn parse(value: &serde_json::Value) -> Result<Jwk, CoreError> {
        let bad = |why: &str| CoreError::InvalidInput(format!("jwk: {why}"));
        let field = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
        if !value.is_object() {
            return Err(bad("expected a JSON object"));
        }
        if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
            return Err(bad("only Ed25519 keys (kty OKP, crv Ed25519) are accepted"));
        }
        if value.get("d").is_some() {
            return Err(bad("send the public key only, never its private part d"));
        }
        if let Some(alg) = field("alg") {
            if alg != "EdDSA" {
                return Err(bad("alg must be EdDSA"));
            }
        }
        let kid = field("kid").ok_or_else(|| bad("kid is required"))?;
        if kid.is_empty() || kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("kid must be 1-128 visible ASCII characters"));
        }
        let x = field("x").ok_or_else(|| bad("x is required"))?;
        verifying_key(x).ok_or_else(|| bad("x is not an Ed25519 public key"))?;
        Ok(Jwk {
            kid: kid.to_owned(),
            x: x.to_owned(),
        })
    }

    /// As stored beside a pin: `"kid x"` (a kid holds no space).
    pub fn to_stored(&self) -> String {
        format!("{} {}", self.kid, self.x)
    }

    /// Reads [`Jwk::to_stored`]; `''` (no key) and anything malformed is `None`.
    pub fn from_stored(text: &str) -> Option<Jwk> {
        let (kid, x) = text.split_once(' ')?;
        Some(Jwk {
            kid: kid.to_owned(),
            x: x.to_owned(),
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.x,
            "use": "sig",
            "alg": "EdDSA",
            "kid": self.kid,
        })
    }
}

/// A device's public key; a weak (small-order) key, for which anyone could
/// forge signatures, is no key.
fn verifying_key(x: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(x).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes)
        .ok()
        .filter(|key| !key.is_weak())
}

/// Why a JWT was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtProblem {
    /// Not a JWT, a wrong signature, a wrong issuer or audience: not ours.
    Invalid,
    /// Ours and well signed, but past its `exp`: the client should refresh.
    Expired,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// The `kid` in a JWT's header, read without checking anything.
pub fn header_kid(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    header.kid
}

/// Whether a presented token has the shape of a JWT (legacy tokens are 20
/// characters of `[A-Za-z0-9_-]`, without dots).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|&b| b == b'.').count() == 2
}

/// Checks a compact JWS's EdDSA signature with `key`; returns its claims.
fn verified_claims<T: for<'de> Deserialize<'de>>(
    token: &str,
    key: &VerifyingKey,
) -> Result<T, JwtProblem> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtProblem::Invalid);
    };
    let decoded: Header = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(JwtProblem::Invalid)?;
    if decoded.alg != "EdDSA" {
        return Err(JwtProblem::Invalid);
    }
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(JwtProblem::Invalid)?;
    let signed = &token[..header.len() + 1 + claims.len()];
    key.verify_strict(signed.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| JwtProblem::Invalid)?;
    URL_SAFE_NO_PAD
        .decode(claims)
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok())
        .ok_or(JwtProblem::Invalid)
}

/// `aud` may be one string or a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(one) => one == wanted,
            Audience::Many(many) => many.iter().any(|a| a == wanted),
        }
    }
}

/// What a device JWT says.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceClaims {
    pub iss: String,
    pub aud: Audience,
    #[serde(default)]
    pub iat: Option<i64>,
    /// Not before: a JWT that says it is valid only later is refused now.
    #[serde(default)]
    pub nbf: Option<i64>,
    pub exp: i64,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// Checks a device JWT against the device's key: EdDSA, the key's `kid` in
/// the header, `aud` `plex.tv`, not expired, not issued (`iat`) or valid
/// from (`nbf`) in the future beyond a minute of clock skew, and not valid
/// for longer than [`DEVICE_JWT_MAX_LIFETIME_SECS`]. The issuer and nonce
/// are the caller's to check (they need the store).
pub fn verify_device_jwt(
    token: &str,
    key: &Jwk,
    now: UnixTime,
) -> Result<DeviceClaims, JwtProblem> {
    if header_kid(token).as_deref() != Some(key.kid.as_str()) {
        return Err(JwtProblem::Invalid);
    }
    let verifying = verifying_key(&key.x).ok_or(JwtProblem::Invalid)?;
    let claims: DeviceClaims = verified_claims(token, &verifying)?;
    if !claims.aud.contains(ISSUER) {
        return Err(JwtProblem::Invalid);
    }
    if claims.exp > now.0 + DEVICE_JWT_MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(JwtProblem::Invalid);
    }
    // Issued or valid only in the future: not a JWT of now, whatever its
    // `exp` (a day-ahead `iat` could otherwise pass as fresh).
    if [claims.iat, claims.nbf]
        .into_iter()
        .flatten()
        .any(|at| at > now.0 + LEEWAY_SECS)
    {
        return Err(JwtProblem::Invalid);
    }
    if claims.exp + LEEWAY_SECS <= now.0 {
        return Err(JwtProblem::Expired);
    }
    Ok(claims)
}

/// The `user` claim of a Plex JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtUser {
    pub id: i64,
    pub uuid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restricted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<bool>,
    #[serde(default, rename = "joinedAt", skip_serializing_if = "Option::is_none")]
    pub joined_at: Option<i64>,
}

/// What a Plex JWT says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlexClaims {
    pub iss: String,
    pub aud: Audience,
    pub iat: i64,
    pub exp: i64,
    pub nonce: String,
    /// The `kid` of the device key this JWT was issued to.
    pub thumbprint: String,
    pub scope: String,
    pub user: JwtUser,
    /// Makes every JWT unique, even two issued in the same second.
    pub jti: String,
    /// The device it was issued to (pinlink's id): a JWT of a revoked
    /// device stays dead even if the same key is bound to a new one.
    pub sub: String,
}

/// One signing key.
struct SigningEntry {
    generation: u32,
    jwk: Jwk,
    key: SigningKey,
    /// After this, no JWT it signed is live any more (it was superseded a
    /// JWT lifetime before); `None` while it is the newest.
    retired_after: Option<i64>,
}

/// The server's Ed25519 signing keys, derived from the server key.
pub struct SigningKeys {
    /// Oldest first; the newest signs.
    keys: Vec<SigningEntry>,
}

impl SigningKeys {
    /// Key `n` is derived from the server key and `n`, so it never needs
    /// storing; generation 0 always exists, `added` lists the later ones
    /// with when each was added (`pinlink keys rotate`). A key stays
    /// published until the JWTs it signed have expired: a JWT lifetime
    /// after the next generation was added.
    pub fn derive(master: &ServerKey, added: &[(u32, UnixTime)]) -> SigningKeys {
        let mut generations: Vec<(u32, Option<i64>)> = vec![(0, None)];
        generations.extend(added.iter().map(|(g, at)| (*g, Some(at.0))));
        let keys = generations
            .iter()
            .enumerate()
            .map(|(i, (generation, _))| {
                let seed = crate::secrets::derive_bytes(
                    master,
                    format!("pinlink plex-jwt signing key {generation}").as_bytes(),
                );
                let key = SigningKey::from_bytes(&seed);
                let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
                let superseded_at = generations.get(i + 1).and_then(|(_, at)| *at);
                SigningEntry {
                    generation: *generation,
                    jwk: Jwk {
                        kid: thumbprint(&x),
                        x,
                    },
                    key,
                    // Instances sign with the old key until they next read
                    // the generations (a sweep, a minute): a margin for it.
                    retired_after: superseded_at
                        .map(|at| at + PLEX_JWT_LIFETIME_SECS + ROTATION_MARGIN_SECS),
                }
            })
            .collect();
        SigningKeys { keys }
    }

    fn live(&self, now: UnixTime) -> impl Iterator<Item = &SigningEntry> {
        self.keys
            .iter()
            .filter(move |entry| entry.retired_after.is_none_or(|until| now.0 < until))
    }

    /// Every public key that may verify a live Plex JWT.
    pub fn public(&self, now: UnixTime) -> Vec<Jwk> {
        self.live(now).map(|entry| entry.jwk.clone()).collect()
    }

    /// The newest key: its generation and public half.
    pub fn newest(&self) -> (u32, Jwk) {
        let entry = self.keys.last().expect("generation 0 always exists");
        (entry.generation, entry.jwk.clone())
    }

    /// Whether a key with this `kid` is one of these (live or not).
    pub fn knows(&self, kid: &str) -> bool {
        self.keys.iter().any(|entry| entry.jwk.kid == kid)
    }

    /// Signs `claims` with the newest key.
    pub fn sign(&self, claims: &PlexClaims) -> String {
        let newest = self.keys.last().expect("generation 0 always exists");
        let (jwk, key) = (&newest.jwk, &newest.key);
        let header = Header {
            alg: "EdDSA".into(),
            typ: Some("JWT".into()),
            kid: Some(jwk.kid.clone()),
        };
        let encode = |value: &dyn erased::Json| URL_SAFE_NO_PAD.encode(value.to_json());
        let mut token = format!("{}.{}", encode(&header), encode(claims));
        let signature = key.sign(token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        token
    }

    /// Checks a Plex JWT of ours: signed by one of our keys (by `kid`),
    /// `iss` `plex.tv`, `aud` holding `plex.tv`; expired is its own answer.
    pub fn verify(&self, token: &str, now: UnixTime) -> Result<PlexClaims, JwtProblem> {
        let kid = header_kid(token).ok_or(JwtProblem::Invalid)?;
        let entry = self
            .live(now)
            .find(|entry| entry.jwk.kid == kid)
            .ok_or(JwtProblem::Invalid)?;
        let claims: PlexClaims = verified_claims(token, &entry.key.verifying_key())?;
        if claims.iss != ISSUER || !claims.aud.contains(ISSUER) {
            return Err(JwtProblem::Invalid);
        }
        if claims.exp <= now.0 {
            return Err(JwtProblem::Expired);
        }
        Ok(claims)
    }
}

/// RFC 7638 thumbprint of an Ed25519 JWK: what plex.tv's `kid`s look like.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Serialising either a header or claims through one closure.
mod erased {
    pub trait Json {
        fn to_json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> PlexClaims {
        PlexClaims {
            iss: ISSUER.into(),
            aud: Audience::Many(vec![ISSUER.into(), "tv".into()]),
            iat: now,
            exp: now + PLEX_JWT_LIFETIME_SECS,
            nonce: "n".into(),
            thumbprint: "device-kid".into(),
            scope: "username".into(),
            user: JwtUser {
                id: 1,
                uuid: "u".into(),
                username: Some("alice".into()),
                email: None,
                friendly_name: None,
                restricted: None,
                anonymous: None,
                joined_at: None,
            },
            jti: "j".into(),
            sub: "1".into(),
        }
    }

    #[test]
    fn our_jwts_verify_until_they_expire_and_not_under_another_key() {
        let keys = SigningKeys::derive(&ServerKey::generate(), &[]);
        let token = keys.sign(&claims(1000));
        assert!(looks_like_jwt(&token));
        assert_eq!(
            keys.verify(&token, UnixTime(1001))
                .expect("valid")
                .thumbprint,
            "device-kid"
        );
        assert_eq!(
            keys.verify(&token, UnixTime(1000 + PLEX_JWT_LIFETIME_SECS))
                .err(),
            Some(JwtProblem::Expired)
        );
        let other = SigningKeys::derive(&ServerKey::generate(), &[]);
        assert_eq!(
            other.verify(&token, UnixTime(1001)).err(),
            Some(JwtProblem::Invalid)
        );
        // A changed claim breaks the signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&PlexClaims {
                thumbprint: "someone-else".into(),
                ..claims(1000)
            })
            .expect("json"),
        );
        parts[1] = &forged;
        assert_eq!(
            keys.verify(&parts.join("."), UnixTime(1001)).err(),
            Some(JwtProblem::Invalid)
        );
    }

    #[test]
    fn a_rotated_key_stays_published_until_the_jwts_it_signed_have_expired() {
        let master = ServerKey::generate();
        let one = SigningKeys::derive(&master, &[]);
        let rotated_at = 2000;
        let two = SigningKeys::derive(&master, &[(1, UnixTime(rotated_at))]);
        let now = UnixTime(rotated_at + 1);
        assert_eq!(
            one.public(now)[0],
            two.public(now)[0],
            "derived the same way every time"
        );
        assert_eq!(two.public(now).len(), 2);
        assert_ne!(two.public(now)[0].kid, two.public(now)[1].kid);
        assert_eq!(two.public(now)[0].kid.len(), 43);
        assert_eq!(two.newest().0, 1);
        // Signed by the old key just before the rotation: verifies until it expires.
        let old = one.sign(&claims(rotated_at - 1));
        assert!(two.verify(&old, now).is_ok(), "the old key still verifies");
        // New JWTs are signed by the new key.
        let new = two.sign(&claims(rotated_at + 1));
        assert_eq!(header_kid(&new), Some(two.newest().1.kid));
        assert!(one.verify(&new, now).is_err());
        // A JWT lifetime after the rotation the old key is gone.
        let later = UnixTime(rotated_at + PLEX_JWT_LIFETIME_SECS + ROTATION_MARGIN_SECS);
        assert_eq!(two.public(later).len(), 1);
        assert!(two.knows(&one.newest().1.kid));
    }

    #[test]
    fn device_jwts_are_checked_against_the_device_key() {
        let device = SigningKey::from_bytes(&[7u8; 32]);
        let jwk = Jwk {
            kid: "k1".into(),
            x: URL_SAFE_NO_PAD.encode(device.verifying_key().as_bytes()),
        };
        let sign = |kid: &str, claims: serde_json::Value| {
            let header = URL_SAFE_NO_PAD.encode(
                serde_json::to_vec(&serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}))
                    .expect("json"),
            );
            let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
            let signed = format!("{header}.{body}");
            let signature = URL_SAFE_NO_PAD.encode(device.sign(signed.as_bytes()).to_bytes());
            format!("{signed}.{signature}")
        };
        let good = serde_json::json!({"iss": "tv", "aud": "plex.tv", "iat": 1000, "exp": 1300, "nonce": "n"});
        let claims =
            verify_device_jwt(&sign("k1", good.clone()), &jwk, UnixTime(1000)).expect("valid");
        assert_eq!(claims.iss, "tv");
        assert_eq!(claims.nonce.as_deref(), Some("n"));
        assert_eq!(
            verify_device_jwt(&sign("k2", good.clone()), &jwk, UnixTime(1000)).err(),
            Some(JwtProblem::Invalid)
        );
        assert_eq!(
            verify_device_jwt(&sign("k1", good), &jwk, UnixTime(2000)).err(),
            Some(JwtProblem::Expired)
        );
        let wrong_aud = serde_json::json!({"iss": "tv", "aud": "elsewhere", "exp": 1300});
        assert_eq!(
            verify_device_jwt(&sign("k1", wrong_aud), &jwk, UnixTime(1000)).err(),
            Some(JwtProblem::Invalid)
        );
        // Issued, or valid from, a day ahead: refused; a minute of skew is
        // not.
        for claim in ["iat", "nbf"] {
            for (ahead, ok) in [(86_400, false), (61, false), (60, true), (-30, true)] {
                let mut claims = serde_json::json!({"iss": "tv", "aud": "plex.tv", "exp": 1300});
                claims[claim] = (1000 + ahead).into();
                assert_eq!(
                    verify_device_jwt(&sign("k1", claims), &jwk, UnixTime(1000)).is_ok(),
                    ok,
                    "{claim} {ahead} s ahead"
                );
            }
        }
        let too_long = serde_json::json!({"iss": "tv", "aud": "plex.tv", "exp": 1000 + 86400});
        assert_eq!(
            verify_device_jwt(&sign("k1", too_long), &jwk, UnixTime(1000)).err(),
            Some(JwtProblem::Invalid)
        );
    }

    #[test]
    fn jwks_with_private_parts_or_other_curves_are_refused() {
        let x = URL_SAFE_NO_PAD.encode(
            SigningKey::from_bytes(&[1u8; 32])
                .verifying_key()
                .as_bytes(),
        );
        let ok = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k", "use": "sig", "alg": "EdDSA"});
        assert!(Jwk::parse(&ok).is_ok());
        let mut with_d = ok.clone();
        with_d["d"] = "secret".into();
        assert!(Jwk::parse(&with_d).is_err());
        let mut ec = ok.clone();
        ec["crv"] = "P-256".into();
        assert!(Jwk::parse(&ec).is_err());
        let mut short = ok.clone();
        short["x"] = "AAAA".into();
        assert!(Jwk::parse(&short).is_err());
        // The identity point: a small-order key anyone could forge for.
        let mut weak = ok;
        let mut identity = [0u8; 32];
        identity[0] = 1;
        weak["x"] = URL_SAFE_NO_PAD.encode(identity).into();
        assert!(Jwk::parse(&weak).is_err());
    }
}

/// Our Plex JWTs read by an independent JOSE library (`jsonwebtoken`), as a
/// client's would be: not only our own code agrees with our own code.
#[cfg(test)]
mod independent {
    use super::*;

    #[test]
    fn jsonwebtoken_verifies_our_plex_jwt_with_the_published_key() {
        let keys = SigningKeys::derive(&ServerKey::generate(), &[]);
        let now = UnixTime(1_900_000_000);
        let token = keys.sign(&PlexClaims {
            iss: ISSUER.into(),
            aud: Audience::Many(vec![ISSUER.into(), "tv".into()]),
            iat: now.0,
            exp: now.0 + PLEX_JWT_LIFETIME_SECS,
            nonce: "n".into(),
            thumbprint: "device-kid".into(),
            scope: "username".into(),
            user: JwtUser {
                id: 7,
                uuid: "u".into(),
                username: Some("alice".into()),
                email: None,
                friendly_name: None,
                restricted: None,
                anonymous: None,
                joined_at: None,
            },
            jti: "j".into(),
            sub: "1".into(),
        });
        let published = &keys.public(now)[0];
        let key = jsonwebtoken::DecodingKey::from_ed_components(&published.x).expect("key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_audience(&["tv"]);
        validation.set_issuer(&["plex.tv"]);
        // The library checks exp against the real clock; ours is in 2030.
        let decoded =
            jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).expect("verifies");
        assert_eq!(decoded.header.kid.as_deref(), Some(published.kid.as_str()));
        assert_eq!(decoded.claims["thumbprint"], "device-kid");
        assert_eq!(decoded.claims["user"]["username"], "alice");

        // Another server's key does not verify it.
        let other = SigningKeys::derive(&ServerKey::generate(), &[]).public(now)[0].clone();
        let wrong = jsonwebtoken::DecodingKey::from_ed_components(&other.x).expect("key");
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &wrong, &validation).is_err());
    }
}
