//! The time a step of the core runs at, handed in by the server (the core
//! never reads a clock). Two clocks, because they answer different
//! questions:
//!
//! - `monotonic_ms` measures durations: session, rebalance and other
//!   timeouts. It never goes back and is unaffected by a wall-clock step, so
//!   a jump of the wall clock neither fires a timer early nor starves it. Its
//!   origin is arbitrary (the node's start): never store it, never compare
//!   it across nodes or restarts.
//! - `wall_ms` (milliseconds since the Unix epoch) stamps what is stored or
//!   shown: offset commit timestamps, a group's state timestamp. It may jump
//!   either way; nothing that decides safety depends on it.

/// Both clocks at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub monotonic_ms: i64,
    pub wall_ms: i64,
}

impl Now {
    pub fn new(monotonic_ms: i64, wall_ms: i64) -> Now {
        Now {
            monotonic_ms,
            wall_ms,
        }
    }
}

/// One number for both clocks: a clock that never jumps (tests, models).
impl From<i64> for Now {
    fn from(ms: i64) -> Now {
        Now::new(ms, ms)
    }
}
