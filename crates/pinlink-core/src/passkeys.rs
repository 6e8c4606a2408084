//! Passkeys (WebAuthn), through webauthn-rs: registering one for a signed-in
//! account, and signing in with one alone (a discoverable credential: the
//! browser offers the account's passkey, no name typed; user verification
//! is required, so it counts as both factors). No IO: the service keeps
//! each ceremony's state between its two requests and the passkeys
//! themselves in the store, as webauthn-rs's JSON.
//!
//! The relying party is the server's public URL: its host is the RP id and
//! the URL (scheme, host, port) the only origin accepted. Browsers allow
//! WebAuthn only on a domain name (`localhost` counts), so a public URL
//! with an IP address has no passkeys ([`Passkeys::available`]).

use serde_json::Value;
use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::error::CoreError;

/// What the relying party is named in the browser's passkey dialog.
const RP_NAME: &str = "pinlink";

/// The server as a WebAuthn relying party.
pub struct Passkeys {
    webauthn: Option<Webauthn>,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkeys")
            .field("available", &self.available())
            .finish()
    }
}

/// A ceremony's state between its two requests, as stored.
pub type CeremonyState = String;

/// A registered passkey as webauthn-rs writes it (public key, counter).
pub type StoredPasskey = String;

fn refused(what: &str) -> impl Fn(webauthn_rs::prelude::WebauthnError) -> CoreError + '_ {
    move |e| {
        tracing::debug!(error = ?e, "{what}");
        CoreError::PasskeyRefused
    }
}

fn internal(e: serde_json::Error) -> CoreError {
    CoreError::Internal(format!("a passkey record does not read: {e}"))
}

impl Passkeys {
    /// The relying party for `public_url`; unavailable when its host is not
    /// a domain name.
    pub fn for_public_url(public_url: &str) -> Passkeys {
        let webauthn = Url::parse(public_url).ok().and_then(|origin| {
            let host = origin.domain()?.to_owned();
            WebauthnBuilder::new(&host, &origin)
                .ok()?
                .rp_name(RP_NAME)
                .build()
                .ok()
        });
        Passkeys { webauthn }
    }

    /// No passkeys at all (tests, commands).
    pub fn none() -> Passkeys {
        Passkeys { webauthn: None }
    }

    pub fn available(&self) -> bool {
        self.webauthn.is_some()
    }

    fn webauthn(&self) -> Result<&Webauthn, CoreError> {
        self.webauthn.as_ref().ok_or(CoreError::PasskeysUnavailable)
    }

    /// Starts registering a passkey for the account whose WebAuthn user
    /// handle is `handle`: the options for `navigator.credentials.create`
    /// (asking for a discoverable credential, so the passkey alone signs
    /// in) and the state to keep until the answer comes.
    pub fn start_registration(
        &self,
        handle: Uuid,
        username: &str,
        existing: Vec<Vec<u8>>,
    ) -> Result<(Value, CeremonyState), CoreError> {
        let exclude: Vec<CredentialID> = existing;
        let (challenge, state) = self
            .webauthn()?
            .start_passkey_registration(
                handle,
                username,
                username,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(refused("starting a passkey registration failed"))?;
        let mut options = serde_json::to_value(&challenge).map_err(internal)?;
        // A passkey that signs in by itself must live on the authenticator.
        if let Some(selection) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "required".into());
            selection.insert("requireResidentKey".into(), true.into());
        }
        Ok((options, serde_json::to_string(&state).map_err(internal)?))
    }

    /// Checks the browser's answer to a registration; the new passkey's
    /// credential id and what to store of it.
    pub fn finish_registration(
        &self,
        answer: &Value,
        state: &str,
    ) -> Result<(Vec<u8>, StoredPasskey), CoreError> {
        let answer: RegisterPublicKeyCredential =
            serde_json::from_value(answer.clone()).map_err(|_| CoreError::PasskeyRefused)?;
        let state: PasskeyRegistration = serde_json::from_str(state).map_err(internal)?;
        let passkey = self
            .webauthn()?
            .finish_passkey_registration(&answer, &state)
            .map_err(refused("a passkey registration was refused"))?;
        Ok((
            passkey.cred_id().as_slice().to_vec(),
            serde_json::to_string(&passkey).map_err(internal)?,
        ))
    }

    /// Starts a sign-in with a passkey alone: the options for
    /// `navigator.credentials.get` and the state to keep.
    pub fn start_sign_in(&self) -> Result<(Value, CeremonyState), CoreError> {
        let (challenge, state) = self
            .webauthn()?
            .start_discoverable_authentication()
            .map_err(refused("starting a passkey sign-in failed"))?;
        let mut options = serde_json::to_value(&challenge).map_err(internal)?;
        // A button, not the autofill prompt.
        if let Some(options) = options.as_object_mut() {
            options.remove("mediation");
        }
        Ok((options, serde_json::to_string(&state).map_err(internal)?))
    }

    /// Whose passkey answered a sign-in: its user handle and credential id
    /// (not checked yet: [`Passkeys::finish_sign_in`] does that).
    pub fn identify(&self, answer: &Value) -> Result<(Uuid, Vec<u8>), CoreError> {
        let answer: PublicKeyCredential =
            serde_json::from_value(answer.clone()).map_err(|_| CoreError::PasskeyRefused)?;
        let (handle, credential) = self
            .webauthn()?
            .identify_discoverable_authentication(&answer)
            .map_err(refused("a passkey answer named no account"))?;
        Ok((handle, credential.to_vec()))
    }

    /// Checks a sign-in's answer against the stored passkey; what to store
    /// of the passkey now (its signature counter moves on).
    pub fn finish_sign_in(
        &self,
        answer: &Value,
        state: &str,
        stored: &str,
    ) -> Result<StoredPasskey, CoreError> {
        let answer: PublicKeyCredential =
            serde_json::from_value(answer.clone()).map_err(|_| CoreError::PasskeyRefused)?;
        let state: DiscoverableAuthentication = serde_json::from_str(state).map_err(internal)?;
        let mut passkey: Passkey = serde_json::from_str(stored).map_err(internal)?;
        let result = self
            .webauthn()?
            .finish_discoverable_authentication_v2(&answer, state, &passkey)
            .map_err(refused("a passkey sign-in was refused"))?;
        passkey.update_credential(&result);
        serde_json::to_string(&passkey).map_err(internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_is_a_relying_party_and_an_ip_address_is_not() {
        assert!(Passkeys::for_public_url("http://localhost:8080").available());
        assert!(Passkeys::for_public_url("https://link.example.org").available());
        assert!(!Passkeys::for_public_url("http://127.0.0.1:8080").available());
        assert!(!Passkeys::for_public_url("not a url").available());
        assert!(matches!(
            Passkeys::none().start_sign_in(),
            Err(CoreError::PasskeysUnavailable)
        ));
    }

    #[test]
    fn registration_asks_for_a_discoverable_credential() {
        let passkeys = Passkeys::for_public_url("http://localhost:8080");
        let (options, state) = passkeys
            .start_registration(Uuid::new_v4(), "alice", vec![vec![1, 2, 3]])
            .expect("options");
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["requireResidentKey"], true);
        assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
        assert_eq!(options["publicKey"]["excludeCredentials"][0]["id"], "AQID");
        assert!(!state.is_empty());
        // A made-up answer is refused, not a panic.
        assert!(matches!(
            passkeys.finish_registration(&serde_json::json!({"id": "x"}), &state),
            Err(CoreError::PasskeyRefused)
        ));
        let (sign_in, _) = passkeys.start_sign_in().expect("options");
        assert!(sign_in.get("mediation").is_none());
        assert_eq!(sign_in["publicKey"]["rpId"], "localhost");
    }
}
