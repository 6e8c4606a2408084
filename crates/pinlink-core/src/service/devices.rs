//! The devices of an account: listed with their newest token, revoked one
//! at a time.

use crate::error::CoreError;
use crate::model::{Account, ClientAddress, Device, DeviceId, Session};
use crate::security_log::EventKind;

use super::security_log::{describe, Origin};
use super::Pinlink;

impl Pinlink {
    pub async fn devices(&self, account: &Account) -> Result<Vec<Device>, CoreError> {
        let records = self.store.list_devices(account.id).await?;
        records
            .into_iter()
            .map(|r| {
                Ok(Device {
                    token: self.secrets.open_token(r.token_sealed.as_deref())?,
                    id: r.id,
                    client_identifier: r.client_identifier,
                    info: r.info,
                    created_at: r.created_at,
                    last_seen_at: r.last_seen_at,
                    connections: r.connections,
                })
            })
            .collect()
    }

    /// Removes one of the account's devices; every token it held stops
    /// working at once.
    pub async fn revoke_device(
        &self,
        account: &Account,
        device: DeviceId,
    ) -> Result<(), CoreError> {
        let revoked = self.store.revoke_device(account.id, device).await;
        // Forgotten even if the store failed: it may have committed.
        self.sessions.forget_device(device);
        if revoked? {
            tracing::info!(account = account.id.0, device = device.0, "device revoked");
            Ok(())
        } else {
            Err(CoreError::DeviceNotFound)
        }
    }
}

impl Pinlink {
    /// A device's token removes one of the account's devices (the API):
    /// [`Pinlink::remove_device`], for tokens that may manage the account.
    pub async fn remove_device_with_token(
        &self,
        session: &Session,
        device: DeviceId,
        from: &ClientAddress,
    ) -> Result<(), CoreError> {
        session.may_manage_account()?;
        self.remove_device(&session.account, device, from).await
    }

    /// A person removes one of their devices (the device list, in a page
    /// or through the API): [`Pinlink::revoke_device`], written in the
    /// account's security log.
    pub async fn remove_device(
        &self,
        account: &Account,
        device: DeviceId,
        from: &ClientAddress,
    ) -> Result<(), CoreError> {
        let described = self
            .store
            .list_devices(account.id)
            .await?
            .into_iter()
            .find(|d| d.id == device)
            .map(|d| describe(&d.info))
            .ok_or(CoreError::DeviceNotFound)?;
        self.revoke_device(account, device).await?;
        let origin = Origin {
            address: from.to_string(),
            client: described,
        };
        self.record(account.id, EventKind::DeviceRevoked, &origin, "")
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::service::testing::core;
    use crate::{ClientAddress, ClientIdentifier, DeviceInfo, NewPin, RawDeviceInfo};

    #[tokio::test]
    async fn a_linked_device_is_listed_and_revoking_it_kills_its_token() {
        let (core, _clock) = core();
        let alice = core
            .add_account("alice", "alice@example.org", "correct horse".into())
            .await
            .expect("account");
        let here = ClientAddress::new("192.0.2.1".parse().expect("ip"));
        let pin = core
            .create_pin(NewPin {
                strong: false,
                client_identifier: ClientIdentifier::parse(Some("radio")).expect("id"),
                device: DeviceInfo::parse(RawDeviceInfo {
                    product: Some("Kitchen Radio"),
                    ..RawDeviceInfo::default()
                })
                .expect("device"),
                requester: here,
                jwk: None,
                grant: None,
            })
            .await
            .expect("pin");
        let linked = core
            .approve_code(&alice, pin.code.as_str(), &here, crate::Expect::ANY)
            .await
            .expect("linked");
        let token = linked.auth_token.clone().expect("token");
        let devices = core.devices(&alice).await.expect("list");
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].info.product.as_str(), "Kitchen Radio");
        assert_eq!(
            devices[0].token.as_ref().map(|t| t.expose()),
            Some(token.expose())
        );
        core.authenticate(token.expose()).await.expect("works");
        assert_eq!(
            core.sessions_cached(),
            1,
            "the token check is kept in memory"
        );
        core.revoke_device(&alice, devices[0].id)
            .await
            .expect("revoked");
        assert!(core.authenticate(token.expose()).await.is_err());
        assert!(core.revoke_device(&alice, devices[0].id).await.is_err());
    }
}
