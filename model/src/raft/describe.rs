//! Readable steps for Raft counterexamples.

use odradek::core::raft::{Message, MessageBody};

use super::model::{RaftAction, RaftModel};
use super::state::RaftState;
use crate::describe::Describe;

fn message(m: &Message) -> String {
    let body = match &m.body {
        MessageBody::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        } => {
            let entries: Vec<String> = entries
                .iter()
                .map(|e| format!("{}@{}", e.index, e.term))
                .collect();
            format!(
                "AppendEntries prev {prev_log_index}@{prev_log_term} [{}] commit {leader_commit}",
                entries.join(" ")
            )
        }
        other => format!("{other:?}"),
    };
    format!("{} -> {} term {}: {body}", m.from, m.to, m.term)
}

impl Describe for RaftModel {
    fn describe_action(&self, action: &RaftAction) -> String {
        match action {
            RaftAction::Propose(id) => format!("client proposes at {id}"),
            RaftAction::Deliver(m) => format!("deliver {}", message(m)),
            RaftAction::Duplicate(m) => format!("deliver a duplicate of {}", message(m)),
            RaftAction::Lose(m) => format!("lose {}", message(m)),
            RaftAction::Persist(id) => format!("{id}'s oldest write becomes durable"),
            RaftAction::Timeout(id) => format!("a timeout fires on {id}"),
            RaftAction::Crash(id) => format!("{id} crashes (pending writes lost)"),
            RaftAction::Restart(id) => format!("{id} restarts from its disk"),
        }
    }

    fn describe_state(&self, s: &RaftState) -> String {
        let parts: Vec<String> = s
            .voters
            .iter()
            .map(|v| match &v.node {
                None => format!("{} down", v.id),
                Some(n) => {
                    let log: Vec<String> = n
                        .log()
                        .entries()
                        .iter()
                        .map(|e| format!("{}@{}", e.index, e.term))
                        .collect();
                    format!(
                        "{} {:?} term {} log [{}] commit {} durable {}",
                        v.id,
                        n.role(),
                        n.term(),
                        log.join(" "),
                        n.commit_index(),
                        v.disk.entries.len()
                    )
                }
            })
            .collect();
        parts.join(" | ")
    }
}
