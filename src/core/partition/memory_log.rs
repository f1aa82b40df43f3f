//! A tiny in-memory [`ReplicaLog`]: one record id per offset, each tagged
//! with its leader epoch, from its log start on. The tests' multi-replica
//! harness and the model checker run the replica state machine over it.
//!
//! It models durability as Kafka's page cache: a prefix is synced, the tail
//! is not, and [`MemoryLog::crash`] keeps only the synced prefix. A
//! truncation is durable at once (the synced prefix shrinks with it).

use crate::core::partition::replica_log::{ReplicaLog, StoredBatch};

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MemoryLog {
    /// The offset of `entries[0]` (0 until retention or a start-over).
    start_offset: i64,
    /// (epoch, record id) per offset, from `start_offset`.
    entries: Vec<(i32, u64)>,
    synced_end_offset: i64,
}

impl MemoryLog {
    pub fn entries(&self) -> &[(i32, u64)] {
        &self.entries
    }

    pub fn entry(&self, offset: i64) -> Option<(i32, u64)> {
        usize::try_from(offset - self.start_offset)
            .ok()
            .and_then(|i| self.entries.get(i).copied())
    }

    /// Retention: records below `offset` (at most the log end) are gone,
    /// durably at once (as a truncation is).
    pub fn delete_before(&mut self, offset: i64) {
        let offset = offset.clamp(self.start_offset, self.log_end_offset());
        self.entries.drain(..(offset - self.start_offset) as usize);
        self.start_offset = offset;
        self.synced_end_offset = self.synced_end_offset.max(offset);
    }

    pub fn synced_end_offset(&self) -> i64 {
        self.synced_end_offset
    }

    /// Everything below `end_offset` (capped at the log end) is durable.
    pub fn sync_to(&mut self, end_offset: i64) {
        let end = end_offset.min(self.log_end_offset());
        self.synced_end_offset = self.synced_end_offset.max(end);
    }

    /// A power loss: the unsynced tail is gone.
    pub fn crash(&mut self) {
        self.entries
            .truncate((self.synced_end_offset - self.start_offset) as usize);
    }
}

impl ReplicaLog for MemoryLog {
    type Records = Vec<u64>;

    fn log_start_offset(&self) -> i64 {
        self.start_offset
    }

    fn log_end_offset(&self) -> i64 {
        self.start_offset + self.entries.len() as i64
    }

    fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        // Epochs never decrease along the log, so the records of epochs
        // `<= epoch` are a prefix of it.
        let end = self.entries.partition_point(|e| e.0 <= epoch);
        let found = end.checked_sub(1)?;
        Some((self.entries[found].0, self.start_offset + end as i64))
    }

    fn append(&mut self, batch: StoredBatch<Vec<u64>>) {
        assert_eq!(
            batch.base_offset,
            self.log_end_offset(),
            "appends at the end"
        );
        assert_eq!(batch.record_count, batch.records.len() as i64);
        assert!(
            self.latest_epoch().is_none_or(|e| e <= batch.epoch),
            "epochs never decrease along a log"
        );
        self.entries
            .extend(batch.records.into_iter().map(|id| (batch.epoch, id)));
    }

    fn truncate_to(&mut self, offset: i64) {
        let end = offset.clamp(self.start_offset, self.log_end_offset());
        self.entries.truncate((end - self.start_offset) as usize);
        self.synced_end_offset = self.synced_end_offset.min(end);
    }

    fn truncate_fully_and_start_at(&mut self, offset: i64) {
        assert!(offset > self.log_end_offset(), "starts over past the end");
        self.entries.clear();
        self.start_offset = offset;
        // Durable at once, as a truncation is here.
        self.synced_end_offset = offset;
    }

    fn read(&self, from_offset: i64, max_records: i64) -> Vec<StoredBatch<Vec<u64>>> {
        let mut batches: Vec<StoredBatch<Vec<u64>>> = Vec::new();
        let from = from_offset.max(self.start_offset);
        let to = self
            .log_end_offset()
            .min(from.saturating_add(max_records.max(0)));
        for offset in from..to {
            let (epoch, id) = self.entries[(offset - self.start_offset) as usize];
            match batches.last_mut() {
                Some(b) if b.epoch == epoch => {
                    b.records.push(id);
                    b.record_count += 1;
                }
                _ => batches.push(StoredBatch {
                    base_offset: offset,
                    epoch,
                    record_count: 1,
                    records: vec![id],
                }),
            }
        }
        batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base_offset: i64, epoch: i32, records: Vec<u64>) -> StoredBatch<Vec<u64>> {
        StoredBatch {
            base_offset,
            epoch,
            record_count: records.len() as i64,
            records,
        }
    }

    #[test]
    fn epochs_end_where_the_next_larger_one_starts() {
        let mut log = MemoryLog::default();
        assert_eq!(log.end_offset_for_epoch(3), None);
        log.append(batch(0, 1, vec![10, 11]));
        log.append(batch(2, 3, vec![12]));
        assert_eq!(log.end_offset_for_epoch(0), None);
        assert_eq!(log.end_offset_for_epoch(1), Some((1, 2)));
        assert_eq!(log.end_offset_for_epoch(2), Some((1, 2)));
        assert_eq!(log.end_offset_for_epoch(7), Some((3, 3)));
        assert_eq!(
            log.read(1, 10),
            vec![batch(1, 1, vec![11]), batch(2, 3, vec![12])]
        );
        assert_eq!(log.read(0, 1), vec![batch(0, 1, vec![10])]);
    }

    #[test]
    fn a_crash_keeps_only_the_synced_prefix() {
        let mut log = MemoryLog::default();
        log.append(batch(0, 1, vec![1, 2, 3]));
        log.sync_to(2);
        log.crash();
        assert_eq!(log.entries(), &[(1, 1), (1, 2)]);
        log.truncate_to(1);
        assert_eq!(log.synced_end_offset(), 1);
    }

    #[test]
    fn a_log_started_over_is_empty_at_its_new_start() {
        let mut log = MemoryLog::default();
        log.append(batch(0, 1, vec![1, 2, 3]));
        log.delete_before(2);
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (2, 3));
        assert_eq!(log.read(0, 10), vec![batch(2, 1, vec![3])]);
        log.truncate_fully_and_start_at(7);
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (7, 7));
        assert_eq!(log.latest_epoch(), None);
        log.append(batch(7, 2, vec![8]));
        assert_eq!(log.entry(7), Some((2, 8)));
        assert_eq!(log.end_offset_for_epoch(2), Some((2, 8)));
        log.crash();
        assert_eq!(log.log_end_offset(), 7, "the start-over is durable");
    }
}
