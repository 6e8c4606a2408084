//! Integration tests: each test spawns the real server on a random port with
//! a fresh database and a fake clock, and talks HTTP to it.

use pinlink_testkit as harness;

mod account;
mod attacks;
mod backend_tokens;
mod device_grant;
mod devices;
mod flow;
mod formats;
mod jwt;
mod openapi;
mod pages;
mod pins;
mod properties;
mod two_step;
mod users;
