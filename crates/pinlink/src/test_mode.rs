//! `pinlink serve --test-mode FILE`: seeds accounts and turns automatic
//! approval on, so a Plex app's CI can run its real login code against
//! pinlink with no person and no extra HTTP call.
//!
//! ```toml
//! [[account]]
//! name = "alice"
//! email = "alice@example.org"
//! password = "correct horse"
//! totp_secret = "JBSWY3DPEHPK3PXP"   # optional: two-step verification on
//!
//! [auto_approve]
//! account = "alice"
//! after_seconds = 2
//! products = ["My App"]            # optional: only pins of these products
//! client_identifiers = ["ci-app"]  # optional: only pins of these clients
//!
//! [limits]                         # optional: any of `serve`'s limits
//! pins_per_address = 60
//! ```
//!
//! An app's CI creates pins and nonces from one loopback address all day,
//! so in test mode the budgets and caps on what anonymous clients ask for
//! (new pins, live pins and codes per address, JWT nonces, sign-ups, device
//! keys) are off, and the server-wide cap on 4-character codes is at its
//! highest — unless the `[limits]` table or a flag sets them. The budgets
//! that guard accounts (wrong passwords, wrong codes) stay on.

use std::path::Path;

use std::collections::BTreeMap;

use anyhow::Context;
use pinlink_core::{AutoApprove, CoreError, Limit, Pinlink, PinlinkSettings};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestMode {
    #[serde(default)]
    account: Vec<TestAccount>,
    auto_approve: Option<TestAutoApprove>,
    /// `serve`'s limits, by their flags' names (`pins_per_address = 60`).
    #[serde(default)]
    limits: BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestAccount {
    name: String,
    email: String,
    password: String,
    /// Two-step verification with this secret (base32), so that an app's
    /// CI can test its handling of plex.tv's "verification code" answer.
    totp_secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestAutoApprove {
    account: String,
    #[serde(default)]
    after_seconds: u32,
    #[serde(default)]
    products: Vec<String>,
    #[serde(default)]
    client_identifiers: Vec<String>,
}

impl TestMode {
    /// Reads and checks the file; unknown keys are errors that name them.
    pub fn load(path: &Path) -> anyhow::Result<TestMode> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the test mode file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid test mode file", path.display()))
    }

    /// Test mode's limits: the anonymous budgets and caps off (the module's
    /// documentation says which), then the file's `[limits]`.
    pub fn limit(&self, settings: &mut PinlinkSettings) -> anyhow::Result<()> {
        let b = &mut settings.budgets;
        b.pins_per_address = Limit::OFF;
        b.pins_per_client = Limit::OFF;
        b.jwt_nonces_per_client = Limit::OFF;
        b.jwt_nonces_per_address = Limit::OFF;
        b.signups_per_address = Limit::OFF;
        b.device_keys_per_device = Limit::OFF;
        b.device_keys_per_address = Limit::OFF;
        settings.caps.per_address = u32::MAX;
        settings.caps.link_codes_per_address = u32::MAX;
        settings.caps.link_codes = 65_536;
        for (name, value) in &self.limits {
            crate::limit_names::set_limit(settings, name, *value)
                .with_context(|| format!("[limits] in the test mode file: {name}"))?;
        }
        Ok(())
    }

    /// Creates the accounts that do not exist yet, and turns automatic
    /// approval on.
    pub async fn apply(&self, core: &Pinlink) -> anyhow::Result<()> {
        for account in &self.account {
            // A bad secret is refused before anything is created.
            let secret = account
                .totp_secret
                .as_deref()
                .map(pinlink_core::two_step::TotpSecret::from_base32)
                .transpose()
                .with_context(|| format!("totp_secret of the test account {}", account.name))?;
            match core
                .add_account(&account.name, &account.email, account.password.clone())
                .await
            {
                Ok(_) => tracing::warn!(account = %account.name, "TEST MODE: account created"),
                Err(CoreError::AccountExists(_)) => {
                    tracing::info!(account = %account.name, "TEST MODE: account exists already")
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot create the test account {}", account.name)
                    })
                }
            }
            if let Some(secret) = &secret {
                let record = core.find_account(&account.name).await?;
                core.set_two_step_secret(&record.account, secret).await?;
                tracing::warn!(account = %account.name, "TEST MODE: two-step verification on");
            }
        }
        if let Some(rule) = &self.auto_approve {
            let accounts = core.accounts().await?;
            let account = accounts
                .into_iter()
                .find(|a| {
                    a.username.as_str().eq_ignore_ascii_case(&rule.account)
                        || a.email.as_str().eq_ignore_ascii_case(&rule.account)
                })
                .with_context(|| {
                    format!("auto_approve.account {:?} is not an account", rule.account)
                })?;
            core.set_auto_approve(AutoApprove {
                account,
                after_secs: i64::from(rule.after_seconds),
                products: rule.products.clone(),
                client_identifiers: rule.client_identifiers.clone(),
            });
        }
        Ok(())
    }
}
