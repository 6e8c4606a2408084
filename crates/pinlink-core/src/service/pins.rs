//! Pins: a device asks for one and polls it; a signed-in person approves or
//! denies its code.
//!
//! Who may learn that a code is live: only someone who spends a budget of
//! wrong codes to ask ([`Pinlink::pin_to_approve`], [`Pinlink::approve_code`],
//! [`Pinlink::deny_code`]), or someone holding a strong code, which cannot
//! be guessed ([`Pinlink::pin_behind_approval_link`]). Nothing else looks a
//! code up.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::clock::UnixTime;
use crate::error::CoreError;
use crate::model::{
    Account, ClientAddress, ClientIdentifier, DeviceGrant, DeviceInfo, Pin, PinCode, PinId, Session,
};
use crate::plex_jwt::Jwk;
use crate::secrets::{constant_time_eq, AuthToken, Purpose};
use crate::store::{CapKind, PinLink, Reservation, StoreError};

use super::security_log::{describe, Origin};
use super::Pinlink;
use super::Ticket;
use crate::security_log::EventKind;
use crate::security_log::SecurityEvent;

/// A device's request for a pin, already parsed.
#[derive(Debug, Clone)]
pub struct NewPin {
    pub strong: bool,
    pub client_identifier: ClientIdentifier,
    pub device: DeviceInfo,
    pub requester: ClientAddress,
    /// plex.tv's JWT login: the device's public key.
    pub jwk: Option<Jwk>,
    /// RFC 8628: the application and device code (the pin gets a
    /// `user_code` rather than a plex.tv code).
    pub grant: Option<DeviceGrant>,
}

/// What a poll shows: the pin, and the token to hand out with it.
#[derive(Debug, Clone)]
pub struct Polled {
    pub pin: Arc<Pin>,
    /// The pin's token once linked; for a JWT pin a Plex JWT instead, and
    /// only to a poll with a valid device JWT.
    pub auth_token: Option<String>,
}

/// What the person approving a code expects of its pin. `/link` takes any
/// code; `/auth` only a strong code of the client that asked for it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect<'a> {
    pub strong_only: bool,
    pub client_identifier: Option<&'a str>,
}

impl Expect<'_> {
    pub const ANY: Expect<'static> = Expect {
        strong_only: false,
        client_identifier: None,
    };
}

/// How often a new pin may draw a code or id that is already taken before we
/// give up. With at most [`crate::PinCaps::link_codes`] of the 2^20
/// four-character codes live, one retry is already rare.
const MAX_CREATE_ATTEMPTS: usize = 16;

/// How long a client told "the server is full" should wait.
const FULL_RETRY_SECS: i64 = 60;

const NEEDS_STRONG_CODE: &str =
    "This approval link needs the long code of an app; type short codes at /link";

impl Pinlink {
    /// A device asks for a pin. Spends from its address's and its client
    /// identifier's budgets of new pins, and stays within the caps on live
    /// pins.
    pub async fn create_pin(&self, request: NewPin) -> Result<Arc<Pin>, CoreError> {
        let now = self.now();
        let caps = self.settings.caps;
        // While this pin is being made, the sweep does not recount.
        let _counting = self.pins_counting.read().await;
        // A place under the server-wide total, taken before the work and
        // given back if no pin comes of it: requests at once cannot all
        // see the last place free.
        let place = self
            .live_estimate
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                (live < caps.total).then_some(live + 1)
            });
        if place.is_err() {
            return Err(CoreError::AtCapacity {
                retry_after_secs: FULL_RETRY_SECS,
            });
        }
        let give_back_place = || {
            let _ = self
                .live_estimate
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                    Some(live.saturating_sub(1))
                });
        };
        let spends = self
            .budget_keys()
            .new_pin(request.client_identifier.as_str(), &request.requester);
        let lifetime = if request.grant.is_some() {
            self.settings.grant_lifetime_secs
        } else if request.strong {
            self.settings.strong_pin_lifetime_secs
        } else {
            self.settings.link_pin_lifetime_secs
        };
        let requester_net = request.requester.network();
        let mut outcome = Err(CoreError::Internal(
            "no free pin code or id after several attempts".into(),
        ));
        for _ in 0..MAX_CREATE_ATTEMPTS {
            let pin = Pin {
                id: PinId::random(),
                code: if request.grant.is_some() {
                    PinCode::generate_user_code()
                } else {
                    PinCode::generate(request.strong)
                },
                client_identifier: request.client_identifier.clone(),
                device: request.device.clone(),
                requester_ip: request.requester.to_string().into(),
                created_at: now,
                expires_at: now.plus_secs(lifetime),
                auth_token: None,
                jwk: request.jwk.clone().map(Box::new),
                grant: request.grant.clone().map(Box::new),
            };
            let record = self.secrets.pin_record(&pin, requester_net.clone());
            // The budgets are spent with the insert, in one step: a pin
            // that is not made (a cap, a taken id) spends nothing.
            outcome = match self
                .store
                .insert_pin_spending(&record, &caps, &spends, now)
                .await
            {
                Ok(Reservation::Granted(_)) => {
                    crate::events::pin_created(&pin.code);
                    let pin = Arc::new(pin);
                    self.live.put(pin.clone());
                    return Ok(pin);
                }
                Ok(Reservation::Refused {
                    retry_after_secs, ..
                }) => Err(CoreError::RateLimited {
                    retry_after_secs: retry_after_secs.max(1),
                }),
                Err(StoreError::Conflict(_)) => continue,
                Err(StoreError::CapReached { cap, until }) => Err(match cap {
                    CapKind::Address => CoreError::RateLimited {
                        retry_after_secs: now.secs_until(until).max(1),
                    },
                    CapKind::LinkCodes => CoreError::AtCapacity {
                        retry_after_secs: now.secs_until(until).max(1),
                    },
                }),
                Err(e) => Err(e.into()),
            };
            break;
        }
        // Nothing was created: the attempt does not count against the
        // total (nor against the budgets: nothing of it was kept).
        give_back_place();
        outcome
    }

    /// A device polling its pin. Answers from memory when it can.
    pub async fn poll_pin(
        &self,
        id: PinId,
        client: &ClientIdentifier,
    ) -> Result<Arc<Pin>, CoreError> {
        let now = self.now();
        // A linked pin holds a token: one an operator's command may have
        // revoked (another process) is read again.
        if self
            .live
            .get(id)
            .is_some_and(|pin| pin.auth_token.is_some())
        {
            self.notice_outside_changes();
        }
        let pin = match self.live.get(id) {
            Some(pin) => pin,
            None => {
                let epoch = self.live.epoch();
                let record = self
                    .store
                    .pin_by_id(id)
                    .await?
                    .ok_or(CoreError::PinNotFound)?;
                let pin = Arc::new(self.secrets.pin_from_record(record)?);
                if pin.is_live(now) {
                    self.live.put_if_unchanged(pin.clone(), epoch);
                }
                pin
            }
        };
        // Another client identifier's pin is "not found": the identifier is
        // what stops a stranger who guessed an id from collecting the token.
        // A device grant's token is redeemed only with its device code.
        if !pin.is_live(now)
            || pin.grant.is_some()
            || !constant_time_eq(pin.client_identifier.as_str(), client.as_str())
        {
            return Err(CoreError::PinNotFound);
        }
        Ok(pin)
    }

    /// A device's poll held until its pin is approved or `wait` (capped at
    /// [`crate::waiters::MAX_WAIT_SECS`]) passes: `GET /api/v2/pins/{id}?wait=N`.
    /// Answered at once when there is a token already, or when too many
    /// requests wait.
    pub async fn poll_waiting(
        &self,
        id: PinId,
        client: &ClientIdentifier,
        device_jwt: Option<&str>,
        wait: std::time::Duration,
        from: &ClientAddress,
    ) -> Result<Polled, CoreError> {
        let wait = wait.min(std::time::Duration::from_secs(
            crate::waiters::MAX_WAIT_SECS,
        ));
        let first = self.poll(id, client, device_jwt).await?;
        if wait.is_zero() || first.pin.auth_token.is_some() {
            return Ok(first);
        }
        let Some(waiting) = self.waiters.watch(id, from) else {
            return Ok(first);
        };
        let changed = waiting.notify.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        // Looked at again after listening: a change in between is not missed.
        let again = self.poll(id, client, device_jwt).await?;
        if again.pin.auth_token.is_some() {
            return Ok(again);
        }
        if tokio::time::timeout(wait, changed).await.is_err() {
            return Ok(again);
        }
        self.poll(id, client, device_jwt).await
    }

    /// A device's poll: the pin and what token it may have
    /// ([`Polled::auth_token`]).
    pub async fn poll(
        &self,
        id: PinId,
        client: &ClientIdentifier,
        device_jwt: Option<&str>,
    ) -> Result<Polled, CoreError> {
        let pin = self.poll_pin(id, client).await?;
        let pin = self.auto_approved(pin).await?;
        let auth_token = match (&pin.auth_token, &pin.jwk) {
            (None, _) => None,
            (Some(token), None) => Some(token.expose().to_owned()),
            (Some(_), Some(jwk)) => match device_jwt {
                Some(device_jwt) => self.plex_jwt_for_pin(&pin, jwk, device_jwt).await?,
                None => None,
            },
        };
        if auth_token.is_some() {
            crate::events::token_delivered();
        }
        Ok(Polled { pin, auth_token })
    }

    /// An account approves the pin whose code a client sent to
    /// `PUT /api/v2/pins/link`. Wrong codes count against the account's and
    /// the address's budgets.
    pub async fn link_code(
        &self,
        session: &Session,
        typed: &str,
        from: &ClientAddress,
    ) -> Result<Arc<Pin>, CoreError> {
        session.may_manage_account()?;
        self.approve_code(&session.account, typed, from, Expect::ANY)
            .await
    }

    /// The live, unlinked pin whose code a signed-in person typed, for the
    /// confirmation screen that shows what is asking before anything is
    /// linked. A miss counts like a wrong code in [`Pinlink::link_code`].
    pub async fn pin_to_approve(
        &self,
        account: &Account,
        typed: &str,
        from: &ClientAddress,
        expect: Expect<'_>,
    ) -> Result<Arc<Pin>, CoreError> {
        self.within_code_budget(account, from, |now| async move {
            let pin = self.approvable(typed, expect, now).await?;
            Ok(Arc::new(pin))
        })
        .await
    }

    /// The pin an app's approval link (`/auth?clientID=…&code=…`) names, for
    /// its confirmation screen. Opening a link is not a deliberate act (any
    /// site can send a browser to one), so it spends no budget. That is safe
    /// because only a strong code is looked up: 25 characters from 36
    /// symbols (about 2^129) cannot be guessed. Anything else is refused
    /// before any lookup, so the answer says nothing about which short codes
    /// are live.
    pub async fn pin_behind_approval_link(
        &self,
        typed: &str,
        client_identifier: &str,
    ) -> Result<Arc<Pin>, CoreError> {
        let strong = PinCode::parse_user_input(typed).filter(PinCode::is_strong);
        if strong.is_none() {
            return Err(CoreError::PinNotApprovable(NEEDS_STRONG_CODE));
        }
        let expect = Expect {
            strong_only: true,
            client_identifier: Some(client_identifier),
        };
        Ok(Arc::new(self.approvable(typed, expect, self.now()).await?))
    }

    /// Links the pin to the account: its device's next poll gets a token.
    pub async fn approve_code(
        &self,
        account: &Account,
        typed: &str,
        from: &ClientAddress,
        expect: Expect<'_>,
    ) -> Result<Arc<Pin>, CoreError> {
        // As `within_code_budget`, but the link itself gives the
        // reservation back and writes the log, in its own store step (one
        // write instead of three).
        let now = self.now();
        let ticket = self.reserve_wrong_code(account, from, now).await?;
        let result = async {
            let pin = self.approvable(typed, expect, now).await?;
            let logged = self.pin_event(account, EventKind::DeviceLinked, &pin, from);
            let settle = LinkSettles {
                refund: ticket.0.clone(),
                logged: Some(logged),
            };
            self.link(account, pin, now, settle).await
        }
        .await;
        match &result {
            // Given back, and logged, with the link.
            Ok(_) => {}
            // A wrong code: the reservation stays, as the failure's record.
            Err(CoreError::PinNotFound | CoreError::PinNotApprovable(_)) => {
                crate::events::wrong_code();
            }
            Err(_) => self.refund(ticket).await,
        }
        result
    }

    /// Writes an approval or denial in the account's log: the app and
    /// device, where the person was, and where the device asked from.
    async fn record_pin(
        &self,
        account: &Account,
        kind: EventKind,
        pin: &Pin,
        from: &ClientAddress,
    ) {
        let event = self.pin_event(account, kind, pin, from);
        if let Err(e) = self.store.log_event(&event).await {
            tracing::warn!(error = %e, account = account.id.0, kind = kind.as_str(), "could not write the security log");
        }
    }

    /// The log entry of an approval or denial ([`Pinlink::record_pin`]).
    fn pin_event(
        &self,
        account: &Account,
        kind: EventKind,
        pin: &Pin,
        from: &ClientAddress,
    ) -> SecurityEvent {
        let origin = Origin {
            address: from.to_string(),
            client: describe(&pin.device),
        };
        let mut detail = format!("the device asked from {}", pin.requester_ip);
        if let Some(grant) = &pin.grant {
            detail = format!("{} ({detail})", grant.application.name);
        }
        self.event(account.id, kind, &origin, detail)
    }

    /// The person says the request is not theirs: the pin is deleted, and
    /// the device's next poll gets "not found".
    pub async fn deny_code(
        &self,
        account: &Account,
        typed: &str,
        from: &ClientAddress,
        expect: Expect<'_>,
    ) -> Result<(), CoreError> {
        self.within_code_budget(account, from, |now| async move {
            let pin = self.approvable(typed, expect, now).await?;
            if pin.grant.is_some() {
                // Kept, marked, so that its device is told `access_denied`.
                if !self.store.deny_pin(pin.id).await? {
                    return Err(CoreError::PinNotFound);
                }
            } else {
                self.store.delete_pin(pin.id).await?;
            }
            self.live.forget(pin.id);
            self.waiters.wake(pin.id);
            crate::events::pin_denied();
            tracing::info!(pin = %pin.id, account = account.id.0, "pin denied");
            self.record_pin(account, EventKind::LinkDenied, &pin, from)
                .await;
            Ok(())
        })
        .await
    }

    /// Runs a code operation with one wrong code reserved from the
    /// account's and the address's budgets: refused outright when either is
    /// spent, refunded unless the code turned out wrong.
    async fn within_code_budget<T, F, Fut>(
        &self,
        account: &Account,
        from: &ClientAddress,
        op: F,
    ) -> Result<T, CoreError>
    where
        F: FnOnce(UnixTime) -> Fut,
        Fut: std::future::Future<Output = Result<T, CoreError>>,
    {
        let now = self.now();
        let ticket = self.reserve_wrong_code(account, from, now).await?;
        let result = op(now).await;
        match &result {
            // A wrong code: the reservation stays, as the failure's record.
            Err(CoreError::PinNotFound | CoreError::PinNotApprovable(_)) => {
                crate::events::wrong_code();
                drop(ticket)
            }
            _ => self.refund(ticket).await,
        }
        result
    }

    /// One wrong code reserved from the account's and the address's
    /// budgets, before the code is looked at; refused outright when either
    /// is spent.
    async fn reserve_wrong_code(
        &self,
        account: &Account,
        from: &ClientAddress,
        now: UnixTime,
    ) -> Result<Ticket, CoreError> {
        let spends = self.budget_keys().code(account.id.0, from);
        match self.spend(&spends, now).await? {
            Ok(ticket) => Ok(ticket),
            Err(refused) => Err(CoreError::TooManyAttempts {
                retry_after_secs: refused.retry_after_secs,
            }),
        }
    }

    /// The live, unlinked pin with the typed code, if it meets `expect`.
    async fn approvable(
        &self,
        typed: &str,
        expect: Expect<'_>,
        now: UnixTime,
    ) -> Result<Pin, CoreError> {
        let code = PinCode::parse_user_input(typed).ok_or(CoreError::PinNotFound)?;
        let pin = match self.live.unlinked_by_code(code.as_str()) {
            Some(kept) => Pin::clone(&kept),
            None => {
                let hash = self.secrets.lookup_hash(Purpose::PinCode, code.as_str());
                let record = self
                    .store
                    .pin_by_code(&hash)
                    .await?
                    .ok_or(CoreError::PinNotFound)?;
                if record.token_sealed.is_some() {
                    return Err(CoreError::PinNotFound);
                }
                self.secrets.pin_from_record(record)?
            }
        };
        let denied = pin.grant.as_ref().is_some_and(|g| g.denied);
        if pin.expires_at <= now || pin.auth_token.is_some() || denied {
            return Err(CoreError::PinNotFound);
        }
        if expect.strong_only && !pin.code.is_strong() {
            return Err(CoreError::PinNotApprovable(NEEDS_STRONG_CODE));
        }
        if let Some(client) = expect.client_identifier {
            if !constant_time_eq(pin.client_identifier.as_str(), client) {
                return Err(CoreError::PinNotApprovable(
                    "This approval link does not belong to the app that asked for the code",
                ));
            }
        }
        crate::events::code_entered();
        Ok(pin)
    }

    pub(super) async fn link(
        &self,
        account: &Account,
        pin: Pin,
        now: UnixTime,
        settle: LinkSettles,
    ) -> Result<Arc<Pin>, CoreError> {
        if let Some(jwk) = &pin.jwk {
            if self.store.device_key(&jwk.kid).await?.is_some() {
                // Bound to a device already: linking would fail in the store.
                return Err(CoreError::JwtRejected("thumbprint already taken"));
            }
        }
        let token = AuthToken::generate();
        let link = PinLink {
            pin: pin.id,
            account: account.id,
            token: self.secrets.new_token(&token),
            known_client: self
                .secrets
                .lookup_hash(Purpose::KnownClient, pin.client_identifier.as_str()),
            device_key: pin.jwk.as_deref().cloned(),
            token_expires_at: self.grant_token_expiry(&pin).await?,
            now,
            refund: settle.refund,
            logged: settle.logged,
        };
        if self.store.link_pin(&link).await?.is_none() {
            // Linked, denied or expired by someone else in the meantime.
            return Err(CoreError::PinNotFound);
        }
        crate::events::pin_linked();
        let linked = Arc::new(Pin {
            auth_token: Some(token),
            ..pin
        });
        self.live.put(linked.clone());
        self.waiters.wake(linked.id);
        tracing::info!(pin = %linked.id, account = account.id.0, "pin linked");
        Ok(linked)
    }
}

/// What a link settles in its own store step ([`PinLink::refund`],
/// [`PinLink::logged`]).
#[derive(Default)]
pub(super) struct LinkSettles {
    pub refund: Vec<i64>,
    pub logged: Option<SecurityEvent>,
}

impl Pinlink {
    /// When the token of a device grant's pin stops working: its
    /// application's access-token lifetime from now. Other pins' tokens
    /// work until revoked.
    async fn grant_token_expiry(&self, pin: &Pin) -> Result<Option<UnixTime>, CoreError> {
        let Some(grant) = &pin.grant else {
            return Ok(None);
        };
        let record = self
            .recent_application(&grant.application.id)
            .await?
            // Removed meanwhile: the link fails in the store.
            .ok_or(CoreError::PinNotFound)?;
        Ok(self.access_token_expiry(&record.application))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limit;
    use crate::service::testing::{core, core_with};
    use crate::{PinlinkSettings, RawDeviceInfo};

    fn address(text: &str) -> ClientAddress {
        ClientAddress::new(text.parse().expect("ip"))
    }

    fn request(client: &str, from: &str, strong: bool) -> NewPin {
        NewPin {
            strong,
            client_identifier: ClientIdentifier::parse(Some(client)).expect("client"),
            device: DeviceInfo::parse(RawDeviceInfo {
                product: Some("Test Player"),
                ..RawDeviceInfo::default()
            })
            .expect("device"),
            requester: address(from),
            jwk: None,
            grant: None,
        }
    }

    async fn account(core: &Pinlink) -> Account {
        core.add_account("alice", "alice@example.org", "correct horse".into())
            .await
            .expect("account")
    }

    /// The server-wide total holds when pins are asked for all at once and
    /// while the sweep recounts: never one more.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_total_of_live_pins_holds_when_pins_are_asked_for_at_once() {
        let mut settings = PinlinkSettings::default();
        settings.caps.total = 25;
        settings.caps.per_address = u32::MAX;
        settings.budgets.pins_per_address = Limit::OFF;
        settings.budgets.pins_per_client = Limit::OFF;
        let (core, _clock) = core_with(settings);
        let core = Arc::new(core);
        let asks = (0..200).map(|i| {
            let core = core.clone();
            tokio::spawn(async move {
                if i % 50 == 0 {
                    core.sweep().await.expect("sweep");
                }
                core.create_pin(request(
                    &format!("tv-{i}"),
                    &format!("198.51.100.{}", i % 250),
                    true,
                ))
                .await
            })
        });
        let answers = futures_util::future::join_all(asks).await;
        let created = answers.iter().filter(|a| matches!(a, Ok(Ok(_)))).count();
        let full = answers
            .iter()
            .filter(|a| matches!(a, Ok(Err(CoreError::AtCapacity { .. }))))
            .count();
        assert_eq!((created, full), (25, 175));
        core.sweep().await.expect("sweep");
        assert!(matches!(
            core.create_pin(request("late", "192.0.2.1", true)).await,
            Err(CoreError::AtCapacity { .. })
        ));
    }

    #[tokio::test]
    async fn new_pins_are_budgeted_per_address_and_per_client() {
        let (core, clock) = core();
        let budgets = core.settings().budgets;
        for _ in 0..budgets.pins_per_client.max {
            core.create_pin(request("tv", "192.0.2.1", true))
                .await
                .expect("within the client's budget");
        }
        let refused = core.create_pin(request("tv", "192.0.2.1", true)).await;
        assert!(
            matches!(refused, Err(CoreError::RateLimited { retry_after_secs }) if retry_after_secs > 0)
        );
        // The same identifier from elsewhere has a budget of its own.
        core.create_pin(request("tv", "192.0.2.2", true))
            .await
            .expect("another address");
        for i in 0..(budgets.pins_per_address.max) {
            core.create_pin(request(&format!("client-{i}"), "198.51.100.1", true))
                .await
                .expect("within the address's budget");
        }
        let refused = core
            .create_pin(request("another", "198.51.100.1", true))
            .await;
        assert!(matches!(refused, Err(CoreError::RateLimited { .. })));
        // The window passes: both may ask again.
        clock.advance(budgets.pins_per_address.window_secs);
        core.create_pin(request("tv", "198.51.100.1", false))
            .await
            .expect("budget back");
    }

    #[tokio::test]
    async fn live_pins_are_capped_per_address_and_link_codes_server_wide() {
        let mut settings = PinlinkSettings::default();
        settings.budgets.pins_per_address = Limit::OFF;
        settings.budgets.pins_per_client = Limit::OFF;
        settings.caps.per_address = 5;
        settings.caps.link_codes = 8;
        let (core, clock) = core_with(settings);
        for i in 0..5 {
            core.create_pin(request(&format!("c{i}"), "192.0.2.1", true))
                .await
                .expect("under the address cap");
        }
        let full = core.create_pin(request("c9", "192.0.2.1", true)).await;
        let Err(CoreError::RateLimited { retry_after_secs }) = full else {
            panic!("expected the address cap, got {full:?}");
        };
        assert_eq!(retry_after_secs, core.settings().strong_pin_lifetime_secs);
        for i in 0..8 {
            core.create_pin(request(&format!("d{i}"), &format!("198.51.100.{i}"), false))
                .await
                .expect("under the link-code cap");
        }
        let full = core.create_pin(request("e", "203.0.113.1", false)).await;
        assert!(
            matches!(full, Err(CoreError::AtCapacity { .. })),
            "{full:?}"
        );
        // Strong pins do not use the short code space.
        core.create_pin(request("e", "203.0.113.1", true))
            .await
            .expect("strong pins are not capped by link codes");
        clock.advance(core.settings().link_pin_lifetime_secs);
        core.create_pin(request("e", "203.0.113.1", false))
            .await
            .expect("the expired codes left room");
    }

    #[tokio::test]
    async fn wrong_codes_spend_the_budget_and_right_ones_do_not() {
        let (core, _clock) = core();
        let alice = account(&core).await;
        let here = address("192.0.2.1");
        let max = core.settings().budgets.link_per_account.max;
        let mut pins = Vec::new();
        for i in 0..(max + 2) {
            pins.push(
                core.create_pin(request(
                    &format!("tv{i}"),
                    &format!("198.51.100.{i}"),
                    false,
                ))
                .await
                .expect("pin"),
            );
        }
        // Right codes do not count, however many.
        for pin in &pins[..(max as usize + 1)] {
            core.approve_code(&alice, pin.code.as_str(), &here, Expect::ANY)
                .await
                .expect("right code");
        }
        let wrong = |i: usize| format!("{:04}", i).replace('0', "Z").replace('1', "Y");
        for i in 0..max as usize {
            let miss = core
                .approve_code(&alice, &wrong(i), &here, Expect::ANY)
                .await;
            assert!(matches!(miss, Err(CoreError::PinNotFound)), "{miss:?}");
        }
        let last = pins.last().expect("pin");
        let refused = core
            .approve_code(&alice, last.code.as_str(), &here, Expect::ANY)
            .await;
        assert!(
            matches!(refused, Err(CoreError::TooManyAttempts { .. })),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn an_approval_link_looks_up_only_strong_codes() {
        let (core, _clock) = core();
        let short = core
            .create_pin(request("tv", "192.0.2.1", false))
            .await
            .expect("pin");
        let strong = core
            .create_pin(request("app", "192.0.2.1", true))
            .await
            .expect("pin");
        // A live short code and a made-up one get the same answer.
        let live = core
            .pin_behind_approval_link(short.code.as_str(), "tv")
            .await;
        let dead = core.pin_behind_approval_link("ZZZZ", "tv").await;
        assert_eq!(format!("{live:?}"), format!("{dead:?}"));
        let found = core
            .pin_behind_approval_link(strong.code.as_str(), "app")
            .await
            .expect("strong code of that client");
        assert_eq!(found.id, strong.id);
        assert!(core
            .pin_behind_approval_link(strong.code.as_str(), "someone else")
            .await
            .is_err());
    }

    #[tokio::test]
    async fn polls_need_the_pins_own_client_and_deny_ends_the_pin() {
        let (core, _clock) = core();
        let alice = account(&core).await;
        let pin = core
            .create_pin(request("tv", "192.0.2.1", false))
            .await
            .expect("pin");
        let tv = ClientIdentifier::parse(Some("tv")).expect("id");
        let other = ClientIdentifier::parse(Some("other")).expect("id");
        core.poll_pin(pin.id, &tv).await.expect("own pin");
        assert!(matches!(
            core.poll_pin(pin.id, &other).await,
            Err(CoreError::PinNotFound)
        ));
        core.deny_code(
            &alice,
            pin.code.as_str(),
            &address("192.0.2.9"),
            Expect::ANY,
        )
        .await
        .expect("denied");
        assert!(matches!(
            core.poll_pin(pin.id, &tv).await,
            Err(CoreError::PinNotFound)
        ));
    }
}
