//! Failure budgets: how many wrong passwords or wrong link codes an account or
//! an address may send before it must wait. Counts live in the [`Store`] so
//! that several server instances share them.
//!
//! [`Store`]: crate::store::Store

/// At most `max_failures` failures within any `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    pub max_failures: u32,
    pub window_secs: i64,
}

impl FailurePolicy {
    pub const fn new(max_failures: u32, window_secs: i64) -> Self {
        FailurePolicy {
            max_failures,
            window_secs,
        }
    }
}

/// The budgets pinlink enforces. Per address is looser than per account, as
/// one address may be a whole office behind NAT.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    pub sign_in_per_account: FailurePolicy,
    pub sign_in_per_ip: FailurePolicy,
    pub link_per_account: FailurePolicy,
    pub link_per_ip: FailurePolicy,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            sign_in_per_account: FailurePolicy::new(10, 15 * 60),
            sign_in_per_ip: FailurePolicy::new(30, 15 * 60),
            // 20 guesses out of 2^20 codes: even with a thousand live pins an
            // attacker's chance per window stays about 2%.
            link_per_account: FailurePolicy::new(20, 15 * 60),
            link_per_ip: FailurePolicy::new(60, 15 * 60),
        }
    }
}

/// The keys failures are counted under.
pub(crate) mod keys {
    pub fn sign_in_account(login: &str) -> String {
        format!("signin:account:{}", login.to_lowercase())
    }
    pub fn sign_in_ip(ip: &str) -> String {
        format!("signin:ip:{ip}")
    }
    pub fn link_account(account: i64) -> String {
        format!("link:account:{account}")
    }
    pub fn link_ip(ip: &str) -> String {
        format!("link:ip:{ip}")
    }
}
