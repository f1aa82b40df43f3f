//! The replication model's state: each replica's in-memory log and state
//! machine, the controller, the messages in flight, what is left of each
//! fault budget, and the history the properties need (ghost state).

use std::hash::{Hash, Hasher};

use odradek::core::partition::memory_log::MemoryLog;
use odradek::core::partition::{FetchRequest, FetchResponse, ReplicaMachine};

use super::controller::Controller;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplicationState {
    pub replicas: Vec<Replica>,
    pub controller: Controller,
    /// Messages in flight, as a set in a canonical order (see
    /// `network::canonicalize`): any of them may be delivered next.
    pub network: Vec<Envelope>,
    pub budget: Budget,
    pub history: History,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Replica {
    pub id: i32,
    /// Survives a crash, minus its unsynced tail.
    pub log: MemoryLog,
    /// `None` while crashed.
    pub machine: Option<ReplicaMachine>,
    /// The high watermark checkpoint file (written when the machine asks).
    pub hw_checkpoint: i64,
    /// The machine asked for a sync that has not completed.
    pub sync_requested: bool,
    /// This replica's clock; only a `Timeout` moves it (see model.rs).
    pub clock_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Envelope {
    pub to: i32,
    pub from: i32,
    pub message: Message,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    Fetch(FetchRequest),
    FetchResponse(FetchResponse<Vec<u64>>),
}

/// What is left of each bounded choice (the bounds of docs/model.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Budget {
    pub records: u8,
    pub crashes: u8,
    pub elections: u8,
    pub timeouts: u8,
    pub losses: u8,
    pub duplicates: u8,
}

/// Ghost state: what clients and consumers have seen, so that properties
/// over the whole history can be checked on one state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct History {
    pub next_record: u64,
    /// Acknowledged acks=all records: (record, offset).
    pub acked: Vec<(u64, i64)>,
    /// Per offset, the (epoch, record) first seen below some replica's high
    /// watermark: what a consumer could have read there.
    pub committed: Vec<(i32, u64)>,
    /// Step properties that failed at some step (`Broken` bits).
    pub broken: u8,
    /// Interesting things that happened (`Seen` bits).
    pub seen: u8,
}

/// Properties of a step rather than of a state, recorded when a step breaks
/// them.
pub struct Broken;
impl Broken {
    /// An offset below a high watermark was later served with another record.
    pub const INCONSISTENT_OFFSETS: u8 = 1;
    /// A replica truncated a record that was below a high watermark.
    pub const TRUNCATED_COMMITTED: u8 = 2;
    /// A leader's high watermark went down within its epoch.
    pub const HW_DECREASED: u8 = 4;
}

pub struct Seen;
impl Seen {
    pub const ACKED: u8 = 1;
    pub const TRUNCATION: u8 = 2;
    pub const ISR_SHRINK: u8 = 4;
    pub const ISR_EXPAND: u8 = 8;
    pub const LEADER_CHANGE_AFTER_COMMIT: u8 = 16;
}

impl ReplicationState {
    pub fn replica(&self, id: i32) -> &Replica {
        self.replicas
            .iter()
            .find(|r| r.id == id)
            .expect("a replica")
    }

    pub fn replica_mut(&mut self, id: i32) -> &mut Replica {
        self.replicas
            .iter_mut()
            .find(|r| r.id == id)
            .expect("a replica")
    }

    /// The replica the controller made leader, once it took office.
    pub fn current_leader(&self) -> Option<&Replica> {
        let id = self.controller.leader?;
        let replica = self.replica(id);
        let machine = replica.machine.as_ref()?;
        (machine.is_leader() && machine.leader_epoch() == self.controller.epoch).then_some(replica)
    }
}

/// A hash that is the same in every run (std's SipHash with fixed keys), to
/// put the network in a canonical order.
pub fn stable_hash<T: Hash>(value: &T) -> u64 {
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}
