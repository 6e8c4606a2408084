//! OpenID Connect's keys and ID tokens, for the device grant. No IO.
//!
//! Like the Plex JWT keys ([`crate::plex_jwt`]), every key is derived from
//! the server key and a signing generation (`pinlink keys rotate` adds
//! one), so the database holds no private key and every instance with the
//! key file signs with the same keys; a superseded generation's keys stay
//! published while tokens they signed may be live. Each generation has an
//! RSA key (RS256, OpenID Connect's mandatory algorithm: every client
//! library accepts it) and an Ed25519 key (EdDSA, for the applications that
//! ask for it), kept apart from the Plex JWT keys. The RSA key is made from
//! a stream of randomness seeded by the server key (the `rsa` crate's key
//! generation), once per process and generation, when it is first needed;
//! signatures are jsonwebtoken's (ring).

use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;
use crate::error::CoreError;
use crate::model::IdTokenAlg;
use crate::secrets::{derive_bytes, ServerKey};

/// How long an ID token is valid.
pub const ID_TOKEN_SECS: i64 = 3600;

/// Bits of the RSA keys.
const RSA_BITS: usize = 2048;

/// What an ID token says (OpenID Connect Core §2), with the profile and
/// e-mail claims its scopes ask for.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct IdTokenClaims {
    pub iss: String,
    /// Stable per account (its uuid), never its name.
    pub sub: String,
    /// The application's `client_id`.
    pub aud: String,
    /// The one party it was issued to (the same client).
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    /// When the person approved the device.
    pub auth_time: i64,
    #[serde(flatten)]
    pub profile: ProfileClaims,
}

/// The claims of the `profile` and `email` scopes (also UserInfo's).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ProfileClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// pinlink never verified an address (accounts come from an operator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

impl ProfileClaims {
    /// What `scope` (space-separated) grants of an account's username and
    /// e-mail.
    pub fn granted(scope: &str, username: &str, email: &str) -> ProfileClaims {
        let has = |wanted: &str| scope.split_ascii_whitespace().any(|s| s == wanted);
        let mut claims = ProfileClaims::default();
        if has("profile") {
            claims.preferred_username = Some(username.to_owned());
            claims.name = Some(username.to_owned());
        }
        if has("email") {
            claims.email = Some(email.to_owned());
            claims.email_verified = Some(false);
        }
        claims
    }
}

/// Whether `scope` (space-separated) holds `wanted`.
pub fn scope_has(scope: &str, wanted: &str) -> bool {
    scope.split_ascii_whitespace().any(|s| s == wanted)
}

/// An RSA key: for signing, and its public JWK.
struct RsaKey {
    encoding: EncodingKey,
    jwk: serde_json::Value,
    kid: String,
}

/// An Ed25519 key: for signing, and its public JWK.
struct EdKey {
    encoding: EncodingKey,
    jwk: serde_json::Value,
    kid: String,
}

/// A new generation's keys are published this long before they sign: every
/// instance reads the generations again within a minute, and a verifier may
/// keep `/oauth/jwks` five minutes (its `Cache-Control`), so by then every
/// published key set a verifier holds has the new key.
pub const PUBLISH_BEFORE_SIGNING_SECS: i64 = 7 * 60;

/// One generation's keys.
struct Generation {
    number: u32,
    /// When `pinlink keys rotate` added it (`None`: generation 0).
    added_at: Option<i64>,
    /// Made when first needed (an RSA key takes a moment to make).
    rsa: OnceLock<Result<Arc<RsaKey>, String>>,
    ed: EdKey,
    /// After this no token it signed is live; `None` while newest.
    retired_after: Option<i64>,
}

/// The server's OpenID Connect signing keys, every generation of them.
pub struct OidcKeys {
    master: ServerKey,
    /// Oldest first; the newest signs.
    generations: Vec<Generation>,
}

impl std::fmt::Debug for OidcKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcKeys")
            .field("generations", &self.generations.len())
            .finish_non_exhaustive()
    }
}

/// RFC 7638 thumbprint of a JWK's required members (given in order).
fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn derive_ed(master: &ServerKey, generation: u32) -> Result<EdKey, CoreError> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let seed = derive_bytes(
        master,
        format!("pinlink oidc ed25519 {generation}").as_bytes(),
    );
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let der = key
        .to_pkcs8_der()
        .map_err(|e| CoreError::Internal(format!("an Ed25519 key does not encode: {e}")))?;
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let kid = thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
    Ok(EdKey {
        encoding: EncodingKey::from_ed_der(der.as_bytes()),
        jwk: serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid, "x": x,
        }),
        kid,
    })
}

fn derive_rsa(master: &ServerKey, generation: u32) -> Result<RsaKey, String> {
    use rand_chacha::rand_core::SeedableRng;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let seed = derive_bytes(master, format!("pinlink oidc rsa {generation}").as_bytes());
    let mut randomness = rand_chacha::ChaCha20Rng::from_seed(seed);
    let key = rsa::RsaPrivateKey::new(&mut randomness, RSA_BITS)
        .map_err(|e| format!("an RSA key could not be made: {e}"))?;
    let der = key
        .to_pkcs1_der()
        .map_err(|e| format!("an RSA key does not encode: {e}"))?;
    let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
    let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
    Ok(RsaKey {
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: serde_json::json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e,
        }),
        kid,
    })
}

impl Generation {
    fn rsa(&self, master: &ServerKey) -> Result<Arc<RsaKey>, CoreError> {
        self.rsa
            .get_or_init(|| derive_rsa(master, self.number).map(Arc::new))
            .clone()
            .map_err(CoreError::Internal)
    }
}

impl OidcKeys {
    /// The keys of generation 0 and of `added` (with when each was
    /// added). A generation's keys stay published `keep_secs` after the
    /// next one was added (the longest a token it signed may live, and a
    /// margin for instances that read the generations a minute later).
    pub fn derive(
        master: &ServerKey,
        added: &[(u32, UnixTime)],
        keep_secs: i64,
    ) -> Result<OidcKeys, CoreError> {
        let mut numbers: Vec<(u32, Option<i64>)> = vec![(0, None)];
        numbers.extend(added.iter().map(|(g, at)| (*g, Some(at.0))));
        let generations = numbers
            .iter()
            .enumerate()
            .map(|(i, (number, _))| {
                Ok(Generation {
                    number: *number,
                    added_at: numbers[i].1,
                    rsa: OnceLock::new(),
                    ed: derive_ed(master, *number)?,
                    retired_after: numbers
                        .get(i + 1)
                        .and_then(|(_, at)| *at)
                        .map(|at| at + keep_secs),
                })
            })
            .collect::<Result<_, CoreError>>()?;
        Ok(OidcKeys {
            master: master.clone(),
            generations,
        })
    }

    /// Keeps the RSA keys already made in `previous` (same generations).
    pub fn carry_over(mut self, previous: &OidcKeys) -> OidcKeys {
        for generation in &mut self.generations {
            if let Some(old) = previous
                .generations
                .iter()
                .find(|g| g.number == generation.number)
            {
                if let Some(Ok(key)) = old.rsa.get() {
                    let _ = generation.rsa.set(Ok(key.clone()));
                }
            }
        }
        self
    }

    /// The JSON Web Key Set of every key that may verify a live token.
    pub fn jwks(&self, now: UnixTime) -> Result<serde_json::Value, CoreError> {
        let mut keys = Vec::new();
        for generation in &self.generations {
            if generation.retired_after.is_some_and(|until| now.0 >= until) {
                continue;
            }
            keys.push(generation.rsa(&self.master)?.jwk.clone());
            keys.push(generation.ed.jwk.clone());
        }
        Ok(serde_json::json!({ "keys": keys }))
    }

    /// An ID token, signed with `alg`'s key of the newest generation that
    /// was published at least [`PUBLISH_BEFORE_SIGNING_SECS`] ago.
    pub fn sign(
        &self,
        alg: IdTokenAlg,
        claims: &IdTokenClaims,
        now: UnixTime,
    ) -> Result<String, CoreError> {
        let newest = self
            .generations
            .iter()
            .rev()
            .find(|g| {
                g.added_at
                    .is_none_or(|at| at + PUBLISH_BEFORE_SIGNING_SECS <= now.0)
            })
            .or(self.generations.first())
            .ok_or_else(|| CoreError::Internal("no signing generation".into()))?;
        let (algorithm, kid, key) = match alg {
            IdTokenAlg::Rs256 => {
                let rsa = newest.rsa(&self.master)?;
                (Algorithm::RS256, rsa.kid.clone(), rsa.encoding.clone())
            }
            IdTokenAlg::EdDsa => (
                Algorithm::EdDSA,
                newest.ed.kid.clone(),
                newest.ed.encoding.clone(),
            ),
        };
        let mut header = Header::new(algorithm);
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, claims, &key)
            .map_err(|e| CoreError::Internal(format!("an ID token could not be signed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    fn claims(now: i64) -> IdTokenClaims {
        IdTokenClaims {
            iss: "http://localhost:8080".into(),
            sub: "0123456789abcdef".into(),
            aud: "pl-app".into(),
            azp: "pl-app".into(),
            exp: now + ID_TOKEN_SECS,
            iat: now,
            auth_time: now - 5,
            profile: ProfileClaims::granted("openid profile email", "alice", "a@example.org"),
        }
    }

    /// The token verifies against the published JWK of its `kid`, with an
    /// independent decoder (jsonwebtoken's, from the JWK's own fields).
    fn verify(jwks: &serde_json::Value, token: &str) -> IdTokenClaims {
        let header = jsonwebtoken::decode_header(token).expect("header");
        let kid = header.kid.expect("kid");
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
            jwks["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .find(|k| k["kid"] == kid.as_str())
                .expect("the kid is published")
                .clone(),
        )
        .expect("a JWK");
        let key = DecodingKey::from_jwk(&jwk).expect("a key");
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&["pl-app"]);
        validation.set_issuer(&["http://localhost:8080"]);
        // The claims are compared whole; the clock here is not the tests'.
        validation.validate_exp = false;
        jsonwebtoken::decode::<IdTokenClaims>(token, &key, &validation)
            .expect("verifies")
            .claims
    }

    #[test]
    fn id_tokens_verify_against_the_published_keys_in_both_algorithms() {
        let master = ServerKey::generate();
        let now = 1_800_000_000;
        let keys = OidcKeys::derive(&master, &[], 600).expect("keys");
        let jwks = keys.jwks(UnixTime(now)).expect("jwks");
        assert_eq!(jwks["keys"].as_array().expect("keys").len(), 2);
        for alg in [IdTokenAlg::Rs256, IdTokenAlg::EdDsa] {
            let token = keys.sign(alg, &claims(now), UnixTime(now)).expect("signed");
            let header = jsonwebtoken::decode_header(&token).expect("header");
            assert_eq!(format!("{:?}", header.alg), alg.as_str());
            assert_eq!(verify(&jwks, &token), claims(now));
        }
        // The same server key makes the same keys (every instance agrees).
        let again = OidcKeys::derive(&master, &[], 600).expect("keys");
        assert_eq!(again.jwks(UnixTime(now)).expect("jwks"), jwks);
    }

    #[test]
    fn a_rotated_generation_stays_published_while_its_tokens_may_live() {
        let master = ServerKey::generate();
        let keys = OidcKeys::derive(&master, &[], 600).expect("keys");
        let old = keys
            .sign(IdTokenAlg::EdDsa, &claims(1000), UnixTime(1000))
            .expect("signed");
        let rotated = OidcKeys::derive(&master, &[(1, UnixTime(2000))], 600)
            .expect("keys")
            .carry_over(&keys);
        let during = rotated.jwks(UnixTime(2500)).expect("jwks");
        assert_eq!(during["keys"].as_array().expect("keys").len(), 4);
        let _ = verify(&during, &old);
        // Published first: the old generation signs a while longer.
        let soon = rotated
            .sign(IdTokenAlg::EdDsa, &claims(2100), UnixTime(2100))
            .expect("signed");
        assert_eq!(
            jsonwebtoken::decode_header(&soon).expect("h").kid,
            jsonwebtoken::decode_header(&old).expect("h").kid,
            "a new key signs only once every published key set has it"
        );
        let new = rotated
            .sign(
                IdTokenAlg::EdDsa,
                &claims(2500),
                UnixTime(2000 + PUBLISH_BEFORE_SIGNING_SECS),
            )
            .expect("signed");
        assert_ne!(
            jsonwebtoken::decode_header(&new).expect("h").kid,
            jsonwebtoken::decode_header(&old).expect("h").kid
        );
        let after = rotated.jwks(UnixTime(2600)).expect("jwks");
        assert_eq!(
            after["keys"].as_array().expect("keys").len(),
            2,
            "the old keys are gone"
        );
    }

    #[test]
    fn scopes_grant_their_claims_only() {
        let none = ProfileClaims::granted("openid", "alice", "a@example.org");
        assert_eq!(none, ProfileClaims::default());
        let email = ProfileClaims::granted("openid email", "alice", "a@example.org");
        assert_eq!(email.email.as_deref(), Some("a@example.org"));
        assert!(email.preferred_username.is_none());
        assert!(scope_has("openid offline_access", "offline_access"));
        assert!(!scope_has("openidx", "openid"));
    }
}
