//! plex.tv's PIN API on the wire: the JSON and XML shapes of pins, users,
//! devices and errors, exactly as real Plex clients expect them (see
//! `shared/protocol/plex-pins.md`). Plain data with no knowledge of HTTP or of
//! pinlink's domain, so the server and the client crate share it.
//!
//! JSON comes from `serde`; XML follows plex.tv's v2 conventions: a lower-case
//! root element, scalars as attributes, nested objects as child elements,
//! booleans as `1`/`0`, nulls as `""` and datetimes as `YYYY-MM-DD HH:MM:SS UTC`.

pub mod account;
pub mod auth;
pub mod device;
pub mod error;
pub mod pin;
pub mod resource;
pub mod time_format;
pub mod user;
pub mod xml;

pub use account::{EmptyList, Friends, HomeUser, HomeUsers, Pong};
pub use auth::{JwtKeys, Nonce, PlexJwtToken};
pub use device::{DeviceBody, DeviceList};
pub use error::{ErrorBody, ErrorCode, ErrorItem};
pub use pin::{Location, PinBody};
pub use resource::{ResourceBody, ResourceConnection, Resources};
pub use user::{UserBody, UserEnvelope, UserFacts};

/// A response body that can be written in both of plex.tv's formats.
pub trait WireBody {
    fn to_json(&self) -> String;
    fn to_xml(&self) -> String;
}
