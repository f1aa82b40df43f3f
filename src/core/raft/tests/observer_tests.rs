//! Observers (non-voters that follow the log): by hand, an observer never
//! votes or campaigns and a leader never counts it; in the harness, one
//! cut off while the leader compacts catches up by snapshot, and sweeps
//! with observers crashed and partitioned stay safe and live.

use crate::core::raft::tests::cluster::SimCluster;
use crate::core::raft::tests::scenario::{
    commit_one, elect, isolate, reliable_cluster, run_until, scenario_config,
};
use crate::core::raft::tests::schedule::{run_seed, ScheduleOptions};
use crate::core::raft::tests::sim_net::NetFaults;
use crate::core::raft::{
    AppendResult, DurableState, ElectionRng, Message, MessageBody, RaftConfig, RaftNode, Role,
    StepError,
};

/// Voters 1, 2, 3; node 4 is an observer.
fn config() -> RaftConfig {
    scenario_config(3)
}

fn start(id: u64) -> RaftNode {
    RaftNode::restart(
        config(),
        id,
        ElectionRng::from_seed(id),
        DurableState::default(),
        0,
    )
    .expect("valid")
}

fn message(from: u64, to: u64, term: u64, body: MessageBody) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}

/// Takes every ready, persisting at once; returns the messages.
fn drain(node: &mut RaftNode) -> Vec<Message> {
    let mut sent = Vec::new();
    while node.has_ready() {
        let ready = node.ready();
        sent.extend(ready.messages);
        if let Some(persist) = ready.persist {
            node.on_persisted(persist.id);
        }
    }
    sent
}

/// Node 1 elected by node 2's vote, its own no-op appended.
fn leader_one() -> RaftNode {
    let mut leader = start(1);
    leader.tick(1_000);
    drain(&mut leader);
    leader
        .step(
            1_000,
            message(2, 1, 1, MessageBody::PreVoteResponse { granted: true }),
        )
        .expect("well-formed");
    drain(&mut leader);
    leader
        .step(
            1_000,
            message(2, 1, 1, MessageBody::VoteResponse { granted: true }),
        )
        .expect("well-formed");
    drain(&mut leader);
    assert!(leader.is_leader());
    leader
}

#[test]
fn an_observer_never_campaigns_and_announces_itself_to_every_voter() {
    let mut observer = start(4);
    assert_eq!(observer.role(), Role::Observer);
    let mut announced = 0;
    for now_ms in (0..10_000).step_by(10) {
        observer.tick(now_ms);
        for sent in drain(&mut observer) {
            assert_eq!(sent.body, MessageBody::Observe, "only announcements");
            assert!(config().is_voter(sent.to));
            announced += 1;
        }
    }
    assert_eq!(observer.term(), 0, "no election raised its term");
    assert_eq!(observer.role(), Role::Observer);
    // Every observe interval (75 ms, seen by 10 ms ticks: every 80 ms) to
    // each of the 3 voters.
    assert!(
        announced >= 3 * (10_000 / 80 - 1),
        "{announced} announcements"
    );
}

#[test]
fn an_observer_refuses_vote_requests_and_they_change_nothing() {
    let mut observer = start(4);
    for body in [
        MessageBody::Vote {
            last_log_index: 9,
            last_log_term: 9,
        },
        MessageBody::PreVote {
            last_log_index: 9,
            last_log_term: 9,
        },
    ] {
        let refused = observer.step(10, message(2, 4, 9, body));
        assert!(matches!(refused, Err(StepError::Malformed { .. })));
    }
    assert_eq!((observer.term(), observer.voted_for()), (0, None));
    assert!(drain(&mut observer).is_empty());
}

#[test]
fn a_voter_takes_only_announcements_and_answers_from_a_non_voter() {
    let mut voter = start(2);
    let vote = MessageBody::Vote {
        last_log_index: 0,
        last_log_term: 0,
    };
    assert!(matches!(
        voter.step(10, message(4, 2, 5, vote)),
        Err(StepError::UnknownPeer { from: 4 })
    ));
    // A follower ignores an announcement, whatever its term.
    voter
        .step(10, message(4, 2, 7, MessageBody::Observe))
        .expect("well-formed");
    assert_eq!(voter.term(), 0, "an announcement changes no term");
    assert!(drain(&mut voter).is_empty());
}

#[test]
fn a_leader_replicates_to_an_observer_but_never_counts_it() {
    let mut leader = leader_one();
    let mut observer = start(4);
    leader
        .step(1_010, message(4, 1, 0, MessageBody::Observe))
        .expect("well-formed");
    assert_eq!(leader.observer_count(), 1);
    let to_observer: Vec<Message> = drain(&mut leader)
        .into_iter()
        .filter(|m| m.to == 4)
        .collect();
    assert!(matches!(
        to_observer[0].body,
        MessageBody::AppendEntries { .. }
    ));
    // The observer adopts the term and the leader, and matches through a
    // probe round trip.
    let mut pending = to_observer;
    for _ in 0..4 {
        let mut answers = Vec::new();
        for m in pending.drain(..) {
            observer.step(1_020, m).expect("well-formed");
            answers.extend(drain(&mut observer));
        }
        for a in answers {
            leader.step(1_030, a).expect("well-formed");
        }
        pending = drain(&mut leader)
            .into_iter()
            .filter(|m| m.to == 4)
            .collect();
    }
    assert_eq!((observer.term(), observer.leader()), (1, Some(1)));
    let (_, index) = leader.propose(1_040, b"x".to_vec()).expect("leads");
    drain(&mut leader);
    // Only the observer acknowledges: not committed.
    leader
        .step(
            1_050,
            message(
                4,
                1,
                1,
                MessageBody::AppendEntriesResponse {
                    result: AppendResult::Success { match_index: index },
                },
            ),
        )
        .expect("well-formed");
    assert!(
        leader.commit_index() < index,
        "an observer is never counted"
    );
    // A voter's acknowledgement commits it (2 of 3).
    leader
        .step(
            1_060,
            message(
                2,
                1,
                1,
                MessageBody::AppendEntriesResponse {
                    result: AppendResult::Success { match_index: index },
                },
            ),
        )
        .expect("well-formed");
    assert_eq!(leader.commit_index(), index);
}

#[test]
fn check_quorum_counts_voters_only_and_silent_observers_are_forgotten() {
    let mut config = config();
    config.observer_timeout_ms = 400;
    let mut leader = RaftNode::restart(
        config,
        1,
        ElectionRng::from_seed(1),
        DurableState::default(),
        0,
    )
    .expect("valid");
    leader.tick(1_000);
    drain(&mut leader);
    for body in [
        MessageBody::PreVoteResponse { granted: true },
        MessageBody::VoteResponse { granted: true },
    ] {
        leader
            .step(1_000, message(2, 1, 1, body))
            .expect("well-formed");
        drain(&mut leader);
    }
    assert!(leader.is_leader());
    // Observer 4 answers every heartbeat; no voter answers anything.
    let mut now_ms = 1_000;
    while now_ms < 1_000 + 150 - 10 {
        now_ms += 10;
        leader
            .step(now_ms, message(4, 1, 1, MessageBody::Observe))
            .expect("well-formed");
        leader.tick(now_ms);
        drain(&mut leader);
    }
    assert!(leader.is_leader(), "still within the lease");
    now_ms += 20;
    leader.tick(now_ms);
    assert!(
        !leader.is_leader(),
        "an observer's answers do not keep a leader in office"
    );
    // Forgetting: a leader that hears from its voters drops the silent
    // observer after observer_timeout_ms.
    let mut leader = leader_one();
    leader
        .step(1_000, message(4, 1, 0, MessageBody::Observe))
        .expect("well-formed");
    assert_eq!(leader.observer_count(), 1);
    let mut now_ms = 1_000;
    while now_ms < 1_000 + 10_000 + 200 {
        now_ms += 50;
        for voter in [2, 3] {
            leader
                .step(
                    now_ms,
                    message(
                        voter,
                        1,
                        1,
                        MessageBody::AppendEntriesResponse {
                            result: AppendResult::Success { match_index: 0 },
                        },
                    ),
                )
                .expect("well-formed");
        }
        leader.tick(now_ms);
        drain(&mut leader);
    }
    assert!(leader.is_leader());
    assert_eq!(
        leader.observer_count(),
        0,
        "the silent observer is forgotten"
    );
}

#[test]
fn a_leader_tracks_at_most_observers_max() {
    let mut config = config();
    config.observers_max = 2;
    let mut leader = RaftNode::restart(
        config,
        1,
        ElectionRng::from_seed(1),
        DurableState::default(),
        0,
    )
    .expect("valid");
    leader.tick(1_000);
    drain(&mut leader);
    for body in [
        MessageBody::PreVoteResponse { granted: true },
        MessageBody::VoteResponse { granted: true },
    ] {
        leader
            .step(1_000, message(2, 1, 1, body))
            .expect("well-formed");
        drain(&mut leader);
    }
    for observer in 4..10 {
        leader
            .step(1_010, message(observer, 1, 0, MessageBody::Observe))
            .expect("well-formed");
    }
    assert_eq!(leader.observer_count(), 2);
    let to_observers = drain(&mut leader)
        .into_iter()
        .filter(|m| m.to >= 4)
        .map(|m| m.to)
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(to_observers, [4, 5].into());
}

#[test]
fn an_observer_cut_off_while_the_leader_compacts_catches_up_by_snapshot() {
    let mut config = config();
    config.snapshot_interval_entries = 4;
    config.message_max_bytes = 64;
    config.entry_max_bytes = 32;
    let mut cluster = SimCluster::with_observers(3, config, NetFaults::RELIABLE, 1);
    let observer = 4;
    let leader = elect(&mut cluster);
    assert!(run_until(&mut cluster, 2_000, |c| c
        .node(observer)
        .is_some_and(|o| o.leader() == Some(leader)))
    .expect("safe"));
    isolate(&mut cluster, observer);
    for _ in 0..20 {
        commit_one(&mut cluster, leader);
    }
    assert!(cluster.node(leader).expect("up").snapshot_meta().last_index >= 16);
    assert_eq!(
        cluster.node(observer).expect("up").term(),
        1,
        "never campaigned"
    );
    cluster.heal();
    let last = cluster.node(leader).expect("up").log().last_index();
    assert!(run_until(&mut cluster, 5_000, |c| c.nodes[&observer]
        .app
        .applied_index()
        >= last)
    .expect("safe"));
    assert!(cluster.stats.snapshots_installed >= 1);
    assert_eq!(cluster.node(observer).expect("up").role(), Role::Observer);
}

#[test]
fn a_new_leader_learns_of_its_observers() {
    let mut cluster = reliable_cluster(5, config());
    drop(cluster);
    cluster = SimCluster::with_observers(5, config(), NetFaults::RELIABLE, 2);
    let first = elect(&mut cluster);
    commit_one(&mut cluster, first);
    cluster.crash(first);
    let second = elect(&mut cluster);
    assert_ne!(first, second);
    let index = commit_one(&mut cluster, second);
    assert!(run_until(&mut cluster, 2_000, |c| [4, 5]
        .iter()
        .all(|o| c.nodes[o].app.applied_index() >= index))
    .expect("safe"));
}

fn sweep(options: &ScheduleOptions, seeds: std::ops::Range<u64>) -> u64 {
    let mut committed = 0;
    for seed in seeds {
        match run_seed(seed, options) {
            Ok(stats) => committed += stats.committed as u64,
            Err(failure) => panic!(
                "seed {} failed at step {}: {}\n{}",
                failure.seed,
                failure.step,
                failure.violation,
                failure.trace.join("\n")
            ),
        }
    }
    committed
}

#[test]
fn observers_crashed_and_partitioned_stay_safe_and_catch_up() {
    let mut options = ScheduleOptions::new(3);
    options.observer_count = 2;
    assert!(sweep(&options, 30_000..30_500) > 3_000);
    let mut options = ScheduleOptions::new(5);
    options.observer_count = 1;
    options.isolate_leader_per_mille = 30;
    sweep(&options, 31_000..31_200);
    let mut options = ScheduleOptions::new(1);
    options.observer_count = 2;
    options.crash_per_mille = 20;
    sweep(&options, 32_000..32_200);
}

#[test]
fn an_observer_restarted_on_an_empty_disk_catches_up() {
    let mut cluster = SimCluster::with_observers(7, config(), NetFaults::RELIABLE, 1);
    let observer = 4;
    let leader = elect(&mut cluster);
    let mut index = 0;
    for _ in 0..5 {
        index = commit_one(&mut cluster, leader);
    }
    assert!(run_until(&mut cluster, 2_000, |c| c.nodes[&observer]
        .app
        .applied_index()
        >= index)
    .expect("safe"));
    // Its disk is replaced: the leader's match for it is now a lie, which
    // only a fresh probe (on its announcement) gets past.
    cluster.crash(observer);
    cluster.nodes.get_mut(&observer).expect("a node").storage =
        crate::core::raft::tests::sim_storage::SimStorage::default();
    cluster.restart(observer).expect("safe");
    let index = commit_one(&mut cluster, leader);
    assert!(run_until(&mut cluster, 3_000, |c| c.nodes[&observer]
        .app
        .applied_index()
        >= index)
    .expect("safe"));
}
