//! Everything secret: the server key, keyed lookup hashes, sealed (encrypted)
//! copies, bearer tokens and passwords.
//!
//! Nothing secret is stored in plain text. A token or pin code is found again
//! through its [`LookupHash`] (HMAC-SHA256 under a key derived from the server
//! key, so a stolen database alone cannot be searched for guesses), and where
//! the API must hand the secret back (a pin's code on every poll, a device's
//! token in the device list) the database holds a copy sealed with
//! XChaCha20-Poly1305 under a second derived key. The server key lives outside
//! the database (a key file), so a database dump is not enough.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::Argon2;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::CoreError;

type HmacSha256 = Hmac<Sha256>;

/// The 32-byte master secret every other key is derived from.
#[derive(Clone)]
pub struct ServerKey([u8; 32]);

impl ServerKey {
    pub const LEN: usize = 32;

    pub fn generate() -> ServerKey {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        ServerKey(key)
    }
    pub fn from_bytes(bytes: &[u8]) -> Option<ServerKey> {
        bytes.try_into().ok().map(ServerKey)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey(<redacted>)")
    }
}

/// What a secret is used for. Part of both the hash and the sealing, so a
/// sealed pin code can never be passed off as a sealed token.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    PinCode,
    Token,
    /// Web forms' anti-forgery tokens, bound to a browser's cookie.
    Csrf,
    /// The keys budgets are counted under: what a person typed as a login
    /// (people type passwords into login fields) never reaches the database.
    Budget,
    /// A client identifier an account signed in or linked from before.
    KnownClient,
    /// The secret part of an RFC 8628 device code.
    DeviceCode,
    /// A confidential application's `client_secret`.
    ClientSecret,
    /// An account's two-step (TOTP) secret, sealed.
    TwoStep,
    /// A two-step recovery code.
    RecoveryCode,
    /// A password reset link's token.
    PasswordReset,
    /// A passkey ceremony in progress, as the browser names it.
    PasskeyCeremony,
    /// `/login`'s proof, between its two steps, that the password was right.
    SignInTicket,
    /// A browser's session cookie: proof that a page's sign-in made it,
    /// so that a device's token cannot stand in for one.
    PageSession,
    /// A device grant's refresh token.
    RefreshToken,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::PinCode => b"pin-code",
            Purpose::Token => b"token",
            Purpose::Csrf => b"csrf",
            Purpose::Budget => b"budget",
            Purpose::KnownClient => b"known-client",
            Purpose::DeviceCode => b"device-code",
            Purpose::ClientSecret => b"client-secret",
            Purpose::TwoStep => b"two-step",
            Purpose::RecoveryCode => b"recovery-code",
            Purpose::PasswordReset => b"password-reset",
            Purpose::PasskeyCeremony => b"passkey-ceremony",
            Purpose::SignInTicket => b"sign-in-ticket",
            Purpose::PageSession => b"page-session",
            Purpose::RefreshToken => b"refresh-token",
        }
    }
}

/// HMAC-SHA256 of a secret: how the database finds a token or code.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LookupHash(pub [u8; 32]);

impl LookupHash {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn from_slice(bytes: &[u8]) -> Option<LookupHash> {
        bytes.try_into().ok().map(LookupHash)
    }
}

impl fmt::Debug for LookupHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LookupHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// The keys derived from the [`ServerKey`].
#[derive(Clone)]
pub struct Secrets {
    lookup_key: [u8; 32],
    seal: XChaCha20Poly1305,
}

/// 32 bytes derived from the server key for `label` (for keys that must
/// be the same on every instance yet never stored).
pub(crate) fn derive_bytes(master: &ServerKey, label: &[u8]) -> [u8; 32] {
    derive(master, label)
}

fn derive(master: &ServerKey, label: &[u8]) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(master.as_bytes()).expect("HMAC takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl Secrets {
    pub fn new(master: &ServerKey) -> Secrets {
        let seal_key = derive(master, b"pinlink seal v1");
        Secrets {
            lookup_key: derive(master, b"pinlink lookup v1"),
            seal: XChaCha20Poly1305::new(&seal_key.into()),
        }
    }

    pub fn lookup_hash(&self, purpose: Purpose, secret: &str) -> LookupHash {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.lookup_key)
            .expect("HMAC takes any key length");
        mac.update(purpose.label());
        mac.update(b"\0");
        mac.update(secret.as_bytes());
        LookupHash(mac.finalize().into_bytes().into())
    }

    /// Encrypts `secret`; the result is `nonce || ciphertext`.
    pub fn seal(&self, purpose: Purpose, secret: &str) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .seal
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: purpose.label(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption of a short secret cannot fail");
        let mut out = Vec::with_capacity(24 + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`Secrets::seal`] made. Fails when the server key is not
    /// the one the data was sealed with.
    pub fn open(&self, purpose: Purpose, sealed: &[u8]) -> Result<String, CoreError> {
        let wrong_key = || {
            CoreError::Internal(
                "a stored secret cannot be decrypted: is this the server key the database was made with?"
                    .into(),
            )
        };
        if sealed.len() < 24 {
            return Err(wrong_key());
        }
        let (nonce, body) = sealed.split_at(24);
        let plain = self
            .seal
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: purpose.label(),
                },
            )
            .map_err(|_| wrong_key())?;
        String::from_utf8(plain).map_err(|_| wrong_key())
    }
}

/// A bearer token (`X-Plex-Token`). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(Box<str>);

const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl AuthToken {
    /// Twenty characters, like plex.tv's tokens; 20 × log2(62) ≈ 119 bits.
    pub const LEN: usize = 20;

    pub fn generate() -> AuthToken {
        let mut rng = rand::rngs::OsRng;
        AuthToken(
            (0..Self::LEN)
                .map(|_| TOKEN_ALPHABET[rng.gen_range(0..TOKEN_ALPHABET.len())] as char)
                .collect::<String>()
                .into_boxed_str(),
        )
    }
    pub fn from_presented(value: String) -> AuthToken {
        AuthToken(value.into_boxed_str())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

/// A password as typed. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 1024;

    /// A password for a new account: 8 to 1024 characters.
    pub fn new_for_account(value: String) -> Result<Password, CoreError> {
        let n = value.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&n) {
            return Err(CoreError::InvalidInput(format!(
                "a password is {} to {} characters",
                Self::MIN_LEN,
                Self::MAX_LEN
            )));
        }
        Ok(Password(value))
    }
    /// A password presented at sign-in; any length is accepted for checking,
    /// but an over-long one cannot match and is not hashed (argon2 time).
    pub fn presented(value: String) -> Password {
        Password(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// argon2id with the crate's defaults (19 MiB, 2 passes), the OWASP minimum.
pub fn hash_password(password: &Password) -> Result<String, CoreError> {
    let failed =
        |e: &dyn fmt::Display| CoreError::Internal(format!("password hashing failed: {e}"));
    let salt = SaltString::generate(&mut OsRng);
    let argon2 = Argon2::default();
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| failed(&e))?;
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    hash_into(&argon2, password.expose().as_bytes(), salt_raw, &mut out).map_err(|e| failed(&e))?;
    let output = argon2::password_hash::Output::new(&out).map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: argon2
            .params()
            .try_into()
            .map_err(|e: argon2::password_hash::Error| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Checks a password against a stored hash. With no stored hash (unknown
/// account) it checks against a dummy so the answer takes as long either way.
pub fn verify_password(password: &Password, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        hash_password(&Password("dummy password for timing".into())).unwrap_or_default()
    });
    let hash = stored.unwrap_or(dummy);
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    if password.expose().len() > Password::MAX_LEN * 4 {
        return false;
    }
    let ok = check(password.expose().as_bytes(), &parsed).unwrap_or(false);
    ok && stored.is_some()
}

/// Recomputes a stored argon2 hash with the password and compares, in
/// constant time.
fn check(password: &[u8], stored: &PasswordHash<'_>) -> Result<bool, argon2::password_hash::Error> {
    use argon2::password_hash::Error;
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Err(Error::PhcStringField);
    };
    let argon2 = Argon2::new(
        argon2::Algorithm::try_from(stored.algorithm)?,
        argon2::Version::try_from(stored.version.unwrap_or(0x13))?,
        argon2::Params::try_from(stored)?,
    );
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    let mut out = vec![0u8; expected.len()];
    hash_into(&argon2, password, salt, &mut out).map_err(|_| Error::Crypto)?;
    Ok(bool::from(out.ct_eq(expected.as_bytes())))
}

/// Runs argon2 in this thread's own working memory, allocated once and
/// reused: a fresh 19 MiB allocation per hash (what the crate does by itself)
/// is aligned, and the allocator could not reuse the freed block for the next
/// one, so every hash left 19 MiB behind (200 sign-ins: 4 GB). The memory is
/// wiped after each use.
fn hash_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    thread_local! {
        static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let blocks = argon2.params().block_count();
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        let result =
            argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks]);
        memory[..blocks].fill(argon2::Block::default());
        result
    })
}

/// Constant-time string equality, for comparing anything a caller could
/// probe byte by byte.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    constant_time_eq_bytes(a.as_bytes(), b.as_bytes())
}

pub fn constant_time_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_purpose() {
        let secrets = Secrets::new(&ServerKey::generate());
        let sealed = secrets.seal(Purpose::Token, "abc");
        assert_eq!(
            secrets.open(Purpose::Token, &sealed).ok().as_deref(),
            Some("abc")
        );
        assert!(secrets.open(Purpose::PinCode, &sealed).is_err());
        let other = Secrets::new(&ServerKey::generate());
        assert!(other.open(Purpose::Token, &sealed).is_err());
        assert!(
            !sealed.windows(3).any(|w| w == b"abc"),
            "plain text must not appear"
        );
    }

    #[test]
    fn lookup_hashes_depend_on_key_and_purpose() {
        let key = ServerKey::generate();
        let a = Secrets::new(&key);
        assert_eq!(
            a.lookup_hash(Purpose::Token, "x"),
            a.lookup_hash(Purpose::Token, "x")
        );
        assert_ne!(
            a.lookup_hash(Purpose::Token, "x"),
            a.lookup_hash(Purpose::PinCode, "x")
        );
        let b = Secrets::new(&ServerKey::generate());
        assert_ne!(
            a.lookup_hash(Purpose::Token, "x"),
            b.lookup_hash(Purpose::Token, "x")
        );
    }

    #[test]
    fn our_hashes_are_standard_argon2id_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_password(&Password("correct horse".into())).expect("hash");
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).expect("PHC string");
        Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .expect("the crate's own check accepts our hash");
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_password(
            &Password("battery staple".into()),
            Some(&theirs)
        ));
        assert!(!verify_password(
            &Password("battery stapler".into()),
            Some(&theirs)
        ));
    }

    #[test]
    fn passwords_verify_and_debug_redacts() {
        let pw = Password::new_for_account("correct horse".into()).expect("valid");
        let hash = hash_password(&pw).expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&pw, Some(&hash)));
        assert!(!verify_password(
            &Password::presented("wrong".into()),
            Some(&hash)
        ));
        assert!(!verify_password(&pw, None));
        assert!(!format!("{pw:?}").contains("horse"));
        let token = AuthToken::generate();
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
