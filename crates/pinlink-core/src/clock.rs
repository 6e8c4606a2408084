//! Time as a parameter: the server runs on [`SystemClock`], tests on
//! [`FakeClock`] so that pin expiry can be tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Seconds since the Unix epoch. Pins live for minutes, so whole seconds are
/// exactly the precision plex.tv's wire format (`expiresIn`, `createdAt`) has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

impl UnixTime {
    pub fn plus_secs(self, secs: i64) -> UnixTime {
        UnixTime(self.0.saturating_add(secs))
    }
    pub fn secs_until(self, later: UnixTime) -> i64 {
        later.0.saturating_sub(self.0)
    }
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> UnixTime;
    /// Milliseconds since the Unix epoch, for what must tell a poll 4.9 s
    /// after the last from one 5.1 s after (RFC 8628's `slow_down`).
    fn now_millis(&self) -> i64 {
        self.now().0.saturating_mul(1000)
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        UnixTime(secs)
    }
    fn now_millis(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to. Clones share the same time.
/// Keeps milliseconds.
#[derive(Debug, Clone)]
pub struct FakeClock(Arc<AtomicI64>);

impl FakeClock {
    pub fn new(start: UnixTime) -> Self {
        FakeClock(Arc::new(AtomicI64::new(start.0.saturating_mul(1000))))
    }
    pub fn advance(&self, secs: i64) {
        self.advance_millis(secs.saturating_mul(1000));
    }
    pub fn advance_millis(&self, millis: i64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst).div_euclid(1000))
    }
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
