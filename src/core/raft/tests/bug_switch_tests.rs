//! Each bug switch is caught by the harness: a sweep finds a seed that
//! violates a safety property.

use crate::core::raft::tests::checkers::Violation;
use crate::core::raft::tests::scenario::{
    commit_one, elect, isolate, reliable_cluster, run_until, scenario_config,
};
use crate::core::raft::tests::schedule::{run_seed, ScheduleOptions};
use crate::core::raft::NodeId;
use crate::core::raft::RaftBugs;

/// Runs seeds until one fails; returns (seed, property name).
fn first_failure(
    options: &ScheduleOptions,
    seeds: std::ops::Range<u64>,
) -> Option<(u64, &'static str)> {
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
        // Figure 8 needs a leader cut off right after it counted an old
        // entry's replicas: the partition-leader nemesis makes that common
        // enough (about 1% of 1,000-step seeds; none in 5,000 plain ones).
        options.isolate_leader_per_mille = 50;
        options.steps = 1_000;
        let found = first_failure(&options, 0..1_000);
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

/// Raft's Figure 8 on three voters, scripted with partitions: S1 leads and
/// appends x at index k alone; S2 leads the next term with a no-op at k
/// that reaches nobody; S1 leads again and replicates x to S3 one entry
/// at a time; then S1 is cut off and S2 (whose last term is higher than
/// x's) can win. Returns the first violation the checkers report.
fn figure_8(commit_old_term: bool, seed: u64) -> Result<(), Violation> {
    let mut config = scenario_config(3);
    config.append_entries_max = 1;
    config.bugs.commit_old_term = commit_old_term;
    let mut cluster = reliable_cluster(seed, config);
    let s1 = elect(&mut cluster);
    let k = commit_one(&mut cluster, s1) + 1;
    isolate(&mut cluster, s1);
    cluster
        .propose(s1)?
        .expect("S1 still leads in its partition");
    let others: Vec<NodeId> = cluster.ids().into_iter().filter(|&id| id != s1).collect();
    // S2 wins the next term; cut it off as soon as it leads, before its
    // no-op at k reaches S3.
    assert!(run_until(&mut cluster, 5_000, |c| others
        .iter()
        .any(|&id| c.node(id).is_some_and(|n| n.is_leader())))?);
    let s2 = cluster.leader().expect("a leader among the others");
    let s3 = others
        .into_iter()
        .find(|&id| id != s2)
        .expect("three voters");
    isolate(&mut cluster, s2);
    assert_eq!(
        cluster.node(s2).and_then(|n| n.log().term_at(k)),
        Some(cluster.node(s2).expect("up").term())
    );
    // S1 and S3: S1's log is ahead, so S1 wins and replicates x to S3.
    assert!(run_until(&mut cluster, 10_000, |c| c
        .node(s1)
        .is_some_and(|n| n.is_leader() && n.commit_index() >= k))?);
    // Cut S1 off the moment it commits index k.
    isolate(&mut cluster, s1);
    // S2 and S3 elect a leader of a later term.
    let s1_term = cluster.node(s1).expect("up").term();
    run_until(&mut cluster, 10_000, |c| {
        [s2, s3].iter().any(|&id| {
            c.node(id)
                .is_some_and(|n| n.is_leader() && n.term() > s1_term)
        })
    })?;
    Ok(())
}

#[test]
fn figure_8_is_safe_without_the_bug_and_caught_with_it() {
    for seed in 0..20 {
        figure_8(false, seed).unwrap_or_else(|v| panic!("seed {seed}: {v}"));
    }
    let caught = (0..20)
        .filter_map(|seed| figure_8(true, seed).err())
        .inspect(|v| eprintln!("commit-old-term, figure 8: {v}"))
        .count();
    assert!(caught > 0, "the checkers see Figure 8's lost commit");
}
