//! Whatever a peer that does not lead says, no node panics: random
//! messages (any term, any index, any answer) from voters that are not
//! leaders and from non-voters, fed to a leader and to a follower between
//! ticks. A leader's own messages (appends, snapshot chunks) are left
//! out: a peer that claims to lead a term another leads breaks Raft's
//! safety, which the core asserts on purpose (docs/raft.md).

use proptest::prelude::*;

use super::node_tests::config;

use crate::core::raft::{
    AppendResult, DurableState, ElectionRng, Entry, EntryKind, HardState, Message, MessageBody,
    RaftNode, Role, Snapshot, SnapshotMeta,
};

/// Node 1 of three, with a snapshot through index 2 and entries 3 and 4
/// after it (so a leader sends both appends and snapshot chunks).
fn node() -> RaftNode {
    let durable = DurableState {
        hard_state: HardState {
            term: 2,
            voted_for: None,
        },
        snapshot: Some(Snapshot {
            meta: SnapshotMeta {
                last_index: 2,
                last_term: 1,
            },
            data: vec![7; 10],
        }),
        entries: [(3, 1), (4, 2)]
            .into_iter()
            .map(|(index, term)| Entry {
                term,
                index,
                kind: EntryKind::NoOp,
            })
            .collect(),
    };
    RaftNode::restart(config(), 1, ElectionRng::from_seed(1), durable, 0).expect("valid")
}

fn drain(node: &mut RaftNode) {
    while node.has_ready() {
        let ready = node.ready();
        if let Some(persist) = ready.persist {
            node.on_persisted(persist.id);
        }
        if let Some(index) = ready.take_snapshot {
            let _ = node.on_snapshot_taken(index, vec![1; 3]);
        }
    }
}

/// Node 1 elected in term 3 by node 2's pre-vote and vote.
fn leader() -> RaftNode {
    let mut node = node();
    node.tick(1_000);
    drain(&mut node);
    for body in [
        MessageBody::PreVoteResponse { granted: true },
        MessageBody::VoteResponse { granted: true },
    ] {
        let term = node.term() + u64::from(node.role() == Role::PreCandidate);
        node.step(
            1_000,
            Message {
                from: 2,
                to: 1,
                term,
                body,
            },
        )
        .expect("ok");
        drain(&mut node);
    }
    assert_eq!(node.role(), Role::Leader);
    node
}

/// Mostly near the real values (the log ends at 5 once node 1 leads),
/// sometimes the largest or anything.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![6 => 0u64..8, 1 => Just(u64::MAX), 1 => any::<u64>()]
}

/// Mostly the leader's term (3) or one near it.
fn term() -> impl Strategy<Value = u64> {
    prop_oneof![3 => Just(3u64), 3 => 0u64..6, 1 => Just(u64::MAX), 1 => any::<u64>()]
}

fn meta() -> impl Strategy<Value = SnapshotMeta> {
    (number(), number()).prop_map(|(last_index, last_term)| SnapshotMeta {
        last_index,
        last_term,
    })
}

fn body() -> impl Strategy<Value = MessageBody> {
    let result = prop_oneof![
        number().prop_map(|match_index| AppendResult::Success { match_index }),
        (number(), number(), proptest::option::of(number())).prop_map(
            |(rejected_prev_index, conflict_index, conflict_term)| AppendResult::Reject {
                rejected_prev_index,
                conflict_index,
                conflict_term,
            }
        ),
    ];
    prop_oneof![
        (number(), number()).prop_map(|(last_log_index, last_log_term)| MessageBody::PreVote {
            last_log_index,
            last_log_term,
        }),
        any::<bool>().prop_map(|granted| MessageBody::PreVoteResponse { granted }),
        (number(), number()).prop_map(|(last_log_index, last_log_term)| MessageBody::Vote {
            last_log_index,
            last_log_term,
        }),
        any::<bool>().prop_map(|granted| MessageBody::VoteResponse { granted }),
        result.prop_map(|result| MessageBody::AppendEntriesResponse { result }),
        (meta(), number(), any::<bool>()).prop_map(|(meta, next_offset, installed)| {
            MessageBody::InstallSnapshotResponse {
                meta,
                next_offset,
                installed,
            }
        }),
        Just(MessageBody::Observe),
    ]
}

/// One input: a message from voter 2 or 3 or non-voter 9, or time passing.
#[derive(Debug, Clone)]
enum Input {
    Message(Message),
    Tick(u64),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => (prop_oneof![Just(2u64), Just(3), Just(9)], term(), body()).prop_map(
            |(from, term, body)| Input::Message(Message {
                from,
                to: 1,
                term,
                body,
            })
        ),
        1 => (1u64..400).prop_map(Input::Tick),
    ]
}

fn feed(mut node: RaftNode, inputs: Vec<Input>) {
    let mut now_ms = 1_000;
    for input in inputs {
        match input {
            Input::Message(message) => {
                let _ = node.step(now_ms, message);
            }
            Input::Tick(ms) => {
                now_ms += ms;
                node.tick(now_ms);
            }
        }
        drain(&mut node);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn a_leader_survives_any_answer(inputs in proptest::collection::vec(input(), 1..40)) {
        feed(leader(), inputs);
    }

    #[test]
    fn a_follower_survives_any_request_or_answer(
        inputs in proptest::collection::vec(input(), 1..40),
    ) {
        feed(node(), inputs);
    }
}
