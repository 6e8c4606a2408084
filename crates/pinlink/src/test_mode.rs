//! `pinlink serve --test-mode FILE`: seeds accounts and turns automatic
//! approval on, so a Plex app's CI can run its real login code against
//! pinlink with no person and no extra HTTP call.
//!
//! ```toml
//! [[account]]
//! name = "alice"
//! email = "alice@example.org"
//! password = "correct horse"
//!
//! [auto_approve]
//! account = "alice"
//! after_seconds = 2
//! products = ["My App"]            # optional: only pins of these products
//! client_identifiers = ["ci-app"]  # optional: only pins of these clients
//! ```

use std::path::Path;

use anyhow::Context;
use pinlink_core::{AutoApprove, CoreError, Pinlink};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestMode {
    #[serde(default)]
    account: Vec<TestAccount>,
    auto_approve: Option<TestAutoApprove>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestAccount {
    name: String,
    email: String,
    password: String,
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

    /// Creates the accounts that do not exist yet, and turns automatic
    /// approval on.
    pub async fn apply(&self, core: &Pinlink) -> anyhow::Result<()> {
        for account in &self.account {
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
