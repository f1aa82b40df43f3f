//! A simulated node's clocks: the runtime's monotonic time, and the
//! runtime's wall time plus an offset the nemesis steps forward and back (a
//! badly set clock, an NTP step, an operator's `date -s`).
//!
//! Like `SimDisk` it lives outside the node, so a restarted node keeps the
//! wrong time its host had. The monotonic clock never moves with the wall
//! clock: that is the property the broker's timers rely on.
//!
//! Not modelled: a drifting rate (a run lasts seconds of simulated time, so a
//! realistic drift of a few hundred ppm moves the clock by milliseconds),
//! and a monotonic clock that stalls or leaps (Linux's CLOCK_MONOTONIC does
//! not step).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use crate::io::clock::{now_ms, Clock};

/// What the nemesis did to one clock (for the run's outcome).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimClockCounters {
    pub forward_jumps: u64,
    pub backward_jumps: u64,
    /// The largest single steps, in ms (both positive).
    pub largest_forward_jump_ms: i64,
    pub largest_backward_jump_ms: i64,
}

impl SimClockCounters {
    pub fn jumps(&self) -> u64 {
        self.forward_jumps + self.backward_jumps
    }
}

#[derive(Debug)]
pub struct SimClock {
    origin: tokio::time::Instant,
    /// Where the wall clock starts from: the runtime's wall time (madsim's in
    /// the simulator); a fixed reading in tests.
    base_wall_ms: fn() -> i64,
    /// Added to the base: the node's skew, changed by every jump.
    offset_ms: AtomicI64,
    counters: Mutex<SimClockCounters>,
}

impl SimClock {
    /// A clock `skew_ms` off the runtime's wall time (call inside the runtime).
    pub fn new(skew_ms: i64) -> SimClock {
        SimClock::with_base(skew_ms, now_ms)
    }

    /// Reads its base wall time from `base_wall_ms` (for tests).
    pub fn with_base(skew_ms: i64, base_wall_ms: fn() -> i64) -> SimClock {
        SimClock {
            origin: tokio::time::Instant::now(),
            base_wall_ms,
            offset_ms: AtomicI64::new(skew_ms),
            counters: Mutex::new(SimClockCounters::default()),
        }
    }

    /// Steps the wall clock by `delta_ms` (negative: back). The wall clock
    /// never goes below the epoch: a step past it stops there.
    pub fn jump(&self, delta_ms: i64) {
        let base = (self.base_wall_ms)();
        let old = self.offset_ms.load(Ordering::Relaxed);
        let new = old.saturating_add(delta_ms).max(-base);
        self.offset_ms.store(new, Ordering::Relaxed);
        let step = new - old;
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if step > 0 {
            counters.forward_jumps += 1;
            counters.largest_forward_jump_ms = counters.largest_forward_jump_ms.max(step);
        } else if step < 0 {
            counters.backward_jumps += 1;
            counters.largest_backward_jump_ms = counters.largest_backward_jump_ms.max(-step);
        }
    }

    /// How far this node's wall clock is off the runtime's (ms).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    pub fn counters(&self) -> SimClockCounters {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Clock for SimClock {
    fn monotonic_ms(&self) -> i64 {
        self.origin.elapsed().as_millis() as i64
    }

    fn wall_ms(&self) -> i64 {
        let base = (self.base_wall_ms)();
        base.saturating_add(self.offset_ms()).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE_MS: i64 = 1_700_000_000_000;

    fn fixed_base() -> i64 {
        BASE_MS
    }

    #[tokio::test]
    async fn skew_and_jumps_move_the_wall_clock_only() {
        let clock = SimClock::with_base(-5_000, fixed_base);
        assert_eq!(clock.wall_ms(), BASE_MS - 5_000);
        let mono = clock.monotonic_ms();
        clock.jump(3_600_000);
        assert_eq!(clock.wall_ms(), BASE_MS - 5_000 + 3_600_000);
        clock.jump(-7_200_000);
        assert_eq!(clock.wall_ms(), BASE_MS - 5_000 - 3_600_000);
        assert!(
            clock.monotonic_ms() >= mono,
            "monotonic time never goes back"
        );
        assert!(
            clock.monotonic_ms() - mono < 1_000,
            "nor leaps with the wall"
        );
        assert_eq!(
            clock.counters(),
            SimClockCounters {
                forward_jumps: 1,
                backward_jumps: 1,
                largest_forward_jump_ms: 3_600_000,
                largest_backward_jump_ms: 7_200_000,
            }
        );
        assert_eq!(clock.counters().jumps(), 2);
    }

    #[tokio::test]
    async fn the_wall_clock_stops_at_the_epoch() {
        let clock = SimClock::with_base(0, fixed_base);
        clock.jump(-2 * BASE_MS);
        assert_eq!(clock.wall_ms(), 0);
        assert_eq!(clock.offset_ms(), -BASE_MS);
        clock.jump(1_000);
        assert_eq!(clock.wall_ms(), 1_000, "a later step counts from the epoch");
    }

    #[tokio::test]
    async fn monotonic_time_follows_the_runtime_through_jumps() {
        let clock = SimClock::with_base(0, fixed_base);
        let before = clock.monotonic_ms();
        clock.jump(-60_000);
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        assert!(clock.monotonic_ms() - before >= 30);
        assert_eq!(clock.wall_ms(), BASE_MS - 60_000);
    }

    #[tokio::test]
    async fn a_zero_step_is_not_a_jump() {
        let clock = SimClock::with_base(0, fixed_base);
        clock.jump(0);
        assert_eq!(clock.counters().jumps(), 0);
    }
}
