//! Accounts, and the first start: while no account exists, a one-time setup
//! token guards the creation of the first one.

use crate::clock::UnixTime;
use crate::error::CoreError;
use crate::model::{Account, ClientAddress, Email, Username};
use crate::secrets::{constant_time_eq, hash_password, Password, Purpose};
use crate::security_log::EventKind;
use crate::store::{
    AccountChange, AccountOverview, AccountRecord, NewAccount, PasswordReset, SignOut, StoreError,
};

use super::security_log::Origin;
use super::RESET_LINK_HOURS;
use super::{random_hex, Pinlink};

impl Pinlink {
    pub async fn add_account(
        &self,
        username: &str,
        email: &str,
        password: String,
    ) -> Result<Account, CoreError> {
        let username = Username::parse(username)?;
        let email = Email::parse(email)?;
        let password = Password::new_for_account(password)?;
        let password_hash = self.hash_work(move || hash_password(&password)).await??;
        let new = NewAccount {
            uuid: random_hex(16),
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            password_hash,
            created_at: self.now(),
        };
        match self.store.insert_account(&new).await {
            Err(StoreError::Conflict(what)) => Err(CoreError::AccountExists(what)),
            other => Ok(other?),
        }
    }

    /// Someone creates their own account (`/signup`, open only with
    /// `--open-signup`). Spends from the address's budget of sign-ups first:
    /// each one costs two password hashes.
    pub async fn sign_up(
        &self,
        username: &str,
        email: &str,
        password: String,
        from: &ClientAddress,
    ) -> Result<Account, CoreError> {
        let spends = self.budget_keys().sign_up(from);
        let ticket =
            self.spend(&spends, self.now())
                .await?
                .map_err(|refused| CoreError::RateLimited {
                    retry_after_secs: refused.retry_after_secs,
                })?;
        let created = self.add_account(username, email, password).await;
        if matches!(
            created,
            Err(CoreError::InvalidInput(_) | CoreError::Busy { .. })
        ) {
            // Refused before any hash was spent on it.
            self.refund(ticket).await;
        }
        created
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, CoreError> {
        Ok(self.store.list_accounts().await?)
    }

    /// Every account, with whether it is disabled, has two-step
    /// verification and how many passkeys (`pinlink user list`).
    pub async fn account_overview(&self) -> Result<Vec<AccountOverview>, CoreError> {
        Ok(self.store.account_overview().await?)
    }

    /// The account an operator names (username or e-mail).
    pub async fn find_account(&self, login: &str) -> Result<AccountRecord, CoreError> {
        self.store
            .account_by_login(login.trim())
            .await?
            .ok_or_else(|| CoreError::NoSuchAccount(login.to_owned()))
    }

    /// `pinlink user passwd`: a new password; with `sign_out`, every device
    /// of the account loses its token too.
    pub async fn set_password(
        &self,
        login: &str,
        password: String,
        sign_out: bool,
    ) -> Result<Account, CoreError> {
        let record = self.find_account(login).await?;
        let password = Password::new_for_account(password)?;
        let hash = self.hash_work(move || hash_password(&password)).await??;
        let change = AccountChange::Password {
            hash,
            sign_out: if sign_out {
                SignOut::Everyone
            } else {
                SignOut::Nobody
            },
        };
        self.operator_change(
            &record.account,
            change,
            EventKind::PasswordChanged,
            "by the operator",
        )
        .await?;
        Ok(record.account)
    }

    /// `pinlink user disable` / `enable`: a disabled account cannot sign in
    /// and its tokens are refused (at once, on every running server), but
    /// nothing of it is deleted.
    pub async fn set_disabled(&self, login: &str, disabled: bool) -> Result<Account, CoreError> {
        let record = self.find_account(login).await?;
        let kind = if disabled {
            EventKind::Disabled
        } else {
            EventKind::Enabled
        };
        self.operator_change(&record.account, AccountChange::Disabled(disabled), kind, "")
            .await?;
        Ok(record.account)
    }

    /// `pinlink user reset`: a one-time link token (valid
    /// [`RESET_LINK_HOURS`]) to a page where the person sets a new
    /// password; kept only as a keyed hash. With `drop_two_step`, using it
    /// also turns two-step verification off (a lost phone).
    pub async fn issue_password_reset(
        &self,
        login: &str,
        drop_two_step: bool,
    ) -> Result<(Account, String, UnixTime), CoreError> {
        let record = self.find_account(login).await?;
        let token = random_hex(40);
        let expires_at = self.now().plus_secs(RESET_LINK_HOURS * 3600);
        self.store
            .insert_password_reset(&PasswordReset {
                hash: self.secrets.lookup_hash(Purpose::PasswordReset, &token),
                account: record.account.id,
                drop_two_step,
                expires_at,
            })
            .await?;
        let detail = if drop_two_step {
            "two-step verification goes with it"
        } else {
            ""
        };
        self.record(
            record.account.id,
            EventKind::ResetLinkIssued,
            &Origin::operator(),
            detail,
        )
        .await;
        Ok((record.account, token, expires_at))
    }

    /// `pinlink user remove`: the account and everything of it, at once.
    pub async fn remove_account(&self, login: &str) -> Result<Account, CoreError> {
        let record = self.find_account(login).await?;
        self.delete_account(&record.account).await?;
        Ok(record.account)
    }

    async fn operator_change(
        &self,
        account: &Account,
        change: AccountChange,
        kind: EventKind,
        detail: &str,
    ) -> Result<(), CoreError> {
        let event = self.event(account.id, kind, &Origin::operator(), detail);
        let changed = self
            .store
            .change_account(account.id, &change, Some(&event))
            .await;
        self.sessions.forget_account(account.id);
        changed?.ok_or_else(|| CoreError::NoSuchAccount(account.username.as_str().to_owned()))?;
        self.announce_change();
        Ok(())
    }

    /// First start: while no account exists, a one-time setup token guards
    /// the creation of the first one (the server prints it in its log).
    /// `None` once an account exists.
    pub async fn first_start_token(&self) -> Result<Option<String>, CoreError> {
        if !self.store.list_accounts().await?.is_empty() {
            *self.setup_token.lock() = None;
            return Ok(None);
        }
        let mut slot = self.setup_token.lock();
        let token = slot.get_or_insert_with(|| random_hex(32).into_boxed_str());
        Ok(Some(token.to_string()))
    }

    /// Whether the first account still has to be created.
    pub async fn needs_first_account(&self) -> Result<bool, CoreError> {
        Ok(self.setup_token.lock().is_some() && self.store.list_accounts().await?.is_empty())
    }

    /// Creates the first account with the setup token; the token is used up.
    pub async fn create_first_account(
        &self,
        setup_token: &str,
        username: &str,
        email: &str,
        password: String,
    ) -> Result<Account, CoreError> {
        let valid = {
            let mut slot = self.setup_token.lock();
            match slot.as_deref() {
                Some(expected) if constant_time_eq(expected, setup_token.trim()) => slot.take(),
                _ => None,
            }
        };
        let Some(token) = valid else {
            return Err(CoreError::SetupRefused);
        };
        if !self.store.list_accounts().await?.is_empty() {
            return Err(CoreError::SetupRefused);
        }
        match self.add_account(username, email, password).await {
            Ok(account) => Ok(account),
            Err(e) => {
                // Bad input: the person may try again with the same token.
                *self.setup_token.lock() = Some(token);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::service::testing::core;

    #[tokio::test]
    async fn the_setup_token_creates_the_first_account_once() {
        let (core, _clock) = core();
        let token = core
            .first_start_token()
            .await
            .expect("store")
            .expect("no account yet");
        assert!(core.needs_first_account().await.expect("store"));
        assert!(core
            .create_first_account("wrong", "alice", "a@example.org", "long enough pw".into())
            .await
            .is_err());
        // Bad input keeps the token usable.
        assert!(core
            .create_first_account(
                &token,
                "no spaces",
                "a@example.org",
                "long enough pw".into()
            )
            .await
            .is_err());
        core.create_first_account(&token, "alice", "a@example.org", "long enough pw".into())
            .await
            .expect("first account");
        assert!(!core.needs_first_account().await.expect("store"));
        assert!(core
            .create_first_account(&token, "bob", "b@example.org", "long enough pw".into())
            .await
            .is_err());
        assert_eq!(core.first_start_token().await.expect("store"), None);
    }

    #[tokio::test]
    async fn names_and_emails_are_unique_without_regard_to_case() {
        let (core, _clock) = core();
        core.add_account("alice", "a@example.org", "long enough pw".into())
            .await
            .expect("created");
        let again = core
            .add_account("ALICE", "other@example.org", "long enough pw".into())
            .await;
        assert!(matches!(
            again,
            Err(crate::CoreError::AccountExists("username"))
        ));
        let email = core
            .add_account("bob", "A@EXAMPLE.ORG", "long enough pw".into())
            .await;
        assert!(matches!(
            email,
            Err(crate::CoreError::AccountExists("e-mail"))
        ));
    }
}
