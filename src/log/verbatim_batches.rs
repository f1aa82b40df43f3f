//! Checks another replica's record batches before a follower stores them
//! verbatim (`PartitionLog::append_verbatim`): the bytes arrive over the
//! network, so every header field the log relies on is checked here, and a
//! bad batch is an error for the caller, never a panic.

use crate::log::partition_log::LogError;
use crate::log::record_batch::{self, BatchHeader};

/// Most bytes one verbatim append takes (one fetch answer's worth).
pub const REPLICA_APPEND_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Most batches one verbatim append takes.
pub const REPLICA_APPEND_BATCHES_MAX: usize = 64 * 1024;

/// The headers of the batches in `records`, if each one passes its CRC and
/// they continue a log ending at `log_end_offset` with no gap or overlap.
pub fn verbatim_headers(records: &[u8], log_end_offset: i64) -> Result<Vec<BatchHeader>, LogError> {
    let reject = |reason: String| LogError::RejectedBatch { reason };
    if records.is_empty() {
        return Err(reject("no batches".to_string()));
    }
    if records.len() > REPLICA_APPEND_BYTES_MAX {
        return Err(reject(format!(
            "{} bytes, more than the {REPLICA_APPEND_BYTES_MAX} one append takes",
            records.len()
        )));
    }
    let mut headers = Vec::new();
    let mut position = 0usize;
    let mut next_offset = log_end_offset;
    while position < records.len() {
        if headers.len() == REPLICA_APPEND_BATCHES_MAX {
            return Err(reject(format!(
                "more than {REPLICA_APPEND_BATCHES_MAX} batches"
            )));
        }
        let header = record_batch::parse_verified(&records[position..])
            .map_err(|e| reject(format!("batch at byte {position}: {e}")))?;
        if header.base_offset != next_offset {
            return Err(reject(format!(
                "batch at byte {position} starts at offset {}, the log continues at {next_offset}",
                header.base_offset
            )));
        }
        if header.partition_leader_epoch < 0 {
            return Err(reject(format!(
                "batch at offset {} has no leader epoch ({})",
                header.base_offset, header.partition_leader_epoch
            )));
        }
        next_offset = header
            .base_offset
            .checked_add(header.last_offset_delta as i64 + 1)
            .ok_or_else(|| reject("offsets overflow".to_string()))?;
        position += header.size_bytes;
        headers.push(header);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record_batch::test_support::batch;

    /// A batch of `count` records at `base_offset` in `epoch`, as a leader
    /// stores it.
    fn stored(base_offset: i64, epoch: i32, count: usize) -> Vec<u8> {
        let values: Vec<Vec<u8>> = (0..count).map(|i| vec![i as u8; 3]).collect();
        let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
        let mut bytes = batch(&refs, 1_000);
        record_batch::patch_base_offset(&mut bytes, base_offset);
        record_batch::patch_leader_epoch(&mut bytes, epoch);
        bytes
    }

    fn reason(result: Result<Vec<BatchHeader>, LogError>) -> String {
        match result {
            Err(LogError::RejectedBatch { reason }) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn batches_that_continue_the_log_are_taken_with_their_offsets_and_epochs() {
        let mut bytes = stored(10, 3, 2);
        bytes.extend(stored(12, 4, 1));
        let headers = verbatim_headers(&bytes, 10).unwrap();
        let seen: Vec<(i64, i32)> = headers
            .iter()
            .map(|h| (h.base_offset, h.partition_leader_epoch))
            .collect();
        assert_eq!(seen, vec![(10, 3), (12, 4)]);
    }

    #[test]
    fn a_gap_or_an_overlap_is_refused() {
        assert!(reason(verbatim_headers(&stored(11, 3, 1), 10)).contains("continues at 10"));
        assert!(reason(verbatim_headers(&stored(9, 3, 1), 10)).contains("continues at 10"));
        let mut overlapping = stored(10, 3, 2);
        overlapping.extend(stored(11, 3, 1));
        assert!(reason(verbatim_headers(&overlapping, 10)).contains("continues at 12"));
    }

    #[test]
    fn a_corrupt_crc_or_a_torn_batch_is_refused() {
        let mut bytes = stored(0, 1, 2);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        assert!(
            reason(verbatim_headers(&bytes, 0)).contains("CRC"),
            "flipped bit"
        );
        let whole = stored(0, 1, 2);
        assert!(!reason(verbatim_headers(&whole[..whole.len() - 1], 0)).is_empty());
        assert!(reason(verbatim_headers(&[], 0)).contains("no batches"));
        assert!(!reason(verbatim_headers(&[0u8; 5], 0)).is_empty());
    }
}
