//! Two-step verification as plex.tv and every authenticator app do it:
//! RFC 6238 TOTP (SHA-1, 6 digits, 30-second steps, one step of clock skew
//! either way), enrolled from an `otpauth://` URI (a QR code) or its secret
//! as text, plus ten recovery codes for a lost phone, each good once. No
//! IO: the service keeps the secret sealed and the recovery codes as keyed
//! hashes, and remembers the last step a code was accepted in (a code is
//! good once, RFC 6238 §5.2).

use rand::RngCore;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::clock::UnixTime;
use crate::error::CoreError;

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Recovery codes given at enrollment.
pub const RECOVERY_CODES: usize = 10;
/// The issuer authenticator apps show beside the account.
pub const ISSUER: &str = "pinlink";

/// A TOTP secret (20 random bytes, as RFC 4226 recommends). `Debug` shows
/// nothing of it.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    pub fn generate() -> TotpSecret {
        let mut bytes = vec![0u8; 20];
        rand::thread_rng().fill_bytes(&mut bytes);
        TotpSecret(bytes)
    }

    /// A secret written in base32 (as an authenticator app shows it, or as
    /// test mode's `totp_secret`); spaces and case do not matter.
    pub fn from_base32(text: &str) -> Result<TotpSecret, CoreError> {
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        let bytes = Secret::try_from_base32(compact.trim_end_matches('='))
            .map_err(|_| CoreError::InvalidInput("the two-step secret is not base32".into()))?;
        let bytes = bytes.as_ref().to_vec();
        if bytes.len() < 10 {
            return Err(CoreError::InvalidInput(
                "the two-step secret is too short (at least 16 base32 characters)".into(),
            ));
        }
        Ok(TotpSecret(bytes))
    }

    /// The secret in base32, for people who type it in rather than scan.
    pub fn to_base32(&self) -> String {
        Secret::from(self.0.clone()).to_base32()
    }

    fn totp(&self, account: &str) -> Result<Totp, CoreError> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_skew(1)
            .with_step_duration(STEP_SECS)
            .with_secret(self.0.clone())
            .with_issuer(Some(ISSUER))
            .with_account_name(account)
            .build()
            .map_err(|e| CoreError::Internal(format!("a TOTP could not be built: {e}")))
    }

    /// Google Authenticator's key URI, for the QR code:
    /// `otpauth://totp/pinlink:NAME?secret=…&issuer=pinlink`.
    pub fn otpauth_uri(&self, account: &str) -> Result<String, CoreError> {
        self.totp(account)?
            .to_url()
            .map_err(|e| CoreError::Internal(format!("no otpauth URI: {e}")))
    }

    /// The step `code` belongs to, if it is this secret's code for the step
    /// of `now` or the one before or after.
    pub fn step_of(&self, code: &str, now: UnixTime) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = u64::try_from(now.0).ok()?;
        let step = self.totp("").ok()?.check(&code, now)?;
        i64::try_from(step).ok()
    }

    /// The code of the step `now` is in (what an authenticator app shows).
    pub fn code_at(&self, now: UnixTime) -> String {
        self.totp("")
            .map(|totp| totp.generate(u64::try_from(now.0).unwrap_or(0)).to_string())
            .unwrap_or_default()
    }
}

/// Whether what someone typed as a verification code looks like a TOTP
/// code (six digits) rather than a recovery code.
pub fn looks_like_totp_code(typed: &str) -> bool {
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Letters of recovery codes: no 0/O, 1/l/I, so they read back right.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Ten new recovery codes, `xxxx-xxxx-xxxx` (about 59 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::thread_rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let letters: Vec<char> = (0..12)
                .map(|_| {
                    let n = (rng.next_u32() as usize) % RECOVERY_ALPHABET.len();
                    char::from(RECOVERY_ALPHABET[n])
                })
                .collect();
            letters
                .chunks(4)
                .map(|chunk| chunk.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// A recovery code as typed, in the one form it is hashed in (any case,
/// with or without dashes and spaces); `None` if it cannot be one.
pub fn normal_recovery_code(typed: &str) -> Option<String> {
    let letters: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (letters.len() == 12 && letters.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
        .then_some(letters)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret and vectors (the last 6 digits of
    /// its 8-digit codes).
    #[test]
    fn codes_match_rfc_6238_and_one_step_of_skew_is_allowed() {
        let secret = TotpSecret(b"12345678901234567890".to_vec());
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
        ] {
            assert_eq!(secret.code_at(UnixTime(time)), code);
            let step = secret.step_of(code, UnixTime(time)).expect("accepted");
            assert_eq!(step, time / 30);
            // One step later and earlier, the same code still passes…
            assert!(secret.step_of(code, UnixTime(time + 30)).is_some());
            assert!(secret.step_of(code, UnixTime(time - 30)).is_some());
            // …two steps off, it does not.
            assert!(secret.step_of(code, UnixTime(time + 61)).is_none());
        }
        assert!(secret.step_of("28708", UnixTime(59)).is_none());
        assert!(secret.step_of("abcdef", UnixTime(59)).is_none());
        assert!(secret.step_of("287 082", UnixTime(59)).is_some());
    }

    #[test]
    fn secrets_round_trip_through_base32_and_the_uri_names_the_account() {
        let secret = TotpSecret::generate();
        let text = secret.to_base32();
        assert_eq!(text.len(), 32);
        let again = TotpSecret::from_base32(&text.to_lowercase()).expect("base32");
        assert_eq!(again.0, secret.0);
        let uri = secret.otpauth_uri("alice").expect("uri");
        assert!(uri.starts_with("otpauth://totp/pinlink:alice?"), "{uri}");
        assert!(uri.contains(&format!("secret={text}")), "{uri}");
        assert!(uri.contains("issuer=pinlink"), "{uri}");
        assert!(TotpSecret::from_base32("not base32!").is_err());
        assert!(TotpSecret::from_base32("ABCD").is_err());
        assert_eq!(format!("{secret:?}"), "TotpSecret(<redacted>)");
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_read_back_in_any_form() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 14);
            let normal = normal_recovery_code(code).expect("a code");
            assert_eq!(
                normal_recovery_code(&code.to_uppercase().replace('-', " ")),
                Some(normal)
            );
            assert!(!looks_like_totp_code(code));
        }
        assert!(normal_recovery_code("123456").is_none());
        assert!(looks_like_totp_code("123 456"));
    }
}
