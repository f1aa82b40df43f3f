//! odradek-model: stateright models over odradek's sans-IO state machines
//! (docs/model.md).
//!
//! - `replication`: the partition replica of src/core/partition (ISR, high
//!   watermark, leader epochs) over the in-memory log, with a controller
//!   abstraction;
//! - `raft`: the Raft node of src/core/raft (the metadata quorum).
//!
//! Each model's actions call the core's step functions and carry out the
//! actions they return; the models hold the environment (network, disks,
//! crashes, time) and the properties, never a second copy of the rules.
//! `run` checks a model and gathers verdicts, `output` prints them, `cli`
//! is the command line.

pub mod cli;
pub mod describe;
pub mod output;
pub mod raft;
pub mod replication;
pub mod run;
