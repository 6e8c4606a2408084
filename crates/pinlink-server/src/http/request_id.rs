//! The id each request is logged with and answered with (`X-Request-Id`),
//! so a line in the log and an answer a client reports can be matched.

/// Names one request in the log and in its answer (`X-Request-Id`): this
/// process's random prefix and a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(u64);

impl RequestId {
    pub(crate) fn next() -> RequestId {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        RequestId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        // Random per process (std's hasher keys are), so two instances'
        // ids do not collide in one log store.
        let prefix = PREFIX.get_or_init(|| {
            use std::hash::BuildHasher;
            std::hash::RandomState::new().hash_one(std::process::id()) as u32
        });
        write!(f, "{prefix:08x}-{}", self.0)
    }
}
