//! Passkeys for an account: registered from the account page (named,
//! listed with when they were last used, removable), and signing in with
//! one alone. The WebAuthn work is [`crate::passkeys`]'s; here each
//! ceremony's state is kept in the store between its two requests (any
//! instance may finish what another started), under the keyed hash of an
//! id only the browser holds.

use rand::RngCore;
use serde_json::Value;

use crate::error::CoreError;
use crate::model::{Account, ClientAddress, ClientIdentifier, DeviceInfo, Session};
use crate::secrets::{AuthToken, Purpose};
use crate::security_log::EventKind;
use crate::store::{AccountChange, CeremonyRecord, PasskeyRecord};

use super::security_log::Origin;
use super::Pinlink;

/// How long a browser has to answer a passkey ceremony.
const CEREMONY_SECS: i64 = 300;

/// Longest passkey name kept.
const MAX_NAME_CHARS: usize = 64;

/// A ceremony started: its id (for the browser to send back) and the
/// options for `navigator.credentials.create` / `.get`.
#[derive(Debug, Clone)]
pub struct PasskeyCeremony {
    pub id: String,
    pub options: Value,
}

impl Pinlink {
    /// Whether this server offers passkeys (its public URL names a host).
    pub fn passkeys_available(&self) -> bool {
        self.passkeys.available()
    }

    async fn keep_ceremony(
        &self,
        account: Option<&Account>,
        state: String,
    ) -> Result<String, CoreError> {
        let mut bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.store
            .insert_ceremony(&CeremonyRecord {
                hash: self.secrets.lookup_hash(Purpose::PasskeyCeremony, &id),
                account: account.map(|a| a.id),
                state,
                expires_at: self.now().plus_secs(CEREMONY_SECS),
            })
            .await?;
        Ok(id)
    }

    async fn take_ceremony(&self, id: &str) -> Result<CeremonyRecord, CoreError> {
        if id.is_empty() || id.len() > 128 {
            return Err(CoreError::PasskeyRefused);
        }
        let hash = self.secrets.lookup_hash(Purpose::PasskeyCeremony, id);
        self.store
            .take_ceremony(&hash, self.now())
            .await?
            .ok_or(CoreError::PasskeyRefused)
    }

    /// Starts registering a passkey for the signed-in account (budgeted
    /// per account: each keeps a challenge for five minutes).
    pub async fn start_passkey_registration(
        &self,
        session: &Session,
    ) -> Result<PasskeyCeremony, CoreError> {
        if !self.passkeys.available() {
            return Err(CoreError::PasskeysUnavailable);
        }
        let account = &session.account;
        let spends = self.budget_keys().passkey_registration(account.id.0);
        if let Err(refused) = self.spend(&spends, self.now()).await? {
            return Err(CoreError::RateLimited {
                retry_after_secs: refused.retry_after_secs,
            });
        }
        let record = self
            .store
            .account_by_id(account.id)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let handle = match record.passkey_handle {
            Some(handle) => handle,
            None => {
                let handle = uuid_v4().to_string();
                self.store
                    .change_account(
                        account.id,
                        &AccountChange::PasskeyHandle(handle.clone()),
                        None,
                    )
                    .await?;
                // Set once: another request may have set it first.
                self.store
                    .account_by_id(account.id)
                    .await?
                    .and_then(|r| r.passkey_handle)
                    .unwrap_or(handle)
            }
        };
        let handle = handle
            .parse()
            .map_err(|_| CoreError::Internal("a stored passkey handle is not a UUID".into()))?;
        let existing = self
            .store
            .passkeys(account.id)
            .await?
            .into_iter()
            .map(|p| p.credential_id)
            .collect();
        let (options, state) =
            self.passkeys
                .start_registration(handle, account.username.as_str(), existing)?;
        let id = self.keep_ceremony(Some(account), state).await?;
        Ok(PasskeyCeremony { id, options })
    }

    /// Checks the browser's answer and keeps the new passkey under `name`.
    pub async fn finish_passkey_registration(
        &self,
        session: &Session,
        ceremony: &str,
        name: &str,
        answer: &Value,
        origin: &Origin,
    ) -> Result<(), CoreError> {
        let ceremony = self.take_ceremony(ceremony).await?;
        if ceremony.account != Some(session.account.id) {
            return Err(CoreError::PasskeyRefused);
        }
        let (credential_id, passkey) =
            self.passkeys.finish_registration(answer, &ceremony.state)?;
        let name = passkey_name(name);
        let inserted = self
            .store
            .insert_passkey(&PasskeyRecord {
                id: 0,
                account: session.account.id,
                credential_id,
                name: name.clone(),
                passkey,
                created_at: self.now(),
                last_used_at: None,
            })
            .await;
        match inserted {
            Ok(_) => {}
            Err(crate::store::StoreError::Conflict(_)) => return Err(CoreError::PasskeyRefused),
            Err(e) => return Err(e.into()),
        }
        self.record(session.account.id, EventKind::PasskeyAdded, origin, name)
            .await;
        Ok(())
    }

    /// The account's passkeys, oldest first.
    pub async fn list_passkeys(&self, account: &Account) -> Result<Vec<PasskeyRecord>, CoreError> {
        Ok(self.store.passkeys(account.id).await?)
    }

    pub async fn remove_passkey(
        &self,
        session: &Session,
        id: i64,
        origin: &Origin,
    ) -> Result<(), CoreError> {
        let name = self
            .store
            .delete_passkey(session.account.id, id)
            .await?
            .ok_or(CoreError::DeviceNotFound)?;
        self.record(session.account.id, EventKind::PasskeyRemoved, origin, name)
            .await;
        Ok(())
    }

    /// Starts a sign-in with a passkey alone (budgeted per address: each
    /// keeps a challenge for a few minutes).
    pub async fn start_passkey_sign_in(
        &self,
        from: &ClientAddress,
    ) -> Result<PasskeyCeremony, CoreError> {
        if !self.passkeys.available() {
            return Err(CoreError::PasskeysUnavailable);
        }
        let spends = self.budget_keys().passkey_sign_in(from);
        if let Err(refused) = self.spend(&spends, self.now()).await? {
            return Err(CoreError::RateLimited {
                retry_after_secs: refused.retry_after_secs,
            });
        }
        let (options, state) = self.passkeys.start_sign_in()?;
        let id = self.keep_ceremony(None, state).await?;
        Ok(PasskeyCeremony { id, options })
    }

    /// Signs in with a passkey's answer: the browser becomes a device of the
    /// passkey's account. A passkey verifies its user, so it counts as both
    /// factors. A refused answer spends the address's sign-in budget.
    pub async fn finish_passkey_sign_in(
        &self,
        ceremony: &str,
        answer: &Value,
        client_identifier: ClientIdentifier,
        device: DeviceInfo,
        from: ClientAddress,
    ) -> Result<(Account, AuthToken), CoreError> {
        let ticket = self
            .spend(&self.budget_keys().passkey_answer(&from), self.now())
            .await?
            .map_err(|refused| CoreError::SignInLockedOut {
                retry_after_secs: refused.retry_after_secs,
            })?;
        let origin = Origin::of(&from, &device);
        let checked = async {
            let ceremony = self.take_ceremony(ceremony).await?;
            if ceremony.account.is_some() {
                return Err(CoreError::PasskeyRefused);
            }
            let (handle, credential_id) = self.passkeys.identify(answer)?;
            let (record, passkey) = self
                .store
                .passkey_for_sign_in(&handle.to_string(), &credential_id)
                .await?
                .ok_or(CoreError::PasskeyRefused)?;
            let updated =
                self.passkeys
                    .finish_sign_in(answer, &ceremony.state, &passkey.passkey)?;
            self.store
                .passkey_used(passkey.id, &updated, self.now())
                .await?;
            Ok((record, passkey.name))
        }
        .await;
        let (record, name) = match checked {
            Ok(found) => found,
            Err(e) => {
                // The spend stays: a refused answer counts.
                drop(ticket);
                crate::events::sign_in_failed();
                return Err(e);
            }
        };
        self.refund(ticket).await;
        if record.disabled {
            self.record(
                record.account.id,
                EventKind::SignInRefused,
                &origin,
                "the account is disabled",
            )
            .await;
            return Err(CoreError::AccountDisabled);
        }
        self.grant_session(
            record.account,
            client_identifier,
            device,
            &origin,
            &format!("with the passkey {name:?}"),
        )
        .await
    }
}

/// A passkey's name as kept: trimmed, without control characters, at most
/// [`MAX_NAME_CHARS`]; "Passkey" when empty.
fn passkey_name(name: &str) -> String {
    let visible: String = name.chars().filter(|c| !c.is_control()).collect();
    let name: String = visible.trim().chars().take(MAX_NAME_CHARS).collect();
    if name.is_empty() {
        "Passkey".to_owned()
    } else {
        name
    }
}

fn uuid_v4() -> webauthn_rs::prelude::Uuid {
    webauthn_rs::prelude::Uuid::new_v4()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkey_names_are_tidied() {
        assert_eq!(passkey_name("  Phone \u{7}"), "Phone");
        assert_eq!(passkey_name(""), "Passkey");
        assert_eq!(
            passkey_name(&"x".repeat(100)).chars().count(),
            MAX_NAME_CHARS
        );
    }
}
