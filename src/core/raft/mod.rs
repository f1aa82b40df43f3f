//! The Raft core of the metadata quorum, sans IO (raft-rs's `RawNode` /
//! `Ready` shape): a fixed voter set (and observers that follow its log
//! without voting) elects a leader with pre-vote and
//! check-quorum (KIP-996), replicates an opaque-record log, commits by
//! counting only entries of the leader's term, and compacts behind the
//! application's snapshots. No clock, disk, socket or task: time comes in
//! as `now_ms`, randomness from an injected seeded RNG, effects go out in
//! a [`Ready`]. docs/raft.md describes the protocol, its order rules and
//! limits, and the test harness.
//!
//! - `node`: [`RaftNode`], the state and the driver surface.
//! - `election`: terms, pre-votes, votes, check-quorum.
//! - `replication`: AppendEntries both ways and the commit rule.
//! - `snapshot_transfer`: compaction, chunked InstallSnapshot.
//! - `observer`: non-voters that follow the log (KRaft's broker-only
//!   nodes), on both sides.
//! - `durability`: what is on disk, messages waiting for a persist.
//! - `ready`: [`Ready`], [`Persist`] and the order to carry them out.
//! - `log`: the in-memory log behind its snapshot.
//! - `progress`: a leader's view of one follower.
//! - `quorum`: majority arithmetic.
//! - `election_timer`: the seeded election timeout.
//! - `message`, `types`, `config`, `error`: values, limits, bug switches.

pub mod config;
pub mod durability;
pub mod election;
pub mod election_timer;
pub mod error;
pub mod log;
pub mod message;
pub mod node;
pub mod observer;
pub mod progress;
pub mod quorum;
pub mod ready;
pub mod replication;
pub mod snapshot_transfer;
pub mod types;

#[cfg(test)]
mod tests;

pub use config::{RaftBugs, RaftConfig};
pub use election_timer::ElectionRng;
pub use error::{ProposeError, RecoveryError, SnapshotError, StepError};
pub use message::{AppendResult, Message, MessageBody};
pub use node::RaftNode;
pub use ready::{LogWrite, Persist, Ready};
pub use types::{
    DurableState, Entry, EntryKind, HardState, LogIndex, NodeId, Role, RoleState, Snapshot,
    SnapshotMeta, Term, RAFT_TERM_MAX,
};
