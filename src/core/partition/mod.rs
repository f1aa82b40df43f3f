//! One partition replica's protocol state, sans IO.
//!
//! `replica_machine` is the replica state machine of issue 12 (role, ISR,
//! high watermark, leader epochs, truncation, fencing), with its rules split
//! into `leader` and `follower`, over the narrow log view `replica_log`
//! (`memory_log` for tests and the model checker; the server's segment log
//! in `server::segment_replica_log`).

pub mod acks;
pub mod epoch_end_offsets;
pub mod fetch_divergence;
pub mod fetch_messages;
mod follower;
pub mod follower_progress;
pub mod high_watermark;
pub mod high_watermark_checkpoint;
mod leader;
pub mod leader_epoch_cache;
pub mod leader_epoch_fencing;
pub mod memory_log;
pub mod replica_action;
pub mod replica_config;
pub mod replica_log;
pub mod replica_machine;
#[cfg(test)]
mod replica_machine_tests;

#[cfg(test)]
mod replication_harness;

pub use acks::Acks;
pub use fetch_messages::{
    FetchError, FetchRequest, FetchResponse, FetchResult, ProduceError, NO_BROKER_EPOCH,
};
pub use replica_action::{IsrProposal, ReplicaAction};
pub use replica_config::{ReplicaBugs, ReplicaConfig};
pub use replica_log::{ReplicaLog, StoredBatch};
pub use replica_machine::ReplicaMachine;
