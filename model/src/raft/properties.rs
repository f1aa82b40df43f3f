//! The Raft properties (DESIGN.md, control plane; the harness's checkers in
//! src/core/raft/tests/checkers.rs): election safety, log matching, leader
//! completeness, committed entries never change and are durable on a
//! majority; and `sometimes` properties that show the bounded model elects,
//! commits and changes leader after a commit.

use odradek::core::raft::RaftNode;
use stateright::Property;

use super::model::RaftModel;
use super::state::{Broken, RaftState, Seen};

type M = RaftModel;
type S = RaftState;

pub fn all() -> Vec<Property<M>> {
    vec![
        Property::always("at most one leader per term", |_: &M, s: &S| {
            s.history.broken & Broken::TWO_LEADERS == 0
        }),
        Property::always("committed entries never change", |_: &M, s: &S| {
            s.history.broken & Broken::COMMITTED_CHANGED == 0
        }),
        Property::always("log matching", log_matching),
        Property::always("leader completeness", leader_completeness),
        Property::always(
            "committed entries are durable on a majority",
            committed_durable,
        ),
        Property::sometimes("a leader is elected", |_: &M, s: &S| {
            s.history.seen & Seen::LEADER != 0
        }),
        Property::sometimes("an entry is committed", |_: &M, s: &S| {
            s.history.seen & Seen::COMMAND_COMMITTED != 0
        }),
        Property::sometimes("a leader change after a commit", |_: &M, s: &S| {
            s.history.seen & Seen::LEADER_CHANGE_AFTER_COMMIT != 0
        }),
    ]
}

fn up(s: &S) -> Vec<&RaftNode> {
    s.voters.iter().filter_map(|v| v.node.as_ref()).collect()
}

/// Two logs with an entry of the same index and term agree up to it.
fn log_matching(_: &M, s: &S) -> bool {
    let nodes = up(s);
    nodes.iter().enumerate().all(|(k, a)| {
        nodes[k + 1..].iter().all(|b| {
            let high = a.log().last_index().min(b.log().last_index());
            let mut matched = false;
            (1..=high).rev().all(|index| {
                let (ea, eb) = (a.log().entry(index), b.log().entry(index));
                let same_term = ea.map(|e| e.term) == eb.map(|e| e.term);
                let ok = !(matched || same_term) || ea == eb;
                matched |= same_term;
                ok
            })
        })
    })
}

/// A leader holds every entry committed in an earlier term.
fn leader_completeness(_: &M, s: &S) -> bool {
    up(s).iter().filter(|n| n.is_leader()).all(|leader| {
        s.history
            .committed
            .iter()
            .enumerate()
            .all(|(k, (entry_term, committed_in))| {
                *committed_in >= leader.term()
                    || leader.log().term_at(k as u64 + 1) == Some(*entry_term)
            })
    })
}

/// Every committed entry is on the disks of a majority, so no crash of a
/// minority can lose it.
fn committed_durable(m: &M, s: &S) -> bool {
    let majority = m.config.majority();
    s.history
        .committed
        .iter()
        .enumerate()
        .all(|(k, (term, _))| {
            s.voters
                .iter()
                .filter(|v| v.durable_term_at(k as u64 + 1) == Some(*term))
                .count()
                >= majority
        })
}
