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
use crate::error::CoreError;
use crate::limits::{BudgetKeys, SignInSubject};
use crate::live_sessions::CachedSession;
use crate::model::{Account, ClientAddress, ClientIdentifier, DeviceInfo, Session};
use crate::secrets::{verify_password, AuthToken, Password, Purpose};
use crate::store::TokenGrant;

use super::{Pinlink, Refused, Ticket};

/// Who asks to sign in, and from which device. `Debug` leaves out the login:
/// people type passwords into login fields.
#[derive(Clone)]
pub struct SignIn {
    pub login: String,
    pub password: Password,
    pub client_identifier: ClientIdentifier,
    pub device: DeviceInfo,
    pub from: ClientAddress,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("login", &"<redacted>")
            .field("client_identifier", &self.client_identifier)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// Logins longer than this match no account (usernames are at most 64
/// bytes, e-mail addresses 254) and are refused before any work.
const MAX_LOGIN_LEN: usize = 320;

impl Pinlink {
    /// Checks a login and password; on success the signing-in device gets a
    /// new token. A login and its e-mail address are one account.
    pub async fn sign_in(&self, request: SignIn) -> Result<(Account, AuthToken), CoreError> {
        let now = self.now();
        let login = request.login.trim();
        if login.is_empty() || login.len() > MAX_LOGIN_LEN {
            return Err(CoreError::Unauthenticated);
        }
        let record = self.store.account_by_login(login).await?;
        let subject = match &record {
            Some(r) => SignInSubject::Account(r.account.id.0),
            None => SignInSubject::UnknownLogin(login),
        };
        let client = self
            .secrets
            .lookup_hash(Purpose::KnownClient, request.client_identifier.as_str());
        let familiar = match &record {
            Some(r) => self.store.is_known_client(r.account.id, &client).await?,
            None => false,
        };
        let ticket = self
            .spend_sign_in(&subject, &request.from, familiar, now)
            .await?
            .map_err(|refused| {
                crate::events::sign_in_locked_out();
                CoreError::SignInLockedOut {
                    retry_after_secs: refused.retry_after_secs,
                }
            })?;

        // Budget reserved: now the expensive part.
        let stored_hash = record.as_ref().map(|r| r.password_hash.clone());
        let password = request.password;
        let checked = self
            .hash_work(move || verify_password(&password, stored_hash.as_deref()))
            .await;
        let ok = match checked {
            Ok(ok) => ok,
            Err(e) => {
                // Not checked (too busy): the attempt does not count.
                self.refund(ticket).await;
                return Err(e);
            }
        };
        match record {
            Some(record) if ok => {
                self.refund(ticket).await;
                // The owner's typos from this address are forgiven.
                let pair = self.budget_keys().sign_in_pair(&subject, &request.from);
                self.store.forgive(&pair).await?;
                let token = AuthToken::generate();
                let grant = TokenGrant {
                    account: record.account.id,
                    client_identifier: request.client_identifier,
                    device: request.device,
                    token: self.secrets.new_token(&token),
                    known_client: client,
                    now,
                };
                self.store.grant_token(&grant).await?;
                tracing::info!(account = record.account.id.0, "signed in");
                Ok((record.account, token))
            }
            _ => {
                // The reservation stays: it is the failure's record.
                drop(ticket);
                crate::events::sign_in_failed();
                tracing::info!(from = %request.from, "sign-in failed");
                Err(CoreError::Unauthenticated)
            }
        }
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
        let (found, application) = match self.sessions.get(&hash) {
            Some(kept) => (kept, None),
            None => {
                let epoch = self.sessions.epoch();
                let record = self
                    .store
                    .session_by_token(&hash)
                    .await?
                    .ok_or(CoreError::Unauthenticated)?;
                let application = record.application;
                let found = CachedSession {
                    account: record.account,
                    device: record.device,
                    client_identifier: record.client_identifier,
                    last_seen_at: record.last_seen_at,
                };
                // `pinlink client remove` (another process) removes an
                // application's devices: their tokens are always read from
                // the store, so that they stop working at once.
                if application.is_none() {
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
