//! Budgets and caps: how much one account, one address or one client may
//! cost pinlink before it must wait, and how many live pins there may be.
//! The numbers are here, and so is how each request spends from them.
//!
//! A budget is spent *before* the work it guards, in one atomic step with
//! the check ([`Store::reserve`]), and refunded when the work turns out not
//! to count (a right password, a right code). So a hundred wrong passwords
//! sent at once are a hundred reservations against a budget of ten: ten are
//! checked, ninety are refused without being looked at. Counts live in the
//! [`Store`], so several server instances share them.
//!
//! Why these numbers, and what they leave an attacker, is written down in
//! ARCHITECTURE.md ("Budgets and the code space").
//!
//! [`Store`]: crate::store::Store
//! [`Store::reserve`]: crate::store::Store::reserve

use crate::model::ClientAddress;
use crate::secrets::{LookupHash, Purpose, Secrets};

/// At most `max` events within any `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_secs: i64,
}

impl Limit {
    pub const fn new(max: u32, window_secs: i64) -> Self {
        Limit { max, window_secs }
    }
    /// No limit at all (benchmarks, trusted test set-ups): nothing is
    /// counted.
    pub const OFF: Limit = Limit {
        max: u32::MAX,
        window_secs: 0,
    };
    pub fn is_off(&self) -> bool {
        self.max == u32::MAX || self.window_secs <= 0
    }
}

/// One budget a request spends from: its key (a keyed hash of what it
/// counts) and the limits its spends must stay within.
#[derive(Debug, Clone)]
pub struct Spend {
    pub key: LookupHash,
    /// Empty when every limit is off: the store then records nothing.
    pub limits: Vec<Limit>,
}

impl Spend {
    /// A spend under `limits`, leaving out limits that are off.
    pub fn new(key: LookupHash, limits: &[Limit]) -> Spend {
        Spend {
            key,
            limits: limits.iter().copied().filter(|l| !l.is_off()).collect(),
        }
    }
}

const MINUTE: i64 = 60;
const DAY: i64 = 24 * 60 * MINUTE;

/// The budgets pinlink enforces. Per address is looser than per account, as
/// one address may be a whole office behind NAT; an IPv6 "address" is its
/// /64 ([`ClientAddress::network`]).
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Wrong passwords for one account from one address. Refuses that
    /// address only, so a stranger's guessing never locks the owner out
    /// elsewhere.
    pub sign_in_per_account_and_address: Limit,
    /// Wrong passwords from one address, whatever the account.
    pub sign_in_per_address: Limit,
    /// Wrong passwords for one account from everywhere, counted only for
    /// clients the account has not used before. Once spent, such clients
    /// are slowed to [`Budgets::sign_in_trickle`], not shut out; clients the
    /// account signed in or linked from before are not slowed at all.
    pub sign_in_per_account: Limit,
    /// Attempts for an account whose [`Budgets::sign_in_per_account`] is
    /// spent, from clients it has not used before.
    pub sign_in_trickle: Limit,
    /// Wrong passwords for one account from clients it *has* used before,
    /// from everywhere: much looser, since the owner must not be slowed, but
    /// there, because a client identifier is not a secret.
    pub sign_in_per_account_familiar: Limit,
    /// New accounts from one address, with `--open-signup` (each costs two
    /// password hashes).
    pub signups_per_address: Limit,
    /// Wrong link codes typed by one account (a short window and a day).
    pub link_per_account: Limit,
    pub link_per_account_daily: Limit,
    /// Wrong link codes from one address, whatever the account.
    pub link_per_address: Limit,
    pub link_per_address_daily: Limit,
    /// New pins from one address, and from one client identifier.
    pub pins_per_address: Limit,
    pub pins_per_client: Limit,
    /// JWT nonces (`GET /api/v2/auth/nonce`) per client identifier and
    /// address: a device needs one every few days.
    pub jwt_nonces_per_client: Limit,
    /// JWT nonces per address, whatever the client identifier (which a
    /// stranger can vary at will): each is a stored row.
    pub jwt_nonces_per_address: Limit,
    /// Device keys registered (`POST /api/v2/auth/jwk`) per device: a
    /// device registers one when it logs in, and again when it rotates it.
    pub device_keys_per_device: Limit,
    /// Device keys registered per address, whatever the device.
    pub device_keys_per_address: Limit,
    /// Passkey sign-ins started per address (each keeps a challenge for
    /// five minutes); a failed one also spends the address's sign-in
    /// budget.
    pub passkey_sign_ins_per_address: Limit,
    /// Wrong two-step codes (and recovery codes) for one account, from
    /// everywhere and whatever the client (a short window and a day): only
    /// someone with the password gets this far, and six digits are few.
    pub second_factor_per_account: Limit,
    pub second_factor_per_account_daily: Limit,
    /// Passkey registrations started per account (each keeps a challenge
    /// for five minutes).
    pub passkey_registrations_per_account: Limit,
    /// Refresh-token grants per address: a device refreshes once an access
    /// token's lifetime; a backend refreshing for many devices a little
    /// more.
    pub refreshes_per_address: Limit,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            sign_in_per_account_and_address: Limit::new(10, 15 * MINUTE),
            sign_in_per_address: Limit::new(30, 15 * MINUTE),
            sign_in_per_account: Limit::new(30, 15 * MINUTE),
            sign_in_trickle: Limit::new(1, MINUTE),
            sign_in_per_account_familiar: Limit::new(300, 15 * MINUTE),
            signups_per_address: Limit::new(5, 60 * MINUTE),
            link_per_account: Limit::new(10, 15 * MINUTE),
            link_per_account_daily: Limit::new(30, DAY),
            link_per_address: Limit::new(30, 15 * MINUTE),
            link_per_address_daily: Limit::new(90, DAY),
            // A device asks for a new pin when the old one expires (15 or
            // 30 minutes) or when a person restarts its login: a few an hour.
            pins_per_address: Limit::new(60, 10 * MINUTE),
            pins_per_client: Limit::new(20, 10 * MINUTE),
            jwt_nonces_per_client: Limit::new(30, 10 * MINUTE),
            jwt_nonces_per_address: Limit::new(120, 10 * MINUTE),
            device_keys_per_device: Limit::new(10, 10 * MINUTE),
            device_keys_per_address: Limit::new(60, 10 * MINUTE),
            passkey_sign_ins_per_address: Limit::new(60, 10 * MINUTE),
            // With both spent, a guesser with the password has 30 tries a
            // day at a code that changes every 30 s: about one chance in
            // 10,000 a day (three codes are accepted at any time).
            second_factor_per_account: Limit::new(10, 15 * MINUTE),
            second_factor_per_account_daily: Limit::new(30, DAY),
            passkey_registrations_per_account: Limit::new(20, 60 * MINUTE),
            refreshes_per_address: Limit::new(600, 10 * MINUTE),
        }
    }
}

impl Budgets {
    /// The longest window any budget counts over: older spends can go.
    pub fn longest_window_secs(&self) -> i64 {
        [
            self.sign_in_per_account_and_address,
            self.sign_in_per_address,
            self.sign_in_per_account,
            self.sign_in_trickle,
            self.sign_in_per_account_familiar,
            self.signups_per_address,
            self.link_per_account,
            self.link_per_account_daily,
            self.link_per_address,
            self.link_per_address_daily,
            self.pins_per_address,
            self.pins_per_client,
            self.jwt_nonces_per_client,
            self.jwt_nonces_per_address,
            self.device_keys_per_device,
            self.device_keys_per_address,
            self.passkey_sign_ins_per_address,
            self.second_factor_per_account,
            self.second_factor_per_account_daily,
            self.passkey_registrations_per_account,
            self.refreshes_per_address,
        ]
        .iter()
        .map(|limit| limit.window_secs)
        .max()
        .unwrap_or(0)
    }
}

/// How many pins may be live at once.
#[derive(Debug, Clone, Copy)]
pub struct PinCaps {
    /// Live pins requested from one address (or IPv6 /64).
    pub per_address: u32,
    /// Of those, live 4-character codes not linked yet: without this, a few
    /// addresses could hold every one of the server's [`PinCaps::link_codes`]
    /// and leave no short code for anyone else.
    pub link_codes_per_address: u32,
    /// Live 4-character codes not linked yet, on the whole server. This is
    /// what keeps guessing hopeless: with 2^20 codes and at most this many
    /// live, one guess hits a live code with a chance of at most
    /// `link_codes / 2^20`. (A linked code can no longer be approved.)
    pub link_codes: u32,
    /// Live pins of both kinds on the whole server (memory: every live pin
    /// is cached). Counted approximately across instances: exactly at each
    /// sweep, plus this instance's own pins since.
    pub total: u64,
}

impl Default for PinCaps {
    fn default() -> Self {
        PinCaps {
            per_address: 100,
            link_codes_per_address: 8,
            link_codes: 512,
            total: 200_000,
        }
    }
}

/// Where a sign-in attempt's failures are counted: an account that exists,
/// or, for a login that matches none, the text typed (hashed) — both cost
/// the same, so the budget does not tell which logins exist.
pub(crate) enum SignInSubject<'a> {
    Account(i64),
    UnknownLogin(&'a str),
}

/// Builds the [`Spend`]s of each kind of request. Keys are keyed hashes of
/// what they count (an account, an address, the login typed), so the
/// database never holds the text a person typed into a login field.
pub(crate) struct BudgetKeys<'a> {
    pub secrets: &'a Secrets,
    pub budgets: &'a Budgets,
}

impl BudgetKeys<'_> {
    fn key(&self, parts: &[&str]) -> LookupHash {
        self.secrets
            .lookup_hash(Purpose::Budget, &parts.join("\u{0}"))
    }

    fn subject(subject: &SignInSubject<'_>) -> String {
        match subject {
            SignInSubject::Account(id) => format!("account:{id}"),
            SignInSubject::UnknownLogin(login) => format!("login:{}", login.to_lowercase()),
        }
    }

    /// The key of one account's (or login's) failures from one address:
    /// the one a right password clears.
    pub fn sign_in_pair(&self, who: &SignInSubject<'_>, from: &ClientAddress) -> LookupHash {
        self.key(&["sign-in pair", &Self::subject(who), &from.network()])
    }

    /// A sign-in from a client the account has used before: the per-pair
    /// and per-address budgets, and the loose account-wide one for familiar
    /// clients.
    pub fn sign_in_familiar(&self, who: &SignInSubject<'_>, from: &ClientAddress) -> Vec<Spend> {
        let mut spends = self.sign_in(who, from);
        spends.push(Spend::new(
            self.key(&["sign-in account familiar", &Self::subject(who)]),
            &[self.budgets.sign_in_per_account_familiar],
        ));
        spends
    }

    /// The per-pair and per-address budgets every sign-in spends from.
    fn sign_in(&self, who: &SignInSubject<'_>, from: &ClientAddress) -> Vec<Spend> {
        let b = self.budgets;
        vec![
            Spend::new(
                self.sign_in_pair(who, from),
                &[b.sign_in_per_account_and_address],
            ),
            Spend::new(
                self.key(&["sign-in address", &from.network()]),
                &[b.sign_in_per_address],
            ),
        ]
    }

    /// A sign-in from a client the account has not used before: the same,
    /// plus the account-wide budget ([`Self::ACCOUNT_WIDE`] in the list).
    pub fn sign_in_unfamiliar(&self, who: &SignInSubject<'_>, from: &ClientAddress) -> Vec<Spend> {
        let mut spends = self.sign_in(who, from);
        spends.push(Spend::new(
            self.key(&["sign-in account", &Self::subject(who)]),
            &[self.budgets.sign_in_per_account],
        ));
        spends
    }

    /// Where the account-wide budget sits in [`Self::sign_in_unfamiliar`].
    pub const ACCOUNT_WIDE: usize = 2;

    /// The account-wide budget is spent: an unfamiliar client may still try,
    /// at the trickle's pace.
    pub fn sign_in_trickle(&self, who: &SignInSubject<'_>, from: &ClientAddress) -> Vec<Spend> {
        let mut spends = self.sign_in(who, from);
        spends.push(Spend::new(
            self.key(&["sign-in trickle", &Self::subject(who)]),
            &[self.budgets.sign_in_trickle],
        ));
        spends
    }

    /// Typing a code to approve or deny: the account's and the address's
    /// budgets of wrong codes.
    pub fn code(&self, account: i64, from: &ClientAddress) -> Vec<Spend> {
        let b = self.budgets;
        vec![
            Spend::new(
                self.key(&["code account", &account.to_string()]),
                &[b.link_per_account, b.link_per_account_daily],
            ),
            Spend::new(
                self.key(&["code address", &from.network()]),
                &[b.link_per_address, b.link_per_address_daily],
            ),
        ]
    }

    /// Asking for a new pin: the address's budget, and the client
    /// identifier's from that address (an identifier is not a secret: keyed
    /// by it alone, anyone could spend a device's budget and lock it out).
    /// A JWT nonce: per client identifier and address, and per address.
    pub fn jwt_nonce(&self, client_identifier: &str, from: &ClientAddress) -> Vec<Spend> {
        let network = from.network();
        vec![
            Spend::new(
                self.key(&["jwt nonce", client_identifier, &network]),
                &[self.budgets.jwt_nonces_per_client],
            ),
            Spend::new(
                self.key(&["jwt nonce address", &network]),
                &[self.budgets.jwt_nonces_per_address],
            ),
        ]
    }

    /// A two-step code (or recovery code) checked for an account.
    pub fn second_factor(&self, account: i64) -> Vec<Spend> {
        let b = self.budgets;
        vec![Spend::new(
            self.key(&["second factor", &account.to_string()]),
            &[
                b.second_factor_per_account,
                b.second_factor_per_account_daily,
            ],
        )]
    }

    /// Starting a passkey registration.
    pub fn passkey_registration(&self, account: i64) -> Vec<Spend> {
        vec![Spend::new(
            self.key(&["passkey registration", &account.to_string()]),
            &[self.budgets.passkey_registrations_per_account],
        )]
    }

    /// A refresh-token grant.
    pub fn refresh(&self, from: &ClientAddress) -> Vec<Spend> {
        vec![Spend::new(
            self.key(&["refresh address", &from.network()]),
            &[self.budgets.refreshes_per_address],
        )]
    }

    /// Starting a passkey sign-in.
    pub fn passkey_sign_in(&self, from: &ClientAddress) -> Vec<Spend> {
        vec![Spend::new(
            self.key(&["passkey sign-in", &from.network()]),
            &[self.budgets.passkey_sign_ins_per_address],
        )]
    }

    /// A passkey sign-in's answer: the address's sign-in budget (a wrong
    /// one is a failed sign-in).
    pub fn passkey_answer(&self, from: &ClientAddress) -> Vec<Spend> {
        vec![Spend::new(
            self.key(&["sign-in address", &from.network()]),
            &[self.budgets.sign_in_per_address],
        )]
    }

    /// Registering a device key: per device, and per address.
    pub fn device_key(&self, device: i64, from: &ClientAddress) -> Vec<Spend> {
        vec![
            Spend::new(
                self.key(&["device key", &device.to_string()]),
                &[self.budgets.device_keys_per_device],
            ),
            Spend::new(
                self.key(&["device key address", &from.network()]),
                &[self.budgets.device_keys_per_address],
            ),
        ]
    }

    pub fn new_pin(&self, client_identifier: &str, from: &ClientAddress) -> Vec<Spend> {
        let b = self.budgets;
        let network = from.network();
        vec![
            Spend::new(self.key(&["pins address", &network]), &[b.pins_per_address]),
            Spend::new(
                self.key(&["pins client", client_identifier, &network]),
                &[b.pins_per_client],
            ),
        ]
    }

    /// Creating an account at `/signup`.
    pub fn sign_up(&self, from: &ClientAddress) -> Vec<Spend> {
        vec![Spend::new(
            self.key(&["sign-up address", &from.network()]),
            &[self.budgets.signups_per_address],
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::ServerKey;

    #[test]
    fn keys_hide_what_they_count_and_keep_kinds_apart() {
        let secrets = Secrets::new(&ServerKey::generate());
        let budgets = Budgets::default();
        let keys = BudgetKeys {
            secrets: &secrets,
            budgets: &budgets,
        };
        let here = ClientAddress::new("192.0.2.1".parse().expect("ip"));
        let there = ClientAddress::new("192.0.2.2".parse().expect("ip"));
        let alice = SignInSubject::Account(1);
        assert_ne!(
            keys.sign_in_pair(&alice, &here),
            keys.sign_in_pair(&alice, &there)
        );
        // A login typed in another case is the same login.
        assert_eq!(
            keys.sign_in_pair(&SignInSubject::UnknownLogin("Bob"), &here),
            keys.sign_in_pair(&SignInSubject::UnknownLogin("bob"), &here)
        );
        // The address budget of sign-ins is not the address budget of codes.
        assert_ne!(
            keys.sign_in(&alice, &here)[1].key,
            keys.code(1, &here)[1].key
        );
        assert_eq!(keys.sign_in_unfamiliar(&alice, &here).len(), 3);
        assert_eq!(keys.sign_in_familiar(&alice, &here).len(), 3);
    }

    #[test]
    fn off_limits_count_nothing() {
        assert!(Limit::OFF.is_off());
        assert!(!Limit::new(1, 60).is_off());
        assert_eq!(Budgets::default().longest_window_secs(), DAY);
    }
}
