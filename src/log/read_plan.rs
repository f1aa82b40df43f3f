//! A read of a partition log in two steps, so that the disk is never read
//! under the partition lock: [`crate::log::PartitionLog::plan_read`] copies
//! what the read needs from memory (which segments, where to start, the upper
//! bound) while the caller holds the lock; [`ReadPlan::execute`] reads the
//! bytes after the lock is released.
//!
//! Meanwhile retention may delete a planned file, compaction may replace it
//! and truncation may cut it (and appends refill it with other batches). The
//! plan carries the log's file generation, which each of those bumps: the
//! caller compares it with the log's after the read and discards a read that
//! raced one of them (it plans again). A raced read may fail or return bytes
//! of the new file; it never panics, and its bytes are never served.

use crate::io::disk::Disk;
use crate::log::partition_log::read_header_at;
use crate::log::record_batch;
use crate::log::LogError;

/// Segments one plan covers. A read ends in the first segment holding a
/// batch at or after its offset, nearly always the first one; only a
/// compacted log can have segments with nothing left past the offset.
pub const PLAN_SEGMENTS_MAX: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedSegment {
    pub log_path: String,
    /// The segment's size when planned: bytes past it are not read.
    pub size_bytes: u64,
    /// Where to start walking headers (the offset index's hint).
    pub scan_position: u64,
    /// The base offset the index records for the batch at `scan_position`.
    pub scan_offset: i64,
    /// The offset after the segment's last batch when planned: no batch
    /// within `size_bytes` ends past it.
    pub end_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    pub(crate) offset: i64,
    pub(crate) max_bytes: usize,
    pub(crate) min_one_batch: bool,
    /// No batch ending past this offset is returned (the high watermark).
    pub(crate) upper_offset: i64,
    pub(crate) segments: Vec<PlannedSegment>,
    /// Where to plan again when nothing was found in `segments` and more
    /// segments lie below `upper_offset`.
    pub(crate) continue_from: Option<i64>,
    /// The log's file generation when planned.
    pub file_generation: u64,
    /// Check each batch's CRC before serving it (latent damage of synced
    /// data); only the `no-crc-check` bug switch clears it.
    pub(crate) verify_crc: bool,
    /// The log's offsets have no gaps (not compacted): each served batch
    /// must begin where the one before ended.
    pub(crate) dense_offsets: bool,
}

/// What executing a plan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Whole batches (possibly none).
    Bytes(Vec<u8>),
    /// Nothing in the planned segments: plan again from this offset.
    ContinueFrom(i64),
}

impl ReadPlan {
    /// A plan that reads nothing.
    pub(crate) fn empty(offset: i64, file_generation: u64) -> ReadPlan {
        ReadPlan {
            offset,
            max_bytes: 0,
            min_one_batch: false,
            upper_offset: offset,
            segments: Vec::new(),
            continue_from: None,
            file_generation,
            verify_crc: true,
            dense_offsets: true,
        }
    }

    /// Reads the planned bytes. Holds no lock; see the module comment for
    /// what a concurrent change of the files does to the result.
    pub fn execute(&self, disk: &dyn Disk) -> Result<ReadOutcome, LogError> {
        for segment in &self.segments {
            if let Some(bytes) = self.read_from_segment(disk, segment)? {
                return Ok(ReadOutcome::Bytes(bytes));
            }
        }
        Ok(match self.continue_from {
            Some(offset) => ReadOutcome::ContinueFrom(offset),
            None => ReadOutcome::Bytes(Vec::new()),
        })
    }

    /// `None` when the segment holds nothing at or after the offset.
    fn read_from_segment(
        &self,
        disk: &dyn Disk,
        segment: &PlannedSegment,
    ) -> Result<Option<Vec<u8>>, LogError> {
        let path = segment.log_path.as_str();
        // Walk headers from the index hint to the batch holding the offset.
        // The CRC does not cover a batch's base offset, so the walk checks
        // that offsets continue from the index's entry: rot there would
        // otherwise serve records at the wrong offsets.
        let mut position = segment.scan_position;
        let mut expected_base = segment.scan_offset;
        let (start, first) = loop {
            if position >= segment.size_bytes {
                return Ok(None);
            }
            let header = read_header_at(disk, path, position)?;
            let continues = if self.dense_offsets {
                header.base_offset == expected_base
            } else {
                header.base_offset >= expected_base
            };
            if self.verify_crc && !continues {
                disk.report_corruption(path);
                return Err(LogError::CorruptBatch {
                    path: path.to_string(),
                    position,
                    reason: format!(
                        "base offset {} does not continue the log at {expected_base}",
                        header.base_offset
                    ),
                });
            }
            expected_base = header.next_offset();
            if header.next_offset() > self.offset {
                break (position, header);
            }
            position += header.size_bytes as u64;
        };
        // Every batch below the planned size was written whole before the
        // plan, so one that runs past it, in bytes or offsets, has a damaged
        // header (rot): refused, or the client would be answered "nothing
        // yet" or "incomplete, fetch more" forever.
        if self.verify_crc
            && (start + first.size_bytes as u64 > segment.size_bytes
                || first.next_offset() > segment.end_offset)
        {
            disk.report_corruption(path);
            return Err(LogError::CorruptBatch {
                path: path.to_string(),
                position: start,
                reason: format!(
                    "batch at {} ({} bytes, offsets to {}) runs past its segment ({} bytes, offsets to {})",
                    start,
                    first.size_bytes,
                    first.next_offset(),
                    segment.size_bytes,
                    segment.end_offset
                ),
            });
        }
        if first.next_offset() > self.upper_offset {
            return Ok(Some(Vec::new()));
        }
        let limit = if self.min_one_batch {
            self.max_bytes.max(first.size_bytes)
        } else {
            self.max_bytes
        };
        if limit < first.size_bytes {
            // Kafka (fetch v3+) answers an incomplete first batch with no
            // records: a later partition must not exceed the response limit.
            return Ok(Some(Vec::new()));
        }
        let want = (limit as u64).min(segment.size_bytes.saturating_sub(start));
        let mut bytes = disk.read_at(path, start, want as usize)?;
        // Keep whole batches below the upper bound, and only sound ones: a
        // damaged batch ends the read, and fails it if it comes first.
        let mut keep = 0usize;
        let mut expected_base = None;
        for (at, header) in record_batch::headers(&bytes) {
            if header.next_offset() > self.upper_offset {
                break;
            }
            let batch = &bytes[at..at + header.size_bytes];
            if let Err(reason) = self.check_batch(batch, &header, expected_base) {
                if keep > 0 {
                    break;
                }
                disk.report_corruption(path);
                return Err(LogError::CorruptBatch {
                    path: path.to_string(),
                    position: start + at as u64,
                    reason,
                });
            }
            expected_base = Some(header.next_offset());
            keep = at + header.size_bytes;
        }
        bytes.truncate(keep);
        Ok(Some(bytes))
    }

    /// Whether a stored batch may be served: its CRC matches (the CRC does
    /// not cover the base offset, so the offsets are checked as well: the
    /// first batch holds or follows the requested offset, each next one
    /// begins where the one before ended, or after it in a compacted log).
    fn check_batch(
        &self,
        batch: &[u8],
        header: &record_batch::BatchHeader,
        expected_base: Option<i64>,
    ) -> Result<(), String> {
        if !self.verify_crc {
            return Ok(());
        }
        record_batch::parse_verified(batch).map_err(|e| e.to_string())?;
        let continues = match expected_base {
            None => !self.dense_offsets || header.base_offset <= self.offset,
            Some(base) if self.dense_offsets => header.base_offset == base,
            Some(base) => header.base_offset >= base,
        };
        if continues {
            Ok(())
        } else {
            Err(format!(
                "base offset {} does not continue the log",
                header.base_offset
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::io::disk::join;
    use crate::io::sim_disk::{SimDisk, SimDiskFaults};
    use crate::log::record_batch::test_support::batch;
    use crate::log::{LogConfig, PartitionLog};

    const NOW_MS: i64 = 1_700_000_000_000;

    struct Fixture {
        log: PartitionLog,
        disk: Arc<dyn Disk>,
        batch_bytes: usize,
    }

    /// A log of `batches` one-record batches of 100-byte values, one
    /// segment each.
    fn fixture(batches: usize) -> Fixture {
        let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
        let config = LogConfig {
            segment_bytes: 100,
            ..LogConfig::default()
        };
        let (log, _) = crate::test_support::block_on(PartitionLog::open(
            Arc::clone(&disk),
            "d/t-0",
            config,
            NOW_MS,
        ))
        .unwrap();
        let mut fixture = Fixture {
            log,
            disk,
            batch_bytes: 0,
        };
        for i in 0..batches {
            fixture.batch_bytes = fixture.append(b'a' + i as u8);
        }
        fixture
    }

    impl Fixture {
        fn append(&mut self, fill: u8) -> usize {
            let mut records = batch(&[&[fill; 100]], NOW_MS);
            let size = records.len();
            let headers: Vec<_> = record_batch::headers(&records).map(|(_, h)| h).collect();
            self.log.append(&mut records, &headers, 0, NOW_MS).unwrap();
            size
        }

        fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Vec<u8> {
            let end = self.log.log_end_offset();
            let plan = self.log.plan_read(offset, max_bytes, min_one, end).unwrap();
            match plan.execute(self.disk.as_ref()).unwrap() {
                ReadOutcome::Bytes(bytes) => bytes,
                ReadOutcome::ContinueFrom(o) => panic!("continue from {o}"),
            }
        }
    }

    #[test]
    fn the_first_batch_passes_the_limits_only_when_asked() {
        let f = fixture(3);
        let size = f.batch_bytes;
        assert_eq!(f.read(0, 0, true).len(), size, "one batch past a 0 limit");
        assert!(f.read(0, 0, false).is_empty());
        assert!(
            f.read(1, size - 1, false).is_empty(),
            "an incomplete first batch is no batch"
        );
        assert_eq!(f.read(1, size, false).len(), size);
        assert_eq!(f.read(2, 10 * size, false).len(), size);
    }

    #[test]
    fn a_read_racing_retention_fails_or_is_discarded() {
        let mut f = fixture(4);
        let plan = f.log.plan_read(0, 1 << 20, true, 4).unwrap();
        f.log.set_config(LogConfig {
            retention_bytes: 1,
            ..*f.log.config()
        });
        assert!(f.log.apply_retention(NOW_MS, i64::MAX).unwrap() > 0);
        // The segments go once the new log start is durable.
        let write = f.log.pending_log_start_write().expect("the start moved");
        crate::test_support::block_on(f.disk.write_file_durably(&write.path, &write.bytes))
            .unwrap();
        f.log.complete_log_start_write(&write).unwrap();
        assert_ne!(f.log.file_generation(), plan.file_generation);
        assert!(
            plan.execute(f.disk.as_ref()).is_err(),
            "the planned segment is gone"
        );
    }

    #[test]
    fn a_read_racing_truncation_and_new_appends_is_discarded() {
        let mut f = fixture(4);
        let plan = f.log.plan_read(3, 1 << 20, true, 4).unwrap();
        f.log.truncate_to(2).unwrap();
        f.append(b'z');
        f.append(b'z');
        // Whatever the stale plan reads now, its generation tells the caller
        // to throw it away.
        let _ = plan.execute(f.disk.as_ref());
        assert_ne!(f.log.file_generation(), plan.file_generation);
    }

    #[test]
    fn closed_reads_fail() {
        let mut f = fixture(1);
        let plan = f.log.plan_read(0, 1 << 20, true, 1).unwrap();
        f.log.close_reads();
        assert_ne!(f.log.file_generation(), plan.file_generation);
        assert!(matches!(
            f.log.plan_read(0, 1 << 20, true, 1),
            Err(LogError::Offline { .. })
        ));
    }

    /// Flips one bit of the stored value of the batch at `offset` (its
    /// records, covered by the CRC), in place.
    fn rot(f: &Fixture, offset: i64) {
        let path = join("d/t-0", &crate::log::segment::log_file_name(offset));
        let len = f.disk.file_len(&path).unwrap();
        let mut bytes = f.disk.read_at(&path, 0, len as usize).unwrap();
        let at = bytes.len() - 10;
        bytes[at] ^= 0x04;
        f.disk.truncate(&path, 0).unwrap();
        f.disk.append(&path, &bytes).unwrap();
    }

    #[test]
    fn a_rotted_batch_is_refused_never_served() {
        let mut f = fixture(3);
        // One batch per segment: the rot hits only the segment of offset 1.
        let whole = f.read(0, 1 << 20, true);
        rot(&f, 1);
        let end = f.log.log_end_offset();
        let plan = f.log.plan_read(1, 1 << 20, true, end).unwrap();
        assert!(matches!(
            plan.execute(f.disk.as_ref()),
            Err(LogError::CorruptBatch { .. })
        ));
        assert_eq!(
            f.read(0, 1 << 20, true),
            whole,
            "other batches still served"
        );
        assert_eq!(f.read(2, 1 << 20, true).len(), f.batch_bytes);
        // Without the check (the no-crc-check bug) the rotted batch is served.
        f.log.set_config(LogConfig {
            verify_crc_on_recovery: false,
            ..*f.log.config()
        });
        assert_eq!(f.read(1, 1 << 20, true).len(), f.batch_bytes);
    }

    #[test]
    fn a_read_stops_before_a_rotted_batch_it_reaches() {
        let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
        let (log, _) = crate::test_support::block_on(PartitionLog::open(
            Arc::clone(&disk),
            "d/t-0",
            LogConfig::default(),
            NOW_MS,
        ))
        .unwrap();
        let mut f = Fixture {
            log,
            disk,
            batch_bytes: 0,
        };
        for i in 0..3 {
            f.batch_bytes = f.append(b'a' + i);
        }
        let path = join("d/t-0", &crate::log::segment::log_file_name(0));
        let mut bytes = f.disk.read_at(&path, 0, usize::MAX).unwrap();
        bytes[2 * f.batch_bytes - 10] ^= 0x01;
        f.disk.truncate(&path, 0).unwrap();
        f.disk.append(&path, &bytes).unwrap();
        assert_eq!(f.read(0, 1 << 20, true).len(), f.batch_bytes);
        let plan = f.log.plan_read(1, 1 << 20, true, 3).unwrap();
        assert!(matches!(
            plan.execute(f.disk.as_ref()),
            Err(LogError::CorruptBatch { .. })
        ));
    }

    /// Seed 1 (rot in cold data): rot in a stored batch's length or last
    /// offset delta made it run past its segment, and the read answered
    /// "nothing yet" or "incomplete" with no records, so the consumer asked
    /// again forever. Seed 371: rot in a base offset (not under the CRC)
    /// served records one offset early. Such a batch is refused as corrupt.
    #[test]
    fn a_batch_with_a_damaged_header_is_refused() {
        // Big-endian: base offset at 0..8, batch length at 8..12, last
        // offset delta at 23..27.
        for (byte, mask) in [(7, 0x01), (9, 0x10), (24, 0x40)] {
            let f = fixture(3);
            let path = join("d/t-0", &crate::log::segment::log_file_name(1));
            let len = f.disk.file_len(&path).unwrap();
            let mut bytes = f.disk.read_at(&path, 0, len as usize).unwrap();
            bytes[byte] ^= mask;
            f.disk.truncate(&path, 0).unwrap();
            f.disk.append(&path, &bytes).unwrap();
            let end = f.log.log_end_offset();
            for (max_bytes, min_one) in [(64, false), (64, true), (1 << 20, false)] {
                let plan = f.log.plan_read(1, max_bytes, min_one, end).unwrap();
                let outcome = plan.execute(f.disk.as_ref());
                assert!(
                    matches!(outcome, Err(LogError::CorruptBatch { .. })),
                    "byte {byte}, {max_bytes}: {:?}",
                    outcome.map(|o| match o {
                        ReadOutcome::Bytes(b) => b.len() as i64,
                        ReadOutcome::ContinueFrom(o) => -o,
                    })
                );
            }
        }
    }
}
