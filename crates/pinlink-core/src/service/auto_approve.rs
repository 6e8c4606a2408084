//! Test mode's automatic approval (`pinlink serve --test-mode`): a pin that
//! matches the rule and is old enough is linked for the rule's account when
//! its device polls, so an app's CI runs its real login code with no person
//! and no extra HTTP call. It is the same link as a person's approval.

use std::sync::Arc;

use crate::error::CoreError;
use crate::model::{Account, Pin};

use super::Pinlink;

/// Which pins are approved, for whom, and when.
#[derive(Debug, Clone)]
pub struct AutoApprove {
    pub account: Account,
    /// A pin is approved once it is this old.
    pub after_secs: i64,
    /// Only pins of these products (`X-Plex-Product`; for an RFC 8628
    /// device grant, the application's name unless the device named
    /// another); empty: any.
    pub products: Vec<String>,
    /// Only pins of these client identifiers (for a device grant, the
    /// identifier the device sent); empty: any.
    pub client_identifiers: Vec<String>,
}

impl AutoApprove {
    fn covers(&self, pin: &Pin) -> bool {
        (self.products.is_empty()
            || self
                .products
                .iter()
                .any(|p| p == pin.device.product.as_str()))
            && (self.client_identifiers.is_empty()
                || self.client_identifiers.iter().any(|c| {
                    let full = pin.client_identifier.as_str();
                    // A grant's identifier is kept as "{client_id}/{sent}".
                    let sent = match &pin.grant {
                        Some(_) => full.split_once('/').map_or(full, |(_, own)| own),
                        None => full,
                    };
                    c == full || c == sent
                }))
    }
}

impl Pinlink {
    /// Turns test mode's automatic approval on.
    pub fn set_auto_approve(&self, rule: AutoApprove) {
        tracing::warn!(
            account = rule.account.username.as_str(),
            after_secs = rule.after_secs,
            "TEST MODE: pins are approved automatically"
        );
        *self.auto_approve.write() = Some(rule);
    }

    /// Links `pin` if test mode's rule covers it and it is old enough;
    /// the pin as it is now.
    pub(super) async fn auto_approved(&self, pin: Arc<Pin>) -> Result<Arc<Pin>, CoreError> {
        let rule = match self.auto_approve.read().as_ref() {
            Some(rule) if pin.auth_token.is_none() && rule.covers(&pin) => rule.clone(),
            _ => return Ok(pin),
        };
        let now = self.now();
        if pin.created_at.secs_until(now) < rule.after_secs {
            return Ok(pin);
        }
        match self
            .link(&rule.account, Pin::clone(&pin), now, Default::default())
            .await
        {
            Ok(linked) => Ok(linked),
            // Linked by a poll a moment earlier: read it again.
            Err(CoreError::PinNotFound) => match self.live.get(pin.id) {
                Some(now_linked) => Ok(now_linked),
                None => Ok(pin),
            },
            Err(e) => Err(e),
        }
    }
}
