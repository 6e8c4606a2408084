//! Sessions: signing in with a password, resolving a token to its account
//! and device, signing out.
//!
//! The sign-in budget is built so that a stranger cannot lock the owner out
//! (ARCHITECTURE.md, "Budgets and the code space"): wrong passwords are
//! counted per account *and address*, so guessing from one place refuses
//! only that place; per address, whatever the account; and per account from
//! everywhere, but only for clients the account has not used before, and
//! even those are slowed to a trickle rather than shut out. A client the
//! account signed in or linked from before is never slowed by what others
//! do.

use crate::clock::UnixTime;
use crate::error::{CoreError, TwoStepTicket};
use crate::limits::{BudgetKeys, SignInSubject};
use crate::live_sessions::CachedSession;
use crate::model::{Account, AccountId, ClientAddress, ClientIdentifier, DeviceInfo, Session};
use crate::secrets::{constant_time_eq, verify_password, AuthToken, Password, Purpose};
use crate::security_log::EventKind;
use crate::store::{AccountRecord, TokenGrant};
use crate::two_step;

use super::security_log::Origin;
use super::{Pinlink, Refused, Ticket};

/// How the second factor of a sign-in was given.
pub(super) enum SecondFactor {
    /// The account has no two-step verification.
    None,
    Code,
    RecoveryCode,
}

/// Who asks to sign in, and from which device. `Debug` leaves out the login:
/// people type passwords into login fields.
#[derive(Clone)]
pub struct SignIn {
    pub login: String,
    pub password: Password,
    /// A two-step code (or recovery code), plex.tv's `verificationCode`:
    /// needed when the account has two-step verification on.
    pub verification_code: Option<String>,
    pub client_identifier: ClientIdentifier,
    pub device: DeviceInfo,
    pub from: ClientAddress,
}

/// How long `/login`'s second step may wait for the code.
const TICKET_SECS: i64 = 300;

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("login", &"<redacted>")
            .field("client_identifier", &self.client_identifier)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// The account a ticket names (not yet checked).
fn ticket_account(ticket: &TwoStepTicket) -> Option<AccountId> {
    Some(AccountId(ticket.0.split('.').next()?.parse().ok()?))
}

/// A password with a six-digit code appended (`password123456`): the two
/// parts, if it can be one.
fn split_appended_code(presented: &str) -> Option<(&str, &str)> {
    let split = presented.len().checked_sub(two_step::DIGITS)?;
    let (password, code) = (presented.get(..split)?, presented.get(split..)?);
    (!password.is_empty() && code.bytes().all(|b| b.is_ascii_digit())).then_some((password, code))
}

/// Logins longer than this match no account (usernames are at most 64
/// bytes, e-mail addresses 254) and are refused before any work.
const MAX_LOGIN_LEN: usize = 320;

impl Pinlink {
    /// Checks a login and password (and, when the account has two-step
    /// verification, its code); on success the signing-in device gets a
    /// new token. A login and its e-mail address are one account. A wrong
    /// password or a wrong code spends the same budgets.
    pub async fn sign_in(&self, request: SignIn) -> Result<(Account, AuthToken), CoreError> {
        let now = self.now();
        let login = request.login.trim().to_owned();
        if login.is_empty() || login.len() > MAX_LOGIN_LEN {
            return Err(CoreError::Unauthenticated);
        }
        let record = self.store.account_by_login(&login).await?;
        let subject = match &record {
            Some(r) => SignInSubject::Account(r.account.id.0),
            None => SignInSubject::UnknownLogin(&login),
        };
        let ticket = self
            .spend_sign_in_for(
                &subject,
                record.as_ref(),
                &request.client_identifier,
                &request.from,
                now,
            )
            .await?;

        // Budget reserved: now the expensive part.
        let stored_hash = record.as_ref().map(|r| r.password_hash.clone());
        let password = request.password.clone();
        let checked = self
            .hash_work(move || verify_password(&password, stored_hash.as_deref()))
            .await;
        let mut ok = match checked {
            Ok(ok) => ok,
            Err(e) => {
                // Not checked (too busy): the attempt does not count.
                self.refund(ticket).await;
                return Err(e);
            }
        };
        // plex.tv also takes the code appended to the password, for clients
        // without a code field (Tautulli tells its users to): tried only
        // for an account with two-step verification, sent no code, and
        // spending nothing more than the one attempt.
        let mut code = request.verification_code.clone();
        if !ok && code.is_none() {
            if let Some((password, appended)) = split_appended_code(request.password.expose()) {
                // Hashed whatever the account, so that the time taken does
                // not tell which accounts have two-step verification.
                let stored = record
                    .as_ref()
                    .filter(|r| r.two_step())
                    .map(|r| r.password_hash.clone());
                let possible = stored.is_some();
                let password = Password::presented(password.to_owned());
                let checked = self
                    .hash_work(move || verify_password(&password, stored.as_deref()))
                    .await;
                if possible && matches!(checked, Ok(true)) {
                    ok = true;
                    code = Some(appended.to_owned());
                }
            }
        }
        let origin = Origin::of(&request.from, &request.device);
        match record {
            Some(record) if ok => {
                self.after_password(record, ticket, &subject, code, request, origin)
                    .await
            }
            _ => {
                // The reservation stays: it is the failure's record.
                drop(ticket);
                crate::events::sign_in_failed();
                tracing::info!(from = %request.from, "sign-in failed");
                if let Some(record) = &record {
                    self.record(
                        record.account.id,
                        EventKind::SignInRefused,
                        &origin,
                        "wrong password",
                    )
                    .await;
                }
                Err(CoreError::Unauthenticated)
            }
        }
    }

    /// `/login`'s second step: the ticket its first step gave (the password
    /// was right) and the code. Spends the same budgets as a password.
    pub async fn sign_in_with_ticket(
        &self,
        ticket: &TwoStepTicket,
        code: &str,
        client_identifier: ClientIdentifier,
        device: DeviceInfo,
        from: ClientAddress,
    ) -> Result<(Account, AuthToken), CoreError> {
        let now = self.now();
        let account = ticket_account(ticket).ok_or(CoreError::Unauthenticated)?;
        let record = self
            .store
            .account_by_id(account)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        // Ours, live, for this client, and the account as it was: a ticket
        // dies when the password or two-step changes, and once a code was
        // accepted with it.
        if !record.two_step() || !self.check_ticket(ticket, &record, &client_identifier, now) {
            return Err(CoreError::Unauthenticated);
        }
        let subject = SignInSubject::Account(account.0);
        let spent = self
            .spend_sign_in_for(&subject, Some(&record), &client_identifier, &from, now)
            .await?;
        let origin = Origin::of(&from, &device);
        let request = SignIn {
            login: record.account.username.as_str().to_owned(),
            password: Password::presented(String::new()),
            verification_code: Some(code.to_owned()),
            client_identifier,
            device,
            from,
        };
        self.after_password(
            record,
            spent,
            &subject,
            request.verification_code.clone(),
            request,
            origin,
        )
        .await
    }

    /// Spends a sign-in attempt from the budgets that apply to this client.
    async fn spend_sign_in_for(
        &self,
        subject: &SignInSubject<'_>,
        record: Option<&AccountRecord>,
        client_identifier: &ClientIdentifier,
        from: &ClientAddress,
        now: UnixTime,
    ) -> Result<Ticket, CoreError> {
        let client = self
            .secrets
            .lookup_hash(Purpose::KnownClient, client_identifier.as_str());
        let familiar = match record {
            Some(r) => self.store.is_known_client(r.account.id, &client).await?,
            None => false,
        };
        self.spend_sign_in(subject, from, familiar, now)
            .await?
            .map_err(|refused| {
                crate::events::sign_in_locked_out();
                CoreError::SignInLockedOut {
                    retry_after_secs: refused.retry_after_secs,
                }
            })
    }

    /// The password was right: the account must be enabled, and with
    /// two-step verification the code must be right too; then the device
    /// gets its token.
    async fn after_password(
        &self,
        record: AccountRecord,
        ticket: Ticket,
        subject: &SignInSubject<'_>,
        code: Option<String>,
        request: SignIn,
        origin: Origin,
    ) -> Result<(Account, AuthToken), CoreError> {
        let now = self.now();
        let account = record.account.id;
        if record.disabled {
            self.refund(ticket).await;
            self.record(
                account,
                EventKind::SignInRefused,
                &origin,
                "the account is disabled",
            )
            .await;
            return Err(CoreError::AccountDisabled);
        }
        let second = if !record.two_step() {
            SecondFactor::None
        } else {
            let Some(code) = code else {
                // A normal step of a sign-in, not a failure: the client asks
                // for the code and comes back.
                self.refund(ticket).await;
                return Err(CoreError::VerificationCodeRequired {
                    ticket: self.issue_ticket(&record, &request.client_identifier, now),
                });
            };
            match self.check_second_factor(&record, &code).await {
                Ok(Some(second)) => second,
                Err(e) => {
                    // Not checked (the account's wrong codes are spent):
                    // no failure of the password's.
                    self.refund(ticket).await;
                    return Err(e);
                }
                Ok(None) => {
                    // The reservation stays: a wrong code counts like a
                    // wrong password.
                    drop(ticket);
                    crate::events::sign_in_failed();
                    self.record(
                        account,
                        EventKind::SignInRefused,
                        &origin,
                        "wrong verification code",
                    )
                    .await;
                    return Err(CoreError::VerificationCodeWrong);
                }
            }
        };
        self.refund(ticket).await;
        // The owner's typos from this address are forgiven.
        let pair = self.budget_keys().sign_in_pair(subject, &request.from);
        self.store.forgive(&pair).await?;
        let how = match second {
            SecondFactor::None => "with the password",
            SecondFactor::Code => "with the password and a verification code",
            SecondFactor::RecoveryCode => "with the password and a recovery code",
        };
        if matches!(second, SecondFactor::RecoveryCode) {
            let left = self.store.recovery_codes_left(account).await.unwrap_or(0);
            self.record(
                account,
                EventKind::RecoveryCodeUsed,
                &origin,
                format!("{left} left"),
            )
            .await;
        }
        self.grant_session(
            record.account,
            request.client_identifier,
            request.device,
            &origin,
            how,
        )
        .await
    }

    /// Gives the signing-in device a new token, and writes the sign-in in
    /// the account's log (`how` says with what).
    pub(super) async fn grant_session(
        &self,
        account: Account,
        client_identifier: ClientIdentifier,
        device: DeviceInfo,
        origin: &Origin,
        how: &str,
    ) -> Result<(Account, AuthToken), CoreError> {
        let token = AuthToken::generate();
        let grant = TokenGrant {
            account: account.id,
            known_client: self
                .secrets
                .lookup_hash(Purpose::KnownClient, client_identifier.as_str()),
            client_identifier,
            device,
            token: self.secrets.new_token(&token),
            now: self.now(),
        };
        self.store.grant_token(&grant).await?;
        self.record(account.id, EventKind::SignedIn, origin, how)
            .await;
        tracing::info!(account = account.id.0, "signed in");
        Ok((account, token))
    }

    /// Checks a second factor: a TOTP code of the account's secret, not
    /// used before (one step of skew either way), or one of its recovery
    /// codes (used up). `None` when it is neither. Wrong ones are counted
    /// per account, whatever the client or address
    /// ([`crate::Budgets::second_factor_per_account`]); past that,
    /// [`CoreError::SignInLockedOut`].
    pub(super) async fn check_second_factor(
        &self,
        record: &AccountRecord,
        code: &str,
    ) -> Result<Option<SecondFactor>, CoreError> {
        let spent = self
            .spend(
                &self.budget_keys().second_factor(record.account.id.0),
                self.now(),
            )
            .await?
            .map_err(|refused| {
                crate::events::sign_in_locked_out();
                CoreError::SignInLockedOut {
                    retry_after_secs: refused.retry_after_secs,
                }
            })?;
        let checked = self.second_factor_of(record, code).await;
        if matches!(checked, Ok(Some(_))) {
            self.refund(spent).await;
        }
        // A wrong code keeps its reservation: the record of the failure.
        checked
    }

    async fn second_factor_of(
        &self,
        record: &AccountRecord,
        code: &str,
    ) -> Result<Option<SecondFactor>, CoreError> {
        let account = record.account.id;
        if two_step::looks_like_totp_code(code) {
            let Some(sealed) = &record.totp_sealed else {
                return Ok(None);
            };
            let secret =
                two_step::TotpSecret::from_base32(&self.secrets.open(Purpose::TwoStep, sealed)?)?;
            let Some(step) = secret.step_of(code, self.now()) else {
                return Ok(None);
            };
            return Ok(self
                .store
                .accept_totp_step(account, step)
                .await?
                .then_some(SecondFactor::Code));
        }
        let Some(normal) = two_step::normal_recovery_code(code) else {
            return Ok(None);
        };
        let hash = self.secrets.lookup_hash(Purpose::RecoveryCode, &normal);
        Ok(self
            .store
            .use_recovery_code(account, &hash)
            .await?
            .then_some(SecondFactor::RecoveryCode))
    }

    /// The ticket's MAC: over the account, the expiry, the client, and
    /// what the account's sign-in rests on (its password hash, two-step
    /// secret and last accepted code's step).
    fn ticket_mac(
        &self,
        record: &AccountRecord,
        expires: i64,
        client: &ClientIdentifier,
    ) -> String {
        let secret = record
            .totp_sealed
            .as_deref()
            .map(|sealed| {
                sealed
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            })
            .unwrap_or_default();
        let mac = self.secrets.lookup_hash(
            Purpose::SignInTicket,
            &[
                record.account.id.0.to_string(),
                expires.to_string(),
                client.as_str().to_owned(),
                record.password_hash.clone(),
                secret,
                record.totp_last_step.to_string(),
            ]
            .join("\u{0}"),
        );
        mac.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn issue_ticket(
        &self,
        record: &AccountRecord,
        client: &ClientIdentifier,
        now: UnixTime,
    ) -> TwoStepTicket {
        let expires = now.0 + TICKET_SECS;
        TwoStepTicket(format!(
            "{}.{expires}.{}",
            record.account.id.0,
            self.ticket_mac(record, expires, client)
        ))
    }

    /// Whether a ticket is ours, live, for this client, and made for the
    /// account as it is now.
    fn check_ticket(
        &self,
        ticket: &TwoStepTicket,
        record: &AccountRecord,
        client: &ClientIdentifier,
        now: UnixTime,
    ) -> bool {
        let mut parts = ticket.0.splitn(3, '.');
        let (Some(account), Some(expires), Some(mac)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(expires) = expires.parse::<i64>() else {
            return false;
        };
        account == record.account.id.0.to_string()
            && expires > now.0
            && constant_time_eq(mac, &self.ticket_mac(record, expires, client))
    }

    /// Reserves one failure from the sign-in budgets that apply.
    async fn spend_sign_in(
        &self,
        subject: &SignInSubject<'_>,
        from: &ClientAddress,
        familiar: bool,
        now: UnixTime,
    ) -> Result<Result<Ticket, Refused>, CoreError> {
        let keys = self.budget_keys();
        if familiar {
            return self.spend(&keys.sign_in_familiar(subject, from), now).await;
        }
        match self
            .spend(&keys.sign_in_unfamiliar(subject, from), now)
            .await?
        {
            // The account is under attack from elsewhere: this unfamiliar
            // client may still try, at the trickle's pace.
            Err(Refused { index, .. }) if index == BudgetKeys::ACCOUNT_WIDE => {
                self.spend(&keys.sign_in_trickle(subject, from), now).await
            }
            other => Ok(other),
        }
    }

    /// Resolves an `X-Plex-Token` to the account and device holding it:
    /// from memory when it was resolved before ([`crate::live_sessions`]).
    pub async fn authenticate(&self, presented: &str) -> Result<Session, CoreError> {
        // A Plex JWT (about 700 characters; bounded well above that).
        if crate::plex_jwt::looks_like_jwt(presented) && presented.len() <= 4096 {
            return self.authenticate_jwt(presented).await;
        }
        if presented.is_empty() || presented.len() > 512 {
            return Err(CoreError::Unauthenticated);
        }
        let hash = self.secrets.lookup_hash(Purpose::Token, presented);
        // An operator's command may have changed accounts or tokens.
        self.notice_outside_changes();
        let (found, application) = match self.sessions.get(&hash) {
            Some(kept) => (kept, None),
            None => {
                let epoch = self.sessions.epoch();
                let record = self
                    .store
                    .session_by_token(&hash)
                    .await?
                    .ok_or(CoreError::Unauthenticated)?;
                // A device grant's access token that ran out (its
                // application's lifetime) works no more: refresh it.
                if record.token_expires_at.is_some_and(|at| at <= self.now()) {
                    return Err(CoreError::Unauthenticated);
                }
                let expires = record.token_expires_at.is_some();
                let application = record.application;
                let found = CachedSession {
                    account: record.account,
                    device: record.device,
                    client_identifier: record.client_identifier,
                    last_seen_at: record.last_seen_at,
                };
                // `pinlink client remove` (another process) removes an
                // application's devices: their tokens are always read from
                // the store, so that they stop working at once; so are
                // tokens that expire (the cache knows no expiry).
                if application.is_none() && !expires {
                    self.sessions
                        .put_if_unchanged(hash.clone(), found.clone(), epoch);
                }
                (found, application)
            }
        };
        let now = self.now();
        if found.last_seen_at.secs_until(now) >= self.settings.last_seen_resolution_secs {
            self.store.touch_device(found.device, now).await?;
            self.sessions.touched(&hash, now);
        }
        Ok(Session {
            account: found.account,
            device_id: found.device,
            client_identifier: found.client_identifier,
            token: AuthToken::from_presented(presented.to_owned()),
            application,
        })
    }

    /// Ends a session: its token stops working at once.
    /// A Plex JWT cannot be withdrawn alone (a refresh would make another):
    /// signing out with one removes its device, and with it the device's
    /// key, its JWTs and its other tokens.
    pub async fn sign_out(&self, session: &Session) -> Result<(), CoreError> {
        if crate::plex_jwt::looks_like_jwt(session.token.expose()) {
            return match self
                .revoke_device(&session.account, session.device_id)
                .await
            {
                Ok(()) | Err(CoreError::DeviceNotFound) => Ok(()),
                Err(e) => Err(e),
            };
        }
        let hash = self
            .secrets
            .lookup_hash(Purpose::Token, session.token.expose());
        let revoked = self.store.revoke_token(&hash).await;
        // Forgotten even if the store failed: it may have committed.
        self.sessions.forget_token(&hash);
        revoked?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::core;
    use crate::RawDeviceInfo;

    const PASSWORD: &str = "correct horse";

    fn attempt(login: &str, password: &str, client: &str, from: &str) -> SignIn {
        SignIn {
            login: login.into(),
            password: Password::presented(password.into()),
            verification_code: None,
            client_identifier: ClientIdentifier::parse(Some(client)).expect("client"),
            device: DeviceInfo::parse(RawDeviceInfo {
                product: Some("Test"),
                ..RawDeviceInfo::default()
            })
            .expect("device"),
            from: ClientAddress::new(from.parse().expect("ip")),
        }
    }

    async fn with_alice() -> (Pinlink, crate::FakeClock) {
        let (core, clock) = core();
        core.add_account("alice", "alice@example.org", PASSWORD.into())
            .await
            .expect("account");
        (core, clock)
    }

    #[tokio::test]
    async fn a_stranger_guessing_from_one_address_is_refused_but_the_owner_is_not() {
        let (core, _clock) = with_alice().await;
        let per_pair = core.settings().budgets.sign_in_per_account_and_address.max;
        for _ in 0..per_pair {
            let miss = core
                .sign_in(attempt("alice", "guess", "x", "203.0.113.5"))
                .await;
            assert!(matches!(miss, Err(CoreError::Unauthenticated)));
        }
        let refused = core
            .sign_in(attempt("alice", PASSWORD, "x", "203.0.113.5"))
            .await;
        assert!(
            matches!(refused, Err(CoreError::SignInLockedOut { .. })),
            "{refused:?}"
        );
        core.sign_in(attempt("alice", PASSWORD, "laptop", "192.0.2.10"))
            .await
            .expect("the owner, elsewhere, is not locked out");
    }

    #[tokio::test]
    async fn a_login_and_its_email_are_one_account() {
        let (core, _clock) = with_alice().await;
        let per_pair = core.settings().budgets.sign_in_per_account_and_address.max;
        for i in 0..per_pair {
            let login = if i % 2 == 0 {
                "alice"
            } else {
                "ALICE@example.org"
            };
            let _ = core
                .sign_in(attempt(login, "guess", "x", "203.0.113.5"))
                .await;
        }
        let refused = core
            .sign_in(attempt("alice@example.org", PASSWORD, "x", "203.0.113.5"))
            .await;
        assert!(
            matches!(refused, Err(CoreError::SignInLockedOut { .. })),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn guessing_from_many_addresses_slows_strangers_but_not_known_clients() {
        let (core, clock) = with_alice().await;
        // The owner's phone signed in once: a known client from now on.
        core.sign_in(attempt("alice", PASSWORD, "phone", "192.0.2.10"))
            .await
            .expect("first sign-in");
        let budgets = core.settings().budgets;
        let mut spent = 0;
        let mut address = 0;
        while spent < budgets.sign_in_per_account.max {
            address += 1;
            let _ = core
                .sign_in(attempt(
                    "alice",
                    "guess",
                    "bot",
                    &format!("198.51.100.{address}"),
                ))
                .await;
            spent += 1;
        }
        // A new client from a fresh address is now slowed to the trickle:
        // one attempt goes through, the next waits for the trickle's window.
        let first = core
            .sign_in(attempt("alice", "guess", "bot", "203.0.113.1"))
            .await;
        assert!(
            matches!(first, Err(CoreError::Unauthenticated)),
            "{first:?}"
        );
        let slowed = core
            .sign_in(attempt("alice", PASSWORD, "new-tv", "203.0.113.2"))
            .await;
        let Err(CoreError::SignInLockedOut { retry_after_secs }) = slowed else {
            panic!("expected the trickle, got {slowed:?}");
        };
        assert!(retry_after_secs <= budgets.sign_in_trickle.window_secs);
        // The owner's known phone is not slowed at all.
        core.sign_in(attempt("alice", PASSWORD, "phone", "192.0.2.99"))
            .await
            .expect("a known client signs in");
        // After the trickle's window, a new client of the owner gets its turn.
        clock.advance(budgets.sign_in_trickle.window_secs);
        core.sign_in(attempt("alice", PASSWORD, "new-tv", "203.0.113.2"))
            .await
            .expect("slowed, not shut out");
    }

    #[tokio::test]
    async fn a_right_password_forgives_that_addresss_typos() {
        let (core, _clock) = with_alice().await;
        let per_pair = core.settings().budgets.sign_in_per_account_and_address.max;
        for _ in 0..per_pair - 1 {
            let _ = core
                .sign_in(attempt("alice", "typo", "laptop", "192.0.2.10"))
                .await;
        }
        core.sign_in(attempt("alice", PASSWORD, "laptop", "192.0.2.10"))
            .await
            .expect("right at last");
        for _ in 0..per_pair - 1 {
            let _ = core
                .sign_in(attempt("alice", "typo", "laptop", "192.0.2.10"))
                .await;
        }
        core.sign_in(attempt("alice", PASSWORD, "laptop", "192.0.2.10"))
            .await
            .expect("the earlier typos were forgiven");
    }

    #[tokio::test]
    async fn sign_ins_beyond_the_hashing_slots_are_told_to_come_back() {
        let settings = crate::PinlinkSettings {
            password_checks_at_once: 1,
            password_wait: std::time::Duration::ZERO,
            ..crate::PinlinkSettings::default()
        };
        let (core, _clock) = crate::service::testing::core_with(settings);
        let attempts =
            (0..8).map(|i| core.sign_in(attempt("nobody", "guess", "x", &format!("192.0.2.{i}"))));
        let answers = futures_util::future::join_all(attempts).await;
        let busy = answers
            .iter()
            .filter(|a| matches!(a, Err(CoreError::Busy { .. })))
            .count();
        assert!(busy >= 1, "{answers:?}");
        // Every attempt was either checked or told to come back.
        let checked = answers
            .iter()
            .filter(|a| matches!(a, Err(CoreError::Unauthenticated)))
            .count();
        assert_eq!(busy + checked, 8);
    }

    #[tokio::test]
    async fn tokens_authenticate_until_signed_out() {
        let (core, _clock) = with_alice().await;
        let (_, token) = core
            .sign_in(attempt("alice", PASSWORD, "laptop", "192.0.2.10"))
            .await
            .expect("signed in");
        let session = core.authenticate(token.expose()).await.expect("valid");
        assert_eq!(session.account.username.as_str(), "alice");
        // Kept in memory: the next check reads no store.
        assert_eq!(core.sessions_cached(), 1);
        core.authenticate(token.expose())
            .await
            .expect("still valid");
        core.sign_out(&session).await.expect("signed out");
        assert_eq!(core.sessions_cached(), 0);
        assert!(matches!(
            core.authenticate(token.expose()).await,
            Err(CoreError::Unauthenticated)
        ));
        assert!(core.authenticate("").await.is_err());
        assert!(core.authenticate(&"x".repeat(600)).await.is_err());
    }
}
