//! Tokens a backend can use, on the device grant: access tokens that
//! expire (the application's lifetime), refresh tokens rotated at every use
//! (RFC 6749 §6, RFC 9700 §4.14: a used one presented again ends the whole
//! grant), RFC 7662 introspection for confidential applications, and
//! OpenID Connect — ID tokens (RS256, or EdDSA where the application asked)
//! and UserInfo. Refresh tokens are kept only as keyed hashes; `sub` is the
//! account's uuid, stable, never its name.

use std::sync::Arc;

use crate::error::{CoreError, GrantRefusal};
use crate::model::{Application, ApplicationId, ClientAddress, IdTokenAlg};
use crate::oidc::{scope_has, IdTokenClaims, OidcKeys, ProfileClaims, ID_TOKEN_SECS};
use crate::secrets::{AuthToken, Purpose};
use crate::store::{Rotated, Rotation, SessionRecord};

use super::Pinlink;

/// What a token request hands a device: the access token, how long it
/// works, the refresh token to get the next, and an ID token when OpenID
/// Connect was asked for.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: AuthToken,
    pub scope: Box<str>,
    /// Seconds the access token works; `None`: until revoked.
    pub expires_in: Option<i64>,
    pub refresh_token: Option<AuthToken>,
    pub id_token: Option<String>,
}

/// RFC 7662's answer for a live access token.
#[derive(Debug, Clone)]
pub struct Introspection {
    pub sub: String,
    pub username: String,
    pub client_id: ApplicationId,
    pub scope: String,
    pub iat: i64,
    pub exp: Option<i64>,
}

/// UserInfo's answer: `sub` and the claims the grant's scopes allow.
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub sub: String,
    pub profile: ProfileClaims,
}

/// What an application may be set to (`pinlink client add|set`).
#[derive(Debug, Clone, Copy)]
pub struct ApplicationSettings {
    pub access_token_lifetime_secs: i64,
    pub id_token_alg: IdTokenAlg,
}

impl Default for ApplicationSettings {
    fn default() -> Self {
        ApplicationSettings {
            access_token_lifetime_secs: DEFAULT_ACCESS_TOKEN_SECS,
            id_token_alg: IdTokenAlg::Rs256,
        }
    }
}

/// An application's access tokens work this long unless it is set
/// otherwise.
pub const DEFAULT_ACCESS_TOKEN_SECS: i64 = 3600;

/// The longest access-token lifetime an application may have (a year).
pub const MAX_ACCESS_TOKEN_SECS: i64 = 366 * 24 * 3600;

impl Pinlink {
    /// The OpenID Connect keys as last loaded with the signing generations.
    pub(super) fn oidc_keys(&self) -> Arc<OidcKeys> {
        self.oidc.read().clone()
    }

    /// The JSON Web Key Set of the keys that may verify a live ID token.
    pub fn oidc_jwks(&self) -> Result<serde_json::Value, CoreError> {
        self.oidc_keys().jwks(self.now())
    }

    /// Changes an application's access-token lifetime and ID token
    /// algorithm (those given); returns it as it is now.
    pub async fn set_application_settings(
        &self,
        client_id: &str,
        lifetime_secs: Option<i64>,
        id_token_alg: Option<IdTokenAlg>,
    ) -> Result<Application, CoreError> {
        let id = ApplicationId::parse(client_id).ok_or(CoreError::InvalidClient)?;
        let mut application = self
            .store
            .application(&id)
            .await?
            .ok_or(CoreError::InvalidClient)?
            .application;
        if let Some(lifetime) = lifetime_secs {
            application.access_token_lifetime_secs = check_lifetime(lifetime)?;
        }
        if let Some(alg) = id_token_alg {
            application.id_token_alg = alg;
        }
        if !self.store.set_application(&application).await? {
            return Err(CoreError::InvalidClient);
        }
        self.applications.forget();
        self.announce_change();
        Ok(application)
    }

    /// When a grant's access token of `application` stops working.
    pub(super) fn access_token_expiry(&self, application: &Application) -> Option<crate::UnixTime> {
        (application.access_token_lifetime_secs > 0)
            .then(|| self.now().plus_secs(application.access_token_lifetime_secs))
    }

    /// What a device receives once its grant is redeemed with `token`:
    /// the expiry, a first refresh token (when its tokens expire), and an
    /// ID token when `openid` was granted.
    pub(super) async fn issue_for_grant(
        &self,
        application: &Application,
        token: AuthToken,
        scope: Box<str>,
    ) -> Result<IssuedToken, CoreError> {
        let hash = self.secrets.lookup_hash(Purpose::Token, token.expose());
        // The lifetime starts now, at redemption (the token was made at the
        // approval, a poll interval or more ago).
        if let Some(at) = self.access_token_expiry(application) {
            self.store.set_token_expiry(&hash, at).await?;
        }
        let session = self
            .store
            .session_by_token(&hash)
            .await?
            .ok_or(GrantRefusal::InvalidGrant)?;
        let refresh_token = if application.access_token_lifetime_secs > 0 {
            let refresh = AuthToken::generate();
            self.store
                .insert_refresh_token(
                    session.device,
                    &self
                        .secrets
                        .lookup_hash(Purpose::RefreshToken, refresh.expose()),
                    self.now(),
                )
                .await?;
            Some(refresh)
        } else {
            None
        };
        Ok(IssuedToken {
            expires_in: session
                .token_expires_at
                .map(|at| self.now().secs_until(at).max(0)),
            id_token: self.id_token(application, &session)?,
            token,
            scope,
            refresh_token,
        })
    }

    /// An ID token for a grant's session, when its scope holds `openid`.
    fn id_token(
        &self,
        application: &Application,
        session: &SessionRecord,
    ) -> Result<Option<String>, CoreError> {
        if !scope_has(&session.scope, "openid") {
            return Ok(None);
        }
        let now = self.now().0;
        let account = &session.account;
        let claims = IdTokenClaims {
            iss: self.issuer(),
            sub: account.uuid.clone(),
            aud: application.id.as_str().to_owned(),
            azp: application.id.as_str().to_owned(),
            iat: now,
            exp: now + ID_TOKEN_SECS,
            auth_time: session.auth_time.map_or(now, |t| t.0),
            profile: ProfileClaims::granted(
                &session.scope,
                account.username.as_str(),
                account.email.as_str(),
            ),
        };
        self.oidc_keys()
            .sign(application.id_token_alg, &claims, self.now())
            .map(Some)
    }

    /// The issuer ID tokens name: the public URL, exactly.
    fn issuer(&self) -> String {
        self.settings.public_url.clone().unwrap_or_default()
    }

    /// `grant_type=refresh_token`: a new access token and a new refresh
    /// token for the grant; the presented one is used up. A used one
    /// presented again means it leaked: the grant ends, and the answer is
    /// `invalid_grant`. Budgeted per address.
    pub async fn refresh_grant(
        &self,
        application: &Application,
        presented: &str,
        from: &ClientAddress,
    ) -> Result<IssuedToken, CoreError> {
        if presented.is_empty() || presented.len() > 512 {
            return Err(GrantRefusal::InvalidGrant.into());
        }
        let spends = self.budget_keys().refresh(from);
        if let Err(refused) = self.spend(&spends, self.now()).await? {
            return Err(CoreError::RateLimited {
                retry_after_secs: refused.retry_after_secs,
            });
        }
        let access = AuthToken::generate();
        // An application set to lifetime 0 since: this refresh gives a
        // token that works until revoked, and no next refresh token.
        let refresh = (application.access_token_lifetime_secs > 0).then(AuthToken::generate);
        let rotation = Rotation {
            presented: self.secrets.lookup_hash(Purpose::RefreshToken, presented),
            application: application.id.clone(),
            access: self.secrets.new_token(&access),
            access_expires_at: self.access_token_expiry(application),
            refresh: refresh
                .as_ref()
                .map(|r| self.secrets.lookup_hash(Purpose::RefreshToken, r.expose())),
            now: self.now(),
        };
        match self.store.rotate_refresh_token(&rotation).await? {
            Rotated::Rotated(session) => {
                tracing::info!(client_id = %application.id, device = session.device.0, "tokens refreshed");
                Ok(IssuedToken {
                    expires_in: session
                        .token_expires_at
                        .map(|at| self.now().secs_until(at).max(0)),
                    id_token: self.id_token(application, &session)?,
                    scope: session.scope.clone().into(),
                    token: access,
                    refresh_token: refresh,
                })
            }
            Rotated::Reused => {
                tracing::warn!(client_id = %application.id, "a used refresh token came back: the grant is ended");
                self.announce_change();
                Err(GrantRefusal::InvalidGrant.into())
            }
            Rotated::Unknown => Err(GrantRefusal::InvalidGrant.into()),
        }
    }

    /// RFC 7662: what a confidential application may learn of a token: a
    /// live access token of a device grant (of any application here), or
    /// nothing (`None`: `{"active": false}`) — for an unknown, expired or
    /// revoked token, a refresh token, or a plex.tv device's token.
    pub async fn introspect(
        &self,
        application: &Application,
        token: &str,
    ) -> Result<Option<Introspection>, CoreError> {
        if !application.confidential {
            return Err(CoreError::InvalidClient);
        }
        if token.is_empty() || token.len() > 512 {
            return Ok(None);
        }
        let hash = self.secrets.lookup_hash(Purpose::Token, token);
        let Some(session) = self.store.session_by_token(&hash).await? else {
            return Ok(None);
        };
        let Some(client_id) = session.application.clone() else {
            return Ok(None);
        };
        if session.token_expires_at.is_some_and(|at| at <= self.now()) {
            return Ok(None);
        }
        Ok(Some(Introspection {
            sub: session.account.uuid.clone(),
            username: session.account.username.as_str().to_owned(),
            client_id,
            scope: session.scope.clone(),
            iat: session.token_issued_at.0,
            exp: session.token_expires_at.map(|at| at.0),
        }))
    }

    /// OpenID Connect's UserInfo for a device grant's access token: `sub`
    /// and the claims of the granted scopes. A token without `openid` is
    /// refused ([`CoreError::InsufficientScope`]).
    pub async fn user_info(&self, token: &str) -> Result<UserInfo, CoreError> {
        let session = self.authenticate(token).await?;
        if session.application.is_none() {
            return Err(CoreError::InsufficientScope);
        }
        let hash = self.secrets.lookup_hash(Purpose::Token, token);
        let record = self
            .store
            .session_by_token(&hash)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        if !scope_has(&record.scope, "openid") {
            return Err(CoreError::InsufficientScope);
        }
        let account = &record.account;
        Ok(UserInfo {
            sub: account.uuid.clone(),
            profile: ProfileClaims::granted(
                &record.scope,
                account.username.as_str(),
                account.email.as_str(),
            ),
        })
    }
}

/// An access-token lifetime as an application may have it.
pub fn check_lifetime(secs: i64) -> Result<i64, CoreError> {
    if (0..=MAX_ACCESS_TOKEN_SECS).contains(&secs) {
        Ok(secs)
    } else {
        Err(CoreError::InvalidInput(format!(
            "an access-token lifetime is 0 (until revoked) to {MAX_ACCESS_TOKEN_SECS} seconds"
        )))
    }
}
