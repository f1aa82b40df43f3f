//! Messages between voters, and between a leader and its observers. Plain
//! serde values: the rpc layer frames them
//! (bincode), the core only builds and reads them.

use serde::{Deserialize, Serialize};

use crate::core::raft::types::{Entry, LogIndex, NodeId, SnapshotMeta, Term};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    /// The sender's term; for a `PreVote` the term it would stand in, for a
    /// granted `PreVoteResponse` the term of the request.
    pub term: Term,
    pub body: MessageBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageBody {
    /// "Could I win an election at `term`?" Changes nobody's term (KIP-996).
    PreVote {
        last_log_index: LogIndex,
        last_log_term: Term,
    },
    PreVoteResponse {
        granted: bool,
    },
    Vote {
        last_log_index: LogIndex,
        last_log_term: Term,
    },
    VoteResponse {
        granted: bool,
    },
    /// Entries following `(prev_log_index, prev_log_term)`; empty as a
    /// heartbeat.
    AppendEntries {
        prev_log_index: LogIndex,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: LogIndex,
    },
    AppendEntriesResponse {
        result: AppendResult,
    },
    /// One chunk of the leader's snapshot, `data` at byte `offset` of
    /// `total_bytes`.
    InstallSnapshot {
        meta: SnapshotMeta,
        total_bytes: u64,
        offset: u64,
        data: Vec<u8>,
    },
    /// `next_offset`: the bytes of `meta`'s snapshot the follower holds;
    /// `installed`: it has the whole snapshot (or a log past it).
    InstallSnapshotResponse {
        meta: SnapshotMeta,
        next_offset: u64,
        installed: bool,
    },
    /// An observer's "I am here, replicate to me" to every voter, sent
    /// when it has not heard from a leader for a while (KRaft's observers
    /// find the leader by fetching from voters). Only a leader acts on it;
    /// it changes nobody's term.
    Observe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AppendResult {
    /// The follower's log matches the leader's up to `match_index`, durably.
    Success { match_index: LogIndex },
    /// The follower has no entry `(prev_log_index, prev_log_term)`. The hint
    /// lets the leader skip a whole term per round trip (the fast backoff of
    /// the Raft thesis, §5.3): `conflict_term` is the follower's term at
    /// `rejected_prev_index` (None if its log is shorter), `conflict_index`
    /// the first index of that term in its log (or its last index + 1).
    Reject {
        rejected_prev_index: LogIndex,
        conflict_index: LogIndex,
        conflict_term: Option<Term>,
    },
}

impl MessageBody {
    /// Whether this is a request from a (pre-)candidate.
    pub fn is_vote_request(&self) -> bool {
        matches!(self, MessageBody::PreVote { .. } | MessageBody::Vote { .. })
    }

    /// Whether only a leader sends this.
    pub fn is_from_leader(&self) -> bool {
        matches!(
            self,
            MessageBody::AppendEntries { .. } | MessageBody::InstallSnapshot { .. }
        )
    }

    /// Bytes of payload this message carries (entries or snapshot data).
    pub fn payload_bytes(&self) -> usize {
        match self {
            MessageBody::AppendEntries { entries, .. } => {
                entries.iter().map(Entry::size_bytes).sum()
            }
            MessageBody::InstallSnapshot { data, .. } => data.len(),
            _ => 0,
        }
    }
}
