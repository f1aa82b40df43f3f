//! A deterministic multi-replica harness for the replica state machine:
//! three replicas over in-memory logs, a fake controller, a seeded scheduler
//! that loses, duplicates, delays and reorders fetches and their answers,
//! crashes replicas (losing their unsynced tails) and moves leadership; the
//! replication invariants are checked after every step. Each bug switch
//! must be caught by some seed; without switches every seed passes.

mod checks;
mod cluster;
mod controller;
mod tests;
