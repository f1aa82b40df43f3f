//! What the log's crash tests share: open the log, append one record,
//! sync everything.

use std::sync::Arc;

use crate::io::disk::Disk;
use crate::io::sim_disk::SimDisk;
use crate::log::record_batch::{self, test_support::batch};
use crate::log::{LogConfig, PartitionLog};

/// Opens (recovering) the log `t-0` on `disk` with the default config.
pub(crate) fn open(disk: &Arc<SimDisk>) -> PartitionLog {
    let (log, _) = crate::test_support::block_on(PartitionLog::open(
        Arc::clone(disk) as Arc<dyn Disk>,
        "t-0",
        LogConfig::default(),
        1_000,
    ))
    .unwrap();
    log
}

/// Appends one record with `value`; returns its offset.
pub(crate) fn append(log: &mut PartitionLog, value: &[u8]) -> i64 {
    let mut records = batch(&[value], 1_000);
    let headers = record_batch::validate_produced(&records, 1 << 20).unwrap();
    log.append(&mut records, &headers, 0, 1_000)
        .unwrap()
        .base_offset
}

/// Makes every pending write of the log durable, files and directories.
pub(crate) fn sync_all(disk: &SimDisk, log: &mut PartitionLog) {
    let work = log.take_full_sync_work();
    for path in &work.paths {
        disk.sync_now(path).unwrap();
    }
    log.complete_sync(&work);
}
