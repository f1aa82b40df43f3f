//! The replica state machine's view ([`ReplicaLog`]) of the broker's segment
//! log, its leader-epoch cache and its producer-state table, borrowed from
//! the partition's state for one machine step.
//!
//! `Records` are raw record-batch bytes: one [`StoredBatch`] holds one or
//! more consecutive Kafka batches of one leader epoch, and `record_count` is
//! the offsets they cover. The log itself is fallible (disk errors, batches
//! another replica sent that fail their checks) while the trait is not: a
//! failed append or truncation leaves the log end where it was, which the
//! machine sees, and the error waits in [`SegmentReplicaLog::error`] for the
//! driver.
//!
//! A leader's client append is written by the driver first (it patches the
//! offsets, checks producer sequences and may fail on the disk) and only
//! *confirmed* through the trait: see [`SegmentReplicaLog::stage_client_append`].

use crate::core::partition::leader_epoch_cache::LeaderEpochCache;
use crate::core::partition::replica_log::{ReplicaLog, StoredBatch};
use crate::core::producer_state::{ProducerBatch, ProducerStateTable};
use crate::io::disk::Disk;
use crate::log::record_batch::{self, BatchHeader};
use crate::log::{LogError, PartitionLog};
use crate::server::producer_snapshots;

/// Bytes one leader-side read for a follower returns when the caller set
/// no budget.
pub const REPLICA_READ_BYTES_DEFAULT: usize = 1024 * 1024;

/// A client append the driver already wrote at `base_offset..end_offset`
/// in `epoch`, waiting for the machine to confirm it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StagedAppend {
    base_offset: i64,
    end_offset: i64,
}

pub struct SegmentReplicaLog<'a> {
    log: &'a mut PartitionLog,
    epochs: &'a mut LeaderEpochCache,
    producers: &'a mut ProducerStateTable,
    disk: &'a dyn Disk,
    now_ms: i64,
    /// Whether appended batches update the producer table (off under the
    /// no-idempotence bug switch).
    track_producers: bool,
    /// Byte budget of `read` (the follower's fetch max bytes).
    read_bytes_max: usize,
    staged: Option<StagedAppend>,
    /// The first error a step met; the driver reports it.
    pub error: Option<LogError>,
    /// The epoch cache changed: its file must be rewritten.
    pub epochs_changed: bool,
}

impl<'a> SegmentReplicaLog<'a> {
    pub fn new(
        log: &'a mut PartitionLog,
        epochs: &'a mut LeaderEpochCache,
        producers: &'a mut ProducerStateTable,
        disk: &'a dyn Disk,
        now_ms: i64,
        track_producers: bool,
    ) -> SegmentReplicaLog<'a> {
        SegmentReplicaLog {
            log,
            epochs,
            producers,
            disk,
            now_ms,
            track_producers,
            read_bytes_max: REPLICA_READ_BYTES_DEFAULT,
            staged: None,
            error: None,
            epochs_changed: false,
        }
    }

    pub fn set_read_bytes_max(&mut self, bytes: usize) {
        self.read_bytes_max = bytes;
    }

    /// The driver appended a client batch at `base_offset..end_offset`:
    /// until the machine's `append` confirms it, the log end the machine
    /// sees is `base_offset`, so it places the batch exactly there.
    pub fn stage_client_append(&mut self, base_offset: i64, end_offset: i64) {
        assert!(self.staged.is_none(), "one staged append at a time");
        assert_eq!(end_offset, self.log.log_end_offset(), "staged at the end");
        assert!(base_offset < end_offset);
        self.staged = Some(StagedAppend {
            base_offset,
            end_offset,
        });
    }

    /// Whether the machine confirmed the staged append (it refuses a
    /// produce only when the driver's own checks should have).
    pub fn staged_confirmed(&self) -> bool {
        self.staged.is_none()
    }

    /// A new leadership of this replica starts `epoch` at the log end,
    /// before its first record (Kafka's `makeLeader`), so OffsetForLeaderEpoch
    /// answers for it at once.
    pub fn begin_epoch(&mut self, epoch: i32) {
        let end = self.log_end_offset();
        self.note_epoch(epoch, end);
    }

    fn note_error(&mut self, error: LogError) {
        tracing::warn!(dir = %self.log.dir(), %error, "replica log step failed");
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    /// The cache's entries whose epoch wrote records: all but possibly the
    /// last (a leader's epoch starts at its log end before its first
    /// append; Kafka's `makeLeader` does the same).
    fn epochs_with_records(&self) -> &[(i32, i64)] {
        let end = self.log_end_offset();
        let entries = self.epochs.entries();
        let with_records = entries.partition_point(|(_, start)| *start < end);
        &entries[..with_records]
    }

    /// Makes `epoch` the cache's epoch from `start_offset` on. Entries at
    /// or after it are epochs that wrote nothing (checked by the caller).
    fn note_epoch(&mut self, epoch: i32, start_offset: i64) {
        if self.epochs.latest_epoch() == Some(epoch) {
            return;
        }
        let before = self.epochs.entries().len();
        self.epochs.truncate_from(start_offset);
        if self.epochs.entries().len() != before {
            self.epochs_changed = true;
        }
        if self.epochs.latest_epoch().is_none_or(|e| e < epoch) {
            self.epochs.assign(epoch, start_offset);
            self.epochs_changed = true;
        }
    }

    /// A follower's append of the leader's bytes, checked against the
    /// batch's claims: the Kafka batches inside must be of `batch.epoch`
    /// and cover exactly `record_count` offsets from `base_offset`.
    fn append_verbatim(&mut self, batch: &StoredBatch<Vec<u8>>) -> Result<(), LogError> {
        let reject = |reason: String| LogError::RejectedBatch { reason };
        let end = self.log.log_end_offset();
        if batch.base_offset != end {
            return Err(reject(format!(
                "batch at {} does not continue the log at {end}",
                batch.base_offset
            )));
        }
        if self.latest_epoch().is_some_and(|e| e > batch.epoch) {
            return Err(reject(format!(
                "epoch {} after records of a later epoch",
                batch.epoch
            )));
        }
        let headers = crate::log::verbatim_batches::verbatim_headers(&batch.records, end)?;
        if let Some(h) = headers
            .iter()
            .find(|h| h.partition_leader_epoch != batch.epoch)
        {
            return Err(reject(format!(
                "batch at {} is of epoch {}, not {}",
                h.base_offset, h.partition_leader_epoch, batch.epoch
            )));
        }
        let covered_end = headers.last().map_or(end, BatchHeader::next_offset);
        if Some(covered_end) != batch.base_offset.checked_add(batch.record_count) {
            return Err(reject(format!(
                "batches cover {end}..{covered_end}, not {} records",
                batch.record_count
            )));
        }
        let (_, headers) = self.log.append_verbatim(&batch.records, self.now_ms)?;
        self.note_epoch(batch.epoch, batch.base_offset);
        if self.track_producers {
            for header in &headers {
                self.producers
                    .on_appended(&ProducerBatch::from_header(header), header.base_offset);
            }
        }
        Ok(())
    }

    /// Producer state for the log as truncated: from the newest snapshot at
    /// or below the new end plus the headers after it, so producers whose
    /// later batches were cut keep their earlier sequence; without a usable
    /// snapshot the table forgets the cut batches only.
    fn rebuild_producers(&mut self) {
        let end = self.log.log_end_offset();
        match producer_snapshots::load(self.disk, self.log) {
            Ok(table) => *self.producers = table,
            Err(error) => {
                tracing::warn!(dir = %self.log.dir(), %error, "producer state rebuilt from memory after a truncation");
                self.producers.truncate_to(end);
            }
        }
    }
}

impl ReplicaLog for SegmentReplicaLog<'_> {
    type Records = Vec<u8>;

    fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    fn log_end_offset(&self) -> i64 {
        match self.staged {
            Some(staged) => staged.base_offset,
            None => self.log.log_end_offset(),
        }
    }

    fn latest_epoch(&self) -> Option<i32> {
        self.epochs_with_records().last().map(|(epoch, _)| *epoch)
    }

    fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let entries = self.epochs_with_records();
        let next = entries.partition_point(|(e, _)| *e <= epoch);
        let (found, _) = *entries.get(next.checked_sub(1)?)?;
        let end = entries
            .get(next)
            .map_or(self.log_end_offset(), |(_, start)| *start);
        Some((found, end))
    }

    fn append(&mut self, batch: StoredBatch<Vec<u8>>) {
        if let Some(staged) = self.staged.take() {
            assert_eq!(
                (batch.base_offset, batch.end_offset()),
                (staged.base_offset, staged.end_offset),
                "the machine places a client batch where the driver wrote it"
            );
            self.note_epoch(batch.epoch, batch.base_offset);
            return;
        }
        if let Err(error) = self.append_verbatim(&batch) {
            self.note_error(error);
        }
    }

    fn truncate_to(&mut self, offset: i64) {
        assert!(
            self.staged.is_none(),
            "no truncation inside a client append"
        );
        if let Err(error) = self.log.truncate_to(offset) {
            self.note_error(error);
        }
        let end = self.log.log_end_offset();
        let before = self.epochs.entries().len();
        self.epochs.truncate_from(end);
        self.epochs_changed |= self.epochs.entries().len() != before;
        self.rebuild_producers();
    }

    fn truncate_fully_and_start_at(&mut self, offset: i64) {
        assert!(
            self.staged.is_none(),
            "no start-over inside a client append"
        );
        if let Err(error) = self.log.truncate_fully_and_start_at(offset, self.now_ms) {
            self.note_error(error);
            return;
        }
        // No record is left for an epoch or a producer to have written
        // (Kafka clears both); the driver writes the emptied cache.
        if !self.epochs.entries().is_empty() {
            self.epochs.clear();
            self.epochs_changed = true;
        }
        *self.producers = ProducerStateTable::new(offset);
    }

    fn read(&self, from_offset: i64, max_records: i64) -> Vec<StoredBatch<Vec<u8>>> {
        let end = self.log.log_end_offset();
        let bytes = match self.log.read(from_offset, self.read_bytes_max, end) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(dir = %self.log.dir(), %error, from_offset, "replica read failed");
                return Vec::new();
            }
        };
        group_by_epoch(&bytes, from_offset, max_records)
    }
}

/// Splits bytes read from the log into runs of consecutive batches of one
/// epoch, from the batch at `from_offset`, at most `max_records` offsets
/// (but at least one batch, so a follower always progresses).
fn group_by_epoch(bytes: &[u8], from_offset: i64, max_records: i64) -> Vec<StoredBatch<Vec<u8>>> {
    let mut groups: Vec<StoredBatch<Vec<u8>>> = Vec::new();
    let mut covered = 0i64;
    for (position, header) in record_batch::headers(bytes) {
        if header.base_offset < from_offset {
            continue; // before the fetch offset (a batch the follower has)
        }
        let count = header.last_offset_delta as i64 + 1;
        if !groups.is_empty() && covered + count > max_records {
            break;
        }
        let raw = &bytes[position..position + header.size_bytes];
        match groups.last_mut() {
            Some(group)
                if group.epoch == header.partition_leader_epoch
                    && group.end_offset() == header.base_offset =>
            {
                group.records.extend_from_slice(raw);
                group.record_count += count;
            }
            Some(group) if group.end_offset() != header.base_offset => break, // a gap
            _ => groups.push(StoredBatch {
                base_offset: header.base_offset,
                epoch: header.partition_leader_epoch,
                record_count: count,
                records: raw.to_vec(),
            }),
        }
        covered += count;
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record_batch::test_support::batch;

    /// Stored batches of (epoch, record count) from offset 0, as one read.
    fn log_bytes(batches: &[(i32, usize)]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut offset = 0;
        for &(epoch, count) in batches {
            let values: Vec<Vec<u8>> = (0..count).map(|i| vec![i as u8]).collect();
            let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            let mut one = batch(&refs, 1_000);
            record_batch::patch_base_offset(&mut one, offset);
            record_batch::patch_leader_epoch(&mut one, epoch);
            bytes.extend(one);
            offset += count as i64;
        }
        bytes
    }

    fn shape(groups: &[StoredBatch<Vec<u8>>]) -> Vec<(i64, i32, i64)> {
        groups
            .iter()
            .map(|g| (g.base_offset, g.epoch, g.record_count))
            .collect()
    }

    #[test]
    fn consecutive_batches_of_one_epoch_travel_as_one_stored_batch() {
        let bytes = log_bytes(&[(1, 2), (1, 1), (3, 2), (3, 1)]);
        let groups = group_by_epoch(&bytes, 0, i64::MAX);
        assert_eq!(shape(&groups), vec![(0, 1, 3), (3, 3, 3)]);
        let joined: Vec<u8> = groups.iter().flat_map(|g| g.records.clone()).collect();
        assert_eq!(joined, bytes, "the bytes are kept as stored");
    }

    #[test]
    fn the_record_bound_cuts_between_batches_but_keeps_the_first() {
        let bytes = log_bytes(&[(1, 2), (1, 2), (1, 2)]);
        assert_eq!(shape(&group_by_epoch(&bytes, 0, 4)), vec![(0, 1, 4)]);
        assert_eq!(shape(&group_by_epoch(&bytes, 0, 1)), vec![(0, 1, 2)]);
        // A batch before the fetch offset (read whole) is left out.
        assert_eq!(shape(&group_by_epoch(&bytes, 2, 10)), vec![(2, 1, 4)]);
    }
}
