//! A cluster node's runtime: the Raft metadata quorum, the node-to-node
//! connections, and the tasks that tie them to the broker.
//!
//! - `link`: [`ClusterRuntime`], what the broker calls (propose, forward to
//!   the controller), and the start of every task below.
//! - `apply`: the one task applying committed metadata in log order.
//! - `controller`: the active controller's side: registrations,
//!   heartbeats, fencing silent brokers, AlterPartition, topic creation and
//!   producer-id blocks.
//! - `forwarding`: a client's admin change carried to the active
//!   controller and its answer back (KIP-590), bounded.
//! - `lifecycle`: every broker's side: register, then heartbeat.
//! - `rpc_handler`: what other nodes' calls reach.
//! - `replication`: each hosted partition's follower fetches and ISR
//!   proposals, carried to the leader and the controller.
//! - `fetcher`: the follower's side of replica fetching, one fetch per
//!   leader for every partition followed there.
//! - `fetch_serve`: the leader's side, answering such a fetch (long poll).

mod apply;
mod controller;
mod fetch_serve;
mod fetcher;
mod forwarding;
mod lifecycle;
mod link;
mod replication;
mod rpc_handler;

pub use link::{start, ClusterRuntime, RAFT_DIR};

/// How long a broker waits for the active controller's answer.
pub const CONTROLLER_CALL_TIMEOUT_MS: u64 = 5_000;
/// How long a proposal may take from proposal to being applied here.
pub const PROPOSAL_APPLY_TIMEOUT_MS: u64 = 15_000;
