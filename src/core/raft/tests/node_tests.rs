//! One `RaftNode` driven by hand: the rules a server relies on, each
//! shown on the actions it returns.

use crate::core::raft::{
    AppendResult, DurableState, ElectionRng, Entry, EntryKind, HardState, Message, MessageBody,
    ProposeError, RaftConfig, RaftNode, RecoveryError, Role, Snapshot, SnapshotMeta, StepError,
    RAFT_TERM_MAX,
};

/// Three voters with short timers, for tests that step one node by hand.
pub(super) fn config() -> RaftConfig {
    let mut config = RaftConfig::new([1, 2, 3]);
    config.election_timeout_min_ms = 150;
    config.election_timeout_max_ms = 300;
    config.heartbeat_interval_ms = 30;
    config
}

fn entries(terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(k, &term)| Entry {
            term,
            index: k as u64 + 1,
            kind: EntryKind::NoOp,
        })
        .collect()
}

fn node_with(config: RaftConfig, term: u64, log_terms: &[u64]) -> RaftNode {
    let durable = DurableState {
        hard_state: HardState {
            term,
            voted_for: None,
        },
        snapshot: None,
        entries: entries(log_terms),
    };
    RaftNode::restart(config, 1, ElectionRng::from_seed(1), durable, 0).expect("valid")
}

fn from(from: u64, term: u64, body: MessageBody) -> Message {
    Message {
        from,
        to: 1,
        term,
        body,
    }
}

/// Takes every ready, persisting immediately; returns the messages.
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

#[test]
fn a_vote_is_sent_only_after_it_is_durable() {
    let mut node = node_with(config(), 0, &[]);
    let vote = MessageBody::Vote {
        last_log_index: 0,
        last_log_term: 0,
    };
    node.step(10, from(2, 1, vote)).expect("well-formed");
    let ready = node.ready();
    assert!(ready.messages.is_empty(), "the vote waits for its persist");
    let persist = ready.persist.expect("term and vote to persist");
    assert_eq!(
        persist.hard_state,
        Some(HardState {
            term: 1,
            voted_for: Some(2)
        })
    );
    node.on_persisted(persist.id);
    let ready = node.ready();
    assert_eq!(ready.messages.len(), 1);
    assert_eq!(
        ready.messages[0].body,
        MessageBody::VoteResponse { granted: true }
    );
}

#[test]
fn votes_require_an_up_to_date_log_unless_the_bug_is_on() {
    for (bug, granted) in [(false, false), (true, true)] {
        let mut config = config();
        config.bugs.vote_without_log_check = bug;
        let mut node = node_with(config, 2, &[1, 2]);
        let vote = MessageBody::Vote {
            last_log_index: 5,
            last_log_term: 1,
        };
        node.step(10, from(2, 3, vote)).expect("well-formed");
        let sent = drain(&mut node);
        assert_eq!(
            sent[0].body,
            MessageBody::VoteResponse { granted },
            "bug {bug}"
        );
    }
}

#[test]
fn one_vote_per_term() {
    let mut node = node_with(config(), 0, &[]);
    let vote = MessageBody::Vote {
        last_log_index: 0,
        last_log_term: 0,
    };
    node.step(10, from(2, 1, vote.clone()))
        .expect("well-formed");
    node.step(10, from(3, 1, vote.clone()))
        .expect("well-formed");
    node.step(10, from(2, 1, vote)).expect("well-formed");
    let answers: Vec<(u64, MessageBody)> = drain(&mut node)
        .into_iter()
        .map(|m| (m.to, m.body))
        .collect();
    assert_eq!(
        answers,
        vec![
            (2, MessageBody::VoteResponse { granted: true }),
            (3, MessageBody::VoteResponse { granted: false }),
            (2, MessageBody::VoteResponse { granted: true }),
        ]
    );
}

#[test]
fn a_rejection_names_the_conflicting_term_and_where_it_starts() {
    let mut node = node_with(config(), 3, &[1, 1, 2, 2, 2]);
    let append = MessageBody::AppendEntries {
        prev_log_index: 5,
        prev_log_term: 3,
        entries: vec![],
        leader_commit: 0,
    };
    node.step(10, from(2, 3, append)).expect("well-formed");
    let sent = drain(&mut node);
    let reject = AppendResult::Reject {
        rejected_prev_index: 5,
        conflict_index: 3,
        conflict_term: Some(2),
    };
    assert_eq!(
        sent[0].body,
        MessageBody::AppendEntriesResponse { result: reject }
    );
}

#[test]
fn appended_entries_are_acknowledged_after_their_persist_and_conflicts_truncate() {
    let mut node = node_with(config(), 3, &[1, 2, 2]);
    let append = MessageBody::AppendEntries {
        prev_log_index: 1,
        prev_log_term: 1,
        entries: vec![Entry {
            term: 3,
            index: 2,
            kind: EntryKind::NoOp,
        }],
        leader_commit: 2,
    };
    node.step(10, from(2, 3, append)).expect("well-formed");
    let ready = node.ready();
    assert!(ready.messages.is_empty(), "the ack waits for the entries");
    let applied: Vec<u64> = ready.committed_entries.iter().map(|e| e.index).collect();
    assert_eq!(
        applied,
        vec![1],
        "committed 2 is not durable yet: not applied"
    );
    let persist = ready.persist.expect("the log write");
    let write = persist.log.expect("a log write");
    assert_eq!(write.first_index, 2, "entries 2 and 3 are replaced");
    assert_eq!(write.entries.len(), 1);
    node.on_persisted(persist.id);
    let ready = node.ready();
    let applied: Vec<(u64, u64)> = ready
        .committed_entries
        .iter()
        .map(|e| (e.index, e.term))
        .collect();
    assert_eq!(applied, vec![(2, 3)], "now durable, so applied");
    let success = AppendResult::Success { match_index: 2 };
    assert_eq!(
        ready.messages[0].body,
        MessageBody::AppendEntriesResponse { result: success }
    );
}

/// Drives node 1 of three to leadership in term `term + 1` with node 2's
/// votes.
fn make_leader(node: &mut RaftNode) {
    node.tick(1_000);
    drain(node);
    assert_eq!(node.role(), Role::PreCandidate);
    let term = node.term();
    node.step(
        1_000,
        from(2, term + 1, MessageBody::PreVoteResponse { granted: true }),
    )
    .expect("ok");
    drain(node);
    assert_eq!(node.role(), Role::Candidate);
    node.step(
        1_000,
        from(2, term + 1, MessageBody::VoteResponse { granted: true }),
    )
    .expect("ok");
    drain(node);
    assert_eq!(node.role(), Role::Leader);
}

#[test]
fn a_leader_commits_an_old_terms_entry_only_with_one_of_its_own() {
    for bug in [false, true] {
        let mut config = config();
        config.bugs.commit_old_term = bug;
        let mut node = node_with(config, 2, &[1, 2]);
        make_leader(&mut node);
        assert_eq!(node.log().last_index(), 3, "the no-op of term 3");
        let ack_old = AppendResult::Success { match_index: 2 };
        node.step(
            1_001,
            from(2, 3, MessageBody::AppendEntriesResponse { result: ack_old }),
        )
        .expect("ok");
        assert_eq!(node.commit_index(), if bug { 2 } else { 0 }, "bug {bug}");
        let ack_new = AppendResult::Success { match_index: 3 };
        node.step(
            1_002,
            from(2, 3, MessageBody::AppendEntriesResponse { result: ack_new }),
        )
        .expect("ok");
        assert_eq!(node.commit_index(), 3);
    }
}

#[test]
fn a_rejection_of_an_append_never_sent_is_ignored() {
    // A peer answering an append after an entry the leader does not hold
    // (a lying or broken peer: the leader never sent one) must not move
    // its next index past the log: the next append would look up a term
    // the leader does not have, and `u64::MAX + 1` overflows.
    let mut node = node_with(config(), 2, &[1, 2]);
    make_leader(&mut node);
    let last_index = node.log().last_index();
    // Node 2 keeps up (Replicate); node 3 never answered (Probe).
    let ack = AppendResult::Success {
        match_index: last_index,
    };
    node.step(
        1_001,
        from(2, 3, MessageBody::AppendEntriesResponse { result: ack }),
    )
    .expect("ok");
    drain(&mut node);
    for peer in [2, 3] {
        for rejected_prev_index in [last_index + 1, last_index + 7, u64::MAX] {
            let lie = AppendResult::Reject {
                rejected_prev_index,
                conflict_index: rejected_prev_index,
                conflict_term: None,
            };
            node.step(
                1_002,
                from(peer, 3, MessageBody::AppendEntriesResponse { result: lie }),
            )
            .expect("well-formed");
            drain(&mut node);
            assert!(node.progress[&peer].next_index <= last_index + 1);
        }
    }
    assert_eq!(node.role(), Role::Leader);
    node.tick(1_100);
    assert!(!drain(&mut node).is_empty(), "heartbeats go on");
}

#[test]
fn a_term_above_the_ceiling_is_refused_and_a_node_at_it_never_overflows() {
    let mut node = node_with(config(), 1, &[1]);
    let answer = AppendResult::Success { match_index: 0 };
    for term in [RAFT_TERM_MAX + 1, u64::MAX / 2, u64::MAX] {
        // A voter's answer, and a non-voter's (observers may send these).
        for peer in [2, 9] {
            let lie = from(
                peer,
                term,
                MessageBody::AppendEntriesResponse { result: answer },
            );
            assert!(
                matches!(node.step(5, lie), Err(StepError::Malformed { .. })),
                "term {term} from {peer}"
            );
        }
    }
    assert_eq!(node.term(), 1, "no term taken");
    // A node already at the ceiling follows but never stands past it.
    let mut node = node_with(config(), RAFT_TERM_MAX, &[1]);
    for now_ms in [1_000, 5_000, 20_000] {
        node.tick(now_ms);
        drain(&mut node);
    }
    assert_eq!(node.term(), RAFT_TERM_MAX);
    assert_eq!(node.role(), Role::Follower);
}

#[test]
fn proposals_are_refused_by_name() {
    let mut config = config();
    config.entry_max_bytes = 8;
    config.uncommitted_entries_max = 2;
    let mut node = node_with(config, 0, &[]);
    assert_eq!(
        node.propose(0, vec![1]),
        Err(ProposeError::NotLeader { leader_hint: None })
    );
    make_leader(&mut node);
    assert!(matches!(
        node.propose(1_001, vec![0; 9]),
        Err(ProposeError::TooLarge { .. })
    ));
    node.propose(1_001, vec![1])
        .expect("one more fits (the no-op is the first)");
    assert!(matches!(
        node.propose(1_001, vec![2]),
        Err(ProposeError::Busy { uncommitted: 2 })
    ));
}

#[test]
fn malformed_messages_change_nothing() {
    let mut node = node_with(config(), 1, &[1]);
    let before = node.clone();
    let gap = MessageBody::AppendEntries {
        prev_log_index: 1,
        prev_log_term: 1,
        entries: vec![Entry {
            term: 1,
            index: 3,
            kind: EntryKind::NoOp,
        }],
        leader_commit: 0,
    };
    assert!(matches!(
        node.step(5, from(2, 1, gap)),
        Err(StepError::Malformed { .. })
    ));
    let chunk = MessageBody::InstallSnapshot {
        meta: SnapshotMeta {
            last_index: 4,
            last_term: 1,
        },
        total_bytes: 2,
        offset: 1,
        data: vec![0, 0],
    };
    assert!(matches!(
        node.step(5, from(2, 1, chunk)),
        Err(StepError::Malformed { .. })
    ));
    let stranger = from(9, 1, MessageBody::VoteResponse { granted: true });
    assert_eq!(
        node.step(5, stranger),
        Err(StepError::UnknownPeer { from: 9 })
    );
    assert_eq!(node, before);
}

#[test]
fn restart_restores_the_snapshot_log_and_vote() {
    let durable = DurableState {
        hard_state: HardState {
            term: 4,
            voted_for: Some(3),
        },
        snapshot: Some(Snapshot {
            meta: SnapshotMeta {
                last_index: 5,
                last_term: 2,
            },
            data: vec![7; 3],
        }),
        entries: vec![Entry {
            term: 4,
            index: 6,
            kind: EntryKind::NoOp,
        }],
    };
    let mut node = RaftNode::restart(config(), 1, ElectionRng::from_seed(3), durable.clone(), 0)
        .expect("valid");
    assert_eq!((node.term(), node.voted_for()), (4, Some(3)));
    assert_eq!((node.commit_index(), node.log().last_index()), (5, 6));
    let ready = node.ready();
    assert_eq!(ready.install_snapshot.map(|s| s.data), Some(vec![7; 3]));
    assert!(ready.persist.is_none(), "nothing new to write");

    let mut gap = durable.clone();
    gap.entries[0].index = 7;
    assert_eq!(
        RaftNode::restart(config(), 1, ElectionRng::from_seed(3), gap, 0),
        Err(RecoveryError::NotContiguous {
            expected: 6,
            found: 7
        })
    );
    let mut future = durable;
    future.hard_state.term = 3;
    assert_eq!(
        RaftNode::restart(config(), 1, ElectionRng::from_seed(3), future, 0),
        Err(RecoveryError::TermAboveHardState)
    );
}

#[test]
fn a_follower_in_lease_ignores_pre_votes_and_votes() {
    let mut node = node_with(config(), 1, &[1]);
    let heartbeat = MessageBody::AppendEntries {
        prev_log_index: 1,
        prev_log_term: 1,
        entries: vec![],
        leader_commit: 1,
    };
    node.step(100, from(2, 1, heartbeat)).expect("ok");
    drain(&mut node);
    let pre_vote = MessageBody::PreVote {
        last_log_index: 9,
        last_log_term: 1,
    };
    node.step(120, from(3, 2, pre_vote.clone())).expect("ok");
    assert!(drain(&mut node).is_empty(), "in lease: ignored");
    // Once the lease (the minimum election timeout) has passed, it answers.
    node.step(251, from(3, 2, pre_vote)).expect("ok");
    let sent = drain(&mut node);
    assert_eq!(sent[0].body, MessageBody::PreVoteResponse { granted: true });
    assert_eq!(node.term(), 1, "a pre-vote changes no term");
}
