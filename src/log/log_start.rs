//! The durable log start offset of a partition: `<dir>/log-start-offset`,
//! one decimal offset (Kafka keeps the same fact in its data directory's
//! `log-start-offset-checkpoint`).
//!
//! Why it must be durable: retention and DeleteRecords move the start past
//! records that then disappear. Without the file, a log whose every segment
//! was deleted would reopen at offset 0 and hand out offsets consumers have
//! already seen. So the rule is: the new start is written durably *before*
//! any segment below it is deleted ([`crate::log::PartitionLog`] keeps those
//! segments until [`crate::log::PartitionLog::complete_log_start_write`]),
//! and recovery never opens a log that ends below it.

use crate::io::disk::{join, Disk, DiskError};

pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";

/// A small file to replace durably (`Disk::write_file_durably`) before the
/// log is told it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmallFileWrite {
    pub path: String,
    pub bytes: Vec<u8>,
    /// The offset the file holds.
    pub offset: i64,
}

pub fn path(dir: &str) -> String {
    join(dir, LOG_START_OFFSET_FILE)
}

/// The write that records `offset` as the log start.
pub fn write_of(dir: &str, offset: i64) -> SmallFileWrite {
    assert!(offset >= 0, "a log start offset is never negative");
    SmallFileWrite {
        path: path(dir),
        bytes: format!("{offset}\n").into_bytes(),
        offset,
    }
}

/// The checkpointed start, 0 if there is none. A file that reads but does
/// not parse counts as none: it is only ever replaced whole, so it is
/// unparsable only if the disk lost synced data, and 0 is what the log had
/// before. A file that cannot be read (EIO) is an error: guessing 0 could
/// reuse offsets below the real start.
pub fn read(disk: &dyn Disk, dir: &str) -> Result<i64, DiskError> {
    let bytes = match disk.read_at(&path(dir), 0, 32) {
        Ok(bytes) => bytes,
        Err(DiskError::NotFound { .. }) => return Ok(0),
        Err(e) => return Err(e),
    };
    Ok(std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|o: &i64| *o >= 0)
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::io::sim_disk::{SimDisk, SimDiskFaults};
    use crate::log::batch_builder::uncompressed_batch;
    use crate::log::record_batch::validate_produced;
    use crate::log::segment::log_file_name;
    use crate::log::{LogConfig, LogError, PartitionLog};

    const DIR: &str = "data/t-0";
    const HOUR_MS: i64 = 3_600_000;
    const NOW_MS: i64 = 1_700_000_000_000;

    fn config() -> LogConfig {
        LogConfig {
            segment_bytes: 400,
            segment_ms: -1,
            index_interval_bytes: 64,
            retention_ms: HOUR_MS,
            retention_bytes: -1,
            ..LogConfig::default()
        }
    }

    struct Node {
        runtime: tokio::runtime::Runtime,
        disk: Arc<SimDisk>,
        log: Option<PartitionLog>,
    }

    impl Node {
        fn new() -> Node {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let disk = Arc::new(SimDisk::new(3, SimDiskFaults::default()));
            let mut node = Node {
                runtime,
                disk,
                log: None,
            };
            node.reopen();
            node
        }

        fn log(&mut self) -> &mut PartitionLog {
            self.log.as_mut().unwrap()
        }

        fn reopen(&mut self) {
            self.log = None;
            let disk = Arc::clone(&self.disk) as Arc<dyn Disk>;
            let (log, _) = self
                .runtime
                .block_on(PartitionLog::open(disk, DIR, config(), NOW_MS))
                .unwrap();
            self.log = Some(log);
        }

        fn crash(&mut self) {
            self.log = None;
            self.disk.crash();
            self.reopen();
        }

        /// Appends `count` one-record batches stamped `timestamp_ms`;
        /// returns the offset of the first.
        fn append(&mut self, count: usize, timestamp_ms: i64) -> i64 {
            let mut first = None;
            for i in 0..count {
                let value = Bytes::from(format!("record {i} {}", "v".repeat(60)));
                let mut batch = uncompressed_batch(&[(None, Some(value))], timestamp_ms, 0);
                let headers = validate_produced(&batch, 1 << 20).unwrap();
                let info = self.log().append(&mut batch, &headers, 0, NOW_MS).unwrap();
                first.get_or_insert(info.base_offset);
            }
            first.unwrap()
        }

        /// A full sync, as before a recovery point.
        fn sync(&mut self) {
            let work = self.log().take_full_sync_work();
            for path in &work.paths {
                match self.disk.sync_now(path) {
                    Ok(()) | Err(crate::io::disk::DiskError::NotFound { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            self.log().complete_sync(&work);
        }

        /// Writes the moved start durably; `delete` then lets the log
        /// delete the segments below it (what the server does).
        fn persist_start(&mut self, delete: bool) {
            let write = self
                .log()
                .pending_log_start_write()
                .expect("the start moved");
            self.runtime
                .block_on(self.disk.write_file_durably(&write.path, &write.bytes))
                .unwrap();
            if delete {
                self.log().complete_log_start_write(&write).unwrap();
            }
        }

        fn offsets(&mut self) -> (i64, i64) {
            let log = self.log();
            (log.log_start_offset(), log.log_end_offset())
        }
    }

    /// Issue 10, item 3: time retention empties the log, the node restarts,
    /// and the next record must not reuse an offset consumers already saw.
    #[test]
    fn a_log_emptied_by_retention_continues_after_its_last_offset() {
        let mut node = Node::new();
        node.append(20, NOW_MS - 3 * HOUR_MS);
        node.sync();
        assert!(
            node.disk.list_dir(DIR).unwrap().len() > 3,
            "several segments"
        );
        assert!(node.log().apply_retention(NOW_MS, i64::MAX).unwrap() > 0);
        assert_eq!(node.offsets(), (20, 20));
        node.persist_start(true);
        node.sync();
        // Every segment file is gone; only the start says where the log is.
        node.reopen();
        assert_eq!(node.offsets(), (20, 20));
        assert_eq!(node.append(1, NOW_MS), 20);
        // And again after a power loss.
        node.sync();
        node.crash();
        assert_eq!(node.offsets(), (20, 21));
    }

    /// Retention deletes only segments wholly below the high watermark
    /// (Kafka's `deletableSegments`): a follower in the ISR may still need
    /// the rest, and the log start must never pass the high watermark.
    #[test]
    fn retention_stops_at_the_high_watermark() {
        let mut node = Node::new();
        node.append(20, NOW_MS - 3 * HOUR_MS);
        node.sync();
        assert_eq!(node.log().apply_retention(NOW_MS, 0).unwrap(), 0);
        assert_eq!(node.offsets(), (0, 20));
        assert!(node.log().apply_retention(NOW_MS, 7).unwrap() > 0);
        let (start, end) = node.offsets();
        assert!(start > 0 && start <= 7 && end == 20, "start {start}");
    }

    /// An expired active segment is rolled only once the high watermark
    /// covers it: a follower still fetching from it keeps one segment, and
    /// retention rolls and deletes it on a later pass.
    #[test]
    fn an_expired_active_segment_rolls_only_below_the_high_watermark() {
        let mut node = Node::new();
        node.append(2, NOW_MS - 3 * HOUR_MS);
        node.sync();
        assert_eq!(node.log().segment_count(), 1);
        assert_eq!(node.log().apply_retention(NOW_MS, 1).unwrap(), 0);
        assert_eq!(
            node.log().segment_count(),
            1,
            "rolled above the high watermark"
        );
        assert_eq!(node.log().apply_retention(NOW_MS, 2).unwrap(), 1);
        assert_eq!(node.offsets(), (2, 2));
    }

    /// A truncation that fails part way (write EIO) takes the log offline
    /// and leaves it claiming nothing durable past what it still holds: a
    /// sync completing afterwards must not find its durable end past its end.
    #[test]
    fn a_truncation_failing_part_way_takes_the_log_offline() {
        let mut node = Node::new();
        node.append(20, NOW_MS);
        node.sync();
        let faults = SimDiskFaults {
            write_eio_probability: 1.0,
            ..SimDiskFaults::default()
        };
        node.disk.set_faults(faults);
        assert!(node.log().truncate_to(5).is_err());
        let log = node.log();
        assert!(log.durable_end_offset() <= log.log_end_offset());
        let work = log.take_sync_work();
        log.complete_sync(&work);
        assert!(log.durable_end_offset() <= log.log_end_offset());
        assert!(matches!(log.truncate_to(3), Err(LogError::Offline { .. })));
    }

    /// A crash after the start is durable but before the deletions are:
    /// the old segments are back, and recovery finishes their deletion.
    #[test]
    fn segments_below_a_durable_start_are_deleted_at_open() {
        let mut node = Node::new();
        node.append(20, NOW_MS - 3 * HOUR_MS);
        node.append(5, NOW_MS);
        node.sync();
        assert!(node.log().apply_retention(NOW_MS, i64::MAX).unwrap() > 0);
        let (start, end) = node.offsets();
        assert!(start > 0 && start <= 20 && end == 25);
        node.persist_start(false);
        node.crash();
        assert_eq!(node.offsets(), (start, 25));
        let first_file = node.disk.list_dir(DIR).unwrap()[0].clone();
        assert_eq!(first_file, log_file_name(start).replace(".log", ".index"));
        assert!(node.log().read(start - 1, 1 << 20, i64::MAX).is_err());
    }

    /// Segment files that vanished (deleted by hand, or lost) never take
    /// the log below its durable start.
    #[test]
    fn a_log_whose_files_vanished_opens_at_its_durable_start() {
        let mut node = Node::new();
        node.append(10, NOW_MS);
        node.sync();
        assert!(node.log().advance_log_start_offset(4).unwrap());
        node.persist_start(true);
        node.log = None;
        for name in node.disk.list_dir(DIR).unwrap() {
            if name.ends_with(".log") || name.ends_with("index") {
                node.disk.remove_file(&join(DIR, &name)).unwrap();
            }
        }
        node.reopen();
        assert_eq!(node.offsets(), (4, 4));
        assert_eq!(node.append(1, NOW_MS), 4);
    }

    /// A start inside a segment (DeleteRecords) survives a restart, and the
    /// records below it are not served.
    #[test]
    fn a_start_inside_a_segment_survives_a_crash() {
        let mut node = Node::new();
        node.append(3, NOW_MS);
        node.sync();
        assert!(node.log().advance_log_start_offset(2).unwrap());
        assert!(
            !node.log().advance_log_start_offset(1).unwrap(),
            "never back"
        );
        node.persist_start(true);
        node.crash();
        assert_eq!(node.offsets(), (2, 3));
        assert!(matches!(
            node.log().read(1, 1 << 20, i64::MAX),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert!(!node.log().read(2, 1 << 20, i64::MAX).unwrap().is_empty());
        assert!(matches!(
            node.log().advance_log_start_offset(4),
            Err(LogError::OffsetOutOfRange { .. })
        ));
    }

    #[test]
    fn the_file_round_trips_and_garbage_reads_as_zero() {
        let disk = SimDisk::new(1, SimDiskFaults::default());
        disk.create_dir_all(DIR).unwrap();
        assert_eq!(read(&disk, DIR), Ok(0));
        let write = write_of(DIR, 42);
        disk.write_file_unsynced(&write.path, &write.bytes).unwrap();
        assert_eq!(read(&disk, DIR), Ok(42));
        disk.write_file_unsynced(&write.path, b"-3\n").unwrap();
        assert_eq!(read(&disk, DIR), Ok(0));
        // A file that cannot be read is not "no start": never guess 0.
        disk.set_faults(SimDiskFaults {
            read_eio_probability: 1.0,
            ..SimDiskFaults::default()
        });
        assert!(matches!(read(&disk, DIR), Err(DiskError::Io { .. })));
    }
}
