//! The checkers have teeth: each bug switch is caught within a few seeds.
//! Only meaningful inside the simulator.
#![cfg(madsim)]

use odradek::server::BugSwitches;
use odradek_sim::seed_run::{run_seed, SeedSpec};

/// Seeds tried per bug (no-crc-check is first caught at seed 34 since
/// the background loops run each partition as a task of their own, which
/// changed every schedule).
const SEEDS: u64 = 60;

/// The first seed whose run reports one of `names`.
fn first_seed_reporting(bugs: BugSwitches, names: &[&str]) -> Option<u64> {
    (0..SEEDS).find(|seed| {
        let outcome = run_seed(SeedSpec {
            seed: *seed,
            bugs,
            ..SeedSpec::default()
        });
        names
            .iter()
            .any(|name| outcome.violations.contains_key(*name))
    })
}

#[test]
fn ack_before_sync_loses_acknowledged_writes() {
    let bugs = BugSwitches {
        ack_before_sync: true,
        ..BugSwitches::default()
    };
    assert!(first_seed_reporting(bugs, &["lost-write", "unseen"]).is_some());
}

#[test]
fn no_crc_check_serves_corrupt_tails() {
    let bugs = BugSwitches {
        no_crc_check: true,
        ..BugSwitches::default()
    };
    assert!(first_seed_reporting(bugs, &["corrupt-read"]).is_some());
}

#[test]
fn no_idempotence_stores_retried_batches_twice() {
    let bugs = BugSwitches {
        no_idempotence: true,
        ..BugSwitches::default()
    };
    assert!(first_seed_reporting(bugs, &["duplicate"]).is_some());
}

#[test]
fn commit_before_persist_loses_acknowledged_commits() {
    let bugs = BugSwitches {
        commit_before_persist: true,
        ..BugSwitches::default()
    };
    assert!(first_seed_reporting(
        bugs,
        &["committed-offset-regression", "group-assignment-overlap"]
    )
    .is_some());
}

#[test]
fn forget_log_start_moves_the_log_start_back_after_a_restart() {
    let bugs = BugSwitches {
        forget_log_start: true,
        ..BugSwitches::default()
    };
    assert!(
        first_seed_reporting(bugs, &["log-start-regression", "inconsistent-offsets"]).is_some()
    );
}
