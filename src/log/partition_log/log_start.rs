//! Advancing the log start offset (DeleteRecords) and keeping it durable.
//!
//! The log start offset lives in the partition directory's `log-start-offset`
//! file (the offset in decimal and a newline; Kafka keeps the same number in
//! its per-directory `log-start-offset-checkpoint`). Retention moves the log
//! start to a segment boundary, which the segments themselves record;
//! DeleteRecords may move it into the middle of a segment, which only this
//! file records, so it must be durable before the request is answered:
//! [`PartitionLog::advance_log_start`] writes it (write-to-temp and rename)
//! and returns the paths to fsync, the file first and then its directory.
//! Segments wholly below the new start are deleted.

use crate::io::disk::{join, Disk};

use super::{remove_if_exists, LogError, PartitionLog};

/// The file holding the log start offset of one partition.
pub const LOG_START_FILE: &str = "log-start-offset";

/// What [`PartitionLog::advance_log_start`] did, and what the caller must
/// fsync (in order) before acknowledging it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStartAdvance {
    /// The log start offset after the call (never below what it was).
    pub log_start_offset: i64,
    pub segments_deleted: usize,
    /// The `log-start-offset` file, then the partition directory.
    pub sync_paths: Vec<String>,
}

/// The persisted log start offset, if the file exists and parses.
pub fn read_log_start(disk: &dyn Disk, dir: &str) -> Option<i64> {
    let path = join(dir, LOG_START_FILE);
    let len = disk.file_len(&path).ok()?;
    let bytes = disk.read_at(&path, 0, len.min(64) as usize).ok()?;
    std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
}

impl PartitionLog {
    /// Moves the log start offset up to `offset` (a no-op when it is not
    /// above the current start). The caller checked `offset` ≤ the high
    /// watermark (≤ the log end). Reads below the new start then fail with
    /// OffsetOutOfRange and ListOffsets(earliest) answers it.
    pub fn advance_log_start(&mut self, offset: i64) -> Result<LogStartAdvance, LogError> {
        self.check_online()?;
        let end = self.log_end_offset();
        if offset > end {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start: self.log_start_offset,
                end,
            });
        }
        if offset <= self.log_start_offset {
            return Ok(LogStartAdvance {
                log_start_offset: self.log_start_offset,
                segments_deleted: 0,
                sync_paths: Vec::new(),
            });
        }
        let path = join(&self.dir, LOG_START_FILE);
        if let Err(e) = self
            .disk
            .write_file(&path, format!("{offset}\n").as_bytes())
        {
            return Err(self.fail(&e));
        }
        self.log_start_offset = offset;
        self.durable_end_offset = self.durable_end_offset.max(offset);
        // Segments that end at or below the new start hold nothing readable.
        let active_base = self.active().base_offset;
        let doomed: Vec<i64> = self
            .segments
            .values()
            .filter(|s| s.base_offset != active_base && s.next_offset <= offset)
            .map(|s| s.base_offset)
            .collect();
        for base in &doomed {
            let seg = self.segments.remove(base).expect("listed");
            for p in seg.file_paths() {
                if let Err(e) = remove_if_exists(self.disk.as_ref(), p) {
                    return Err(self.fail(&e));
                }
                self.unsynced_paths.remove(p);
            }
        }
        Ok(LogStartAdvance {
            log_start_offset: offset,
            segments_deleted: doomed.len(),
            sync_paths: vec![path, self.dir.clone()],
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    use super::*;
    use crate::io::sim_disk::{SimDisk, SimDiskFaults};
    use crate::log::record_batch;
    use crate::log::LogConfig;

    /// Appends `count` batches of one 200-byte record each.
    fn append_records(log: &mut PartitionLog, count: usize) {
        for i in 0..count {
            let record = Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: 0,
                sequence: -1,
                timestamp: 1_000 + i as i64,
                key: None,
                value: Some(bytes::Bytes::from(vec![b'v'; 200])),
                headers: Default::default(),
            };
            let mut buf = BytesMut::new();
            RecordBatchEncoder::encode(
                &mut buf,
                &[record],
                &RecordEncodeOptions {
                    version: 2,
                    compression: Compression::None,
                },
            )
            .expect("encodes");
            let mut bytes = buf.to_vec();
            let headers = record_batch::validate_produced(&bytes, 1 << 20).expect("valid");
            log.append(&mut bytes, &headers, 0, 1_000).expect("appends");
        }
    }

    #[test]
    fn advancing_deletes_whole_segments_below_and_persists_the_start() {
        let disk: Arc<SimDisk> = Arc::new(SimDisk::new(7, SimDiskFaults::default()));
        let config = LogConfig {
            segment_bytes: 1024,
            segment_ms: -1,
            retention_ms: -1,
            retention_bytes: -1,
            ..LogConfig::default()
        };
        let (mut log, _) = PartitionLog::open(disk.clone(), "p", config, 0).unwrap();
        append_records(&mut log, 30);
        assert!(log.segment_count() > 3);
        let second_end = log.segments.values().nth(1).unwrap().next_offset;
        let advance = log.advance_log_start(second_end + 1).unwrap();
        assert_eq!(advance.log_start_offset, second_end + 1);
        assert_eq!(advance.segments_deleted, 2);
        assert_eq!(log.log_start_offset(), second_end + 1);
        assert!(matches!(
            log.check_offset(second_end),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert!(log.check_offset(second_end + 1).is_ok());
        assert_eq!(read_log_start(disk.as_ref(), "p"), Some(second_end + 1));
        // Never backwards; never past the log end.
        let again = log.advance_log_start(1).unwrap();
        assert_eq!(again.log_start_offset, second_end + 1);
        assert!(again.sync_paths.is_empty());
        assert!(log.advance_log_start(log.log_end_offset() + 1).is_err());
        // A restart keeps the start inside its segment.
        drop(log);
        let (log, _) = PartitionLog::open(disk.clone(), "p", config, 0).unwrap();
        assert_eq!(log.log_start_offset(), second_end + 1);
    }
}
