//! Fault points on rare paths (FoundationDB's BUGGIFY, through madsim's
//! `buggify`): a slow sync, a connection closed after its request was
//! handled but before its answer went out, a late heartbeat, a late replica
//! tick. Each fires with a small probability, drawn from the simulator's
//! seeded randomness, and only in seeds that turn them on
//! ([`enable_on_this_thread`]); disabled they draw nothing, so other
//! seeds' traces do not move. In a real build every point is `false`.
//!
//! Not madsim's own `buggify::enable`: that one also delays a tenth of all
//! simulated network sends by 1–5 s, which starved the cluster workload
//! (median acknowledged writes fell from 997 to about 400 per seed, and
//! seeds failed `no-progress`) whatever our points did.
//!
//! Each point names what it stresses, and counts when it fires
//! (`coverage`), so a sweep shows it was reached.

use std::time::Duration;

use crate::coverage::{self, Counter};

/// One fault point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// A partition's sync waits first (a slow disk): acks=all and the
    /// `interval` flusher wait with it, followers run ahead of the leader's
    /// durable end.
    SlowSync,
    /// A connection closes after its request was handled and before the
    /// answer is written: the client cannot tell whether it happened (a
    /// produce was appended, a commit applied) and retries.
    EarlyClose,
    /// A broker heartbeat goes out late, near the session timeout: the
    /// controller may fence a live broker, which must re-register.
    LateHeartbeat,
    /// A replica's tick (ISR shrink, fetch timeouts) runs late.
    LateTick,
}

impl FaultPoint {
    /// How often the point fires when its seed enabled buggify.
    fn probability(self) -> f64 {
        match self {
            FaultPoint::SlowSync => 0.01,
            FaultPoint::EarlyClose => 0.002,
            FaultPoint::LateHeartbeat => 0.02,
            FaultPoint::LateTick => 0.01,
        }
    }

    /// The extra wait of a delaying point.
    pub fn delay(self) -> Duration {
        match self {
            FaultPoint::SlowSync => Duration::from_millis(300),
            FaultPoint::LateHeartbeat => Duration::from_millis(2_500),
            FaultPoint::LateTick => Duration::from_millis(1_500),
            FaultPoint::EarlyClose => Duration::ZERO,
        }
    }
}

/// Whether `point` fires now.
pub fn fires(point: FaultPoint) -> bool {
    let fired = draw(point.probability());
    if fired {
        coverage::bump(Counter::BuggifyFired);
        tracing::debug!(?point, "buggify");
    }
    fired
}

/// Sleeps the point's delay when it fires.
pub async fn maybe_delay(point: FaultPoint) {
    if fires(point) {
        tokio::time::sleep(point.delay()).await;
    }
}

#[cfg(madsim)]
thread_local! {
    /// Whether this thread's seed turned the points on (a seed's runtime
    /// runs every node on one thread).
    static ENABLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Turns the points on or off for the seed that runs on this thread.
#[cfg(madsim)]
pub fn enable_on_this_thread(on: bool) {
    ENABLED.with(|enabled| enabled.set(on));
}

#[cfg(madsim)]
fn draw(probability: f64) -> bool {
    use madsim::rand::Rng;
    ENABLED.with(|enabled| enabled.get()) && madsim::rand::thread_rng().gen_bool(probability)
}

#[cfg(not(madsim))]
fn draw(_probability: f64) -> bool {
    false
}
