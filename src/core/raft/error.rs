//! Typed errors of the Raft core's driver surface.

use thiserror::Error;

use crate::core::raft::types::{LogIndex, NodeId};

/// Why a proposal was refused. Nothing was appended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProposeError {
    /// Only the leader takes proposals; `leader_hint` is the leader this
    /// node knows of (Kafka: NOT_CONTROLLER).
    #[error("not the leader (leader hint {leader_hint:?})")]
    NotLeader { leader_hint: Option<NodeId> },
    #[error("proposal of {size_bytes} bytes is above entry_max_bytes {limit_bytes}")]
    TooLarge {
        size_bytes: usize,
        limit_bytes: usize,
    },
    /// `uncommitted_entries_max` or `deferred_messages_max` reached: retry
    /// once entries commit.
    #[error("too many uncommitted entries ({uncommitted}); retry later")]
    Busy { uncommitted: usize },
}

/// Why a peer's message was dropped without effect.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StepError {
    #[error("message from {from}, not a peer voter")]
    UnknownPeer { from: NodeId },
    #[error("message for {to}, not this node")]
    WrongRecipient { to: NodeId },
    #[error("malformed message from {from}: {reason}")]
    Malformed { from: NodeId, reason: &'static str },
}

/// Why a snapshot from the application was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SnapshotError {
    #[error("snapshot at {index} is not above the last snapshot {snapshot_index} and at most the applied index {applied_index}")]
    OutOfRange {
        index: LogIndex,
        snapshot_index: LogIndex,
        applied_index: LogIndex,
    },
    #[error("snapshot of {size_bytes} bytes is above snapshot_max_bytes {limit_bytes}")]
    TooLarge {
        size_bytes: usize,
        limit_bytes: usize,
    },
}

/// Why the durable state cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecoveryError {
    #[error("log entries are not contiguous after the snapshot (expected index {expected}, found {found})")]
    NotContiguous { expected: LogIndex, found: LogIndex },
    #[error("log entry terms go backwards at index {index}")]
    TermsDecrease { index: LogIndex },
    #[error("an entry or snapshot has a term above the persisted term")]
    TermAboveHardState,
    #[error("voted for {voted_for}, not a voter")]
    UnknownVote { voted_for: NodeId },
}
