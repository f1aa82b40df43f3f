//! Helpers for scripted scenarios: a healthy-cluster round loop that runs
//! until a condition holds, checking every property after every round.

use std::collections::BTreeSet;

use crate::core::raft::tests::checkers::Violation;
use crate::core::raft::tests::cluster::SimCluster;
use crate::core::raft::tests::schedule::settle;
use crate::core::raft::tests::sim_net::NetFaults;
use crate::core::raft::{NodeId, RaftConfig};

/// A 150–300 ms election timeout, 30 ms heartbeats.
pub fn scenario_config(voter_count: u64) -> RaftConfig {
    let mut config = RaftConfig::new(1..=voter_count);
    config.election_timeout_min_ms = 150;
    config.election_timeout_max_ms = 300;
    config.heartbeat_interval_ms = 30;
    config
}

pub fn reliable_cluster(seed: u64, config: RaftConfig) -> SimCluster {
    SimCluster::new(seed, config, NetFaults::RELIABLE)
}

/// Rounds of 5 ms (tick all, deliver what is due, sync every write) until
/// `done` holds; `Ok(false)` if `limit_ms` passed first.
pub fn run_until(
    cluster: &mut SimCluster,
    limit_ms: u64,
    mut done: impl FnMut(&SimCluster) -> bool,
) -> Result<bool, Violation> {
    let start_ms = cluster.now_ms;
    while cluster.now_ms - start_ms <= limit_ms {
        if done(cluster) {
            return Ok(true);
        }
        cluster.now_ms += 5;
        settle(cluster)?;
        cluster.check()?;
    }
    Ok(done(cluster))
}

/// Runs until a leader is elected; returns it.
pub fn elect(cluster: &mut SimCluster) -> NodeId {
    assert!(
        run_until(cluster, 10_000, |c| c.leader().is_some()).expect("safe"),
        "a leader is elected"
    );
    cluster.leader().expect("a leader")
}

/// Cuts `alone` off from everyone else.
pub fn isolate(cluster: &mut SimCluster, alone: NodeId) {
    let rest: BTreeSet<NodeId> = cluster
        .ids()
        .into_iter()
        .filter(|&id| id != alone)
        .collect();
    cluster.partition(&[BTreeSet::from([alone]), rest]);
}

/// Proposes at `leader` and runs until a majority applied it.
pub fn commit_one(cluster: &mut SimCluster, leader: NodeId) -> u64 {
    let (_, index) = cluster
        .propose(leader)
        .expect("safe")
        .expect("the leader takes a proposal");
    let majority = cluster.config.majority();
    let applied = run_until(cluster, 5_000, |c| {
        c.nodes
            .values()
            .filter(|n| n.app.applied_index() >= index)
            .count()
            >= majority
    })
    .expect("safe");
    assert!(applied, "the proposal commits");
    index
}
