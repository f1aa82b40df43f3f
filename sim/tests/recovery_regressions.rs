//! Seeds on which crash recovery found a broker bug, kept passing. Only
//! meaningful inside the simulator.
#![cfg(madsim)]

use odradek_sim::seed_run::{run_seed, SeedSpec};

/// Seed 4388 (found by the 10,000-seed sweep with holey writebacks): cold
/// rot had flipped bits in a synced segment of `t-1`; a restart's open met
/// a read error on the recovery point, took it for 0 and scanned the whole
/// log, so recovery cut the segment at the rot as if it were a torn tail
/// and dropped every record after it, records consumers had read; the
/// offsets were handed out again (`inconsistent-offsets`). An unreadable
/// recovery point now fails the open, which the next image apply retries.
#[test]
fn an_unreadable_recovery_point_never_cuts_synced_records() {
    let outcome = run_seed(SeedSpec {
        seed: 4388,
        ..SeedSpec::default()
    });
    assert!(
        outcome.violations.is_empty(),
        "{:?} {:?}",
        outcome.violations,
        outcome.examples
    );
}
