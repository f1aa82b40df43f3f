//! Each bug switch is caught by the harness: a sweep finds a seed that
//! violates a safety property.

use crate::core::raft::tests::schedule::{run_seed, ScheduleOptions};
use crate::core::raft::RaftBugs;

/// Runs seeds until one fails; returns (seed, property name).
fn first_failure(options: &ScheduleOptions, seeds: std::ops::Range<u64>) -> Option<(u64, &'static str)> {
    seeds
        .filter_map(|seed| run_seed(seed, options).err())
        .map(|failure| {
            eprintln!(
                "seed {} step {}: {}\n{}",
                failure.seed,
                failure.step,
                failure.violation,
                failure.trace.join("\n")
            );
            (failure.seed, failure.violation.name())
        })
        .next()
}

#[test]
fn vote_without_log_check_is_caught() {
    for voters in [3, 5] {
        let mut options = ScheduleOptions::new(voters);
        options.bugs = RaftBugs {
            vote_without_log_check: true,
            ..RaftBugs::default()
        };
        options.check_liveness = false;
        let found = first_failure(&options, 0..2_000);
        eprintln!("vote-without-log-check, {voters} voters: {found:?}");
        let (_, property) = found.expect("a seed finds vote-without-log-check");
        assert_ne!(property, "liveness");
    }
}

#[test]
fn commit_old_term_is_caught() {
    for voters in [3, 5] {
        let mut options = ScheduleOptions::new(voters);
        options.bugs = RaftBugs {
            commit_old_term: true,
            ..RaftBugs::default()
        };
        options.check_liveness = false;
        let found = first_failure(&options, 0..5_000);
        eprintln!("commit-old-term, {voters} voters: {found:?}");
        let (_, property) = found.expect("a seed finds commit-old-term");
        assert_ne!(property, "liveness");
    }
}

#[test]
fn bug_names_parse() {
    let mut bugs = RaftBugs::default();
    assert!(!bugs.any());
    for name in RaftBugs::NAMES {
        assert!(bugs.enable(name), "{name}");
    }
    assert!(bugs.vote_without_log_check && bugs.commit_old_term);
    assert!(!bugs.enable("truncate-to-hw"), "not a Raft switch");
}
