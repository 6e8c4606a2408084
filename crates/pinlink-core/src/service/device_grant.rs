//! RFC 8628, the OAuth 2.0 Device Authorization Grant, on the same engine
//! as plex.tv's pins: a device grant *is* a pin, with a `user_code` in place
//! of a plex.tv code and a device code in place of the client identifier.
//! The person approves it on the same `/link` page, through the same
//! [`Pinlink::approve_code`] with the same budgets; the device gets an
//! ordinary device token, listed and revoked like any other.
//!
//! What differs from a plex.tv pin, all here: applications (`pinlink client
//! add`) and their authentication; the device code, redeemed once; the
//! answers of §3.5 (`authorization_pending`, `slow_down`, `access_denied`,
//! `expired_token`, `invalid_grant`); Deny keeps the pin (marked denied) so
//! the device can be told.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rand::RngCore;

use crate::error::{CoreError, GrantRefusal};
use crate::model::{
    Application, ApplicationId, ClientAddress, ClientIdentifier, DeviceGrant, DeviceInfo, Pin,
    PinId,
};
use crate::secrets::Purpose;
use crate::store::ApplicationRecord;

use super::backend_tokens::{ApplicationSettings, IssuedToken};
use super::{NewPin, Pinlink};

/// A device's request for a grant, already parsed.
#[derive(Debug, Clone)]
pub struct NewDeviceGrant {
    pub application: Application,
    /// As the device sent it (space-separated); kept and handed back.
    pub scope: String,
    /// `X-Plex-Client-Identifier` if the device sent one; otherwise each
    /// grant is a device of its own.
    pub client_identifier: Option<ClientIdentifier>,
    pub device: DeviceInfo,
    pub requester: ClientAddress,
}

/// A grant just started: what the device is told (RFC 8628 §3.2).
#[derive(Clone)]
pub struct StartedGrant {
    pub pin: Arc<Pin>,
    /// Shown once, never stored: `{pin id}.{secret}`.
    pub device_code: String,
    pub interval_secs: i64,
}

impl std::fmt::Debug for StartedGrant {
    // The device code is a credential-in-waiting: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedGrant")
            .field("pin", &self.pin.id)
            .field("device_code", &"<redacted>")
            .finish()
    }
}

/// How long an application read from the store answers token requests
/// before it is read again, in milliseconds. Removing an application
/// (`pinlink client remove`) ends its grants and devices in the store at
/// once; for this long after, its token requests may still be told
/// `authorization_pending` or `invalid_grant` rather than `invalid_client`.
const APPLICATION_FRESH_MS: i64 = 5_000;
/// Applications kept at most; past this the memory starts over.
const MAX_RECENT_APPLICATIONS: usize = 10_000;

/// Applications as last read from the store, so that a token request (a
/// device asks every few seconds for minutes) costs no database read for
/// its client.
#[derive(Debug, Default)]
pub(crate) struct RecentApplications(
    parking_lot::RwLock<std::collections::HashMap<ApplicationId, (ApplicationRecord, i64)>>,
);

impl RecentApplications {
    /// Everything is read again (another process changed applications).
    pub(crate) fn forget(&self) {
        self.0.write().clear();
    }
}

/// Bytes of randomness in a device code's secret and a client secret
/// (RFC 8628 §5.2: the device code must not be guessable).
const SECRET_BYTES: usize = 32;

fn random_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Pinlink {
    // ---------------------------------------------------------- applications

    /// Registers an application; a confidential one gets a secret, returned
    /// here once and kept only as a keyed hash.
    pub async fn add_application(
        &self,
        name: &str,
        confidential: bool,
        settings: ApplicationSettings,
    ) -> Result<(Application, Option<String>), CoreError> {
        let application = Application {
            id: ApplicationId::generate(),
            name: crate::model::parse_application_name(name)?,
            confidential,
            created_at: self.now(),
            access_token_lifetime_secs: super::backend_tokens::check_lifetime(
                settings.access_token_lifetime_secs,
            )?,
            id_token_alg: settings.id_token_alg,
        };
        let secret = confidential.then(random_secret);
        let record = ApplicationRecord {
            application: application.clone(),
            secret_hash: secret
                .as_deref()
                .map(|s| self.secrets.lookup_hash(Purpose::ClientSecret, s)),
        };
        self.store.insert_application(&record).await?;
        tracing::info!(client_id = %application.id, confidential, "application registered");
        Ok((application, secret))
    }

    pub async fn applications(&self) -> Result<Vec<Application>, CoreError> {
        Ok(self
            .store
            .list_applications()
            .await?
            .into_iter()
            .map(|r| r.application)
            .collect())
    }

    /// Removes an application: its pending grants end, and the devices
    /// linked through it lose their tokens. `false` when there is none.
    pub async fn remove_application(&self, client_id: &str) -> Result<bool, CoreError> {
        let Some(id) = ApplicationId::parse(client_id) else {
            return Ok(false);
        };
        let removed = self.store.delete_application(&id).await?;
        if removed {
            self.applications.forget();
            self.announce_change();
            tracing::info!(client_id = %id, "application removed");
        }
        Ok(removed)
    }

    /// Authenticates an application (RFC 6749 §2.3): a public one by its
    /// `client_id` alone, a confidential one only with its secret. Anything
    /// else is [`CoreError::InvalidClient`].
    pub async fn authenticate_application(
        &self,
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<Application, CoreError> {
        let id = ApplicationId::parse(client_id).ok_or(CoreError::InvalidClient)?;
        let record = self
            .store
            .application(&id)
            .await?
            .ok_or(CoreError::InvalidClient)?;
        self.check_client_secret(record, secret)
    }

    /// [`Pinlink::authenticate_application`] for token requests, from
    /// memory when the application was read in the last few seconds.
    pub async fn authenticate_application_for_token(
        &self,
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<Application, CoreError> {
        let id = ApplicationId::parse(client_id).ok_or(CoreError::InvalidClient)?;
        let record = self
            .recent_application(&id)
            .await?
            .ok_or(CoreError::InvalidClient)?;
        self.check_client_secret(record, secret)
    }

    /// The application `id`, from memory when it was read in the last few
    /// seconds.
    pub(super) async fn recent_application(
        &self,
        id: &ApplicationId,
    ) -> Result<Option<ApplicationRecord>, CoreError> {
        let now_ms = self.clock.now_millis();
        let kept = self
            .applications
            .0
            .read()
            .get(id)
            .filter(|(_, read_at)| now_ms - read_at < APPLICATION_FRESH_MS)
            .map(|(record, _)| record.clone());
        if kept.is_some() {
            return Ok(kept);
        }
        let Some(record) = self.store.application(id).await? else {
            return Ok(None);
        };
        let mut recent = self.applications.0.write();
        if recent.len() >= MAX_RECENT_APPLICATIONS {
            recent.clear();
        }
        recent.insert(id.clone(), (record.clone(), now_ms));
        Ok(Some(record))
    }

    fn check_client_secret(
        &self,
        record: ApplicationRecord,
        secret: Option<&str>,
    ) -> Result<Application, CoreError> {
        match (&record.secret_hash, secret) {
            (None, None) => Ok(record.application),
            (None, Some(_)) => Err(CoreError::InvalidClient),
            (Some(_), None) => Err(CoreError::InvalidClient),
            (Some(expected), Some(given)) => {
                let given = self.secrets.lookup_hash(Purpose::ClientSecret, given);
                if crate::secrets::constant_time_eq_bytes(expected.as_bytes(), given.as_bytes()) {
                    Ok(record.application)
                } else {
                    Err(CoreError::InvalidClient)
                }
            }
        }
    }

    /// RFC 7009: an application revokes a token it was given. The device
    /// holding it is removed (with every token it holds), like Revoke on
    /// `/devices`. An unknown token is not an error (§2.2), and neither is
    /// a token the application was not given: that is left alone, with the
    /// same answer, so the endpoint tells no one whether a token is valid.
    pub async fn revoke_for_application(
        &self,
        application: &Application,
        token: &str,
    ) -> Result<(), CoreError> {
        if token.is_empty() || token.len() > 512 {
            return Ok(());
        }
        let refresh = self.secrets.lookup_hash(Purpose::RefreshToken, token);
        if self
            .store
            .revoke_refresh_token(&application.id, &refresh)
            .await?
        {
            self.announce_change();
            tracing::info!(client_id = %application.id, "grant revoked by its refresh token");
            return Ok(());
        }
        // Looked up as stored, expired or not: revoking an access token
        // that ran out still ends its grant (its refresh token too).
        let hash = self.secrets.lookup_hash(Purpose::Token, token);
        let Some(session) = self.store.session_by_token(&hash).await? else {
            return Ok(());
        };
        if session.application.as_ref() != Some(&application.id) {
            return Ok(());
        }
        self.announce_change();
        match self.revoke_device(&session.account, session.device).await {
            Ok(()) | Err(CoreError::DeviceNotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    // ----------------------------------------------------------------- grant

    /// `POST /oauth/device_authorization`: a new grant, with the same
    /// budgets and caps as a new pin.
    pub async fn start_device_grant(
        &self,
        request: NewDeviceGrant,
    ) -> Result<StartedGrant, CoreError> {
        let secret = random_secret();
        // In the application's own namespace: a grant never becomes (or
        // takes over) a plex.tv device or another application's device of
        // the same account.
        let own = match &request.client_identifier {
            Some(id) => id.as_str().to_owned(),
            None => super::random_hex(32),
        };
        let client_identifier = ClientIdentifier::of_grant(&request.application.id, &own)?;
        let pin = self
            .create_pin(NewPin {
                strong: false,
                client_identifier,
                device: request.device,
                requester: request.requester,
                jwk: None,
                grant: Some(DeviceGrant {
                    application: request.application.as_ref(),
                    device_code_hash: self.secrets.lookup_hash(Purpose::DeviceCode, &secret),
                    scope: request.scope.into(),
                    denied: false,
                }),
            })
            .await?;
        Ok(StartedGrant {
            device_code: format!("{}.{secret}", pin.id),
            pin,
            interval_secs: self.settings.grant_interval_secs,
        })
    }

    /// `POST /oauth/token` with a device code: the token once the code was
    /// approved (and only once), or why not ([`CoreError::Grant`]). With
    /// `wait`, a pending answer is held until the code is approved or
    /// denied, or `wait` (capped at [`crate::waiters::MAX_WAIT_SECS`]) runs
    /// out.
    pub async fn redeem_device_code(
        &self,
        application: &Application,
        device_code: &str,
        wait: Duration,
        from: &ClientAddress,
    ) -> Result<IssuedToken, CoreError> {
        let (id, secret) = parse_device_code(device_code).ok_or(GrantRefusal::InvalidGrant)?;
        let arrived_ms = self.clock.now_millis();
        let pin = self.granted_pin(application, id, secret).await?;
        // Test mode approves it now if its rule covers it.
        let pin = if pin.is_live(self.now()) && !pin.grant.as_ref().is_some_and(|g| g.denied) {
            self.auto_approved(pin).await?
        } else {
            pin
        };
        if let Some(done) = self.grant_outcome(application, &pin).await? {
            return Ok(done);
        }
        if let Err(grown) = self
            .pacing
            .arrive(id, arrived_ms, self.settings.grant_interval_secs)
        {
            tracing::debug!(pin = %id, interval = grown, "device grant polled too fast");
            return Err(refused(GrantRefusal::SlowDown));
        }
        let wait = wait.min(Duration::from_secs(crate::waiters::MAX_WAIT_SECS));
        if wait.is_zero() {
            return Err(refused(GrantRefusal::Pending));
        }
        let Some(waiting) = self.waiters.watch(id, from) else {
            return Err(refused(GrantRefusal::Pending));
        };
        let changed = waiting.notify.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        // Looked at again after listening: a change in between is not missed.
        let pin = self.granted_pin(application, id, secret).await?;
        if let Some(done) = self.grant_outcome(application, &pin).await? {
            return Ok(done);
        }
        if tokio::time::timeout(wait, changed).await.is_err() {
            return Err(refused(GrantRefusal::Pending));
        }
        let pin = self.granted_pin(application, id, secret).await?;
        match self.grant_outcome(application, &pin).await? {
            Some(done) => Ok(done),
            None => Err(refused(GrantRefusal::Pending)),
        }
    }

    /// The grant pin `id`, if `secret` is its device code's and it was
    /// started by `application`; expired ones too (they are answered
    /// `expired_token`).
    async fn granted_pin(
        &self,
        application: &Application,
        id: PinId,
        secret: &str,
    ) -> Result<Arc<Pin>, CoreError> {
        let pin = match self.live.get(id) {
            Some(pin) => pin,
            None => {
                let record = self
                    .store
                    .pin_by_id(id)
                    .await?
                    .ok_or(GrantRefusal::InvalidGrant)?;
                Arc::new(self.secrets.pin_from_record(record)?)
            }
        };
        let grant = pin.grant.as_deref().ok_or(GrantRefusal::InvalidGrant)?;
        let presented = self.secrets.lookup_hash(Purpose::DeviceCode, secret);
        let ours = crate::secrets::constant_time_eq_bytes(
            grant.device_code_hash.as_bytes(),
            presented.as_bytes(),
        );
        if !ours || grant.application.id != application.id {
            return Err(refused(GrantRefusal::InvalidGrant));
        }
        Ok(pin)
    }

    /// What a token request for `pin` gets when it need not wait: the
    /// token (once), or a final refusal. `None` while pending.
    async fn grant_outcome(
        &self,
        application: &Application,
        pin: &Pin,
    ) -> Result<Option<IssuedToken>, CoreError> {
        let now = self.now();
        let grant = pin.grant.as_deref().ok_or(GrantRefusal::InvalidGrant)?;
        if grant.denied {
            return Err(refused(GrantRefusal::Denied));
        }
        if pin.auth_token.is_none() && !pin.is_live(now) {
            return Err(refused(GrantRefusal::Expired));
        }
        if pin.auth_token.is_none() {
            return Ok(None);
        }
        // Approved: the one redemption that deletes the pin gets the token.
        let taken = self.store.take_linked_pin(pin.id).await;
        self.live.forget(pin.id);
        self.pacing.forget(pin.id);
        let record = taken?.ok_or(GrantRefusal::InvalidGrant)?;
        let token = self
            .secrets
            .open_token(record.token_sealed.as_deref())?
            .ok_or(GrantRefusal::InvalidGrant)?;
        crate::events::token_delivered();
        tracing::info!(pin = %pin.id, client_id = %grant.application.id, "device grant redeemed");
        self.issue_for_grant(application, token, grant.scope.clone())
            .await
            .map(Some)
    }
}

fn refused(refusal: GrantRefusal) -> CoreError {
    crate::events::grant_refused(refusal);
    CoreError::Grant(refusal)
}

impl From<GrantRefusal> for CoreError {
    fn from(refusal: GrantRefusal) -> Self {
        refused(refusal)
    }
}

/// `{pin id}.{secret}`; anything else names no grant.
fn parse_device_code(raw: &str) -> Option<(PinId, &str)> {
    let (id, secret) = raw.split_once('.')?;
    let id = PinId::parse(id).ok()?;
    (!secret.is_empty() && secret.len() <= 64).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::core;
    use crate::{AutoApprove, RawDeviceInfo};

    async fn grant(core: &Pinlink, application: &Application, sent: Option<&str>) -> StartedGrant {
        core.start_device_grant(NewDeviceGrant {
            application: application.clone(),
            scope: "read".into(),
            client_identifier: sent.map(|s| ClientIdentifier::parse(Some(s)).expect("id")),
            device: DeviceInfo::parse(RawDeviceInfo {
                product: Some(&application.name),
                ..RawDeviceInfo::default()
            })
            .expect("device"),
            requester: ClientAddress::UNKNOWN,
        })
        .await
        .expect("grant")
    }

    fn refusal(result: Result<IssuedToken, CoreError>) -> GrantRefusal {
        match result {
            Err(CoreError::Grant(refusal)) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn slow_down_follows_the_clock_and_a_confidential_secret_is_checked() {
        let (core, clock) = core();
        let (app, secret) = core
            .add_application("TV", true, ApplicationSettings::default())
            .await
            .expect("app");
        let secret = secret.expect("secret");
        assert!(core
            .authenticate_application(app.id.as_str(), Some(&secret))
            .await
            .is_ok());
        for wrong in [None, Some("nope"), Some("")] {
            assert!(matches!(
                core.authenticate_application(app.id.as_str(), wrong).await,
                Err(CoreError::InvalidClient)
            ));
        }
        let started = grant(&core, &app, None).await;
        let ask = || {
            core.redeem_device_code(
                &app,
                &started.device_code,
                Duration::ZERO,
                &ClientAddress::UNKNOWN,
            )
        };
        assert_eq!(refusal(ask().await), GrantRefusal::Pending);
        clock.advance_millis(4_100);
        assert_eq!(
            refusal(ask().await),
            GrantRefusal::Pending,
            "within the jitter allowance"
        );
        clock.advance_millis(1_000);
        assert_eq!(refusal(ask().await), GrantRefusal::SlowDown);
        clock.advance(10);
        assert_eq!(refusal(ask().await), GrantRefusal::Pending);
        clock.advance(core.settings().grant_lifetime_secs);
        assert_eq!(refusal(ask().await), GrantRefusal::Expired);
    }

    #[tokio::test]
    async fn test_mode_approves_matching_grants_by_the_identifier_the_device_sent() {
        let (core, _clock) = core();
        let alice = core
            .add_account("alice", "alice@example.org", "correct horse".into())
            .await
            .expect("account");
        core.set_auto_approve(AutoApprove {
            account: alice,
            after_secs: 0,
            products: Vec::new(),
            client_identifiers: vec!["ci-device".into()],
        });
        let (app, _) = core
            .add_application("CI app", false, ApplicationSettings::default())
            .await
            .expect("app");
        let covered = grant(&core, &app, Some("ci-device")).await;
        let issued = core
            .redeem_device_code(
                &app,
                &covered.device_code,
                Duration::ZERO,
                &ClientAddress::UNKNOWN,
            )
            .await
            .expect("approved by test mode");
        assert_eq!(issued.scope.as_ref(), "read");
        let other = grant(&core, &app, Some("someone-else")).await;
        assert_eq!(
            refusal(
                core.redeem_device_code(
                    &app,
                    &other.device_code,
                    Duration::ZERO,
                    &ClientAddress::UNKNOWN
                )
                .await
            ),
            GrantRefusal::Pending
        );
    }
}
