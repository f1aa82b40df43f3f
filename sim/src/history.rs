//! The ordered history of one simulated run: every client operation with its
//! outcome and every nemesis action, in the order they happened.
//!
//! The history is what the checkers judge and what the trace hash covers, so
//! it holds only deterministic data (simulated time, values, offsets; ordered
//! maps). Nothing here depends on madsim: checkers can be tested on
//! hand-written histories in a normal build.

use serde::Serialize;

use crate::group_history::GroupEvent;
use crate::lifecycle_history::LcEvent;
use crate::trace_hash::TraceHash;

pub type ClientId = u32;
pub type Partition = i32;
pub type Offset = i64;

/// The client id of the reader that runs once faults have stopped.
pub const FINAL_READER: ClientId = 999;

/// What a fetched record held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ReadValue {
    /// A UTF-8 value (every value a producer sends is one).
    Value(String),
    /// The broker served bytes that are not a valid record: a batch failing
    /// its CRC, an undecodable batch, a null or non-UTF-8 value.
    Corrupt { reason: String },
    /// The broker refused to serve the record at this offset
    /// (CORRUPT_MESSAGE: it found rot in the stored batch). The consumer
    /// skips it, as an application with a skip-on-error handler does; no
    /// other copy exists on a single node.
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadRecord {
    pub offset: Offset,
    pub value: ReadValue,
}

/// What the nemesis did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum NemesisAction {
    /// The broker node was killed (power loss: the page cache is gone).
    Kill,
    /// The disk applied the crash; one entry per file with unsynced data.
    DiskCrashed {
        outcomes: Vec<String>,
    },
    Restart,
    /// The broker's `run` returned (it halted, e.g. on a disk error); a
    /// supervisor restarts it. The page cache survives a process exit.
    BrokerExited {
        detail: String,
    },
    /// Runtime disk faults switched on at these rates (per operation).
    DiskErrorsOn {
        write_eio_probability: f64,
        sync_eio_probability: f64,
    },
    /// Reads fail with EIO at this rate (per read) until `DiskHealed`.
    DiskReadErrorsOn {
        read_eio_probability: f64,
    },
    /// A latent sector error: one bit flipped in synced data of this file.
    SyncedDataRotted {
        path: String,
        position: u64,
    },
    /// The disk reports ENOSPC past this total size.
    DiskFull {
        budget_bytes: u64,
    },
    /// Runtime disk faults (EIO, ENOSPC) switched off.
    DiskHealed,
    /// The broker node stops running (a GC pause, a stalled VM) for `ms`:
    /// requests in flight time out on the client and are retried, then run.
    Pause {
        ms: u64,
    },
    Resume,
    /// After faults stopped, the disk had failed a write or sync (or run
    /// full): an operator restarts the broker process (no power loss), since
    /// a log taken offline by a failed write stays offline until a restart
    /// (e.g. `__consumer_offsets`, leaving groups without a coordinator).
    HealingRestart,
    /// The broker node's wall clock starts `offset_ms` off the true time.
    ClockSkewed {
        offset_ms: i64,
    },
    /// The broker node's wall clock was stepped by `delta_ms` (negative:
    /// back); it is now `offset_ms` off. Its monotonic clock did not move.
    ClockStepped {
        delta_ms: i64,
        offset_ms: i64,
    },
    /// Clock faults are over: the wall clock was stepped back to the true
    /// time (NTP catching up).
    ClockResynced {
        delta_ms: i64,
    },
    /// No more faults from here on; the final checks start after this.
    FaultsStopped,
    /// Cluster mode: node `node` lost power (its disk then crashes, as
    /// `DiskCrashed` tells).
    NodeKilled {
        node: i32,
        why: String,
    },
    NodeRestarted {
        node: i32,
    },
    /// Cluster mode, `--correlated-crashes`: every node in `nodes` lost
    /// power at the same instant (a power cut of the whole rack): each
    /// disk then crashes (one `DiskCrashed` per node, in `nodes` order),
    /// and after the downtime each restarts (`NodeRestarted`). On a
    /// replicated `fsync.policy=never` partition whose replicas are all in
    /// `nodes`, acknowledgements made before it are no longer promised
    /// (`checker::Durability`).
    NodesPowerLost {
        nodes: Vec<i32>,
    },
    /// Cluster mode: a leader-churn episode on `partition` of the checked
    /// topic begins (`cluster::churn`); its steps, overlapping, are
    /// recorded as the faults they make.
    ChurnStarted {
        partition: i32,
        steps: Vec<String>,
    },
    /// Cluster mode: node `node`'s `run` returned (restarted by the
    /// supervisor, no power loss).
    NodeExited {
        node: i32,
        detail: String,
    },
    NodePaused {
        node: i32,
        ms: u64,
    },
    NodeResumed {
        node: i32,
    },
    /// Cluster mode: no packet crosses between the two sides (clients still
    /// reach every node unless `clients_cut`).
    NetworkPartitioned {
        side_a: Vec<i32>,
        side_b: Vec<i32>,
        clients_cut: bool,
        why: String,
    },
    NetworkHealed,
    /// Cluster mode: the disk faults recorded next (`DiskErrorsOn`,
    /// `DiskFull`, `DiskReadErrorsOn` up to their `DiskHealed`, or
    /// `SyncedDataRotted`) hit node `node`'s disk; `why` names the target.
    NodeDiskFaulted {
        node: i32,
        why: String,
    },
    /// Cluster mode: node `node`'s wall clock starts `offset_ms` off.
    NodeClockSkewed {
        node: i32,
        offset_ms: i64,
    },
    /// Cluster mode: node `node`'s wall clock was stepped by `delta_ms`
    /// (negative: back); it is now `offset_ms` off. Monotonic time did not
    /// move.
    NodeClockStepped {
        node: i32,
        delta_ms: i64,
        offset_ms: i64,
    },
    /// Cluster mode: node `node`'s clock faults are over; its wall clock
    /// was stepped back to the true time.
    NodeClockResynced {
        node: i32,
        delta_ms: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum EventKind {
    /// The partition's `fsync.policy` (`always`, `interval`, `never`), as
    /// the run set it up: what its acknowledgements promise (see
    /// `checker::Durability`). A partition never configured is `always`.
    PartitionPolicy {
        partition: Partition,
        fsync_policy: String,
    },
    /// Cluster mode (`--fsync-never`): the partition's `fsync.policy` on a
    /// replicated topic, and its replicas. With acks=all and
    /// `min.insync.replicas` >= 2 an acknowledged record is held (at least
    /// in memory) by every ISR member, so an unsynced policy still promises
    /// it across any crash that leaves one replica running; only a power
    /// loss of every replica at once (`NodesPowerLost`) may take it back
    /// (`checker::Durability`). Single-node runs and cluster runs with
    /// `fsync.policy=always` record `PartitionPolicy` instead.
    ReplicatedPartitionPolicy {
        partition: Partition,
        fsync_policy: String,
        replicas: Vec<i32>,
        min_insync_replicas: i16,
    },
    /// An idempotent producer got `producer_id` at `producer_epoch` from
    /// InitProducerId (`reason`: why it (re)initialised); its sequences
    /// start at 0 on every partition.
    ProducerInit {
        client: ClientId,
        producer_id: i64,
        producer_epoch: i16,
        reason: String,
    },
    /// A produce of `value` is about to be sent (every value is unique; only
    /// an idempotent producer resends it, as the same batch: `SendRetried`).
    SendInvoked {
        client: ClientId,
        partition: Partition,
        value: String,
    },
    /// The broker acknowledged `value` at `offset` (acks=all, fsync=always).
    SendAcked {
        client: ClientId,
        partition: Partition,
        value: String,
        offset: Offset,
    },
    /// The produce failed or timed out; the value may or may not be stored.
    SendFailed {
        client: ClientId,
        partition: Partition,
        value: String,
        error: String,
    },
    /// An idempotent producer resends the batch holding `values` (same
    /// producer id, epoch, sequence, bytes) after attempt `attempt - 1`
    /// failed with `error`. The broker must store it at most once.
    SendRetried {
        client: ClientId,
        partition: Partition,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        values: Vec<String>,
        attempt: u32,
        error: String,
    },
    /// A fetch from `fetch_offset` returned `records` (only those at or past
    /// `fetch_offset`, as a Kafka client keeps). `invoked_seq` is the `seq`
    /// the history had reached when the fetch was sent.
    Polled {
        client: ClientId,
        partition: Partition,
        fetch_offset: Offset,
        invoked_seq: u64,
        high_watermark: Offset,
        records: Vec<ReadRecord>,
    },
    PollFailed {
        client: ClientId,
        partition: Partition,
        fetch_offset: Offset,
        error: String,
    },
    /// The final reader read `partition` from 0 up to `high_watermark`.
    FinalReadDone {
        partition: Partition,
        high_watermark: Offset,
    },
    /// The group workload's joins, syncs, commits, offset fetches, resets,
    /// leaves, crashes and its final drain.
    Group(GroupEvent),
    /// The lifecycle workload's topic: configs, deletion and re-creation,
    /// DeleteRecords, time lookups, keyed reads (see `lifecycle_history`).
    Lifecycle(LcEvent),
    Nemesis(NemesisAction),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Position in the history, from 0.
    pub seq: u64,
    /// Simulated milliseconds since the run started.
    pub at_ms: u64,
    pub kind: EventKind,
}

/// The append-only event list and its running hash.
#[derive(Debug, Default)]
pub struct History {
    events: Vec<Event>,
    hash: TraceHash,
}

impl History {
    /// Appends an event and returns it (with its `seq`).
    pub fn push(&mut self, at_ms: u64, kind: EventKind) -> &Event {
        let seq = self.events.len() as u64;
        let event = Event { seq, at_ms, kind };
        // Debug output of these types is fully determined by their values.
        self.hash.update(format!("{event:?}\n").as_bytes());
        self.events.push(event);
        self.events.last().expect("just pushed")
    }

    /// The `seq` the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.events.len() as u64
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn trace_hash(&self) -> TraceHash {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(history: &mut History) {
        history.push(
            3,
            EventKind::SendInvoked {
                client: 1,
                partition: 0,
                value: "v-1".into(),
            },
        );
        history.push(5, EventKind::Nemesis(NemesisAction::Kill));
    }

    #[test]
    fn same_events_same_hash_and_order_matters() {
        let (mut a, mut b) = (History::default(), History::default());
        sample(&mut a);
        sample(&mut b);
        assert_eq!(a.trace_hash(), b.trace_hash());
        assert_eq!(a.events()[1].seq, 1);
        let mut c = History::default();
        c.push(5, EventKind::Nemesis(NemesisAction::Kill));
        assert_ne!(a.trace_hash(), c.trace_hash());
    }
}
