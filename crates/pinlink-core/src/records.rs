//! Turning domain values into what the [`Store`] keeps and back: codes and
//! tokens become lookup hashes and sealed copies on the way in, and are
//! opened again on the way out. Beside [`crate::secrets`], which it uses.
//!
//! [`Store`]: crate::store::Store

use crate::error::CoreError;
use crate::model::{Pin, PinCode};
use crate::secrets::{AuthToken, Purpose, Secrets};
use crate::store::{NewToken, PinRecord};

impl Secrets {
    /// A new token as stored: its lookup hash and sealed copy.
    pub(crate) fn new_token(&self, token: &AuthToken) -> NewToken {
        NewToken {
            hash: self.lookup_hash(Purpose::Token, token.expose()),
            sealed: self.seal(Purpose::Token, token.expose()),
        }
    }

    /// Decrypts a stored token's sealed copy.
    pub(crate) fn open_token(&self, sealed: Option<&[u8]>) -> Result<Option<AuthToken>, CoreError> {
        sealed
            .map(|sealed| {
                Ok(AuthToken::from_presented(
                    self.open(Purpose::Token, sealed)?,
                ))
            })
            .transpose()
    }

    pub(crate) fn pin_record(&self, pin: &Pin, requester_net: String) -> PinRecord {
        PinRecord {
            id: pin.id,
            code_hash: self.lookup_hash(Purpose::PinCode, pin.code.as_str()),
            code_sealed: self.seal(Purpose::PinCode, pin.code.as_str()),
            // The column tells the short 4-character codes from the rest.
            strong: !pin.code.is_short(),
            client_identifier: pin.client_identifier.clone(),
            device: pin.device.clone(),
            requester_ip: pin.requester_ip.to_string(),
            requester_net,
            created_at: pin.created_at,
            expires_at: pin.expires_at,
            token_sealed: pin
                .auth_token
                .as_ref()
                .map(|t| self.seal(Purpose::Token, t.expose())),
            jwk: pin.jwk.as_deref().cloned(),
            grant: pin.grant.as_deref().cloned(),
        }
    }

    pub(crate) fn pin_from_record(&self, record: PinRecord) -> Result<Pin, CoreError> {
        let code = PinCode::from_stored(self.open(Purpose::PinCode, &record.code_sealed)?)
            .ok_or_else(|| {
                CoreError::Internal(format!("pin {} has a malformed stored code", record.id))
            })?;
        let auth_token = self.open_token(record.token_sealed.as_deref())?;
        Ok(Pin {
            id: record.id,
            code,
            client_identifier: record.client_identifier,
            device: record.device,
            requester_ip: record.requester_ip.into(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            auth_token,
            jwk: record.jwk.map(Box::new),
            grant: record.grant.map(Box::new),
        })
    }
}
