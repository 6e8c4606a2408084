//! The account's resources: its devices that provide `server`, with the
//! connection URIs they published (`PUT /devices/{clientIdentifier}`, as
//! Plex Media Servers do), or that an operator declared for an app's CI
//! (`pinlink resource add`).

use crate::error::CoreError;
use crate::model::{ClientIdentifier, Device, DeviceInfo, RawDeviceInfo, Session};
use crate::secrets::{AuthToken, Purpose};
use crate::store::TokenGrant;

use super::{random_hex, Pinlink};

/// Most connections one device may publish.
pub const MAX_CONNECTIONS: usize = 16;
const MAX_URI_LEN: usize = 512;

/// An `http(s)://` URI without spaces or control characters.
fn check_uri(uri: &str) -> Result<(), CoreError> {
    let scheme_ok = uri.starts_with("http://") || uri.starts_with("https://");
    let host = uri.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    if !scheme_ok
        || host.is_empty()
        || host.starts_with('/')
        || uri.len() > MAX_URI_LEN
        || uri.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(CoreError::InvalidInput(format!(
            "a connection must be an http(s) URI of at most {MAX_URI_LEN} characters"
        )));
    }
    Ok(())
}

impl Pinlink {
    /// The account's devices that provide `server`.
    pub async fn resources(&self, session: &Session) -> Result<Vec<Device>, CoreError> {
        let devices = self.devices(&session.account).await?;
        Ok(devices.into_iter().filter(Device::is_server).collect())
    }

    /// Replaces the connections of the device holding the session's token,
    /// named by its client identifier or numeric id (clients send either):
    /// a server publishes its own connections, never another device's.
    pub async fn publish_connections(
        &self,
        session: &Session,
        device: &str,
        uris: Vec<String>,
    ) -> Result<(), CoreError> {
        session.may_manage_account()?;
        if device != session.client_identifier.as_str() && device != session.device_id.0.to_string()
        {
            return Err(CoreError::DeviceNotFound);
        }
        if uris.len() > MAX_CONNECTIONS {
            return Err(CoreError::InvalidInput(format!(
                "at most {MAX_CONNECTIONS} connections per device"
            )));
        }
        for uri in &uris {
            check_uri(uri)?;
        }
        if self
            .store
            .set_device_connections(session.account.id, session.device_id, &uris)
            .await?
        {
            Ok(())
        } else {
            Err(CoreError::DeviceNotFound)
        }
    }

    /// Declares a server for an account (for an app's CI, where no Plex
    /// Media Server links itself): a device providing `server`, named
    /// `name`, with one connection and a token of its own. Returns the
    /// device's client identifier.
    pub async fn declare_resource(
        &self,
        login: &str,
        name: &str,
        uri: &str,
    ) -> Result<String, CoreError> {
        check_uri(uri)?;
        let record = self
            .store
            .account_by_login(login)
            .await?
            .ok_or_else(|| CoreError::InvalidInput(format!("no account {login:?}")))?;
        let client = format!("pinlink-resource-{}", random_hex(16));
        let client_identifier = ClientIdentifier::parse(Some(&client))?;
        let device = DeviceInfo::parse(RawDeviceInfo {
            product: Some("Plex Media Server"),
            device_name: Some(name),
            provides: Some("server"),
            ..RawDeviceInfo::default()
        })?;
        let token = AuthToken::generate();
        let now = self.now();
        let device_id = self
            .store
            .grant_token(&TokenGrant {
                account: record.account.id,
                client_identifier,
                device,
                token: self.secrets.new_token(&token),
                known_client: self.secrets.lookup_hash(Purpose::KnownClient, &client),
                now,
            })
            .await?;
        self.store
            .set_device_connections(record.account.id, device_id, &[uri.to_owned()])
            .await?;
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::check_uri;

    #[test]
    fn only_http_uris_are_connections() {
        assert!(check_uri("http://192.168.1.10:32400").is_ok());
        assert!(check_uri("https://plex.example.org:443").is_ok());
        for bad in [
            "ftp://x",
            "http://",
            "javascript:alert(1)",
            "http://a b",
            "http:///path",
        ] {
            assert!(check_uri(bad).is_err(), "{bad}");
        }
        assert!(check_uri(&format!("http://{}", "a".repeat(600))).is_err());
    }
}
