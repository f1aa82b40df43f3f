//! Cluster mode: a few 3-node seeds run clean (and replay to the same
//! trace), and the `ack-before-isr` switch is caught as one of its kinds.
//! Only meaningful inside the simulator.
#![cfg(madsim)]

use odradek_sim::bugs;
use odradek_sim::seed_run::{run_seed, SeedSpec};

const NODES: usize = 3;
/// Clean seeds run (each ~? s wall in release).
const CLEAN_SEEDS: std::ops::Range<u64> = 0..3;
/// Seeds tried with the bug on before the test gives up.
const BUG_SEEDS: u64 = 10;

fn spec(seed: u64) -> SeedSpec {
    SeedSpec {
        seed,
        cluster_nodes: NODES,
        ..SeedSpec::default()
    }
}

#[test]
fn clean_cluster_seeds_pass_and_replay() {
    for seed in CLEAN_SEEDS {
        let outcome = run_seed(spec(seed));
        assert!(
            outcome.ok,
            "seed {seed}: {} ({:?})",
            outcome.violation_summary(),
            outcome.examples
        );
        assert!(outcome.stats.kills + outcome.stats.partitions_cut > 0, "seed {seed}: no fault");
        if seed == CLEAN_SEEDS.start {
            assert_eq!(run_seed(spec(seed)).trace_hash, outcome.trace_hash, "seed {seed}");
        }
    }
}

#[test]
fn ack_before_isr_is_caught() {
    let bug = bugs::find("ack-before-isr").expect("in the cluster table");
    let switches = bugs::switches(&[bug]);
    let caught = (0..BUG_SEEDS).find(|seed| {
        run_seed(SeedSpec {
            bugs: switches,
            ..spec(*seed)
        })
        .reports_any(bug.expected)
    });
    assert!(caught.is_some(), "ack-before-isr not caught in {BUG_SEEDS} seeds");
}
