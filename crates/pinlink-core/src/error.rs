//! The errors the core reports: each names something a caller acts on. The
//! server maps them to plex.tv's `errors[]` shape in exactly one place
//! (`pinlink-server/src/error.rs`). [`StoreError`], what a [`Store`] reports,
//! is here too, below [`CoreError`] which wraps it, so that neither file
//! needs the other's neighbours.
//!
//! [`Store`]: crate::store::Store

use crate::clock::UnixTime;

/// `/login`'s proof, between its two steps, that the password was right: the
/// account, until when (a few minutes), and for which client, under the
/// server's key. `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct TwoStepTicket(pub(crate) String);

impl std::fmt::Debug for TwoStepTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TwoStepTicket(<redacted>)")
    }
}

impl TwoStepTicket {
    pub fn presented(text: String) -> TwoStepTicket {
        TwoStepTicket(text)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("X-Plex-Client-Identifier is missing")]
    ClientIdentifierMissing,
    #[error("X-Plex-Product is missing")]
    ProductMissing,
    /// Anything else malformed in a request; the text says what, for the
    /// caller to read.
    #[error("{0}")]
    InvalidInput(String),
    /// Unknown, expired, denied, already-used or someone else's pin. One
    /// answer for all of them, so probing learns nothing.
    #[error("Code not found or expired")]
    PinNotFound,
    /// A live code that this approval may not use: `/auth` takes only a
    /// strong code, and only for the client that asked for it.
    #[error("{0}")]
    PinNotApprovable(&'static str),
    /// The first-start setup token is wrong, used, or no longer needed.
    #[error("the setup token is wrong or was already used")]
    SetupRefused,
    #[error("User could not be authenticated")]
    Unauthenticated,
    /// The password was right, and the account has two-step verification:
    /// the sign-in needs its code (plex.tv's 401/1029; python-plexapi
    /// raises `TwoFactorRequired` when the message says "verification
    /// code").
    #[error("Please enter the verification code")]
    VerificationCodeRequired {
        /// For `/login`'s second step; the API has no use for it.
        ticket: TwoStepTicket,
    },
    /// The verification code (or recovery code) is wrong, or was used
    /// already.
    #[error("The verification code is wrong or was used already")]
    VerificationCodeWrong,
    /// The account is disabled by the operator (said only after a right
    /// password).
    #[error("This account is disabled; ask the server's operator")]
    AccountDisabled,
    /// A passkey answer that cannot be accepted (a wrong signature, an
    /// unknown passkey, a ceremony that ran out).
    #[error("The passkey could not be used")]
    PasskeyRefused,
    /// This server has no passkeys: its public URL's host is not a domain
    /// name (browsers allow WebAuthn only on one, `localhost` included).
    #[error("Passkeys need the server's public URL to name a host, not an IP address")]
    PasskeysUnavailable,
    /// Too many failed sign-ins for this account or address.
    #[error("User could not be authenticated. This IP appears to be having trouble signing in to an account (detected repeated failures)")]
    SignInLockedOut { retry_after_secs: i64 },
    /// Too many wrong link codes for this account or address.
    #[error("Too many wrong codes. Try again in {retry_after_secs} seconds")]
    TooManyAttempts { retry_after_secs: i64 },
    /// Too many requests of one kind from this address or client (new pins,
    /// live pins).
    #[error("API rate limit exceeded")]
    RateLimited { retry_after_secs: i64 },
    /// The server holds as many live pins as it is configured to.
    #[error("This server holds as many pins as it may at the moment; try again later")]
    AtCapacity { retry_after_secs: i64 },
    /// Too many password checks at once; retrying shortly will work.
    #[error("Too many sign-ins at once; try again in a moment")]
    Busy { retry_after_secs: i64 },
    #[error("an account with that {0} already exists")]
    AccountExists(&'static str),
    #[error("Device not found")]
    DeviceNotFound,
    /// A token whose grant lacks the scope the request needs (UserInfo
    /// needs `openid`).
    #[error("The token's grant does not include the scope this needs")]
    InsufficientScope,
    /// A device grant's token asked to manage the account: it is for the
    /// application's own service (and expires), so it may not approve
    /// codes, register keys, remove devices or publish connections.
    #[error("A device grant's token cannot do this: it cannot approve codes, register keys or change devices")]
    NotForGrantTokens,
    /// An operator named an account that does not exist.
    #[error("no account {0:?} (see `pinlink user list`)")]
    NoSuchAccount(String),
    /// A Plex JWT that was ours but has expired: the client should refresh.
    #[error("The token has expired")]
    TokenExpired,
    /// A device JWT or key that cannot be accepted (reference §A.2: 422).
    #[error("{0}")]
    JwtRejected(&'static str),
    /// An RFC 8628 token request that gets no token (yet): the device
    /// grant's own answers (RFC 8628 §3.5).
    #[error("{0}")]
    Grant(GrantRefusal),
    /// An application's `client_id` is unknown or its secret is wrong
    /// (RFC 6749 §5.2 `invalid_client`).
    #[error("Client authentication failed")]
    InvalidClient,
    /// The database cannot be reached right now; retrying later may work.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] StoreError),
    /// A bug or a broken installation; the text is for the log, not the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => CoreError::Unavailable(e),
            other => CoreError::Internal(other.to_string()),
        }
    }
}

/// Why a device's token request (`POST /oauth/token`) got no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRefusal {
    /// No one approved the code yet: ask again after the interval.
    Pending,
    /// Asked sooner than the interval allows; the interval is now longer
    /// by 5 seconds for this code.
    SlowDown,
    /// The person chose Deny.
    Denied,
    /// The code expired before anyone approved it.
    Expired,
    /// Unknown, someone else's or already redeemed.
    InvalidGrant,
}

impl GrantRefusal {
    /// The `error` of RFC 6749 §5.2 / RFC 8628 §3.5.
    pub fn code(self) -> &'static str {
        match self {
            GrantRefusal::Pending => "authorization_pending",
            GrantRefusal::SlowDown => "slow_down",
            GrantRefusal::Denied => "access_denied",
            GrantRefusal::Expired => "expired_token",
            GrantRefusal::InvalidGrant => "invalid_grant",
        }
    }
}

impl std::fmt::Display for GrantRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GrantRefusal::Pending => "The code has not been approved yet",
            GrantRefusal::SlowDown => "Polling too fast: wait 5 seconds longer between requests",
            GrantRefusal::Denied => "The request was denied",
            GrantRefusal::Expired => "The device code has expired",
            GrantRefusal::InvalidGrant => {
                "The device code or refresh token is unknown or was already used"
            }
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key is taken (pin id, live pin code, username, e-mail).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The database cannot be reached; the operation did not happen.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug, corrupt data, a failed migration.
    #[error("database error: {0}")]
    Other(String),
    /// A new pin would pass a cap on live pins; nothing was written. The
    /// oldest of the pins that fill it expires at `until`.
    #[error("live pin cap reached: {cap:?}")]
    CapReached { cap: CapKind, until: UnixTime },
}

/// Which cap on live pins a new pin would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapKind {
    /// The requesting address's ([`crate::PinCaps::per_address`]).
    Address,
    /// The server's live 4-character codes ([`crate::PinCaps::link_codes`]).
    LinkCodes,
}
