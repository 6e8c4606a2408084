//! pinlink's domain core: what a pin, a code, an account, a device and a token
//! are, and the rules that govern them (lifetimes, lock-outs, who may see what).
//!
//! The core does no IO of its own. Storage comes in through the [`Store`]
//! trait, time through [`Clock`], randomness through `rand`'s thread RNG, and
//! the HTTP adapters (`pinlink-server`) translate wire requests into calls on
//! [`Pinlink`], the one facade every adapter uses.

pub mod clock;
pub mod error;
pub mod events;
pub mod grant_pacing;
mod hashing;
pub mod limits;
pub mod live_pins;
pub mod live_sessions;
pub mod model;
pub mod oidc;
pub mod passkeys;
pub mod plex_jwt;
mod records;
pub mod secrets;
pub mod security_log;
pub mod service;
pub mod store;
pub mod two_step;
pub mod waiters;

pub use clock::{Clock, FakeClock, SystemClock, UnixTime};
pub use error::{CoreError, GrantRefusal};
pub use limits::{Budgets, Limit, PinCaps};
pub use model::*;
pub use secrets::{AuthToken, LookupHash, Password, ServerKey};
pub use service::{
    AccountSecurity, ApplicationSettings, AutoApprove, Expect, Introspection, IssuedToken,
    NewDeviceGrant, NewPin, Origin, PasskeyCeremony, Pinlink, PinlinkSettings, Polled, SignIn,
    StartedGrant, TwoStepEnrollment, TwoStepTicket,
};
pub use store::{CapKind, Change, Reservation, Spend, Store, StoreError};
