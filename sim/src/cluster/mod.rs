//! Cluster mode (`sim/run.sh --cluster N`): each seed runs N broker nodes
//! of one Raft-replicated cluster, the workload routed by Metadata, a
//! nemesis of node crashes, network partitions and pauses, then a liveness
//! phase; the same checkers judge the history.
//!
//! - `topology`: node addresses and configurations.
//! - `router`: a client's leader routing by Metadata.
//! - `producers`, `consumers`, `workload`: the workload and liveness phase.
//! - `filler`: a second topic that retention keeps small, in some seeds.
//! - `full_isr`: the liveness check that every ISR is whole again.
//! - `offsets_probe`: ListOffsets earliest and latest, fenced by epoch,
//!   judged while the workload runs.
//! - `leadership`: one leader per partition epoch, and leader completeness,
//!   over the leadership the nodes journaled.
//! - `replica_logs`: log matching across the replicas' committed prefixes,
//!   read from their disks at the end of the seed.
//! - `metadata_log`: Raft's safety properties over the voters' durable
//!   metadata logs, sampled while the seed runs and at its end.
//! - `nemesis`: the faults, and the supervisor restarting exited nodes.
//! - `churn`: leader churn, overlapping faults around one partition (in
//!   some seeds, drawn from a stream of its own).
//! - `missed_epochs`: a follower cut from all but its leader while the
//!   leadership goes away and comes back (KIP-320's schedule; in some seeds
//!   of 4 or more nodes, from a stream of its own).
//! - `figure8`: Raft's Figure 8 schedule on the metadata quorum, faults
//!   fired by the Raft drivers' events (in some seeds, its own stream).
//! - `applied_entries`: Raft's state machine safety over the entries the
//!   nodes applied.
//! - `seed_run`: one seed, end to end.

pub mod applied_entries;
pub mod churn;
pub mod consumers;
pub mod episode_streams;
pub mod figure8;
pub mod filler;
pub mod full_isr;
pub mod leadership;
pub mod metadata_log;
pub mod missed_epochs;
pub mod nemesis;
pub mod offsets_probe;
pub mod producers;
pub mod replica_logs;
pub mod router;
pub mod seed_run;
pub mod topology;
pub mod workload;
