//! One partition replica's protocol state, sans IO: leader epoch, ISR,
//! high watermark, and the produce requests waiting for acknowledgement.

pub mod high_watermark;
pub mod leader_epoch_cache;
pub mod replica;

pub use replica::{Acks, PartitionAction, PartitionReplica, ProduceWaitError};
