//! Deleting the segments below a durable log start unlinks their files
//! without syncing the directory, so a crash may make any subset of those
//! removals durable: a hole can open among the doomed segments. That hole
//! lies below the log start and is no break in the log: recovery must keep
//! the segments after it, which hold acknowledged records (seed 376).

use std::sync::Arc;

use crate::io::disk::Disk;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::log::crash_test_support::{append, open, sync_all};
use crate::log::record_batch;

fn segment_log(base: i64) -> String {
    format!("t-0/{base:020}.log")
}

#[test]
fn a_crash_that_persists_some_segment_deletions_keeps_the_records_past_the_start() {
    let mut holes = 0;
    for seed in 0..32 {
        let disk = Arc::new(SimDisk::new(
            seed,
            SimDiskFaults {
                crash_dir_entry_persist_probability: 0.5,
                ..SimDiskFaults::default()
            },
        ));
        let mut log = open(&disk);
        // Segments 0, 1, 2 and 3 (holding 3 and 4), all durable.
        for offset in 0..3 {
            assert_eq!(append(&mut log, b"deleted"), offset);
            log.roll(1_000);
        }
        assert_eq!(append(&mut log, b"deleted"), 3);
        assert_eq!(append(&mut log, b"acked"), 4);
        sync_all(&disk, &mut log);
        // DeleteRecords up to 4: the start is durable, segments 0..=2 are
        // unlinked, the directory not synced yet; then the power goes.
        assert!(log.advance_log_start_offset(4).unwrap());
        let write = log.pending_log_start_write().unwrap();
        crate::test_support::block_on(disk.write_file_durably(&write.path, &write.bytes)).unwrap();
        assert_eq!(log.complete_log_start_write(&write).unwrap(), 3);
        drop(log);
        disk.crash();
        let (kept, gone) = (0..3).partition::<Vec<i64>, _>(|b| disk.exists(&segment_log(*b)));
        if kept.iter().any(|k| gone.iter().any(|g| g > k)) {
            holes += 1;
        }
        let log = open(&disk);
        assert_eq!(log.log_start_offset(), 4, "seed {seed}");
        assert_eq!(log.log_end_offset(), 5, "seed {seed}: kept {kept:?}");
        let bytes = log.read(4, 1 << 20, 5).unwrap();
        let (_, header) = record_batch::headers(&bytes).next().unwrap();
        assert_eq!(header.base_offset, 4);
    }
    assert!(
        holes > 0,
        "some seed leaves a hole among the deleted segments"
    );
}
