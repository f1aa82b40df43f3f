//! The checkers have teeth: each bug switch is caught within a few seeds,
//! as one of the violation kinds its row of `odradek_sim::bugs::BUG_SWITCHES`
//! names (a seed reporting only other kinds does not count). A new switch
//! is tested here as soon as it is in the table.
//! Only meaningful inside the simulator.
#![cfg(madsim)]

use odradek_sim::bugs::{self, BugSwitch, BUG_SWITCHES};
use odradek_sim::seed_run::{run_seed, SeedSpec};

/// Seeds tried per bug.
const SEEDS: u64 = 60;

/// The first seed whose run with `bug` reports one of its expected kinds.
fn first_seed_catching(bug: &BugSwitch) -> Option<u64> {
    let switches = bugs::switches(&[bug]);
    (0..SEEDS).find(|seed| {
        run_seed(SeedSpec {
            seed: *seed,
            bugs: switches,
            ..SeedSpec::default()
        })
        .reports_any(bug.expected)
    })
}

#[test]
fn every_bug_switch_is_caught_as_its_expected_kinds() {
    let missed: Vec<&str> = BUG_SWITCHES
        .iter()
        .filter(|bug| first_seed_catching(bug).is_none())
        .map(|bug| bug.name)
        .collect();
    assert!(
        missed.is_empty(),
        "not caught as their expected kinds within {SEEDS} seeds: {missed:?}"
    );
}
