//! Seeded random schedules: a chaos phase (ticks with jittered clocks,
//! deliveries in random order, syncs, proposals, crashes, restarts,
//! partitions) with every checker after every step, then a liveness phase
//! (all up, network healed and reliable) that must elect a leader and
//! commit a proposal on every node within a bound.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::core::raft::tests::checkers::Violation;
use crate::core::raft::tests::cluster::{ClusterStats, SimCluster};
use crate::core::raft::tests::sim_net::NetFaults;
use crate::core::raft::{NodeId, RaftBugs, RaftConfig};

/// Simulated time the liveness phase may take to elect a leader and
/// commit a proposal on every node: 20 maximum election timeouts.
pub const LIVENESS_BOUND_MS: u64 = 20 * ELECTION_TIMEOUT_MAX_MS;
const ELECTION_TIMEOUT_MIN_MS: u64 = 150;
const ELECTION_TIMEOUT_MAX_MS: u64 = 300;

#[derive(Debug, Clone)]
pub struct ScheduleOptions {
    pub voter_count: u64,
    /// Observers besides the voters: crashed, partitioned and restarted
    /// like them, and required to apply the liveness proposal too.
    pub observer_count: u64,
    pub steps: usize,
    pub bugs: RaftBugs,
    pub pre_vote: bool,
    pub check_quorum: bool,
    /// Per mille of steps that crash a node.
    pub crash_per_mille: u32,
    pub check_liveness: bool,
    /// Crashes pick a leader when there is one (Jepsen's "kill the
    /// leader" nemesis): more leader changes per schedule.
    pub crash_leaders: bool,
    /// Forces `append_entries_max` (1 sends an old term's entries apart
    /// from the new leader's no-op).
    pub append_entries_max: Option<usize>,
    /// Per mille of steps that re-partition the network, on top of the
    /// usual 1% (a churning network isolates leaders mid-replication).
    pub extra_partition_per_mille: u32,
    /// Per mille of steps that cut the current leader off from everyone
    /// (Jepsen's partition-leader nemesis).
    pub isolate_leader_per_mille: u32,
}

impl ScheduleOptions {
    pub fn new(voter_count: u64) -> ScheduleOptions {
        ScheduleOptions {
            voter_count,
            observer_count: 0,
            steps: 400,
            bugs: RaftBugs::default(),
            pre_vote: true,
            check_quorum: true,
            crash_per_mille: 8,
            check_liveness: true,
            crash_leaders: false,
            append_entries_max: None,
            extra_partition_per_mille: 0,
            isolate_leader_per_mille: 0,
        }
    }
}

/// A small-limits configuration so that short schedules hit backoff,
/// chunked snapshots and compaction.
pub fn harness_config(options: &ScheduleOptions, rng: &mut ChaCha8Rng) -> RaftConfig {
    let mut config = RaftConfig::new(1..=options.voter_count);
    config.election_timeout_min_ms = ELECTION_TIMEOUT_MIN_MS;
    config.election_timeout_max_ms = ELECTION_TIMEOUT_MAX_MS;
    config.heartbeat_interval_ms = 30;
    config.append_entries_max = *[1, 2, 4, 64].choose(rng).expect("non-empty");
    if let Some(count) = options.append_entries_max {
        config.append_entries_max = count;
    }
    config.message_max_bytes = *[64, 256, 4_096].choose(rng).expect("non-empty");
    config.entry_max_bytes = 32;
    config.uncommitted_entries_max = 32;
    config.inflight_appends_max = *[1, 4].choose(rng).expect("non-empty");
    config.apply_entries_max = 8;
    config.snapshot_interval_entries = *[4, 16, 1_000].choose(rng).expect("non-empty");
    // Long enough for a leader to keep an observer across lost messages,
    // short enough that schedules see observers forgotten and re-announced.
    config.observer_timeout_ms = 4 * ELECTION_TIMEOUT_MAX_MS;
    config.pre_vote = options.pre_vote;
    config.check_quorum = options.check_quorum;
    config.bugs = options.bugs;
    config
}

#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub step: usize,
    pub violation: Violation,
    pub trace: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct RunStats {
    pub steps: usize,
    pub cluster: ClusterStats,
    pub committed: usize,
    pub leader_terms: usize,
    pub checks: u64,
    pub messages_delivered: u64,
    pub messages_dropped: u64,
    /// Simulated time the liveness phase needed to commit on every node.
    pub liveness_ms: u64,
}

/// Runs seed `seed`; a violation (or a core assertion) is a `Failure`.
pub fn run_seed(seed: u64, options: &ScheduleOptions) -> Result<RunStats, Box<Failure>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005e_ed0f_4af7);
    let config = harness_config(options, &mut rng);
    let faults = NetFaults {
        drop_per_mille: *[0, 50, 200].choose(&mut rng).expect("non-empty"),
        duplicate_per_mille: *[0, 50].choose(&mut rng).expect("non-empty"),
        delay_min_ms: 1,
        delay_max_ms: *[10, 60, 200].choose(&mut rng).expect("non-empty"),
    };
    let mut cluster = SimCluster::with_observers(seed, config, faults, options.observer_count);
    let mut step = 0;
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<RunStats, Violation> {
        while step < options.steps {
            chaos_step(&mut cluster, options)?;
            cluster.check()?;
            step += 1;
        }
        let liveness_ms = if options.check_liveness {
            liveness_phase(&mut cluster)?
        } else {
            0
        };
        Ok(RunStats {
            steps: step,
            cluster: cluster.stats,
            committed: cluster.checker.committed_count(),
            leader_terms: cluster.checker.leader_terms(),
            checks: cluster.checker.checks,
            messages_delivered: cluster.net.stats.delivered,
            messages_dropped: cluster.net.stats.dropped,
            liveness_ms,
        })
    }));
    let violation = match outcome {
        Ok(Ok(stats)) => return Ok(stats),
        Ok(Err(violation)) => violation,
        Err(panic) => Violation::CorePanic {
            message: panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        },
    };
    Err(Box::new(Failure {
        seed,
        step,
        violation,
        trace: cluster.trace(),
    }))
}

fn pick(rng: &mut ChaCha8Rng, ids: &[NodeId]) -> Option<NodeId> {
    ids.choose(rng).copied()
}

fn chaos_step(cluster: &mut SimCluster, options: &ScheduleOptions) -> Result<(), Violation> {
    cluster.now_ms += cluster.rng.gen_range(0..=12);
    let ids = cluster.ids();
    let up: Vec<NodeId> = ids
        .iter()
        .copied()
        .filter(|&id| cluster.is_up(id))
        .collect();
    let down: Vec<NodeId> = ids
        .iter()
        .copied()
        .filter(|&id| !cluster.is_up(id))
        .collect();
    if cluster.rng.gen_range(0..1000u32) < options.isolate_leader_per_mille {
        if let Some(leader) = cluster.leader() {
            let rest: BTreeSet<NodeId> = ids.iter().copied().filter(|&id| id != leader).collect();
            cluster.partition(&[BTreeSet::from([leader]), rest]);
            return Ok(());
        }
    }
    let mut roll = cluster.rng.gen_range(0..1000u32);
    if cluster.rng.gen_range(0..1000u32) < options.extra_partition_per_mille {
        roll = 960;
    }
    let crash_at = 1000 - options.crash_per_mille;
    match roll {
        0..=299 => {
            if let Some(id) = pick(&mut cluster.rng, &up) {
                cluster.tick(id)?;
            }
        }
        300..=649 => {
            // A burst of deliveries.
            for _ in 0..cluster.rng.gen_range(1..=4) {
                if !cluster.deliver_one()? {
                    break;
                }
            }
        }
        650..=849 => {
            let syncing: Vec<NodeId> = up
                .iter()
                .copied()
                .filter(|&id| cluster.pending_persists(id) > 0)
                .collect();
            if let Some(id) = pick(&mut cluster.rng, &syncing) {
                cluster.sync_one(id)?;
            }
        }
        850..=929 => {
            let leaders: Vec<NodeId> = up
                .iter()
                .copied()
                .filter(|&id| cluster.node(id).is_some_and(|n| n.is_leader()))
                .collect();
            let target = pick(&mut cluster.rng, &leaders).or_else(|| pick(&mut cluster.rng, &up));
            if let Some(id) = target {
                let _ = cluster.propose(id)?;
            }
        }
        930..=959 => {
            if let Some(id) = pick(&mut cluster.rng, &down) {
                cluster.restart(id)?;
            }
        }
        960..=969 if ids.len() > 1 => {
            let mut shuffled = ids.clone();
            shuffled.shuffle(&mut cluster.rng);
            let cut = cluster.rng.gen_range(1..shuffled.len());
            let groups = [
                shuffled[..cut].iter().copied().collect::<BTreeSet<_>>(),
                shuffled[cut..].iter().copied().collect(),
            ];
            cluster.partition(&groups);
        }
        970..=984 => cluster.heal(),
        _ if roll >= crash_at => {
            let leaders: Vec<NodeId> = up
                .iter()
                .copied()
                .filter(|&id| {
                    options.crash_leaders && cluster.node(id).is_some_and(|n| n.is_leader())
                })
                .collect();
            if let Some(id) =
                pick(&mut cluster.rng, &leaders).or_else(|| pick(&mut cluster.rng, &up))
            {
                cluster.crash(id);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Heals everything and requires a leader and a committed proposal on
/// every node within `LIVENESS_BOUND_MS`. Returns the time it took.
pub fn liveness_phase(cluster: &mut SimCluster) -> Result<u64, Violation> {
    cluster.heal();
    cluster.net.faults = NetFaults::RELIABLE;
    for id in cluster.ids() {
        cluster.restart(id)?;
    }
    let start_ms = cluster.now_ms;
    let mut proposed: Option<(u64, u64)> = None;
    while cluster.now_ms - start_ms <= LIVENESS_BOUND_MS {
        cluster.now_ms += 5;
        settle(cluster)?;
        cluster.check()?;
        if let Some((term, index)) = proposed {
            let at_index: Vec<Option<u64>> = cluster
                .nodes
                .values()
                .map(|n| n.app.applied.get(index as usize - 1).map(|&(t, _)| t))
                .collect();
            if at_index.iter().all(|&t| t == Some(term)) {
                return Ok(cluster.now_ms - start_ms);
            }
            // Lost to a leader change (overwritten, or not in the new
            // leader's log): propose again.
            let dropped_by_leader =
                cluster
                    .leader()
                    .and_then(|l| cluster.node(l))
                    .is_some_and(|l| {
                        l.term() != term
                            && l.snapshot_meta().last_index < index
                            && l.log().term_at(index) != Some(term)
                    });
            if dropped_by_leader || at_index.iter().any(|&t| t.is_some_and(|t| t != term)) {
                proposed = None;
            }
        }
        if proposed.is_none() {
            if let Some(leader) = cluster.leader() {
                if let Ok(at) = cluster.propose(leader)? {
                    cluster.note(format!("liveness: proposed {at:?} at {leader}"));
                    proposed = Some(at);
                }
            }
        }
    }
    Err(Violation::Liveness {
        bound_ms: LIVENESS_BOUND_MS,
        leader: cluster.leader(),
        max_term: cluster.max_term(),
    })
}

/// One round of a healthy cluster: tick everyone, deliver everything due,
/// sync every write.
pub fn settle(cluster: &mut SimCluster) -> Result<(), Violation> {
    for id in cluster.ids() {
        if cluster.is_up(id) {
            cluster.tick(id)?;
        }
    }
    while cluster.deliver_one()? {}
    for id in cluster.ids() {
        while cluster.pending_persists(id) > 0 {
            cluster.sync_one(id)?;
        }
    }
    while cluster.deliver_one()? {}
    Ok(())
}
