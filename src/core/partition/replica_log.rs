//! The narrow view of a partition log that the replica state machine needs
//! (DESIGN.md, "The sans-IO core"): where it ends, which leader epoch wrote
//! which offsets, append a batch, truncate. The broker's segment log and the
//! in-memory log of the tests and the model checker both implement it.
//!
//! Appends and truncations are synchronous calls (a page-cache write, as
//! Kafka's `UnifiedLog.append` is); only durability is asynchronous: the
//! machine asks for a sync with `ReplicaAction::Sync` and learns its end
//! through `sync_done`.

use std::fmt::Debug;

use serde::{Deserialize, Serialize};

/// A run of consecutive records written in one leader epoch, as a follower
/// receives it and stores it verbatim (the leader's offsets and epoch kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoredBatch<R> {
    pub base_offset: i64,
    pub epoch: i32,
    pub record_count: i64,
    /// The records themselves, opaque to the replica.
    pub records: R,
}

impl<R> StoredBatch<R> {
    /// The offset after the batch's last record.
    pub fn end_offset(&self) -> i64 {
        self.base_offset + self.record_count
    }
}

pub trait ReplicaLog {
    /// The records of one batch (raw batch bytes in the broker, record ids
    /// in the tests).
    type Records: Clone + Debug + PartialEq;

    fn log_start_offset(&self) -> i64;
    fn log_end_offset(&self) -> i64;
    /// The epoch of the last record, if any.
    fn latest_epoch(&self) -> Option<i32>;
    /// The largest epoch `<= epoch` that wrote records in this log, with its
    /// end offset (the start of the next larger epoch, or the log end). `None`
    /// when every record is of a larger epoch, or the log is empty.
    fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)>;
    /// Appends at the log end; `batch.base_offset` must equal it.
    fn append(&mut self, batch: StoredBatch<Self::Records>);
    /// Removes every record at or after `offset` (no-op past the end).
    fn truncate_to(&mut self, offset: i64);
    /// Removes every record and starts the log over, empty, at `offset`
    /// (past its end): the log start and end become `offset`, and no epoch
    /// wrote records any more (Kafka's `truncateFullyAndStartAt`, for a
    /// follower below its leader's log start). A log that cannot do it
    /// (disk error) stays as it was.
    fn truncate_fully_and_start_at(&mut self, offset: i64);
    /// Batches from `from_offset`, at most `max_records` records in all.
    fn read(&self, from_offset: i64, max_records: i64) -> Vec<StoredBatch<Self::Records>>;
}
