//! A seed is a replayable experiment: the same seed gives the same trace.
//! Only meaningful inside the simulator.
#![cfg(madsim)]

use odradek_sim::seed_run::{run_seed, SeedSpec};

#[test]
fn same_seed_same_trace() {
    let spec = SeedSpec {
        seed: 42,
        ..SeedSpec::default()
    };
    let first = run_seed(spec);
    let second = run_seed(spec);
    assert_eq!(first.trace_hash, second.trace_hash);
    assert_eq!(first.events, second.events);
    assert!(
        first.stats.acked > 0,
        "the workload got records acknowledged"
    );
    assert!(first.stats.kills > 0, "the nemesis crashed the broker");
}

#[test]
fn different_seeds_differ() {
    let a = run_seed(SeedSpec {
        seed: 1,
        ..SeedSpec::default()
    });
    let b = run_seed(SeedSpec {
        seed: 2,
        ..SeedSpec::default()
    });
    assert_ne!(a.trace_hash, b.trace_hash);
}
