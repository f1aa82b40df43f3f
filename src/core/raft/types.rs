//! The values the Raft core stores and exchanges: ids, terms, log entries,
//! the hard state and snapshots.

use serde::{Deserialize, Serialize};

/// A voter's id (`--node-id`, the ids of `--voters`).
pub type NodeId = u64;
/// A Raft term (KRaft calls it the leader epoch of the metadata log).
pub type Term = u64;
/// The highest term a node takes from a peer or stands in. KRaft's epoch
/// of the metadata log is an int32, so no honest cluster gets near it (one
/// election a second for 68 years); a peer's message above it is malformed.
/// Without a ceiling one message of term `u64::MAX` (a lying or broken
/// peer, even a non-voter's answer) became this node's durable term and
/// its next election overflowed `term + 1`.
pub const RAFT_TERM_MAX: Term = i32::MAX as Term;
/// A position in the Raft log, 1-based; 0 means "before the first entry".
pub type LogIndex = u64;

/// Fixed bytes an entry costs on top of its payload when counting message
/// sizes (term, index, tag), so empty entries still count.
pub const ENTRY_OVERHEAD_BYTES: usize = 24;

/// What an entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    /// The entry a new leader appends at the start of its term, so that it
    /// can commit (and with it every earlier entry) by counting replicas of
    /// an entry of its own term (Raft §5.4.2, §8). Applied as nothing.
    NoOp,
    /// A client proposal: one opaque metadata record.
    Command(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub term: Term,
    pub index: LogIndex,
    pub kind: EntryKind,
}

impl Entry {
    /// Bytes this entry counts for in a message.
    pub fn size_bytes(&self) -> usize {
        ENTRY_OVERHEAD_BYTES
            + match &self.kind {
                EntryKind::NoOp => 0,
                EntryKind::Command(payload) => payload.len(),
            }
    }
}

/// What a voter must have on disk before it answers anyone: its term and
/// whom it voted for in that term.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState {
    pub term: Term,
    pub voted_for: Option<NodeId>,
}

/// The last entry a snapshot covers. `last_index == 0` is "no snapshot".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub last_index: LogIndex,
    pub last_term: Term,
}

/// The application's state after applying every entry up to
/// `meta.last_index`, as opaque bytes (the metadata image).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    pub data: Vec<u8>,
}

/// Everything a voter finds on its disk at start: what it persisted through
/// [`crate::core::raft::Persist`] actions and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DurableState {
    pub hard_state: HardState,
    /// `None` before the first snapshot.
    pub snapshot: Option<Snapshot>,
    /// The log after the snapshot: contiguous, the first at
    /// `snapshot.last_index + 1` (or 1).
    pub entries: Vec<Entry>,
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Follower,
    /// Asking for pre-votes (KIP-996): its term is not raised until a
    /// majority says it could win.
    PreCandidate,
    Candidate,
    Leader,
    /// Not a voter (KRaft's observer, a broker-only node): follows the
    /// leader's log, never votes, campaigns or counts toward a commit.
    Observer,
}

/// Role, term and known leader, reported whenever one of them changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoleState {
    pub role: Role,
    pub term: Term,
    pub leader: Option<NodeId>,
}
