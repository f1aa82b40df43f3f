//! A node's clocks, handed to the broker through its [`NodeContext`]
//! (crate::io::node_context) like its disk, so the simulator can give every
//! node its own skewed and jumping wall clock (see `sim_clock`).
//!
//! - Monotonic time measures durations and drives every timer (session and
//!   rebalance timeouts, the `interval` fsync, idle connections). It never
//!   goes back.
//! - Wall time (Unix milliseconds) stamps what Kafka stamps with wall time:
//!   LogAppendTime, a segment's creation, offset commit timestamps; and
//!   decides what Kafka decides by it: time retention, producer-id expiry,
//!   segment.ms rolls. It may be stepped either way; docs/architecture.md
//!   ("Clocks") says what each of those does when it is.
//!
//! The core never reads a clock: it is handed `now_ms` or a [`Now`].

use std::fmt::Debug;

use crate::core::now::Now;

pub trait Clock: Send + Sync + Debug + 'static {
    /// Milliseconds since this clock's origin (arbitrary, at most the node's
    /// start); never decreases. Not a timestamp: never store it.
    fn monotonic_ms(&self) -> i64;
    /// Milliseconds since the Unix epoch, as this node believes it.
    fn wall_ms(&self) -> i64;
    /// Both at once.
    fn now(&self) -> Now {
        Now::new(self.monotonic_ms(), self.wall_ms())
    }
}

/// The host's clocks: the runtime's monotonic clock and the system clock.
/// Inside the simulator (`--cfg madsim`) both are madsim's, one for the whole
/// simulation; per-node faults come from `SimClock`.
#[derive(Debug)]
pub struct HostClock {
    origin: tokio::time::Instant,
}

impl HostClock {
    pub fn new() -> HostClock {
        HostClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for HostClock {
    fn default() -> Self {
        HostClock::new()
    }
}

impl Clock for HostClock {
    fn monotonic_ms(&self) -> i64 {
        self.origin.elapsed().as_millis() as i64
    }

    fn wall_ms(&self) -> i64 {
        now_ms()
    }
}

/// The host's wall clock in Unix milliseconds (madsim's in the simulator).
/// Broker code reads its node's [`Clock`] instead; this is for clock
/// implementations, tools and tests.
pub fn now_ms() -> i64 {
    #[cfg(madsim)]
    let now = madsim::time::TimeHandle::current().now_time();
    #[cfg(not(madsim))]
    let now = std::time::SystemTime::now();
    match now.duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => since.as_millis() as i64,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn host_monotonic_time_advances_with_the_runtime() {
        let clock = HostClock::new();
        let before = clock.monotonic_ms();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        assert!(clock.monotonic_ms() - before >= 30);
        let wall = clock.wall_ms();
        assert!((wall - now_ms()).abs() < 1_000, "the host's wall clock");
    }
}
