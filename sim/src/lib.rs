//! odradek-sim: the broker under madsim, with a seeded nemesis, a Kafka
//! client workload and Jepsen-named checkers.
//!
//! The history, the checkers and the client speak no madsim and build
//! everywhere (so `cargo test -p odradek-sim` tests them in a normal build);
//! the harness that runs a seed exists only under `--cfg madsim`.
//!
//! - [`history`]: the ordered events of a run, hashed into `trace_hash`.
//! - [`checker`]: one module per invariant family, fed every event.
//! - [`client`]: a minimal Kafka client (kafka-protocol frames over TCP).
//! - `workload`, `nemesis`, `seed_run` (madsim only): one seed, end to end.

pub mod checker;
pub mod client;
#[cfg(not(madsim))]
pub mod fuzz;
pub mod group_history;
pub mod history;
pub mod lifecycle_history;
pub mod outcome;
pub mod trace_hash;

#[cfg(madsim)]
pub mod group_workload;
#[cfg(madsim)]
pub mod lifecycle_workload;
#[cfg(madsim)]
pub mod nemesis;
#[cfg(madsim)]
pub mod recorder;
#[cfg(madsim)]
pub mod seed_run;
#[cfg(madsim)]
pub mod workload;
