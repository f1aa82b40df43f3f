//! Seeds on which the lifecycle workload found a broker bug, kept passing.
//! Only meaningful inside the simulator.
#![cfg(madsim)]

use odradek_sim::seed_run::{run_seed, SeedSpec};

/// Seed 9: the lifecycle topic was compacted, its cleanup.policy altered to
/// `delete`, and the broker restarted; recovery took the cleaned segment's
/// offset gap for damage, cut every acknowledged record after it and handed
/// the offsets out again (`inconsistent-offsets`). Fixed by the durable
/// `compacted` marker (src/log/compaction_files.rs).
#[test]
fn a_compacted_then_delete_policy_log_survives_a_restart() {
    let outcome = run_seed(SeedSpec {
        seed: 9,
        ..SeedSpec::default()
    });
    assert!(
        !outcome.violations.contains_key("inconsistent-offsets"),
        "{:?}",
        outcome.examples
    );
}
