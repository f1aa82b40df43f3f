//! Startup recovery of a segment: walk its batches from a position, verify
//! each (length, magic and CRC-32C), and report where the valid data ends.
//!
//! Everything past the first bad batch is a torn or corrupt tail: it was
//! never made durable (or was damaged), so it is cut off, never served.

use crate::io::disk::{Disk, DiskResult};
use crate::log::record_batch::{self, BatchError, BatchHeader, BATCH_HEADER_SIZE_BYTES};

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// Valid batches in file order, with their positions.
    pub batches: Vec<(u64, BatchHeader)>,
    /// Where the valid data ends; the file is truncated here.
    pub valid_end_bytes: u64,
    /// Bytes past `valid_end_bytes` (the torn or corrupt tail).
    pub discarded_bytes: u64,
    /// Why the scan stopped early, if it did.
    pub stop_reason: Option<BatchError>,
}

/// Scans `path` from `start_position`, expecting the first batch at
/// `min_offset` (the segment's base offset) and, with `dense_offsets`, no
/// gaps after it (a compacted log may skip offsets, never go back).
/// With `verify_crc == false` (the `no-crc-check` bug switch) corrupt batches
/// whose headers look plausible are accepted. Leader epochs must stay within
/// `leader_epochs` and never go back: a log's epochs only grow, so a batch
/// of an older epoch after a newer one (a segment a truncation deleted, back
/// after a crash undid the unlink) is not part of the log.
pub fn scan_segment(
    disk: &dyn Disk,
    path: &str,
    start_position: u64,
    min_offset: i64,
    verify_crc: bool,
    leader_epochs: std::ops::RangeInclusive<i32>,
    dense_offsets: bool,
) -> DiskResult<SegmentScan> {
    let file_len = disk.file_len(path)?;
    let mut position = start_position;
    let segment_base_offset = min_offset;
    let mut expected_min_offset = min_offset;
    let leader_epoch_max = *leader_epochs.end();
    let mut last_leader_epoch = *leader_epochs.start();
    let mut batches = Vec::new();
    let mut stop_reason = None;
    while position < file_len {
        let remaining = file_len - position;
        let head = disk.read_at(
            path,
            position,
            BATCH_HEADER_SIZE_BYTES.min(remaining as usize),
        )?;
        let size = match record_batch::peek_batch_size(&head) {
            Ok(size) if (size as u64) <= remaining => size,
            Ok(size) => {
                stop_reason = Some(BatchError::Incomplete {
                    size,
                    available: remaining as usize,
                });
                break;
            }
            Err(e) => {
                stop_reason = Some(e);
                break;
            }
        };
        let batch = disk.read_at(path, position, size)?;
        let parsed = if verify_crc {
            record_batch::parse_verified(&batch)
        } else {
            record_batch::parse_header(&batch)
        };
        let header = match parsed {
            Ok(header) => header,
            Err(e) => {
                stop_reason = Some(e);
                break;
            }
        };
        // The CRC does not cover the base offset or the leader epoch (the
        // broker patches them), so a damaged tail can carry a bad one with a
        // good CRC: offsets must continue exactly, epochs must not go back.
        let continues = if dense_offsets {
            header.base_offset == expected_min_offset
        } else {
            header.base_offset >= expected_min_offset
        };
        if !continues {
            stop_reason = Some(BatchError::Invalid {
                reason: "offsets do not continue the log",
            });
            break;
        }
        if header.last_offset() - segment_base_offset > u32::MAX as i64 {
            stop_reason = Some(BatchError::Invalid {
                reason: "offset beyond what a segment can index",
            });
            break;
        }
        if header.partition_leader_epoch < last_leader_epoch {
            stop_reason = Some(BatchError::Invalid {
                reason: "leader epoch goes backwards",
            });
            break;
        }
        if header.partition_leader_epoch > leader_epoch_max {
            stop_reason = Some(BatchError::Invalid {
                reason: "leader epoch from the future",
            });
            break;
        }
        last_leader_epoch = header.partition_leader_epoch;
        expected_min_offset = header.next_offset();
        batches.push((position, header));
        position += size as u64;
    }
    assert!(position <= file_len);
    Ok(SegmentScan {
        batches,
        valid_end_bytes: position,
        discarded_bytes: file_len - position,
        stop_reason,
    })
}
