//! The Raft model: the metadata quorum's `RaftNode` (src/core/raft) on
//! three voters, with volatile writes until persisted, a lossy duplicating
//! reordering network, crashes and timeouts at any moment.

pub mod describe;
pub mod model;
pub mod network;
pub mod properties;
pub mod state;

pub use model::{RaftBounds, RaftModel, BUG_NAMES};
