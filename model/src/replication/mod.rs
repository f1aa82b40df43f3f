//! The replication model: the partition replica state machine of
//! src/core/partition on three (or two) replicas, with a controller
//! abstraction, a lossy duplicating reordering network, crashes that keep
//! only synced records, and timeouts at any moment.

pub mod controller;
pub mod describe;
pub mod history;
pub mod model;
pub mod network;
pub mod properties;
pub mod state;

pub use model::{Bounds, ReplicationModel, BUG_NAMES};
