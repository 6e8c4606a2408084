//! pinlink's HTTP server: the plex.tv-compatible PIN API on axum.
//!
//! - [`startup`]: [`App::build`] binds and wires everything; [`App::run`]
//!   serves until a shutdown future resolves.
//! - [`negotiate`]: JSON or XML, decided once per request; bodies and errors
//!   are rendered there.
//! - [`request`]: the `X-Plex-*` parameters, from headers, query or body.
//! - [`error`]: the one place that turns a domain error into a status code
//!   and plex.tv's `errors[]` body.
//! - [`routes`]: the handlers, thin translations onto [`pinlink_core::Pinlink`].

pub mod client_address;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
pub mod qr;
pub mod reply;
pub mod request;
pub mod routes;
pub mod startup;
pub mod state;

pub use config::Config;
pub use startup::App;
