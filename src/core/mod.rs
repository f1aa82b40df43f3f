//! Sans-IO state machines. Nothing here touches a clock, a file or a socket:
//! time comes in as `now_ms` (or a [`now::Now`] where a step needs both the
//! monotonic and the wall clock), effects go out as returned actions or
//! records.
//!
//! - `acl`: ACL bindings, their validation and the standard authorizer.
//! - `scram`: SCRAM credentials (KIP-554), their validation and storage.
//! - `topic_config`: typed topic configs with Kafka's names and defaults.
//! - `metadata`: the cluster metadata records and the image they build.
//! - `controller`: turns admin requests into metadata records.
//! - `broker_liveness`: which brokers the active controller must fence.
//! - `partition_leadership`: leader election and ISR changes when brokers
//!   are fenced, restart, return, or a leader asks (AlterPartition).
//! - `partition_change`: one partition's change (ELR, election, last known
//!   leader; KRaft's PartitionChangeBuilder).
//! - `topic_name`: legal, internal and colliding topic names.
//! - `config_catalog`: types, broker synonyms and documentation of topic
//!   configs (DescribeConfigs).
//! - `config_change`: AlterConfigs / IncrementalAlterConfigs over a topic's
//!   explicit configs.
//! - `partition`: a partition replica: leader epoch, ISR, high watermark,
//!   produce requests waiting for their acknowledgement.
//! - `group`: the consumer group coordinator (classic protocol) and the
//!   committed offsets it persists.
//! - `raft`: the Raft state machine of the metadata quorum (pre-vote,
//!   check-quorum, snapshots), driven through `Ready`.

pub mod acl;
pub mod broker_dynamic_config;
pub mod broker_liveness;
pub mod config_catalog;
pub mod config_change;
pub mod controller;
pub mod group;
pub mod inert_topic_config;
pub mod metadata;
pub mod now;
pub mod partition;
pub mod partition_change;
pub mod partition_leadership;
#[cfg(test)]
mod partition_leadership_elr_tests;
pub mod producer_state;
pub mod raft;
pub mod scram;
pub mod topic_config;
pub mod topic_name;
