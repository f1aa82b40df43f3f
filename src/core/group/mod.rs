//! The consumer group coordinator (Kafka's classic group protocol), sans IO.
//!
//! - `coordinator`: [`GroupCoordinator`], every group of this node, the
//!   driver surface (`handle`, `on_persisted`, `on_tick`, `replay`).
//! - `classic_group`: one group's state machine (join, sync, heartbeat, leave,
//!   session expiry, rebalance timers).
//! - `state`: the group states and their allowed transitions.
//! - `member`: one member.
//! - `committed_offsets`: a group's durable committed offsets.
//! - `consumer_subscription`: the topics of a consumer member's metadata.
//! - `requests` / `responses`: plain request and response values.
//! - `action`: [`GroupAction`]s the caller carries out.
//! - `record`: [`GroupRecord`]s persisted in the offsets topic and replayed.
//! - `config`: named limits and timeouts.
//! - `error`: [`GroupError`] with Kafka's codes.

pub mod action;
pub mod classic_group;
pub mod committed_offsets;
pub mod config;
pub mod consumer_subscription;
pub mod coordinator;
pub mod error;
pub mod member;
pub mod record;
pub mod requests;
pub mod responses;
pub mod state;

#[cfg(test)]
mod tests;

pub use action::GroupAction;
pub use classic_group::Group;
pub use committed_offsets::{CommittedOffset, CommittedOffsets};
pub use config::GroupConfig;
pub use coordinator::GroupCoordinator;
pub use error::GroupError;
pub use member::Member;
pub use record::{GroupMetadataRecord, GroupRecord, GroupRecordKey, MemberRecord};
pub use requests::*;
pub use responses::*;
pub use state::GroupState;
