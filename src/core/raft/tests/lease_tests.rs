//! Pre-vote and check-quorum do what KIP-996 claims, and switching each
//! off shows the failure it prevents.

use crate::core::raft::tests::scenario::{
    commit_one, elect, isolate, reliable_cluster, run_until, scenario_config,
};
use crate::core::raft::Role;

/// A follower cut off for many election timeouts rejoins; returns the
/// leader's term before and the highest term after, and whether the same
/// node still leads.
fn rejoin(pre_vote: bool, seed: u64) -> (u64, u64, bool) {
    let mut config = scenario_config(3);
    config.pre_vote = pre_vote;
    let mut cluster = reliable_cluster(seed, config);
    let leader = elect(&mut cluster);
    let follower = cluster
        .ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("3 voters");
    isolate(&mut cluster, follower);
    run_until(&mut cluster, 3_000, |_| false).expect("safe");
    commit_one(&mut cluster, leader);
    let term_before = cluster.node(leader).expect("up").term();
    cluster.heal();
    run_until(&mut cluster, 2_000, |_| false).expect("safe");
    let leader_now = cluster.leader().expect("a leader");
    commit_one(&mut cluster, leader_now);
    (
        term_before,
        cluster.max_term(),
        cluster.leader() == Some(leader),
    )
}

#[test]
fn a_rejoining_voter_does_not_depose_a_healthy_leader() {
    for seed in 0..10 {
        let (before, after, same_leader) = rejoin(true, seed);
        assert_eq!(before, after, "seed {seed}: no term was raised");
        assert!(same_leader, "seed {seed}: the leader kept leading");
    }
}

#[test]
fn without_pre_vote_a_rejoining_voter_raises_the_term() {
    for seed in 0..10 {
        let (before, after, _) = rejoin(false, seed);
        assert!(
            after > before,
            "seed {seed}: the cut-off voter's elections raised the term"
        );
    }
}

/// A 5-voter leader left with one follower; returns whether it still
/// leads after several election timeouts, and whether the majority
/// elected a leader of a later term.
fn minority_leader(check_quorum: bool, seed: u64) -> (bool, bool) {
    let mut config = scenario_config(5);
    config.check_quorum = check_quorum;
    let mut cluster = reliable_cluster(seed, config);
    let old = elect(&mut cluster);
    let buddy = cluster
        .ids()
        .into_iter()
        .find(|&id| id != old)
        .expect("5 voters");
    let minority = std::collections::BTreeSet::from([old, buddy]);
    let majority = cluster
        .ids()
        .into_iter()
        .filter(|id| !minority.contains(id))
        .collect();
    cluster.partition(&[minority, majority]);
    let old_term = cluster.node(old).expect("up").term();
    run_until(&mut cluster, 1_500, |_| false).expect("safe");
    let still_leads = cluster.node(old).expect("up").role() == Role::Leader;
    let new_leader = cluster
        .up_nodes()
        .any(|n| n.id() != old && n.is_leader() && n.term() > old_term);
    (still_leads, new_leader)
}

#[test]
fn a_leader_without_a_majority_steps_down() {
    for seed in 0..10 {
        let (still_leads, new_leader) = minority_leader(true, seed);
        assert!(
            !still_leads,
            "seed {seed}: check-quorum made the old leader step down"
        );
        assert!(new_leader, "seed {seed}: the majority elected a new leader");
    }
}

#[test]
fn without_check_quorum_a_minority_leader_stays() {
    for seed in 0..10 {
        let (still_leads, new_leader) = minority_leader(false, seed);
        assert!(
            still_leads && new_leader,
            "seed {seed}: two nodes believe they lead"
        );
    }
}

#[test]
fn a_lagging_follower_catches_up_from_a_chunked_snapshot() {
    let mut config = scenario_config(3);
    config.snapshot_interval_entries = 4;
    config.message_max_bytes = 64;
    config.entry_max_bytes = 32;
    let mut cluster = reliable_cluster(1, config);
    let leader = elect(&mut cluster);
    let lagging = cluster
        .ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("3 voters");
    isolate(&mut cluster, lagging);
    for _ in 0..20 {
        commit_one(&mut cluster, leader);
    }
    let leader_snapshot = cluster.node(leader).expect("up").snapshot_meta();
    assert!(
        leader_snapshot.last_index >= 16,
        "the leader compacted its log"
    );
    cluster.heal();
    let last = cluster.node(leader).expect("up").log().last_index();
    assert!(run_until(&mut cluster, 5_000, |c| c.nodes[&lagging]
        .app
        .applied_index()
        >= last)
    .expect("safe"));
    assert!(cluster.stats.snapshots_installed >= 1);
    let data_len = cluster.nodes[&lagging].app.encode().len();
    assert!(
        data_len > 64 * 4,
        "the snapshot took several chunks of 64 bytes"
    );
}
