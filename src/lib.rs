//! odradek: a Kafka-compatible event-streaming broker written for
//! deterministic simulation testing.
//!
//! - [`core`]: sans-IO state machines (partition replica, metadata, topic configs).
//! - [`log`]: the segmented on-disk partition log, on top of the [`io::disk::Disk`] seam.
//! - [`io`]: the runtime seam: disks (real and simulated) and the clock.
//! - [`kafka`]: the Kafka wire protocol, decoded into calls on the broker.
//! - [`rpc`]: node-to-node messages: envelopes, frames, one TCP connection (not wired yet).
//! - [`server`]: the node: listener, connections, the tasks that drive the core.

pub mod buggify;
pub mod core;
pub mod coverage;
pub mod io;
pub mod kafka;
pub mod leadership_journal;
pub mod log;
pub mod raft_events;
pub mod rpc;
pub mod server;

#[cfg(test)]
pub(crate) mod test_support;
