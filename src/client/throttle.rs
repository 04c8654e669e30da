//! Throttle times brokers put in their responses (KIP-219): counted per
//! cluster so that the CLI can say a client was held to its quota, with a
//! warning the first time it happens.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Throttles seen on one cluster's responses.
#[derive(Debug, Default)]
pub struct ThrottleStats {
    responses: AtomicU64,
    total_ms: AtomicU64,
    max_ms: AtomicU64,
    warned: AtomicBool,
}

/// A summary of [`ThrottleStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttled {
    /// Responses that carried a throttle time.
    pub responses: u64,
    /// Sum of their throttle times, in milliseconds.
    pub total_ms: u64,
    /// The longest, in milliseconds.
    pub max_ms: u64,
}

impl ThrottleStats {
    /// Counts a response's `throttle_time_ms` from `addr` (0: not throttled);
    /// the first throttle is logged as a warning.
    pub fn record(&self, throttle_time_ms: i32, what: &str, addr: &str) {
        if throttle_time_ms <= 0 {
            return;
        }
        let ms = throttle_time_ms as u64;
        self.responses.fetch_add(1, Ordering::Relaxed);
        self.total_ms.fetch_add(ms, Ordering::Relaxed);
        self.max_ms.fetch_max(ms, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "{what} throttled by broker {addr} for {ms} ms: this client is over its quota"
            );
        }
    }

    /// What was seen so far.
    pub fn summary(&self) -> Throttled {
        Throttled {
            responses: self.responses.load(Ordering::Relaxed),
            total_ms: self.total_ms.load(Ordering::Relaxed),
            max_ms: self.max_ms.load(Ordering::Relaxed),
        }
    }
}
