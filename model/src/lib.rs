//! odradek-model: stateright models over odradek's sans-IO state machines.
//!
//! Empty in this wave, on purpose: the models need the replication wave's
//! protocol (followers fetching, ISR changes, leader election through the
//! Raft metadata quorum). The pieces they will drive already exist and are
//! effect-free: `odradek::core::partition` (high watermark, leader-epoch
//! cache), `odradek::core::metadata` (the records a quorum replicates) and
//! `odradek::core::controller`. See DESIGN.md, "Proving the checkers have
//! teeth", for the bugs the models must find (KIP-101, KIP-279, KIP-320).
