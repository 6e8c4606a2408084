//! plex.tv's JWT login (reference §A): a device registers an Ed25519 key,
//! asks for a nonce, and trades a device JWT signed with its key for a Plex
//! JWT signed by this server, which it then uses as its token and refreshes
//! the same way. The JWT checks themselves are in [`crate::plex_jwt`].

use crate::clock::UnixTime;
use crate::error::CoreError;
use crate::model::{Account, ClientAddress, ClientIdentifier, Session};
use crate::plex_jwt::{
    self, Audience, Jwk, JwtProblem, JwtUser, PlexClaims, SigningKeys, PLEX_JWT_LIFETIME_SECS,
};
use crate::secrets::{AuthToken, Purpose};
use crate::store::SessionRecord;

use std::sync::Arc;

use super::{random_hex, Pinlink};

/// How long a nonce may be used (plex.tv: 5 minutes).
pub const NONCE_LIFETIME_SECS: i64 = 300;
/// The scopes a device gets when its JWT asks for none.
const DEFAULT_SCOPE: &str = "username,email,friendly_name,restricted,anonymous,joinedAt";

impl Pinlink {
    /// The public keys that may verify a live Plex JWT of this server.
    pub fn jwt_keys(&self) -> Vec<Jwk> {
        self.signing().public(self.now())
    }

    /// The key new Plex JWTs are signed with: its generation and public half.
    pub fn newest_signing_key(&self) -> (u32, Jwk) {
        self.signing().newest()
    }

    fn signing(&self) -> Arc<SigningKeys> {
        self.jwt_signing.read().clone()
    }

    /// Reads the signing key generations from the store (at start, at every
    /// sweep, and when a JWT names a key this instance has not derived).
    pub async fn load_signing_keys(&self) -> Result<(), CoreError> {
        let added = self.store.signing_key_generations().await?;
        *self.jwt_signing.write() = Arc::new(SigningKeys::derive(&self.server_key, &added));
        let oidc = crate::oidc::OidcKeys::derive(&self.server_key, &added, super::OIDC_KEEP_SECS)?
            .carry_over(&self.oidc.read());
        *self.oidc.write() = Arc::new(oidc);
        Ok(())
    }

    /// Whether a JWT naming an unknown key may make this instance read the
    /// key generations again: at most once every few seconds, so that made-up
    /// key ids cannot turn every request into a database read.
    fn may_reload_keys(&self) -> bool {
        const EVERY_SECS: i64 = 5;
        let now = self.now().0;
        let last = self
            .keys_reloaded_at
            .load(std::sync::atomic::Ordering::Relaxed);
        now - last >= EVERY_SECS
            && self
                .keys_reloaded_at
                .compare_exchange(
                    last,
                    now,
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Adds a signing key generation: new Plex JWTs are signed with it, and
    /// the previous key stays published until the JWTs it signed expire.
    /// Returns the new key's generation and public half.
    pub async fn rotate_signing_key(&self) -> Result<(u32, Jwk), CoreError> {
        self.store.add_signing_key_generation(self.now()).await?;
        self.load_signing_keys().await?;
        let newest = self.signing().newest();
        tracing::info!(generation = newest.0, kid = %newest.1.kid, "Plex JWT signing key rotated");
        Ok(newest)
    }

    /// A fresh nonce for `client`'s next device JWT, valid 5 minutes;
    /// budgeted per client identifier and address.
    pub async fn new_jwt_nonce(
        &self,
        client: &ClientIdentifier,
        from: &ClientAddress,
    ) -> Result<String, CoreError> {
        let now = self.now();
        let spends = self.budget_keys().jwt_nonce(client.as_str(), from);
        if let Err(refused) = self.spend(&spends, now).await? {
            return Err(CoreError::RateLimited {
                retry_after_secs: refused.retry_after_secs,
            });
        }
        let nonce = uuid_text();
        let owner = self
            .secrets
            .lookup_hash(Purpose::KnownClient, client.as_str());
        self.store
            .insert_nonce(&nonce, &owner, now.plus_secs(NONCE_LIFETIME_SECS))
            .await?;
        Ok(nonce)
    }

    /// Registers the public key of the device holding `session`'s token.
    /// The token must be that device's (same client identifier); a key id
    /// bound to another device is refused.
    pub async fn register_device_key(
        &self,
        session: &Session,
        client: &ClientIdentifier,
        jwk: Jwk,
        from: &ClientAddress,
    ) -> Result<(), CoreError> {
        session.may_manage_account()?;
        if session.client_identifier.as_str() != client.as_str() {
            return Err(CoreError::JwtRejected(
                "the token was issued to another client identifier",
            ));
        }
        // A stolen Plex JWT must not let its thief add a key of their own
        // and refresh for ever: keys are registered with an account token.
        if plex_jwt::looks_like_jwt(session.token.expose()) {
            return Err(CoreError::JwtRejected(
                "register a key with an account token, not a Plex JWT",
            ));
        }
        let now = self.now();
        let spends = self.budget_keys().device_key(session.device_id.0, from);
        if let Err(refused) = self.spend(&spends, now).await? {
            return Err(CoreError::RateLimited {
                retry_after_secs: refused.retry_after_secs,
            });
        }
        let registered = self
            .store
            .register_device_key(session.device_id, &jwk.kid, &jwk.x, now)
            .await?;
        if !registered {
            return Err(CoreError::JwtRejected("thumbprint already taken"));
        }
        tracing::info!(
            account = session.account.id.0,
            device = session.device_id.0,
            "device key registered"
        );
        Ok(())
    }

    /// Trades a device JWT for a Plex JWT: signed by a registered key,
    /// issued by that key's device, carrying a nonce of ours that is used up
    /// here. Every call gives a new JWT.
    pub async fn exchange_device_jwt(&self, device_jwt: &str) -> Result<String, CoreError> {
        let rejected = || CoreError::JwtRejected("signature verification failed");
        let kid = plex_jwt::header_kid(device_jwt).ok_or_else(rejected)?;
        let key = self.store.device_key(&kid).await?.ok_or_else(rejected)?;
        let now = self.now();
        let claims = plex_jwt::verify_device_jwt(
            device_jwt,
            &Jwk {
                kid: kid.clone(),
                x: key.x,
            },
            now,
        )
        .map_err(|problem| match problem {
            JwtProblem::Expired => CoreError::TokenExpired,
            JwtProblem::Invalid => rejected(),
        })?;
        let device = &key.session;
        if claims.iss != device.client_identifier.as_str() {
            return Err(CoreError::JwtRejected(
                "the JWT's issuer is not the client identifier its key was registered for",
            ));
        }
        let nonce = claims
            .nonce
            .ok_or(CoreError::JwtRejected("the JWT carries no nonce"))?;
        let owner = self.secrets.lookup_hash(Purpose::KnownClient, &claims.iss);
        if !self.store.use_nonce(&nonce, &owner, now).await? {
            return Err(CoreError::JwtRejected(
                "the nonce is unknown, expired or already used",
            ));
        }
        Ok(self.issue_plex_jwt(device, &claims.iss, kid, nonce, claims.scope, now))
    }

    /// A linked JWT pin's token, for a poll carrying `device_jwt`: a Plex JWT
    /// if the device JWT is signed by the pin's key, issued by the pin's
    /// client, unexpired, with a live nonce of ours (the same one may come
    /// on every poll); `None` otherwise, as if not linked yet.
    pub(super) async fn plex_jwt_for_pin(
        &self,
        pin: &crate::model::Pin,
        jwk: &Jwk,
        device_jwt: &str,
    ) -> Result<Option<String>, CoreError> {
        let now = self.now();
        let Ok(claims) = plex_jwt::verify_device_jwt(device_jwt, jwk, now) else {
            return Ok(None);
        };
        if claims.iss != pin.client_identifier.as_str() {
            return Ok(None);
        }
        let Some(nonce) = claims.nonce else {
            return Ok(None);
        };
        let owner = self.secrets.lookup_hash(Purpose::KnownClient, &claims.iss);
        if !self.store.nonce_is_live(&nonce, &owner, now).await? {
            return Ok(None);
        }
        let Some(key) = self.store.device_key(&jwk.kid).await? else {
            return Ok(None);
        };
        Ok(Some(self.issue_plex_jwt(
            &key.session,
            &claims.iss,
            jwk.kid.clone(),
            nonce,
            claims.scope,
            now,
        )))
    }

    /// Signs a Plex JWT for `device` (whose key is `kid`), echoing `nonce`.
    fn issue_plex_jwt(
        &self,
        device: &SessionRecord,
        client: &str,
        kid: String,
        nonce: String,
        scope: Option<String>,
        now: UnixTime,
    ) -> String {
        let scope = scope.unwrap_or_else(|| DEFAULT_SCOPE.to_owned());
        let token = self.signing().sign(&PlexClaims {
            iss: "plex.tv".into(),
            aud: Audience::Many(vec!["plex.tv".into(), client.to_owned()]),
            iat: now.0,
            exp: now.0 + PLEX_JWT_LIFETIME_SECS,
            nonce,
            thumbprint: kid,
            user: jwt_user(&device.account, &scope),
            scope,
            jti: random_hex(32),
            sub: device.device.0.to_string(),
        });
        tracing::info!(
            account = device.account.id.0,
            device = device.device.0,
            "Plex JWT issued"
        );
        token
    }

    /// The session of a Plex JWT presented as a token: ours, not expired,
    /// and its device (by the key's `thumbprint`) still there.
    pub(super) async fn authenticate_jwt(&self, presented: &str) -> Result<Session, CoreError> {
        if let Some(kid) = plex_jwt::header_kid(presented) {
            if !self.signing().knows(&kid) && self.may_reload_keys() {
                // Perhaps a key another instance added since our last look.
                self.load_signing_keys().await?;
            }
        }
        let claims =
            self.signing()
                .verify(presented, self.now())
                .map_err(|problem| match problem {
                    JwtProblem::Expired => CoreError::TokenExpired,
                    JwtProblem::Invalid => CoreError::Unauthenticated,
                })?;
        let key = self
            .store
            .device_key(&claims.thumbprint)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let device = key.session;
        if !claims.aud.contains(device.client_identifier.as_str())
            || claims.sub != device.device.0.to_string()
        {
            return Err(CoreError::Unauthenticated);
        }
        Ok(Session {
            account: device.account,
            device_id: device.device,
            client_identifier: device.client_identifier,
            token: AuthToken::from_presented(presented.to_owned()),
            application: device.application,
        })
    }
}

/// The `user` claim: `id` and `uuid` always, the rest as the scope asks.
fn jwt_user(account: &Account, scope: &str) -> JwtUser {
    let asked = |name: &str| scope.split(',').any(|s| s.trim() == name);
    JwtUser {
        id: account.id.0,
        uuid: account.uuid.clone(),
        username: asked("username").then(|| account.username.as_str().to_owned()),
        email: asked("email").then(|| account.email.as_str().to_owned()),
        friendly_name: asked("friendly_name").then(|| account.username.as_str().to_owned()),
        restricted: asked("restricted").then_some(false),
        anonymous: asked("anonymous").then_some(false),
        joined_at: asked("joinedAt").then_some(account.created_at.0),
    }
}

/// A random UUID (version 4) in its usual text form.
fn uuid_text() -> String {
    let hex = random_hex(32);
    // Version 4, RFC 4122 variant.
    let variant = ["8", "9", "a", "b"][usize::from(hex.as_bytes()[16] % 4)];
    format!(
        "{}-{}-4{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        variant,
        &hex[17..20],
        &hex[20..32]
    )
}
