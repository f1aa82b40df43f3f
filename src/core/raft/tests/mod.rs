//! The deterministic test harness of the Raft core: N voters over a seeded
//! lossy network with crashes, partitions and jittered clocks, checked
//! after every step (docs/raft.md, "The harness").
//!
//! - `sim_net`, `sim_storage`, `state_machine`: the world around a node.
//! - `cluster`: voters driven the way a server drives them.
//! - `checkers`: the safety properties.
//! - `schedule`: seeded random schedules and the liveness phase.
//! - `scenario`: helpers for scripted scenarios.
//! - `*_tests`: scenarios, sweeps, bug switches, pre-vote and check-quorum,
//!   observers, peers that lie.

mod bug_switch_tests;
mod checkers;
mod cluster;
mod lease_tests;
mod lying_peer_tests;
mod node_tests;
mod observer_tests;
mod scenario;
mod schedule;
mod sim_net;
mod sim_storage;
mod state_machine;
mod sweep_tests;
