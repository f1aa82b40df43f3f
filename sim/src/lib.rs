//! odradek-sim: the broker under madsim, with a seeded nemesis, a Kafka
//! client workload and Jepsen-named checkers.
//!
//! The history, the checkers and the client speak no madsim and build
//! everywhere (so `cargo test -p odradek-sim` tests them in a normal build);
//! the harness that runs a seed exists only under `--cfg madsim`.
//!
//! - [`history`]: the ordered events of a run, hashed into `trace_hash`.
//! - [`checker`]: one module per invariant family, fed every event.
//! - [`bugs`]: the bug switches and the violation kinds that catch each.
//! - [`progress`]: `no-progress`, the floor of work a seed must do.
//! - [`log_space`]: the broker's log settings drawn from the seed.
//! - [`client`]: a minimal Kafka client (kafka-protocol frames over TCP).
//! - `workload`, `nemesis`, `clock_nemesis`, `seed_run` (madsim only): one
//!   seed, end to end; `cluster` (madsim only): the same for N nodes.

pub mod bugs;
pub mod checker;
pub mod client;
#[cfg(not(madsim))]
pub mod fuzz;
pub mod group_history;
pub mod history;
pub mod lifecycle_history;
pub mod log_space;
pub mod outcome;
pub mod progress;
pub mod trace_hash;

#[cfg(madsim)]
pub mod clock_nemesis;
#[cfg(madsim)]
pub mod cluster;
#[cfg(madsim)]
pub mod disk_nemesis;
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
pub mod seek_reads;
#[cfg(madsim)]
pub mod time_seeks;
#[cfg(madsim)]
pub mod workload;
