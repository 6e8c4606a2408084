//! The counters of what happens in the domain, for Prometheus: the device
//! login funnel (pins created, codes entered, linked, denied, tokens handed
//! to devices, pins expired) and the failures (wrong codes, wrong passwords,
//! lock-outs). Recorded through the `metrics` facade, which costs nothing
//! until the server installs an exporter (`--metrics-listen`). Every name
//! is here, so the list of metrics is one place (README, "Metrics").

use metrics::{counter, gauge};

/// A new pin: `kind` is `short` or `strong` (plex.tv pins) or
/// `device_grant` (RFC 8628).
pub fn pin_created(code: &crate::model::PinCode) {
    let kind = match code {
        crate::model::PinCode::Link(_) => "short",
        crate::model::PinCode::Strong(_) => "strong",
        crate::model::PinCode::User(_) => "device_grant",
    };
    counter!("pinlink_pins_created_total", "kind" => kind).increment(1);
}

/// A device grant's token request that got no token: `error` is RFC
/// 8628's (`authorization_pending`, `slow_down`, …).
pub fn grant_refused(refusal: crate::error::GrantRefusal) {
    counter!("pinlink_device_grant_refusals_total", "error" => refusal.code()).increment(1);
}

/// A signed-in person entered a code that names a live, unlinked pin.
pub fn code_entered() {
    counter!("pinlink_codes_entered_total").increment(1);
}

/// A code that names no pin one may approve.
pub fn wrong_code() {
    counter!("pinlink_wrong_codes_total").increment(1);
}

pub fn pin_linked() {
    counter!("pinlink_pins_linked_total").increment(1);
}

pub fn pin_denied() {
    counter!("pinlink_pins_denied_total").increment(1);
}

/// A device's poll carried its token (or Plex JWT).
pub fn token_delivered() {
    counter!("pinlink_tokens_delivered_total").increment(1);
}

/// Pins the sweep removed after they expired.
pub fn pins_expired(n: u64) {
    counter!("pinlink_pins_expired_total").increment(n);
}

/// Live pins as the last sweep counted them.
pub fn live_pins(n: u64) {
    gauge!("pinlink_live_pins").set(n as f64);
}

/// Requests held by long polls now (`wait=N`: a device's poll or token
/// request waiting for its pin to change).
pub fn long_polls_held(n: usize) {
    gauge!("pinlink_long_polls_held").set(n as f64);
}

pub fn sign_in_failed() {
    counter!("pinlink_sign_in_failures_total").increment(1);
}

/// A sign-in refused because its budget is spent.
pub fn sign_in_locked_out() {
    counter!("pinlink_sign_in_lockouts_total").increment(1);
}
