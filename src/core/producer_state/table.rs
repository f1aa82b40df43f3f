//! [`ProducerStateTable`]: what one partition knows about its idempotent
//! producers, and the check a produced batch must pass before it is appended.
//!
//! Kafka semantics (`ProducerStateManager`, `ProducerAppendInfo`, 3.x):
//!
//! - A batch without a producer id (`-1`) is not idempotent: always appended.
//! - A batch whose (epoch, first sequence, last sequence) equals one of the
//!   producer's last [`BATCHES_PER_PRODUCER_MAX`] batches is a retry of a
//!   batch already in the log: [`Verdict::Duplicate`] carries its offsets,
//!   the broker answers success with them and appends nothing.
//! - An epoch older than the producer's is fenced: `INVALID_PRODUCER_EPOCH`
//!   (47). Since Kafka 2.7 the produce path answers 47, not
//!   `PRODUCER_FENCED` (90), which only InitProducerId / transactions use.
//! - A newer epoch must start at sequence 0, else `OUT_OF_ORDER_SEQUENCE_NUMBER` (45).
//! - The same epoch must continue at the last sequence + 1 (0 after
//!   `i32::MAX`), else 45.
//! - A producer the partition has no state for (new, expired, or whose
//!   batches were all truncated away) is accepted at any sequence. Kafka ≥
//!   2.5 (KIP-360) no longer answers `UNKNOWN_PRODUCER_ID` (59) here: "If
//!   there is no current producer epoch (possibly because all producer
//!   records have been deleted due to retention or the DeleteRecords API)
//!   accept writes with any sequence number". Erroring instead would make the
//!   client renumber and resend, reintroducing duplicates.
//! - A batch with a producer id but a negative base sequence or epoch is
//!   malformed: `INVALID_RECORD` (87) (Kafka's `LogValidator` rejects the
//!   negative sequence; the negative epoch is our addition, since epoch -1
//!   means "no producer" and would confuse the checks).
//! - Control batches (transaction markers) are not sequence-checked and do
//!   not change producer state here (transactions are not implemented yet).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::producer_state::sequence::{in_sequence, increment_sequence};
use crate::log::record_batch::BatchHeader;

/// Batches remembered per producer for duplicate detection: Kafka's
/// `NUM_BATCHES_TO_RETAIN`, equal to the largest `max.in.flight.requests.per.connection`
/// an idempotent producer may use.
pub const BATCHES_PER_PRODUCER_MAX: usize = 5;

/// Kafka's default `producer.id.expiration.ms` (one day).
pub const PRODUCER_ID_EXPIRATION_MS_DEFAULT: i64 = 86_400_000;

/// `producerId` of a batch that is not idempotent.
pub const NO_PRODUCER_ID: i64 = -1;

/// The fields of a batch header the producer state reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub last_offset_delta: i32,
    pub max_timestamp_ms: i64,
    pub is_control: bool,
}

impl ProducerBatch {
    pub fn from_header(header: &BatchHeader) -> ProducerBatch {
        ProducerBatch {
            producer_id: header.producer_id,
            producer_epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
            last_offset_delta: header.last_offset_delta,
            max_timestamp_ms: header.max_timestamp_ms,
            is_control: header.is_control(),
        }
    }

    /// Whether the producer state tracks this batch at all.
    pub fn is_idempotent(&self) -> bool {
        self.producer_id > NO_PRODUCER_ID && !self.is_control
    }

    /// Sequence of the batch's last record (wrapping past `i32::MAX`).
    /// Only meaningful for a batch that passed [`validate_batch`].
    pub fn last_sequence(&self) -> i32 {
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// One appended batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMetadata {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp_ms: i64,
}

/// What a partition remembers of one producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub producer_epoch: i16,
    /// The last batches of `producer_epoch`, oldest first; never empty, at
    /// most [`BATCHES_PER_PRODUCER_MAX`], offsets and sequences increasing.
    pub batches: Vec<BatchMetadata>,
    /// The max timestamp of the last batch (Kafka expires producers by it).
    pub last_timestamp_ms: i64,
}

impl ProducerEntry {
    pub fn last_batch(&self) -> &BatchMetadata {
        self.batches
            .last()
            .expect("a producer entry holds at least one batch")
    }

    fn find_duplicate(&self, batch: &ProducerBatch) -> Option<&BatchMetadata> {
        if batch.producer_epoch != self.producer_epoch {
            return None;
        }
        let last_sequence = batch.last_sequence();
        self.batches
            .iter()
            .find(|b| b.first_sequence == batch.base_sequence && b.last_sequence == last_sequence)
    }

    fn push(&mut self, batch: &ProducerBatch, base_offset: i64) {
        if batch.producer_epoch != self.producer_epoch {
            // A new epoch starts a new sequence space: older batches can no
            // longer be retried (Kafka's `maybeUpdateProducerEpoch`).
            self.batches.clear();
            self.producer_epoch = batch.producer_epoch;
        }
        if self.batches.len() == BATCHES_PER_PRODUCER_MAX {
            self.batches.remove(0);
        }
        self.batches.push(BatchMetadata {
            first_sequence: batch.base_sequence,
            last_sequence: batch.last_sequence(),
            first_offset: base_offset,
            last_offset: base_offset + batch.last_offset_delta as i64,
            max_timestamp_ms: batch.max_timestamp_ms,
        });
        self.last_timestamp_ms = batch.max_timestamp_ms;
        assert!(self.batches.len() <= BATCHES_PER_PRODUCER_MAX);
    }

    /// Whether the entry is internally consistent (used after loading).
    pub(crate) fn is_well_formed(&self) -> bool {
        if self.producer_epoch < 0
            || self.batches.is_empty()
            || self.batches.len() > BATCHES_PER_PRODUCER_MAX
        {
            return false;
        }
        let shapes_ok = self.batches.iter().all(|b| {
            b.first_sequence >= 0
                && b.last_sequence >= 0
                && b.first_offset >= 0
                && b.last_offset >= b.first_offset
                && b.last_offset - b.first_offset <= i32::MAX as i64
                && increment_sequence(b.first_sequence, (b.last_offset - b.first_offset) as i32)
                    == b.last_sequence
        });
        shapes_ok
            && self
                .batches
                .windows(2)
                .all(|w| w[0].last_offset < w[1].first_offset)
    }
}

/// The answer to a produced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Append,
    /// A retry of a batch already in the log, at these offsets.
    Duplicate {
        base_offset: i64,
        last_offset: i64,
    },
}

/// Why a produced batch is refused; the Kafka code is in brackets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER` (45).
    #[error("producer {producer_id}: sequence {base_sequence} does not follow {expected_after} (epoch {producer_epoch})")]
    OutOfOrderSequence {
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        expected_after: i32,
    },
    /// `INVALID_PRODUCER_EPOCH` (47).
    #[error(
        "producer {producer_id}: epoch {producer_epoch} is older than the current {current_epoch}"
    )]
    InvalidProducerEpoch {
        producer_id: i64,
        producer_epoch: i16,
        current_epoch: i16,
    },
    /// `INVALID_RECORD` (87).
    #[error(
        "producer {producer_id}: invalid epoch {producer_epoch} or base sequence {base_sequence}"
    )]
    InvalidRecord {
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    },
}

/// Kafka's batch validation for producer fields (`LogValidator`).
fn validate_batch(batch: &ProducerBatch) -> Result<(), ProducerError> {
    if batch.is_idempotent()
        && (batch.base_sequence < 0 || batch.producer_epoch < 0 || batch.last_offset_delta < 0)
    {
        return Err(ProducerError::InvalidRecord {
            producer_id: batch.producer_id,
            producer_epoch: batch.producer_epoch,
            base_sequence: batch.base_sequence,
        });
    }
    Ok(())
}

/// Epoch and sequence checks of one batch against what is known of its producer.
fn check_sequence(
    entry: Option<&ProducerEntry>,
    batch: &ProducerBatch,
) -> Result<(), ProducerError> {
    let Some(entry) = entry else {
        return Ok(()); // unknown producer: any sequence (KIP-360)
    };
    let out_of_order = |expected_after: i32| ProducerError::OutOfOrderSequence {
        producer_id: batch.producer_id,
        producer_epoch: batch.producer_epoch,
        base_sequence: batch.base_sequence,
        expected_after,
    };
    if batch.producer_epoch < entry.producer_epoch {
        return Err(ProducerError::InvalidProducerEpoch {
            producer_id: batch.producer_id,
            producer_epoch: batch.producer_epoch,
            current_epoch: entry.producer_epoch,
        });
    }
    if batch.producer_epoch > entry.producer_epoch {
        return if batch.base_sequence == 0 {
            Ok(())
        } else {
            Err(out_of_order(-1))
        };
    }
    let last_sequence = entry.last_batch().last_sequence;
    if in_sequence(last_sequence, batch.base_sequence) {
        Ok(())
    } else {
        Err(out_of_order(last_sequence))
    }
}

/// Per-partition producer state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateTable {
    producers: BTreeMap<i64, ProducerEntry>,
    /// The offset after the last batch applied: a snapshot taken now is
    /// valid for a log ending here.
    map_end_offset: i64,
}

impl ProducerStateTable {
    /// An empty table for a log whose batches start at `log_start_offset`.
    pub fn new(log_start_offset: i64) -> ProducerStateTable {
        assert!(log_start_offset >= 0);
        ProducerStateTable {
            producers: BTreeMap::new(),
            map_end_offset: log_start_offset,
        }
    }

    pub(crate) fn from_parts(
        producers: BTreeMap<i64, ProducerEntry>,
        map_end_offset: i64,
    ) -> ProducerStateTable {
        ProducerStateTable {
            producers,
            map_end_offset,
        }
    }

    pub fn map_end_offset(&self) -> i64 {
        self.map_end_offset
    }
    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }
    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }
    pub fn producers(&self) -> &BTreeMap<i64, ProducerEntry> {
        &self.producers
    }

    /// For each producer, the last offset of its last batch. Compaction keeps
    /// those batches (empty if need be) so the sequence survives cleaning.
    pub fn last_batch_offsets(&self) -> BTreeMap<i64, i64> {
        self.producers
            .iter()
            .map(|(id, e)| (*id, e.last_batch().last_offset))
            .collect()
    }

    /// Checks one produced batch before it is appended.
    pub fn check(&self, batch: &ProducerBatch) -> Result<Verdict, ProducerError> {
        validate_batch(batch)?;
        if !batch.is_idempotent() {
            return Ok(Verdict::Append);
        }
        let entry = self.producers.get(&batch.producer_id);
        if let Some(duplicate) = entry.and_then(|e| e.find_duplicate(batch)) {
            return Ok(Verdict::Duplicate {
                base_offset: duplicate.first_offset,
                last_offset: duplicate.last_offset,
            });
        }
        check_sequence(entry, batch)?;
        Ok(Verdict::Append)
    }

    /// Checks the batches of one produced record set in order, each against
    /// the state the earlier ones would leave (Kafka's
    /// `analyzeAndValidateProducerState`). Duplicates are looked for in the
    /// table as it is, and the first one found answers the whole record set
    /// (clients send one batch per partition, so this is that batch).
    pub fn check_batches(&self, batches: &[ProducerBatch]) -> Result<Verdict, ProducerError> {
        let mut staged: BTreeMap<i64, ProducerEntry> = BTreeMap::new();
        for (i, batch) in batches.iter().enumerate() {
            validate_batch(batch)?;
            if !batch.is_idempotent() {
                continue;
            }
            let committed = self.producers.get(&batch.producer_id);
            if let Some(duplicate) = committed.and_then(|e| e.find_duplicate(batch)) {
                return Ok(Verdict::Duplicate {
                    base_offset: duplicate.first_offset,
                    last_offset: duplicate.last_offset,
                });
            }
            let current = staged.get(&batch.producer_id).or(committed);
            check_sequence(current, batch)?;
            // Offsets are not assigned yet; sequence checks do not read them.
            let mut entry = current.cloned().unwrap_or_else(|| empty_entry(batch));
            entry.push(batch, self.map_end_offset.saturating_add(i as i64));
            staged.insert(batch.producer_id, entry);
        }
        Ok(Verdict::Append)
    }

    /// Learns from a batch the log just appended at `base_offset` (leader or
    /// follower). Offsets must grow.
    pub fn on_appended(&mut self, batch: &ProducerBatch, base_offset: i64) {
        assert!(
            base_offset >= self.map_end_offset,
            "batch at {base_offset} below the producer state end {}",
            self.map_end_offset
        );
        assert!(batch.last_offset_delta >= 0);
        self.apply(batch, base_offset);
    }

    fn apply(&mut self, batch: &ProducerBatch, base_offset: i64) {
        let next_offset = base_offset + batch.last_offset_delta as i64 + 1;
        if batch.is_idempotent() && validate_batch(batch).is_ok() {
            let entry = self
                .producers
                .entry(batch.producer_id)
                .or_insert_with(|| empty_entry(batch));
            entry.push(batch, base_offset);
            assert!(!entry.batches.is_empty());
        }
        self.map_end_offset = self.map_end_offset.max(next_offset);
    }

    /// Replays batch headers read from the log (recovery after loading a
    /// snapshot). Batches below `map_end_offset` are already reflected and
    /// skipped; malformed producer fields are ignored, never a panic, since
    /// the bytes come from disk.
    pub fn replay<'a>(&mut self, headers: impl IntoIterator<Item = &'a BatchHeader>) {
        for header in headers {
            if header.base_offset < self.map_end_offset || header.last_offset_delta < 0 {
                continue;
            }
            self.apply(&ProducerBatch::from_header(header), header.base_offset);
        }
    }

    /// Builds the table from a log's batch headers, in offset order.
    pub fn rebuild_from<'a>(
        log_start_offset: i64,
        headers: impl IntoIterator<Item = &'a BatchHeader>,
    ) -> ProducerStateTable {
        let mut table = ProducerStateTable::new(log_start_offset);
        table.replay(headers);
        table
    }

    /// Forgets every batch holding or following `offset` (the log was
    /// truncated there); producers left without a batch are forgotten and
    /// are then accepted at any sequence. The broker reloads from a snapshot
    /// to recover their older state exactly (see the module docs).
    pub fn truncate_to(&mut self, offset: i64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset < offset);
            if let Some(last) = entry.batches.last() {
                entry.last_timestamp_ms = last.max_timestamp_ms;
            }
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
        self.map_end_offset = self.map_end_offset.min(offset);
        assert!(self
            .producers
            .values()
            .all(|e| e.last_batch().last_offset < self.map_end_offset.max(offset)));
    }

    /// The log start moved to `offset` (retention, DeleteRecords). Since
    /// KIP-360 Kafka keeps the producers whose records were deleted, so that
    /// they keep their sequence checks until they expire; so do we. Only the
    /// end offset moves up if the whole log was deleted.
    pub fn on_log_start_advanced(&mut self, offset: i64) {
        self.map_end_offset = self.map_end_offset.max(offset);
    }

    /// Removes producers whose last batch is older than
    /// `producer_id_expiration_ms` (by its max timestamp, as Kafka does).
    /// Returns the ids removed, ascending.
    pub fn expire(&mut self, now_ms: i64, producer_id_expiration_ms: i64) -> Vec<i64> {
        assert!(producer_id_expiration_ms >= 0);
        let expired: Vec<i64> = self
            .producers
            .iter()
            .filter(|(_, e)| {
                now_ms.saturating_sub(e.last_timestamp_ms) >= producer_id_expiration_ms
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.producers.remove(id);
        }
        expired
    }

    /// Bounds the table to `max_producers` entries
    /// (`producer.state.max.producers.per.partition`): forgets the least
    /// recently active producers (oldest last batch timestamp, then lowest
    /// id) that `keep` does not protect. Kafka has no such bound (only
    /// expiry); a forgotten producer is treated as an expired one: its next
    /// batch is accepted at any sequence (KIP-360), so the cost is the
    /// duplicate check of an idle producer, never a refused client.
    /// Returns the ids removed.
    pub fn evict_least_recent(
        &mut self,
        max_producers: usize,
        keep: impl Fn(i64) -> bool,
    ) -> Vec<i64> {
        if self.producers.len() <= max_producers {
            return Vec::new();
        }
        let mut candidates: Vec<(i64, i64)> = self
            .producers
            .iter()
            .filter(|(id, _)| !keep(**id))
            .map(|(id, e)| (e.last_timestamp_ms, *id))
            .collect();
        candidates.sort_unstable();
        let excess = self.producers.len() - max_producers;
        let evicted: Vec<i64> = candidates.iter().take(excess).map(|(_, id)| *id).collect();
        for id in &evicted {
            self.producers.remove(id);
        }
        evicted
    }
}

fn empty_entry(batch: &ProducerBatch) -> ProducerEntry {
    ProducerEntry {
        producer_epoch: batch.producer_epoch,
        batches: Vec::new(),
        last_timestamp_ms: batch.max_timestamp_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        records: i32,
    ) -> ProducerBatch {
        ProducerBatch {
            producer_id,
            producer_epoch,
            base_sequence,
            last_offset_delta: records - 1,
            max_timestamp_ms: 1_000,
            is_control: false,
        }
    }

    fn append(table: &mut ProducerStateTable, b: ProducerBatch) -> i64 {
        assert_eq!(table.check(&b), Ok(Verdict::Append));
        let base = table.map_end_offset();
        table.on_appended(&b, base);
        base
    }

    #[test]
    fn in_order_batches_append_and_retries_are_duplicates() {
        let mut table = ProducerStateTable::new(0);
        assert_eq!(append(&mut table, batch(7, 0, 0, 3)), 0);
        assert_eq!(append(&mut table, batch(7, 0, 3, 2)), 3);
        assert_eq!(
            table.check(&batch(7, 0, 0, 3)),
            Ok(Verdict::Duplicate {
                base_offset: 0,
                last_offset: 2
            })
        );
        assert_eq!(
            table.check(&batch(7, 0, 3, 2)),
            Ok(Verdict::Duplicate {
                base_offset: 3,
                last_offset: 4
            })
        );
        assert!(matches!(
            table.check(&batch(7, 0, 6, 1)),
            Err(ProducerError::OutOfOrderSequence {
                expected_after: 4,
                ..
            })
        ));
        assert!(
            matches!(
                table.check(&batch(7, 0, 3, 1)),
                Err(ProducerError::OutOfOrderSequence { .. })
            ),
            "a partial overlap is not a duplicate"
        );
        assert_eq!(table.check(&batch(-1, -1, -1, 1)), Ok(Verdict::Append));
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut table = ProducerStateTable::new(0);
        for seq in 0..6 {
            append(&mut table, batch(1, 0, seq, 1));
        }
        assert_eq!(
            table.entry(1).unwrap().batches.len(),
            BATCHES_PER_PRODUCER_MAX
        );
        assert!(matches!(
            table.check(&batch(1, 0, 0, 1)),
            Err(ProducerError::OutOfOrderSequence { .. })
        ));
        assert_eq!(
            table.check(&batch(1, 0, 1, 1)),
            Ok(Verdict::Duplicate {
                base_offset: 1,
                last_offset: 1
            })
        );
    }

    #[test]
    fn epochs_fence_and_restart_sequences() {
        let mut table = ProducerStateTable::new(0);
        append(&mut table, batch(1, 3, 0, 2));
        assert!(matches!(
            table.check(&batch(1, 2, 2, 1)),
            Err(ProducerError::InvalidProducerEpoch {
                current_epoch: 3,
                ..
            })
        ));
        assert!(matches!(
            table.check(&batch(1, 4, 2, 1)),
            Err(ProducerError::OutOfOrderSequence { .. })
        ));
        append(&mut table, batch(1, 4, 0, 1));
        assert!(
            matches!(
                table.check(&batch(1, 3, 0, 2)),
                Err(ProducerError::InvalidProducerEpoch { .. })
            ),
            "old-epoch retries are fenced"
        );
        assert_eq!(table.entry(1).unwrap().batches.len(), 1);
    }

    #[test]
    fn unknown_producers_start_anywhere_and_sequences_wrap() {
        let mut table = ProducerStateTable::new(10);
        assert_eq!(append(&mut table, batch(5, 0, i32::MAX - 1, 2)), 10);
        assert_eq!(table.entry(5).unwrap().last_batch().last_sequence, i32::MAX);
        append(&mut table, batch(5, 0, 0, 1));
        assert!(matches!(
            table.check(&batch(5, 0, 2, 1)),
            Err(ProducerError::OutOfOrderSequence {
                expected_after: 0,
                ..
            })
        ));
        assert_eq!(
            table.check(&batch(5, 0, i32::MAX - 1, 2)),
            Ok(Verdict::Duplicate {
                base_offset: 10,
                last_offset: 11
            })
        );
    }

    #[test]
    fn malformed_producer_fields_are_invalid_records() {
        let table = ProducerStateTable::new(0);
        assert!(matches!(
            table.check(&batch(1, 0, -3, 1)),
            Err(ProducerError::InvalidRecord { .. })
        ));
        assert!(matches!(
            table.check(&batch(1, -1, 0, 1)),
            Err(ProducerError::InvalidRecord { .. })
        ));
    }

    #[test]
    fn multi_batch_record_sets_are_checked_in_order() {
        let mut table = ProducerStateTable::new(0);
        append(&mut table, batch(1, 0, 0, 1));
        assert_eq!(
            table.check_batches(&[batch(1, 0, 1, 2), batch(1, 0, 3, 1)]),
            Ok(Verdict::Append)
        );
        assert!(table
            .check_batches(&[batch(1, 0, 1, 2), batch(1, 0, 1, 2)])
            .is_err());
        assert!(table
            .check_batches(&[batch(1, 0, 1, 2), batch(1, 0, 4, 1)])
            .is_err());
    }

    #[test]
    fn truncation_forgets_batches_and_expiry_forgets_producers() {
        let mut table = ProducerStateTable::new(0);
        append(&mut table, batch(1, 0, 0, 2)); // 0..=1
        append(&mut table, batch(2, 0, 0, 2)); // 2..=3
        append(&mut table, batch(1, 0, 2, 2)); // 4..=5
        table.truncate_to(3);
        assert_eq!(table.map_end_offset(), 3);
        assert!(table.entry(2).is_none());
        assert_eq!(table.entry(1).unwrap().batches.len(), 1);
        assert_eq!(table.check(&batch(1, 0, 2, 1)), Ok(Verdict::Append));
        table.on_log_start_advanced(100);
        assert_eq!(table.map_end_offset(), 100);
        assert_eq!(
            table.producer_count(),
            1,
            "KIP-360: log start does not drop producers"
        );
        assert!(table
            .expire(
                1_000 + PRODUCER_ID_EXPIRATION_MS_DEFAULT - 1,
                PRODUCER_ID_EXPIRATION_MS_DEFAULT
            )
            .is_empty());
        assert_eq!(
            table.expire(
                1_000 + PRODUCER_ID_EXPIRATION_MS_DEFAULT,
                PRODUCER_ID_EXPIRATION_MS_DEFAULT
            ),
            vec![1]
        );
        assert_eq!(table.producer_count(), 0);
    }

    #[test]
    fn the_table_is_bounded_by_forgetting_the_least_recent_producers() {
        let mut table = ProducerStateTable::new(0);
        for (id, ts) in [(1, 500), (2, 100), (3, 900), (4, 300)] {
            append(
                &mut table,
                ProducerBatch {
                    max_timestamp_ms: ts,
                    ..batch(id, 0, 0, 1)
                },
            );
        }
        assert!(table.evict_least_recent(4, |_| false).is_empty());
        // Producer 2 is the least recent but protected (it just appended).
        assert_eq!(table.evict_least_recent(2, |id| id == 2), vec![4, 1]);
        assert_eq!(table.producer_count(), 2);
        assert!(table.entry(2).is_some() && table.entry(3).is_some());
        // A forgotten producer is accepted again at any sequence.
        assert_eq!(table.check(&batch(1, 0, 17, 1)), Ok(Verdict::Append));
    }
}
