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

/// Seeds 2023 and 4721: an IncrementalAlterConfigs setting
/// `cleanup.policy=compact` on a delete-policy incarnation lost its answer
/// (2023: a power loss right after the broker committed it; 4721: the
/// broker was paused, the client timed out, and the broker carried the
/// change out on resume). The broker compacted the topic, as Kafka would;
/// the checker, which knew only acknowledged changes, took the older
/// values compaction removed for `lost-write`. Fixed in the history and the
/// checker (`LcEvent::ConfigAlterFailed`, `may_have_applied`).
#[test]
fn a_config_change_whose_answer_was_lost_may_compact_the_topic() {
    for seed in [2023, 4721] {
        let outcome = run_seed(SeedSpec {
            seed,
            ..SeedSpec::default()
        });
        assert!(
            !outcome.violations.contains_key("lost-write"),
            "seed {seed}: {:?}",
            outcome.examples
        );
    }
}
