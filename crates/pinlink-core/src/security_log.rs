//! The account's security log: what happened to an account, when, from
//! where and with which client — sign-ins (and refused ones), devices
//! linked and revoked, approvals and denials, password, e-mail and
//! two-step changes, passkeys, and the operator's actions. Shown newest
//! first on `/account`; kept [`KEPT_DAYS`] and at most
//! [`MAX_ENTRIES_PER_ACCOUNT`] entries an account (a stranger guessing a
//! password writes a refused sign-in per guess, bounded by the sign-in
//! budgets, and the oldest entries make room; refused sign-ins are kept to
//! the newest [`MAX_REFUSALS_PER_ACCOUNT`], so they never push out the
//! owner's own entries). Nothing secret is written:
//! no password, code or token, only what happened.

use crate::clock::UnixTime;
use crate::model::AccountId;

/// How long entries are kept.
pub const KEPT_DAYS: i64 = 90;

/// Entries kept per account, at most; the oldest go first.
pub const MAX_ENTRIES_PER_ACCOUNT: usize = 1000;
/// Of those, refused sign-ins kept at most (the newest): what strangers
/// can write never pushes out what the owner did (a passkey added, two-step
/// turned off).
pub const MAX_REFUSALS_PER_ACCOUNT: usize = 100;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    SignedIn,
    SignInRefused,
    DeviceLinked,
    LinkDenied,
    DeviceRevoked,
    SignedOutElsewhere,
    PasswordChanged,
    PasswordReset,
    EmailChanged,
    TwoStepOn,
    TwoStepOff,
    RecoveryCodeUsed,
    RecoveryCodesRenewed,
    PasskeyAdded,
    PasskeyRemoved,
    Disabled,
    Enabled,
    ResetLinkIssued,
}

impl EventKind {
    const ALL: [EventKind; 18] = [
        EventKind::SignedIn,
        EventKind::SignInRefused,
        EventKind::DeviceLinked,
        EventKind::LinkDenied,
        EventKind::DeviceRevoked,
        EventKind::SignedOutElsewhere,
        EventKind::PasswordChanged,
        EventKind::PasswordReset,
        EventKind::EmailChanged,
        EventKind::TwoStepOn,
        EventKind::TwoStepOff,
        EventKind::RecoveryCodeUsed,
        EventKind::RecoveryCodesRenewed,
        EventKind::PasskeyAdded,
        EventKind::PasskeyRemoved,
        EventKind::Disabled,
        EventKind::Enabled,
        EventKind::ResetLinkIssued,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SignedIn => "signed_in",
            EventKind::SignInRefused => "sign_in_refused",
            EventKind::DeviceLinked => "device_linked",
            EventKind::LinkDenied => "link_denied",
            EventKind::DeviceRevoked => "device_revoked",
            EventKind::SignedOutElsewhere => "signed_out_elsewhere",
            EventKind::PasswordChanged => "password_changed",
            EventKind::PasswordReset => "password_reset",
            EventKind::EmailChanged => "email_changed",
            EventKind::TwoStepOn => "two_step_on",
            EventKind::TwoStepOff => "two_step_off",
            EventKind::RecoveryCodeUsed => "recovery_code_used",
            EventKind::RecoveryCodesRenewed => "recovery_codes_renewed",
            EventKind::PasskeyAdded => "passkey_added",
            EventKind::PasskeyRemoved => "passkey_removed",
            EventKind::Disabled => "disabled",
            EventKind::Enabled => "enabled",
            EventKind::ResetLinkIssued => "reset_link_issued",
        }
    }

    pub fn from_stored(name: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// What a person reads in the log.
    pub fn label(self) -> &'static str {
        match self {
            EventKind::SignedIn => "Signed in",
            EventKind::SignInRefused => "Sign-in refused",
            EventKind::DeviceLinked => "Device linked",
            EventKind::LinkDenied => "Device denied",
            EventKind::DeviceRevoked => "Device removed",
            EventKind::SignedOutElsewhere => "Signed out everywhere else",
            EventKind::PasswordChanged => "Password changed",
            EventKind::PasswordReset => "Password reset",
            EventKind::EmailChanged => "E-mail changed",
            EventKind::TwoStepOn => "Two-step verification turned on",
            EventKind::TwoStepOff => "Two-step verification turned off",
            EventKind::RecoveryCodeUsed => "Recovery code used",
            EventKind::RecoveryCodesRenewed => "New recovery codes",
            EventKind::PasskeyAdded => "Passkey added",
            EventKind::PasskeyRemoved => "Passkey removed",
            EventKind::Disabled => "Account disabled by the operator",
            EventKind::Enabled => "Account enabled by the operator",
            EventKind::ResetLinkIssued => "Password reset link issued by the operator",
        }
    }

    /// Whether it went wrong (shown as a warning).
    pub fn is_warning(self) -> bool {
        matches!(self, EventKind::SignInRefused | EventKind::Disabled)
    }
}

/// One entry, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub account: AccountId,
    pub at: UnixTime,
    pub kind: EventKind,
    /// Where it came from: the client's address, or `operator` for the
    /// command line.
    pub address: String,
    /// Which client: a browser, an app and device, or the command line.
    pub client: String,
    /// More about it, for a person (an app's name, a passkey's name, how
    /// someone signed in); never a secret.
    pub detail: String,
}

/// An entry as read back, with its place in the log (for paging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    pub id: i64,
    pub event: SecurityEvent,
}

/// Where an operator's command is said to come from.
pub const OPERATOR: &str = "operator";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_read_back_by_its_stored_name() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_stored(kind.as_str()), Some(kind));
            assert!(!kind.label().is_empty());
        }
        assert_eq!(EventKind::from_stored("nonsense"), None);
    }
}
