//! Log a device in with a PIN, against plex.tv or a pinlink server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pinlink_client::Error> {
//! use pinlink_client::{Client, Identity, Wait};
//!
//! let identity = Identity::new("My TV App")?.version("1.0").device_name("Living room");
//! // Persist identity.client_identifier() and pass it back next time.
//! let client = Client::new(identity); // https://plex.tv; or .with_base_url("http://127.0.0.1:8080")
//! let pin = client.create_pin(false).await?;
//! println!("Go to {} and enter {}", client.link_url(&pin), pin.code);
//! let token = client.wait_for_token(&pin, Wait::default(), |p| eprintln!("{}s left", p.seconds_left)).await?;
//! let me = client.user(&token).await?;
//! println!("signed in as {}", me.username);
//! # Ok(()) }
//! ```
//!
//! Every request asks for JSON; bodies that come back as XML (plex.tv's
//! `/devices.xml`, some errors) are parsed too. plex.tv's `errors[]` bodies
//! become typed [`Error`]s. Cancel a wait by dropping its future, for example
//! in `tokio::select!` against Ctrl-C.

mod client;
mod error;
mod identity;
pub mod jwt;
mod wire;

pub use client::{Client, Progress, Wait, PLEX_TV};
pub use error::Error;
pub use identity::Identity;
pub use jwt::{DeviceKey, PlexJwtClaims};
pub use wire::{Device, Pin, User};
