//! RFC 8628's polling interval, per device code (§3.5): a device that asks
//! for its token sooner than the interval allows is told `slow_down`, and
//! from then on its interval is 5 seconds longer, for good.
//!
//! What the anchors got wrong, and this does not (device-flow reference
//! §2.11, §6): the first request is never early; a request that arrives up
//! to [`TOLERANCE_MS`] before its time is on time, so a device that waits
//! exactly the interval is not pushed into `slow_down` by network jitter;
//! only an early request lengthens the interval, once per early request.
//! The interval counts from each request's arrival, so a long poll
//! (`wait=N`) that held its request for at least the interval may ask again
//! at once.
//!
//! Kept in memory, per instance: behind a load balancer that spreads one
//! device's requests over several instances, each instance sees only its
//! share of them, so a device can poll up to that many times as often
//! before it is told to slow down. Budgets, not pacing, are what protect
//! the server (`ARCHITECTURE.md`, "Budgets and the code space").

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::model::PinId;

/// How early a request may arrive and still be on time, in milliseconds.
pub const TOLERANCE_MS: i64 = 1_000;

/// What RFC 8628 §3.5 adds to the interval on each `slow_down`.
pub const SLOW_DOWN_STEP_SECS: i64 = 5;

#[derive(Debug, Default)]
pub struct GrantPacing {
    codes: Mutex<HashMap<PinId, Pace>>,
}

#[derive(Debug, Clone, Copy)]
struct Pace {
    /// When the next request is due (ms since the epoch).
    next_ms: i64,
    interval_secs: i64,
}

impl GrantPacing {
    /// A request for `id`'s token arrives at `now_ms`. `Err` with the new
    /// interval when it is early (`slow_down`); `Ok` with the interval
    /// otherwise.
    pub fn arrive(&self, id: PinId, now_ms: i64, base_interval_secs: i64) -> Result<i64, i64> {
        let mut codes = self.codes.lock();
        let pace = codes.entry(id).or_insert(Pace {
            next_ms: i64::MIN,
            interval_secs: base_interval_secs,
        });
        if now_ms.saturating_add(TOLERANCE_MS) < pace.next_ms {
            pace.interval_secs += SLOW_DOWN_STEP_SECS;
            pace.next_ms = now_ms + pace.interval_secs * 1000;
            return Err(pace.interval_secs);
        }
        pace.next_ms = now_ms + pace.interval_secs * 1000;
        Ok(pace.interval_secs)
    }

    /// The code is done with (redeemed, or gone).
    pub fn forget(&self, id: PinId) {
        self.codes.lock().remove(&id);
    }

    /// Forgets codes whose last request is older than `before_ms`.
    pub fn prune(&self, before_ms: i64) {
        self.codes
            .lock()
            .retain(|_, pace| pace.next_ms >= before_ms);
    }

    /// The interval `id` is held to now (for answers and tests).
    pub fn interval_secs(&self, id: PinId) -> Option<i64> {
        self.codes.lock().get(&id).map(|pace| pace.interval_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: PinId = PinId(1);

    #[test]
    fn the_first_request_is_never_early_and_on_time_ones_never_slow_down() {
        let pacing = GrantPacing::default();
        assert_eq!(pacing.arrive(ID, 0, 5), Ok(5));
        // 4.2 s later: within the tolerance for jitter.
        assert_eq!(pacing.arrive(ID, 4_200, 5), Ok(5));
        for n in 1..50 {
            assert_eq!(pacing.arrive(ID, 4_200 + n * 5_000, 5), Ok(5));
        }
    }

    #[test]
    fn an_early_request_grows_the_interval_for_good_and_only_once() {
        let pacing = GrantPacing::default();
        assert_eq!(pacing.arrive(ID, 0, 5), Ok(5));
        assert_eq!(pacing.arrive(ID, 1_000, 5), Err(10));
        // Waiting the new interval is on time, and it stays at 10.
        assert_eq!(pacing.arrive(ID, 11_000, 5), Ok(10));
        assert_eq!(pacing.arrive(ID, 21_000, 5), Ok(10));
        assert_eq!(pacing.interval_secs(ID), Some(10));
        // A device that keeps hammering is pushed back each time.
        assert_eq!(pacing.arrive(ID, 21_500, 5), Err(15));
    }

    #[test]
    fn a_long_poll_held_past_the_interval_may_ask_again_at_once() {
        let pacing = GrantPacing::default();
        assert_eq!(pacing.arrive(ID, 0, 5), Ok(5));
        // Held 30 s, then at once again.
        assert_eq!(pacing.arrive(ID, 30_010, 5), Ok(5));
        // Held for only 2 s: the interval still counts from the arrival.
        assert_eq!(pacing.arrive(ID, 32_020, 5), Err(10));
    }
}
