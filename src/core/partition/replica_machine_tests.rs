//! Scenario tests of the replica state machine, one rule each.

use std::collections::BTreeMap;

use crate::core::partition::acks::Acks;
use crate::core::partition::memory_log::MemoryLog;
use crate::core::partition::replica_action::ReplicaAction;
use crate::core::partition::replica_config::{ReplicaBugs, ReplicaConfig};
use crate::core::partition::replica_log::{ReplicaLog, StoredBatch};
use crate::core::partition::replica_machine::ReplicaMachine;
use crate::core::partition::{FetchError, FetchRequest, FetchResponse, FetchResult, ProduceError};

type Actions = Vec<ReplicaAction<Vec<u64>>>;

fn config(node_id: i32) -> ReplicaConfig {
    let mut config = ReplicaConfig::new(node_id);
    config.min_insync_replicas = 2;
    config.replica_lag_time_max_ms = 1_000;
    config
}

fn log_of(epochs: &[i32]) -> MemoryLog {
    let mut log = MemoryLog::default();
    for (offset, &epoch) in epochs.iter().enumerate() {
        log.append(StoredBatch {
            base_offset: offset as i64,
            epoch,
            record_count: 1,
            records: vec![100 + offset as u64],
        });
    }
    log
}

fn fetch(replica_id: i32, fetch_offset: i64, last: Option<i32>, epoch: i32) -> FetchRequest {
    FetchRequest {
        correlation_id: 1,
        replica_id,
        fetch_offset,
        last_fetched_epoch: last,
        current_leader_epoch: epoch,
        replica_epoch: 0,
    }
}

fn produce_results(actions: &Actions) -> Vec<(u64, Result<i64, ProduceError>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            ReplicaAction::RespondProduce { request_id, result } => Some((*request_id, *result)),
            _ => None,
        })
        .collect()
}

fn fetch_result(actions: &Actions) -> FetchResult<Vec<u64>> {
    actions
        .iter()
        .find_map(|a| match a {
            ReplicaAction::RespondFetch { response, .. } => Some(response.result.clone()),
            _ => None,
        })
        .expect("a fetch is answered")
}

fn proposals(actions: &Actions) -> Vec<Vec<i32>> {
    actions
        .iter()
        .filter_map(|a| match a {
            ReplicaAction::ProposeIsr(proposal) => Some(proposal.isr.clone()),
            _ => None,
        })
        .collect()
}

fn leader(log: &mut MemoryLog, isr: Vec<i32>, epoch: i32) -> ReplicaMachine {
    let mut m = ReplicaMachine::new(config(1), log, 0);
    m.become_leader(log, epoch, isr, vec![1, 2, 3], 0);
    m
}

#[test]
fn the_high_watermark_is_the_minimum_over_isr_members_following_this_epoch() {
    let mut log = MemoryLog::default();
    let mut m = leader(&mut log, vec![1, 2, 3], 1);
    let a = m.client_append(&mut log, 7, vec![1, 2, 3], 3, Acks::All);
    assert!(produce_results(&a).is_empty());
    m.follower_fetch(&mut log, fetch(2, 3, Some(1), 1), 10);
    assert_eq!(
        m.high_watermark(),
        0,
        "replica 3 has not fetched in epoch 1"
    );
    m.follower_fetch(&mut log, fetch(3, 1, Some(1), 1), 10);
    assert_eq!(m.high_watermark(), 1);
    let a = m.follower_fetch(&mut log, fetch(3, 3, Some(1), 1), 10);
    assert_eq!(m.high_watermark(), 3);
    assert_eq!(produce_results(&a), vec![(7, Ok(0))]);
}

#[test]
fn acks_all_needs_min_insync_replicas_before_and_after_the_append() {
    let mut log = MemoryLog::default();
    let mut m = leader(&mut log, vec![1], 1);
    let a = m.client_append(&mut log, 1, vec![1], 1, Acks::All);
    assert_eq!(
        produce_results(&a),
        vec![(1, Err(ProduceError::NotEnoughReplicas))]
    );
    assert_eq!(log.log_end_offset(), 0, "refused before the append");
    let a = m.client_append(&mut log, 2, vec![2], 1, Acks::Leader);
    assert_eq!(produce_results(&a), vec![(2, Ok(0))]);

    let mut log = MemoryLog::default();
    let mut m = leader(&mut log, vec![1, 2], 1);
    assert!(produce_results(&m.client_append(&mut log, 3, vec![3], 1, Acks::All)).is_empty());
    // The ISR shrinks to the leader before replica 2 fetched. Below
    // min.insync.replicas the high watermark stands still (KIP-966: replica
    // 2 is now an eligible leader, and lacks the batch), so the produce
    // waits; its timeout answers it, as in Kafka.
    let a = m.isr_committed(&mut log, 1, vec![1]);
    assert_eq!(m.high_watermark(), 0);
    assert!(produce_results(&a).is_empty());
    // Replica 2 catches up and rejoins: the high watermark moves again
    // and the produce is answered.
    let caught_up = m.follower_fetch(&mut log, fetch(2, 1, Some(1), 1), 2);
    assert_eq!(proposals(&caught_up), vec![vec![1, 2]]);
    assert_eq!(m.high_watermark(), 0, "the expansion is not committed yet");
    let a = m.isr_committed(&mut log, 1, vec![1, 2]);
    assert_eq!(m.high_watermark(), 1);
    assert_eq!(produce_results(&a), vec![(3, Ok(0))]);
}

#[test]
fn the_ack_before_isr_bug_answers_before_the_followers_have_the_batch() {
    let mut log = MemoryLog::default();
    let mut c = config(1);
    c.bugs = ReplicaBugs::named("ack-before-isr").unwrap();
    let mut m = ReplicaMachine::new(c, &log, 0);
    m.become_leader(&mut log, 1, vec![1, 2], vec![1, 2], 0);
    let a = m.client_append(&mut log, 1, vec![1], 1, Acks::All);
    assert_eq!(produce_results(&a), vec![(1, Ok(0))]);
    assert_eq!(m.high_watermark(), 0);
}

#[test]
fn fetches_are_fenced_by_leader_epoch() {
    let mut log = MemoryLog::default();
    let mut m = leader(&mut log, vec![1, 2, 3], 5);
    let old = m.follower_fetch(&mut log, fetch(2, 0, None, 4), 0);
    assert_eq!(
        fetch_result(&old),
        FetchResult::Error(FetchError::FencedLeaderEpoch)
    );
    let new = m.follower_fetch(&mut log, fetch(2, 0, None, 6), 0);
    assert_eq!(
        fetch_result(&new),
        FetchResult::Error(FetchError::UnknownLeaderEpoch)
    );
    assert_eq!(
        m.offsets_for_leader_epoch(&log, 4, 1),
        Err(FetchError::FencedLeaderEpoch)
    );

    // A follower drops an answer made in another epoch.
    let mut flog = MemoryLog::default();
    let mut f = ReplicaMachine::new(config(2), &flog, 0);
    let sent = f.become_follower(&mut flog, 1, 5, 0);
    let Some(ReplicaAction::SendFetch { request, .. }) = sent.first() else {
        panic!("a new follower fetches: {sent:?}")
    };
    let stale = FetchResponse {
        correlation_id: request.correlation_id,
        leader_id: 1,
        leader_epoch: 4,
        fetch_offset: 0,
        result: FetchResult::Records {
            batches: log_of(&[4]).read(0, 10),
            high_watermark: 1,
            log_start_offset: 0,
        },
    };
    assert!(f.fetch_response(&mut flog, stale, 1).is_empty());
    assert_eq!(flog.log_end_offset(), 0);
}

#[test]
fn a_follower_joins_the_isr_only_once_it_reaches_the_start_of_the_leaders_epoch() {
    for (bugs, proposes_early) in [
        (ReplicaBugs::default(), false),
        (ReplicaBugs::named("unfenced-fetch").unwrap(), true),
    ] {
        let mut log = log_of(&[1, 1, 1]);
        let mut c = config(1);
        c.bugs = bugs;
        let mut m = ReplicaMachine::new(c, &log, 0);
        m.become_leader(&mut log, 2, vec![1, 3], vec![1, 2, 3], 0);
        // Epoch 2 starts at 3; the high watermark (from the checkpoint) is
        // 0 and stays there until replica 3 fetches.
        let early = m.follower_fetch(&mut log, fetch(2, 2, Some(1), 2), 1);
        assert_eq!(!proposals(&early).is_empty(), proposes_early, "{bugs:?}");
        if !proposes_early {
            let reached = m.follower_fetch(&mut log, fetch(2, 3, Some(1), 2), 2);
            assert_eq!(proposals(&reached), vec![vec![1, 2, 3]]);
        }
    }
}

#[test]
fn a_restarted_replica_exposes_only_its_checkpointed_high_watermark() {
    let mut log = log_of(&[1, 1, 1, 1, 1]);
    let mut m = ReplicaMachine::new(config(1), &log, 2);
    assert_eq!(m.high_watermark(), 2, "never the log end");
    m.become_leader(&mut log, 2, vec![1, 2], vec![1, 2], 0);
    assert_eq!(
        m.high_watermark(),
        2,
        "replica 2 has not fetched in epoch 2"
    );
    m.follower_fetch(&mut log, fetch(2, 5, Some(1), 2), 1);
    assert_eq!(m.high_watermark(), 5);
    assert_eq!(ReplicaMachine::new(config(1), &log, 9).high_watermark(), 5);
}

#[test]
fn a_lagging_follower_is_proposed_out_of_the_isr_and_removed_once_committed() {
    let mut log = MemoryLog::default();
    let mut m = leader(&mut log, vec![1, 2, 3], 1);
    m.client_append(&mut log, 1, vec![1], 1, Acks::Leader);
    m.follower_fetch(&mut log, fetch(2, 1, Some(1), 1), 900);
    assert!(proposals(&m.tick(&mut log, 1_000)).is_empty());
    assert_eq!(proposals(&m.tick(&mut log, 1_001)), vec![vec![1, 2]]);
    assert_eq!(m.isr(), Some(&[1, 2, 3][..]), "applied only once committed");
    m.isr_committed(&mut log, 1, vec![1, 2]);
    assert_eq!(m.isr(), Some(&[1, 2][..]));
    assert_eq!(m.high_watermark(), 1);
}

#[test]
fn a_follower_walks_back_epoch_by_epoch_then_appends_verbatim() {
    // KIP-279's fast leader changes: the follower wrote offset 1 in epoch 2,
    // the leader of epoch 3 has offset 1 from epoch 1.
    let mut flog = log_of(&[1, 2]);
    let mut f = ReplicaMachine::new(config(2), &flog, 0);
    let a = f.become_follower(&mut flog, 1, 3, 0);
    let Some(ReplicaAction::SendFetch { request, .. }) = a.first() else {
        panic!("{a:?}")
    };
    assert_eq!(
        (request.fetch_offset, request.last_fetched_epoch),
        (2, Some(2))
    );
    let mut llog = log_of(&[1, 1, 3]);
    let mut l = ReplicaMachine::new(config(1), &llog, 0);
    l.become_leader(&mut llog, 3, vec![1, 2], vec![1, 2], 0);
    let mut request = request.clone();
    for _ in 0..3 {
        let answer = l.follower_fetch(&mut llog, request.clone(), 1);
        let Some(ReplicaAction::RespondFetch { response, .. }) = answer.into_iter().last() else {
            panic!()
        };
        let next = f.fetch_response(&mut flog, response, 1);
        match next.iter().find_map(|a| match a {
            ReplicaAction::SendFetch { request, .. } => Some(request.clone()),
            _ => None,
        }) {
            Some(r) => request = r,
            None => break,
        }
    }
    assert_eq!(
        flog.entries(),
        llog.entries(),
        "the follower matches the leader"
    );
}

#[test]
fn renumbered_fetches_keep_the_one_in_flight_and_drop_the_others() {
    let mut log = MemoryLog::default();
    let mut follower = ReplicaMachine::new(config(2), &log, 0);
    let actions = follower.become_follower(&mut log, 1, 1, 0);
    let sent: Vec<u64> = actions
        .iter()
        .filter_map(|a| match a {
            ReplicaAction::SendFetch { request, .. } => Some(request.correlation_id),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![1]);
    // A timeout resends: the fetch in flight is now 2.
    let actions = follower.tick(&mut log, 30_000);
    assert!(matches!(
        actions.as_slice(),
        [ReplicaAction::SendFetch { request, .. }] if request.correlation_id == 2
    ));
    assert_eq!(follower.renumber_fetches(), Some(2));
    let answer = |correlation_id| FetchResponse {
        correlation_id,
        leader_id: 1,
        leader_epoch: 1,
        fetch_offset: 0,
        result: FetchResult::Records {
            batches: vec![StoredBatch {
                base_offset: 0,
                epoch: 1,
                record_count: 1,
                records: vec![7],
            }],
            high_watermark: 0,
            log_start_offset: 0,
        },
    };
    // The older fetch's answer (renumbered to 0) is dropped ...
    assert!(follower
        .fetch_response(&mut log, answer(0), 30_000)
        .is_empty());
    assert_eq!(log.log_end_offset(), 0);
    // ... the one in flight (renumbered to 1) is taken, and the next
    // fetch is 2.
    let actions = follower.fetch_response(&mut log, answer(1), 30_000);
    assert_eq!(log.log_end_offset(), 1);
    assert!(!actions.iter().any(
        |a| matches!(a, ReplicaAction::SendFetch { request, .. } if request.correlation_id != 2)
    ));
}

/// Issue 12: a follower whose log ends below the leader's log start (it was
/// down while retention deleted what it lacks) starts over, empty, at the
/// leader's start, catches up and rejoins the ISR; it used to retry the
/// out-of-range fetch forever. With the leader's epochs still covering the
/// follower's last one the answer is out of range at once; without, it
/// first walks back to its own start (a diverging epoch of -1).
#[test]
fn a_follower_below_the_leaders_log_start_starts_over_there_and_rejoins() {
    for leader_epochs in [&[1, 1, 1, 1, 1, 1][..], &[1, 1, 1, 2, 2, 2][..]] {
        let mut llog = log_of(leader_epochs);
        llog.delete_before(4);
        let mut l = ReplicaMachine::new(config(1), &llog, 6);
        l.become_leader(&mut llog, 2, vec![1], vec![1, 2], 0);
        l.log_start_advanced(&llog);
        let mut flog = log_of(&[1, 1]);
        let mut f = ReplicaMachine::new(config(2), &flog, 2);
        let mut actions = f.become_follower(&mut flog, 1, 2, 0);
        let mut started_at = None;
        let mut proposed = Vec::new();
        for round in 0..4 {
            let Some(request) = actions.iter().find_map(|a| match a {
                ReplicaAction::SendFetch { request, .. } => Some(request.clone()),
                _ => None,
            }) else {
                break; // caught up: the next fetch waits for the backoff
            };
            let answer = l.follower_fetch(&mut llog, request, 10 + round);
            proposed.extend(proposals(&answer));
            let Some(ReplicaAction::RespondFetch { response, .. }) = answer.into_iter().last()
            else {
                panic!("round {round}: the leader answers")
            };
            actions = f.fetch_response(&mut flog, response, 10 + round);
            started_at = started_at.or(actions.iter().find_map(|a| match a {
                ReplicaAction::StartedAt { offset } => Some(*offset),
                _ => None,
            }));
        }
        assert_eq!(started_at, Some(4), "{leader_epochs:?}");
        assert_eq!(flog.log_start_offset(), 4);
        assert_eq!(flog.entries(), llog.entries(), "{leader_epochs:?}");
        assert_eq!(f.high_watermark(), 6);
        assert_eq!(proposed, vec![vec![1, 2]], "the follower rejoins the ISR");
    }
}

/// A follower past the leader's end (reachable without the epoch check)
/// still cuts back to the leader's end; it does not start over.
#[test]
fn a_follower_past_the_leaders_end_truncates_to_it() {
    let mut flog = log_of(&[1, 1, 1]);
    let mut f = ReplicaMachine::new(config(2), &flog, 0);
    f.become_follower(&mut flog, 1, 2, 0);
    let response = FetchResponse {
        correlation_id: 1,
        leader_id: 1,
        leader_epoch: 2,
        fetch_offset: 3,
        result: FetchResult::Error(FetchError::OffsetOutOfRange {
            log_start_offset: 0,
            log_end_offset: 1,
        }),
    };
    assert_eq!(f.planned_truncation(&flog, &response), Some(1));
    let actions = f.fetch_response(&mut flog, response, 1);
    assert!(actions.contains(&ReplicaAction::Truncated { offset: 1 }));
    assert_eq!((flog.log_start_offset(), flog.log_end_offset()), (0, 1));
}

/// The driver lowers the recovery point to where an answer will cut the
/// log before it hands the answer over: the plan is the cut, and answers
/// the machine drops plan nothing.
#[test]
fn the_planned_truncation_is_where_the_answer_cuts() {
    let mut flog = log_of(&[1, 1, 2, 2]);
    let mut f = ReplicaMachine::new(config(2), &flog, 0);
    f.become_follower(&mut flog, 1, 3, 0);
    let diverging = |leader_epoch| FetchResponse {
        correlation_id: 1,
        leader_id: 1,
        leader_epoch,
        fetch_offset: 4,
        result: FetchResult::Diverging {
            epoch: 2,
            end_offset: 3,
        },
    };
    assert_eq!(
        f.planned_truncation(&flog, &diverging(2)),
        None,
        "an old epoch's answer"
    );
    let answer = diverging(3);
    assert_eq!(f.planned_truncation(&flog, &answer), Some(3));
    let actions = f.fetch_response(&mut flog, answer, 1);
    assert!(actions.contains(&ReplicaAction::Truncated { offset: 3 }));
    assert_eq!(
        f.planned_truncation(&flog, &diverging(3)),
        None,
        "no fetch in flight"
    );
}

#[test]
fn a_new_leaders_high_watermark_lags_its_epoch_start_until_the_isr_fetches() {
    // Offsets 0..3 were committed under epoch 1 (the old leader's high
    // watermark was 3); this replica had them all but only heard of a
    // high watermark of 1 before it was elected in epoch 2.
    let mut log = log_of(&[1, 1, 1]);
    let mut m = ReplicaMachine::new(config(1), &log, 1);
    m.become_leader(&mut log, 2, vec![1, 2], vec![1, 2, 3], 0);
    assert_eq!(m.leader_epoch_start_offset(), Some(3));
    assert!(
        m.high_watermark() < 3,
        "the high watermark is not yet known to cover the old epoch's commits"
    );
    m.follower_fetch(&mut log, fetch(2, 3, Some(1), 2), 10);
    assert_eq!(m.high_watermark(), 3);
    assert_eq!(m.leader_epoch_start_offset(), Some(3));
}

#[test]
fn a_pending_isr_expansion_survives_an_update_of_the_same_epoch_without_it() {
    let mut log = log_of(&[1, 1]);
    // min.insync.replicas 1: the ISR of the leader alone moves the high
    // watermark.
    let mut one = config(1);
    one.min_insync_replicas = 1;
    let mut m = ReplicaMachine::new(one, &log, 0);
    m.become_leader(&mut log, 1, vec![1], vec![1, 2, 3], 0);
    assert_eq!(m.high_watermark(), 2);
    let caught_up = m.follower_fetch(&mut log, fetch(3, 2, Some(1), 1), 1);
    assert_eq!(proposals(&caught_up), vec![vec![1, 3]]);
    m.client_append(&mut log, 7, vec![1, 2], 2, Acks::Leader);
    // Metadata of epoch 1 that does not hold the proposal yet (another
    // change, or one applied before the proposal's commit): the controller
    // may still commit [1, 3], and elect 3, so 3 still counts.
    m.become_leader(&mut log, 1, vec![1], vec![1, 2, 3], 2);
    assert_eq!(
        m.high_watermark(),
        2,
        "the high watermark passed replica 3 while its expansion was pending"
    );
    // The commit shows up: 3 is a member and bounds the high watermark.
    m.become_leader(&mut log, 1, vec![1, 3], vec![1, 2, 3], 3);
    assert_eq!(m.high_watermark(), 2);
    m.follower_fetch(&mut log, fetch(3, 4, Some(1), 1), 4);
    assert_eq!(m.high_watermark(), 4);
}

#[test]
fn settling_one_isr_proposal_leaves_a_newer_one_pending() {
    let mut log = log_of(&[1, 1]);
    let mut m = leader(&mut log, vec![1], 1);
    let first = m.follower_fetch(&mut log, fetch(2, 2, Some(1), 1), 1);
    assert_eq!(proposals(&first), vec![vec![1, 2]]);
    // Committed; the metadata reaches the leader (become_leader of the
    // same epoch ends the proposal it shows).
    m.become_leader(&mut log, 1, vec![1, 2], vec![1, 2, 3], 2);
    let second = m.follower_fetch(&mut log, fetch(3, 2, Some(1), 1), 3);
    assert_eq!(proposals(&second), vec![vec![1, 2, 3]]);
    m.client_append(&mut log, 7, vec![1, 2], 2, Acks::Leader);
    m.follower_fetch(&mut log, fetch(2, 4, Some(1), 1), 4);
    // The first proposal's settling arrives late: [1, 2, 3] is still
    // pending, so replica 3 (at 2) still bounds the high watermark.
    m.isr_settled(&mut log, 1, vec![1, 2], &[1, 2]);
    assert_eq!(m.high_watermark(), 2);
    m.isr_committed(&mut log, 1, vec![1, 2, 3]);
    m.follower_fetch(&mut log, fetch(3, 4, Some(1), 1), 5);
    assert_eq!(m.high_watermark(), 4);
}

/// KIP-903: a proposal carries the broker epoch each member last fetched
/// with, so the controller can refuse it once that process is gone.
#[test]
fn an_isr_proposal_carries_the_broker_epochs_its_members_fetched_with() {
    let mut log = log_of(&[1, 1]);
    let mut one = config(1);
    one.min_insync_replicas = 1;
    let mut m = ReplicaMachine::new(one, &log, 0);
    m.become_leader(&mut log, 1, vec![1, 2], vec![1, 2, 3], 0);
    m.follower_fetch(&mut log, fetch(2, 2, Some(1), 1), 1);
    let caught_up = m.follower_fetch(
        &mut log,
        FetchRequest {
            replica_epoch: 9,
            ..fetch(3, 2, Some(1), 1)
        },
        1,
    );
    let proposal = caught_up
        .iter()
        .find_map(|a| match a {
            ReplicaAction::ProposeIsr(p) => Some(p.clone()),
            _ => None,
        })
        .expect("replica 3 is proposed into the ISR");
    assert_eq!(proposal.isr, vec![1, 2, 3]);
    assert_eq!(
        proposal.broker_epochs,
        BTreeMap::from([(2, 0), (3, 9)]),
        "each member's epoch from its latest fetch; none for the leader"
    );
}
