//! What a signed-in person changes of their own account (the account
//! page): the password, the e-mail, two-step verification and its recovery
//! codes, removing the account; and setting a new password from an
//! operator's reset link. Each change that needs it is proved with the
//! current password (and the two-step code where the change is about the
//! second factor or removes the account), spending the same budgets as a
//! sign-in, and is written in the account's security log in the same
//! step as the change.

use crate::error::CoreError;
use crate::limits::SignInSubject;
use crate::model::{Account, AccountId, ClientAddress, DeviceId, Email, Session};
use crate::secrets::{hash_password, verify_password, Password, Purpose};
use crate::security_log::EventKind;
use crate::store::{AccountChange, AccountRecord, SignOut, StoreError};
use crate::two_step::{self, TotpSecret};

use super::security_log::Origin;
use super::Pinlink;

/// What the account page shows of an account's protection.
#[derive(Debug, Clone)]
pub struct AccountSecurity {
    pub two_step: bool,
    /// A secret shown for enrollment, not confirmed yet.
    pub enrolling: Option<TwoStepEnrollment>,
    pub recovery_codes_left: u32,
}

/// A two-step secret being enrolled: as text and as the `otpauth://` URI
/// the QR code holds.
#[derive(Clone)]
pub struct TwoStepEnrollment {
    pub secret: String,
    pub uri: String,
}

impl std::fmt::Debug for TwoStepEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TwoStepEnrollment(<redacted>)")
    }
}

/// How long an operator's reset link works.
pub const RESET_LINK_HOURS: i64 = 24;

impl Pinlink {
    /// The account as stored, or `Unauthenticated` if it went meanwhile.
    async fn own_record(&self, account: &Account) -> Result<AccountRecord, CoreError> {
        self.store
            .account_by_id(account.id)
            .await?
            .ok_or(CoreError::Unauthenticated)
    }

    /// Checks the account's password (and, when `with_code` and two-step is
    /// on, its code) for a change the person asked for, spending the
    /// sign-in budgets of this address like a sign-in: refunded when right.
    async fn prove(
        &self,
        record: &AccountRecord,
        password: Password,
        code: Option<&str>,
        with_code: bool,
        from: &ClientAddress,
    ) -> Result<(), CoreError> {
        let now = self.now();
        let subject = SignInSubject::Account(record.account.id.0);
        let keys = self.budget_keys();
        let ticket = self
            .spend(&keys.sign_in_familiar(&subject, from), now)
            .await?
            .map_err(|refused| CoreError::SignInLockedOut {
                retry_after_secs: refused.retry_after_secs,
            })?;
        let stored = record.password_hash.clone();
        let right = match self
            .hash_work(move || verify_password(&password, Some(&stored)))
            .await
        {
            Ok(right) => right,
            Err(e) => {
                self.refund(ticket).await;
                return Err(e);
            }
        };
        if !right {
            drop(ticket);
            return Err(CoreError::Unauthenticated);
        }
        if with_code && record.two_step() {
            let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
                self.refund(ticket).await;
                return Err(CoreError::VerificationCodeRequired {
                    ticket: super::TwoStepTicket::presented(String::new()),
                });
            };
            match self.check_second_factor(record, code).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    drop(ticket);
                    return Err(CoreError::VerificationCodeWrong);
                }
                Err(e) => {
                    self.refund(ticket).await;
                    return Err(e);
                }
            }
        }
        self.refund(ticket).await;
        Ok(())
    }

    /// Makes a change with its log entry; the devices it signed out lose
    /// what this process keeps of them at once.
    async fn change(
        &self,
        account: AccountId,
        change: AccountChange,
        kind: EventKind,
        origin: &Origin,
        detail: &str,
    ) -> Result<Vec<DeviceId>, CoreError> {
        let event = self.event(account, kind, origin, detail);
        let changed = self
            .store
            .change_account(account, &change, Some(&event))
            .await;
        // The account's kept sessions are read again (its e-mail or state
        // may have changed), even if the store failed: it may have
        // committed.
        self.sessions.forget_account(account);
        let gone = changed
            .map_err(|e| match e {
                StoreError::Conflict(what) => CoreError::AccountExists(what),
                other => other.into(),
            })?
            .ok_or(CoreError::Unauthenticated)?;
        self.sessions.forget_devices(&gone);
        self.announce_change();
        Ok(gone)
    }

    /// What the account page shows of the account's protection.
    pub async fn account_security(&self, account: &Account) -> Result<AccountSecurity, CoreError> {
        let record = self.own_record(account).await?;
        let enrolling = match &record.totp_pending_sealed {
            Some(sealed) if !record.two_step() => Some(self.enrollment(&record, sealed)?),
            _ => None,
        };
        Ok(AccountSecurity {
            two_step: record.two_step(),
            enrolling,
            recovery_codes_left: self.store.recovery_codes_left(account.id).await?,
        })
    }

    fn enrollment(
        &self,
        record: &AccountRecord,
        sealed: &[u8],
    ) -> Result<TwoStepEnrollment, CoreError> {
        let secret = TotpSecret::from_base32(&self.secrets.open(Purpose::TwoStep, sealed)?)?;
        Ok(TwoStepEnrollment {
            uri: secret.otpauth_uri(record.account.username.as_str())?,
            secret: secret.to_base32(),
        })
    }

    /// A new password, proved with the current one. With `sign_out_others`
    /// every other session and device of the account loses its token at
    /// once (on every instance: the tokens are gone from the store).
    pub async fn change_password(
        &self,
        session: &Session,
        current: Password,
        new: String,
        sign_out_others: bool,
        from: &ClientAddress,
        origin: &Origin,
    ) -> Result<(), CoreError> {
        let record = self.own_record(&session.account).await?;
        let new = Password::new_for_account(new)?;
        self.prove(&record, current, None, false, from).await?;
        let hash = self.hash_work(move || hash_password(&new)).await??;
        let sign_out = if sign_out_others {
            SignOut::AllBut(session.device_id)
        } else {
            SignOut::Nobody
        };
        let gone = self
            .change(
                record.account.id,
                AccountChange::Password { hash, sign_out },
                EventKind::PasswordChanged,
                origin,
                "",
            )
            .await?;
        if !gone.is_empty() {
            self.record(
                record.account.id,
                EventKind::SignedOutElsewhere,
                origin,
                format!("{} devices and browsers", gone.len()),
            )
            .await;
        }
        Ok(())
    }

    /// A new e-mail address, proved with the password.
    pub async fn change_email(
        &self,
        session: &Session,
        password: Password,
        email: &str,
        from: &ClientAddress,
        origin: &Origin,
    ) -> Result<(), CoreError> {
        let record = self.own_record(&session.account).await?;
        let email = Email::parse(email)?;
        self.prove(&record, password, None, false, from).await?;
        self.change(
            record.account.id,
            AccountChange::Email(email.as_str().to_owned()),
            EventKind::EmailChanged,
            origin,
            email.as_str(),
        )
        .await
        .map(drop)
    }

    /// Starts turning two-step verification on: a new secret, kept sealed
    /// until a code from it confirms it ([`Pinlink::confirm_two_step`]).
    pub async fn begin_two_step(&self, session: &Session) -> Result<TwoStepEnrollment, CoreError> {
        let record = self.own_record(&session.account).await?;
        if record.two_step() {
            return Err(CoreError::InvalidInput(
                "two-step verification is on already".into(),
            ));
        }
        let secret = TotpSecret::generate();
        let sealed = self.secrets.seal(Purpose::TwoStep, &secret.to_base32());
        self.store
            .change_account(
                record.account.id,
                &AccountChange::EnrollTwoStep {
                    pending_sealed: sealed.clone(),
                },
                None,
            )
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        self.enrollment(&record, &sealed)
    }

    /// Turns two-step verification on with a code of the secret being
    /// enrolled; returns the ten recovery codes, shown only now.
    pub async fn confirm_two_step(
        &self,
        session: &Session,
        code: &str,
        origin: &Origin,
    ) -> Result<Vec<String>, CoreError> {
        let record = self.own_record(&session.account).await?;
        let Some(sealed) = record
            .totp_pending_sealed
            .as_ref()
            .filter(|_| !record.two_step())
        else {
            return Err(CoreError::InvalidInput(
                "start turning two-step verification on first".into(),
            ));
        };
        let secret = TotpSecret::from_base32(&self.secrets.open(Purpose::TwoStep, sealed)?)?;
        let step = secret
            .step_of(code, self.now())
            .ok_or(CoreError::VerificationCodeWrong)?;
        let codes = two_step::new_recovery_codes();
        self.change(
            record.account.id,
            AccountChange::ConfirmTwoStep {
                secret_sealed: sealed.clone(),
                step,
                recovery_codes: self.recovery_hashes(&codes),
            },
            EventKind::TwoStepOn,
            origin,
            "",
        )
        .await?;
        Ok(codes)
    }

    /// Two-step verification on with a known secret (test mode's
    /// `totp_secret`), without recovery codes.
    pub async fn set_two_step_secret(
        &self,
        account: &Account,
        secret: &TotpSecret,
    ) -> Result<(), CoreError> {
        let sealed = self.secrets.seal(Purpose::TwoStep, &secret.to_base32());
        self.change(
            account.id,
            AccountChange::ConfirmTwoStep {
                secret_sealed: sealed,
                step: 0,
                recovery_codes: Vec::new(),
            },
            EventKind::TwoStepOn,
            &Origin::operator(),
            "test mode",
        )
        .await
        .map(drop)
    }

    fn recovery_hashes(&self, codes: &[String]) -> Vec<crate::secrets::LookupHash> {
        codes
            .iter()
            .filter_map(|code| two_step::normal_recovery_code(code))
            .map(|normal| self.secrets.lookup_hash(Purpose::RecoveryCode, &normal))
            .collect()
    }

    /// Turns two-step verification off, proved with the password and a
    /// code (or a recovery code).
    pub async fn stop_two_step(
        &self,
        session: &Session,
        password: Password,
        code: &str,
        from: &ClientAddress,
        origin: &Origin,
    ) -> Result<(), CoreError> {
        let record = self.own_record(&session.account).await?;
        if !record.two_step() {
            return Ok(());
        }
        self.prove(&record, password, Some(code), true, from)
            .await?;
        self.change(
            record.account.id,
            AccountChange::StopTwoStep,
            EventKind::TwoStepOff,
            origin,
            "",
        )
        .await
        .map(drop)
    }

    /// Ten new recovery codes in place of the old ones, proved with the
    /// password; shown only now.
    pub async fn renew_recovery_codes(
        &self,
        session: &Session,
        password: Password,
        from: &ClientAddress,
        origin: &Origin,
    ) -> Result<Vec<String>, CoreError> {
        let record = self.own_record(&session.account).await?;
        if !record.two_step() {
            return Err(CoreError::InvalidInput(
                "recovery codes come with two-step verification".into(),
            ));
        }
        self.prove(&record, password, None, false, from).await?;
        let codes = two_step::new_recovery_codes();
        self.change(
            record.account.id,
            AccountChange::RecoveryCodes(self.recovery_hashes(&codes)),
            EventKind::RecoveryCodesRenewed,
            origin,
            "",
        )
        .await?;
        Ok(codes)
    }

    /// Removes the person's own account, proved with the password (and the
    /// code when two-step is on): every device, token, pin and log entry
    /// of it goes at once.
    pub async fn delete_own_account(
        &self,
        session: &Session,
        password: Password,
        code: Option<&str>,
        from: &ClientAddress,
    ) -> Result<(), CoreError> {
        let record = self.own_record(&session.account).await?;
        self.prove(&record, password, code, true, from).await?;
        self.delete_account(&record.account).await
    }

    /// Removes an account and everything of it, here and (through the
    /// store) on every instance.
    pub(super) async fn delete_account(&self, account: &Account) -> Result<(), CoreError> {
        let deleted = self.store.delete_account(account.id).await;
        self.sessions.forget_account(account.id);
        let pins = deleted?.ok_or(CoreError::Unauthenticated)?;
        for pin in pins {
            self.live.forget(pin);
            self.waiters.wake(pin);
        }
        self.announce_change();
        tracing::info!(account = account.id.0, "account removed");
        Ok(())
    }

    /// The account an operator's reset link is for, while it is live, and
    /// whether using it turns two-step verification (and passkeys) off.
    pub async fn password_reset_account(
        &self,
        token: &str,
    ) -> Result<Option<(Account, bool)>, CoreError> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let hash = self.secrets.lookup_hash(Purpose::PasswordReset, token);
        let Some(reset) = self.store.password_reset(&hash, self.now()).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .account_by_id(reset.account)
            .await?
            .map(|r| (r.account, reset.drop_two_step)))
    }

    /// Sets a new password from an operator's reset link (used up): every
    /// device and browser of the account is signed out, and two-step
    /// verification goes too if the link says so.
    pub async fn complete_password_reset(
        &self,
        token: &str,
        new: String,
        origin: &Origin,
    ) -> Result<Account, CoreError> {
        let new = Password::new_for_account(new)?;
        let (account, _) = self
            .password_reset_account(token)
            .await?
            .ok_or(CoreError::PinNotFound)?;
        let hash = self.hash_work(move || hash_password(&new)).await??;
        let reset = self.secrets.lookup_hash(Purpose::PasswordReset, token);
        let event = self.event(
            account.id,
            EventKind::PasswordReset,
            origin,
            "from a reset link",
        );
        let completed = self
            .store
            .complete_password_reset(&reset, &hash, &event)
            .await;
        self.sessions.forget_account(account.id);
        let (_, gone) = completed?.ok_or(CoreError::PinNotFound)?;
        self.sessions.forget_devices(&gone);
        self.announce_change();
        Ok(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::core;
    use crate::{ClientIdentifier, DeviceInfo, RawDeviceInfo, SignIn, TwoStepTicket};

    const PASSWORD: &str = "correct horse";

    fn here() -> ClientAddress {
        ClientAddress::new("192.0.2.1".parse().expect("ip"))
    }

    fn sign_in(login: &str, password: &str, code: Option<String>, client: &str) -> SignIn {
        SignIn {
            login: login.into(),
            password: Password::presented(password.into()),
            verification_code: code,
            client_identifier: ClientIdentifier::parse(Some(client)).expect("client"),
            device: DeviceInfo::parse(RawDeviceInfo {
                product: Some("Test"),
                ..RawDeviceInfo::default()
            })
            .expect("device"),
            from: here(),
        }
    }

    #[tokio::test]
    async fn two_step_is_enrolled_with_a_code_and_then_asked_for_at_every_sign_in() {
        let (core, clock) = core();
        core.add_account("alice", "alice@example.org", PASSWORD.into())
            .await
            .expect("account");
        let (_, token) = core
            .sign_in(sign_in("alice", PASSWORD, None, "laptop"))
            .await
            .expect("signed in");
        let session = core.authenticate(token.expose()).await.expect("session");
        let origin = Origin::of(
            &here(),
            &DeviceInfo::parse(RawDeviceInfo {
                product: Some("pinlink web"),
                ..RawDeviceInfo::default()
            })
            .expect("device"),
        );
        let enrollment = core.begin_two_step(&session).await.expect("enrolling");
        let secret = TotpSecret::from_base32(&enrollment.secret).expect("secret");
        assert!(matches!(
            core.confirm_two_step(&session, "000000", &origin).await,
            Err(CoreError::VerificationCodeWrong)
        ));
        let codes = core
            .confirm_two_step(&session, &secret.code_at(core.now()), &origin)
            .await
            .expect("on");
        assert_eq!(codes.len(), 10);

        // No code: 1029, with a ticket; a wrong code: refused.
        assert!(matches!(
            core.sign_in(sign_in("alice", PASSWORD, None, "phone"))
                .await,
            Err(CoreError::VerificationCodeRequired { .. })
        ));
        assert!(matches!(
            core.sign_in(sign_in("alice", PASSWORD, Some("123456".into()), "phone"))
                .await,
            Err(CoreError::VerificationCodeWrong)
        ));
        // The code that confirmed enrollment is used: the next step's works,
        // once.
        clock.advance(30);
        let code = secret.code_at(core.now());
        core.sign_in(sign_in("alice", PASSWORD, Some(code.clone()), "phone"))
            .await
            .expect("with the code");
        assert!(matches!(
            core.sign_in(sign_in("alice", PASSWORD, Some(code.clone()), "tv"))
                .await,
            Err(CoreError::VerificationCodeWrong)
        ));
        // The code appended to the password, as plex.tv takes it.
        clock.advance(30);
        let appended = format!("{PASSWORD}{}", secret.code_at(core.now()));
        core.sign_in(sign_in("alice", &appended, None, "tautulli"))
            .await
            .expect("code appended");
        // A recovery code, once.
        core.sign_in(sign_in(
            "alice",
            PASSWORD,
            Some(codes[0].to_uppercase()),
            "tv",
        ))
        .await
        .expect("recovery code");
        assert!(matches!(
            core.sign_in(sign_in("alice", PASSWORD, Some(codes[0].clone()), "tv"))
                .await,
            Err(CoreError::VerificationCodeWrong)
        ));
        let security = core
            .account_security(&session.account)
            .await
            .expect("security");
        assert!(security.two_step);
        assert_eq!(security.recovery_codes_left, 9);
        // The log has it all, newest first, and no secret.
        let log = core
            .security_log(&session.account, None)
            .await
            .expect("log");
        let kinds: Vec<EventKind> = log.iter().map(|e| e.event.kind).collect();
        assert!(kinds.contains(&EventKind::TwoStepOn));
        assert!(kinds.contains(&EventKind::RecoveryCodeUsed));
        assert!(kinds.contains(&EventKind::SignInRefused));
        assert!(log.windows(2).all(|w| w[0].id > w[1].id));
        for entry in &log {
            assert!(!entry.event.detail.contains(PASSWORD));
            assert!(!entry.event.detail.contains(&codes[1]));
        }
    }

    #[tokio::test]
    async fn a_ticket_from_the_first_step_signs_in_with_the_code_for_its_client_only() {
        let (core, clock) = core();
        let alice = core
            .add_account("alice", "alice@example.org", PASSWORD.into())
            .await
            .expect("account");
        let secret = TotpSecret::generate();
        core.set_two_step_secret(&alice, &secret).await.expect("on");
        let Err(CoreError::VerificationCodeRequired { ticket }) = core
            .sign_in(sign_in("alice", PASSWORD, None, "browser"))
            .await
        else {
            panic!("the code is asked for");
        };
        let device = DeviceInfo::parse(RawDeviceInfo {
            product: Some("pinlink web"),
            ..RawDeviceInfo::default()
        })
        .expect("device");
        let client = |name| ClientIdentifier::parse(Some(name)).expect("client");
        // Another client cannot use it; a forged one is refused.
        assert!(matches!(
            core.sign_in_with_ticket(
                &ticket,
                &secret.code_at(core.now()),
                client("thief"),
                device.clone(),
                here()
            )
            .await,
            Err(CoreError::Unauthenticated)
        ));
        let forged = TwoStepTicket::presented(format!("{}.{}.00", alice.id.0, core.now().0 + 100));
        assert!(matches!(
            core.sign_in_with_ticket(
                &forged,
                &secret.code_at(core.now()),
                client("browser"),
                device.clone(),
                here()
            )
            .await,
            Err(CoreError::Unauthenticated)
        ));
        core.sign_in_with_ticket(
            &ticket,
            &secret.code_at(core.now()),
            client("browser"),
            device.clone(),
            here(),
        )
        .await
        .expect("signed in");
        // A new one runs out.
        clock.advance(30);
        let Err(CoreError::VerificationCodeRequired { ticket }) = core
            .sign_in(sign_in("alice", PASSWORD, None, "browser"))
            .await
        else {
            panic!("the code is asked for");
        };
        clock.advance(301);
        assert!(matches!(
            core.sign_in_with_ticket(
                &ticket,
                &secret.code_at(core.now()),
                client("browser"),
                device,
                here()
            )
            .await,
            Err(CoreError::Unauthenticated)
        ));
    }

    #[tokio::test]
    async fn changing_the_password_can_sign_every_other_device_out() {
        let (core, _clock) = core();
        core.add_account("alice", "alice@example.org", PASSWORD.into())
            .await
            .expect("account");
        let (_, browser) = core
            .sign_in(sign_in("alice", PASSWORD, None, "browser"))
            .await
            .expect("signed in");
        let (_, phone) = core
            .sign_in(sign_in("alice", PASSWORD, None, "phone"))
            .await
            .expect("signed in");
        let session = core.authenticate(browser.expose()).await.expect("session");
        core.authenticate(phone.expose())
            .await
            .expect("the phone works");
        let origin = Origin::operator();
        assert!(matches!(
            core.change_password(
                &session,
                Password::presented("wrong".into()),
                "new password!".into(),
                true,
                &here(),
                &origin
            )
            .await,
            Err(CoreError::Unauthenticated)
        ));
        core.change_password(
            &session,
            Password::presented(PASSWORD.into()),
            "new password!".into(),
            true,
            &here(),
            &origin,
        )
        .await
        .expect("changed");
        assert!(matches!(
            core.authenticate(phone.expose()).await,
            Err(CoreError::Unauthenticated)
        ));
        core.authenticate(browser.expose())
            .await
            .expect("this browser stays");
        core.sign_in(sign_in("alice", "new password!", None, "phone"))
            .await
            .expect("the new password works");
    }

    /// The first step's ticket, for `client`.
    async fn first_step(core: &Pinlink, client: &str) -> TwoStepTicket {
        match core.sign_in(sign_in("alice", PASSWORD, None, client)).await {
            Err(CoreError::VerificationCodeRequired { ticket }) => ticket,
            other => panic!("the code is asked for, not {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_ticket_works_once_and_dies_with_the_password_or_two_step_it_was_made_for() {
        let (core, clock) = core();
        let alice = core
            .add_account("alice", "alice@example.org", PASSWORD.into())
            .await
            .expect("account");
        let secret = TotpSecret::generate();
        core.set_two_step_secret(&alice, &secret).await.expect("on");
        let device = DeviceInfo::parse(RawDeviceInfo {
            product: Some("pinlink web"),
            ..RawDeviceInfo::default()
        })
        .expect("device");
        let browser = || ClientIdentifier::parse(Some("browser")).expect("client");
        let second_step = |ticket: TwoStepTicket, code: String| {
            let core = &core;
            let device = device.clone();
            async move {
                core.sign_in_with_ticket(&ticket, &code, browser(), device, here())
                    .await
            }
        };

        // Once: after a code was accepted with it, not again.
        let ticket = first_step(&core, "browser").await;
        second_step(ticket.clone(), secret.code_at(core.now()))
            .await
            .expect("signed in");
        clock.advance(30);
        assert!(matches!(
            second_step(ticket, secret.code_at(core.now())).await,
            Err(CoreError::Unauthenticated)
        ));

        // Not after the password changed.
        let ticket = first_step(&core, "browser").await;
        let (_, token) = core
            .sign_in(sign_in(
                "alice",
                PASSWORD,
                Some(secret.code_at(core.now())),
                "laptop",
            ))
            .await
            .expect("the owner");
        let owner = core.authenticate(token.expose()).await.expect("session");
        core.change_password(
            &owner,
            Password::presented(PASSWORD.into()),
            PASSWORD.into(),
            false,
            &here(),
            &Origin::operator(),
        )
        .await
        .expect("changed (to itself: a new hash)");
        clock.advance(30);
        assert!(matches!(
            second_step(ticket, secret.code_at(core.now())).await,
            Err(CoreError::Unauthenticated)
        ));

        // Not after two-step went off: it would need no code at all.
        let ticket = first_step(&core, "browser").await;
        core.stop_two_step(
            &owner,
            Password::presented(PASSWORD.into()),
            &secret.code_at(core.now()),
            &here(),
            &Origin::operator(),
        )
        .await
        .expect("off");
        assert!(matches!(
            second_step(ticket, "000000".into()).await,
            Err(CoreError::Unauthenticated)
        ));
    }

    #[tokio::test]
    async fn wrong_codes_are_counted_per_account_whatever_the_client_or_address() {
        let (core, _clock) = core();
        let alice = core
            .add_account("alice", "alice@example.org", PASSWORD.into())
            .await
            .expect("account");
        let secret = TotpSecret::generate();
        core.set_two_step_secret(&alice, &secret).await.expect("on");
        // The owner's phone is a known client: its identifier is no secret.
        core.sign_in(sign_in(
            "alice",
            PASSWORD,
            Some(secret.code_at(core.now())),
            "alice-phone",
        ))
        .await
        .expect("the owner");
        let allowed = core.settings().budgets.second_factor_per_account.max;
        let right = secret.code_at(core.now());
        let mut refused_wrong = 0;
        let mut locked = 0;
        for n in 0..allowed + 5 {
            let wrong = if right == "000000" {
                "000001"
            } else {
                "000000"
            };
            let mut attempt = sign_in("alice", PASSWORD, Some(wrong.into()), "alice-phone");
            attempt.from = ClientAddress::new(format!("198.51.100.{n}").parse().expect("ip"));
            match core.sign_in(attempt).await {
                Err(CoreError::VerificationCodeWrong) => refused_wrong += 1,
                Err(CoreError::SignInLockedOut { .. }) => locked += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(refused_wrong, allowed, "checked, then no more");
        assert_eq!(locked, 5);
    }
}
