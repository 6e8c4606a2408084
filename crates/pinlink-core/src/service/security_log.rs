//! Writing and reading the account's security log
//! ([`crate::security_log`]).

use crate::error::CoreError;
use crate::model::{Account, AccountId, ClientAddress, DeviceInfo};
use crate::security_log::{EventKind, LoggedEvent, SecurityEvent};

use super::Pinlink;

/// Where an event came from: an address and a client, as the log shows
/// them.
#[derive(Debug, Clone)]
pub struct Origin {
    pub address: String,
    pub client: String,
}

impl Origin {
    /// A client at an address: the device's product and name.
    pub fn of(from: &ClientAddress, device: &DeviceInfo) -> Origin {
        Origin {
            address: from.to_string(),
            client: describe(device),
        }
    }

    /// The operator's command line.
    pub fn operator() -> Origin {
        Origin {
            address: crate::security_log::OPERATOR.to_owned(),
            client: "pinlink command".to_owned(),
        }
    }
}

/// "Kitchen Radio — Living room (Linux)": what a device says it is.
pub fn describe(device: &DeviceInfo) -> String {
    let name = [&device.device_name, &device.device, &device.model]
        .into_iter()
        .find(|s| !s.is_empty())
        .map(|s| s.to_string());
    let mut text = device.product.as_str().to_owned();
    if let Some(name) = name {
        text.push_str(" — ");
        text.push_str(&name);
    }
    if !device.platform.is_empty() {
        text.push_str(&format!(" ({})", device.platform));
    }
    text
}

/// Entries per page of the log.
pub const LOG_PAGE: u32 = 20;

impl Pinlink {
    /// An event as it will be written.
    pub(crate) fn event(
        &self,
        account: AccountId,
        kind: EventKind,
        origin: &Origin,
        detail: impl Into<String>,
    ) -> SecurityEvent {
        SecurityEvent {
            account,
            at: self.now(),
            kind,
            address: origin.address.clone(),
            client: origin.client.clone(),
            detail: detail.into(),
        }
    }

    /// Writes an entry on its own. A failure is logged, not reported: what
    /// it records has happened already.
    pub(crate) async fn record(
        &self,
        account: AccountId,
        kind: EventKind,
        origin: &Origin,
        detail: impl Into<String>,
    ) {
        let event = self.event(account, kind, origin, detail);
        if let Err(e) = self.store.log_event(&event).await {
            tracing::warn!(error = %e, account = account.0, kind = kind.as_str(), "could not write the security log");
        }
    }

    /// A page of the account's log, newest first: entries older than
    /// `before` (the first page when `None`).
    pub async fn security_log(
        &self,
        account: &Account,
        before: Option<i64>,
    ) -> Result<Vec<LoggedEvent>, CoreError> {
        Ok(self
            .store
            .security_log(account.id, before, LOG_PAGE)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RawDeviceInfo;

    #[test]
    fn a_device_is_described_by_product_name_and_platform() {
        let device = DeviceInfo::parse(RawDeviceInfo {
            product: Some("Kitchen Radio"),
            device_name: Some("Living room"),
            platform: Some("Linux"),
            ..RawDeviceInfo::default()
        })
        .expect("device");
        assert_eq!(describe(&device), "Kitchen Radio — Living room (Linux)");
        let bare = DeviceInfo::parse(RawDeviceInfo {
            product: Some("App"),
            ..RawDeviceInfo::default()
        })
        .expect("device");
        assert_eq!(describe(&bare), "App");
    }
}
