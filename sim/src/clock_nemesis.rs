//! Clock faults: the broker node's wall clock starts skewed and is stepped
//! forward and back (milliseconds to hours) while faults run, like a badly
//! set host clock, an NTP step or an operator's `date -s`. Its monotonic
//! clock is untouched (Linux's CLOCK_MONOTONIC never steps). When faults
//! end, the clock is stepped back to the true time (NTP catching up), so
//! the final checks run on a sane clock.
//!
//! The plan comes from its own stream of the seed and the faults run in a
//! task of their own, so adding them shifted none of the other nemesis
//! draws. Every step is recorded in the history.

use std::sync::Arc;
use std::time::Duration;

use odradek::io::sim_clock::SimClock;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::sleep;

use crate::history::{EventKind, NemesisAction};
use crate::recorder::Recorder;

/// What the clock nemesis does in one run, drawn from the seed.
#[derive(Debug, Clone)]
pub struct ClockFaultPlan {
    pub seed: u64,
    /// The wall clock's offset when the node first starts (ms).
    pub initial_skew_ms: i64,
    /// Steps run from `start` to `end` (simulated time since the run began).
    pub start: Duration,
    pub end: Duration,
    /// Pause between two steps (ms); `None`: no steps in this run.
    pub pause_ms: Option<(u64, u64)>,
    /// Step sizes, drawn log-uniformly from this range (ms).
    pub step_ms: (u64, u64),
    /// The chance a step goes back.
    pub backward_probability: f64,
}

const HOUR_MS: f64 = 3_600_000.0;

/// A magnitude in `low..=high`, log-uniform so that seconds and hours are
/// both common.
fn log_uniform(rng: &mut ChaCha8Rng, (low, high): (u64, u64)) -> i64 {
    let (low, high) = ((low.max(1)) as f64, (high.max(low.max(1))) as f64);
    let exponent = rng.gen_range(low.ln()..=high.ln());
    exponent.exp().round() as i64
}

impl ClockFaultPlan {
    /// From the seed's own clock stream (the other draws do not move).
    pub fn draw(seed: u64, start: Duration, end: Duration) -> ClockFaultPlan {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0063_6c6f_636b);
        let initial_skew_ms = if rng.gen_bool(0.5) {
            let magnitude = log_uniform(&mut rng, (1_000, (2.0 * HOUR_MS) as u64));
            if rng.gen_bool(0.5) {
                magnitude
            } else {
                -magnitude
            }
        } else {
            0
        };
        // Most seeds step the clock; some leave it alone, so runs with a
        // sane clock stay in the mix.
        let pause_ms = rng
            .gen_bool(0.8)
            .then(|| (200, rng.gen_range(1_000..=6_000)));
        ClockFaultPlan {
            seed,
            initial_skew_ms,
            start,
            end,
            pause_ms,
            step_ms: (10, rng.gen_range(60_000..=(3.0 * HOUR_MS) as u64)),
            backward_probability: rng.gen_range(0.3..0.7),
        }
    }
}

/// Records the initial skew; call before the broker node starts. `node`:
/// which node of a cluster (`None`: the single node).
pub fn record_initial_skew(plan: &ClockFaultPlan, recorder: &Recorder, node: Option<i32>) {
    let offset_ms = plan.initial_skew_ms;
    if offset_ms != 0 {
        recorder.record(EventKind::Nemesis(match node {
            None => NemesisAction::ClockSkewed { offset_ms },
            Some(node) => NemesisAction::NodeClockSkewed { node, offset_ms },
        }));
    }
}

/// Steps the clock until `end`, then back to the true time. Returns before
/// `end`, so the main nemesis's `FaultsStopped` comes after the last step.
/// `node`: which node of a cluster the clock is (`None`: the single node).
pub async fn run(
    plan: ClockFaultPlan,
    clock: Arc<SimClock>,
    recorder: Recorder,
    node: Option<i32>,
) {
    let Some(pause_range) = plan.pause_ms else {
        return;
    };
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed ^ 0x0063_6c6f_636b_5f72);
    let started = tokio::time::Instant::now();
    sleep(plan.start).await;
    loop {
        let pause = Duration::from_millis(rng.gen_range(pause_range.0..=pause_range.1));
        if started.elapsed() + pause >= plan.end {
            break;
        }
        sleep(pause).await;
        let magnitude = log_uniform(&mut rng, plan.step_ms);
        let delta_ms = if rng.gen_bool(plan.backward_probability) {
            -magnitude
        } else {
            magnitude
        };
        clock.jump(delta_ms);
        let offset_ms = clock.offset_ms();
        recorder.record(EventKind::Nemesis(match node {
            None => NemesisAction::ClockStepped {
                delta_ms,
                offset_ms,
            },
            Some(node) => NemesisAction::NodeClockStepped {
                node,
                delta_ms,
                offset_ms,
            },
        }));
    }
    let offset_ms = clock.offset_ms();
    if offset_ms != 0 {
        clock.jump(-offset_ms);
        let delta_ms = -offset_ms;
        recorder.record(EventKind::Nemesis(match node {
            None => NemesisAction::ClockResynced { delta_ms },
            Some(node) => NemesisAction::NodeClockResynced { node, delta_ms },
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_span_milliseconds_to_hours() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let draws: Vec<i64> = (0..2_000)
            .map(|_| log_uniform(&mut rng, (10, 3 * 3_600_000)))
            .collect();
        assert!(draws.iter().all(|d| (10..=3 * 3_600_000).contains(d)));
        assert!(draws.iter().any(|d| *d < 1_000), "sub-second steps");
        assert!(draws.iter().any(|d| *d > 3_600_000), "steps over an hour");
    }

    #[test]
    fn the_plan_is_a_function_of_the_seed() {
        let (a, b) = (
            ClockFaultPlan::draw(9, Duration::ZERO, Duration::from_secs(20)),
            ClockFaultPlan::draw(9, Duration::ZERO, Duration::from_secs(20)),
        );
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let plans: Vec<ClockFaultPlan> = (0..50)
            .map(|seed| ClockFaultPlan::draw(seed, Duration::ZERO, Duration::from_secs(20)))
            .collect();
        assert!(plans.iter().any(|p| p.initial_skew_ms < 0));
        assert!(plans.iter().any(|p| p.initial_skew_ms > 0));
        assert!(plans.iter().any(|p| p.pause_ms.is_none()));
    }
}
