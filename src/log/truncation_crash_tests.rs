//! A follower's truncation changes files the recovery point may vouch for:
//! it shortens a segment, deletes the later ones and appends the leader's
//! records after the cut, all in the page cache. A power loss can keep any
//! mix of those changes (the kernel writes back a shortened file or new
//! pages whenever it likes, and an unsynced unlink may be undone). Recovery
//! must then find the log as it was before the cut or as it was after it,
//! never a mix: a point still above the cut would vouch for the changed
//! segment, and a deleted segment back after it would put records of an
//! older leader epoch after the new leader's (seed 27 of `sim/run.sh
//! --cluster 3 --fsync-never --correlated-crashes`).

use std::sync::Arc;

use crate::io::disk::Disk;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::log::crash_test_support::{open, sync_all};
use crate::log::record_batch::{self, test_support::batch};
use crate::log::PartitionLog;

fn append(log: &mut PartitionLog, value: &[u8], leader_epoch: i32) -> i64 {
    let mut records = batch(&[value], 1_000);
    let headers = record_batch::validate_produced(&records, 1 << 20).unwrap();
    log.append(&mut records, &headers, leader_epoch, 1_000)
        .unwrap()
        .base_offset
}

fn write_durably(disk: &SimDisk, write: &crate::log::log_start::SmallFileWrite) {
    crate::test_support::block_on(disk.write_file_durably(&write.path, &write.bytes)).unwrap();
}

/// Segments 0 (offsets 0, 1), 2 (2, 3) and 4 (4, 5) of leader epoch 1,
/// synced, with a recovery point at 6 vouching for the first two.
fn checkpointed_log(disk: &Arc<SimDisk>) -> PartitionLog {
    let mut log = open(disk);
    for offset in 0..6 {
        if offset > 0 && offset % 2 == 0 {
            log.roll(1_000);
        }
        assert_eq!(append(&mut log, b"epoch 1", 1), offset);
    }
    sync_all(disk, &mut log);
    write_durably(disk, &log.recovery_point_write());
    log
}

/// The new leader (epoch 2) has offsets 0..=2 and its own record at 3: the
/// follower cuts at 3 and appends it, lowering the point first as the
/// partition driver does. Then the power goes, keeping every unsynced byte
/// and undoing every unsynced directory change: segment 4 is back.
#[test]
fn a_crash_after_a_truncation_never_mixes_the_old_log_and_the_new_one() {
    let disk = Arc::new(SimDisk::new(
        1,
        SimDiskFaults {
            crash_writeback_probability: 1.0,
            crash_dir_entry_persist_probability: 0.0,
            ..SimDiskFaults::default()
        },
    ));
    let mut log = checkpointed_log(&disk);
    let lowering = log
        .recovery_point_lowering(3)
        .unwrap()
        .expect("the point is above the cut");
    write_durably(&disk, &lowering);
    log.truncate_to(3).unwrap();
    assert_eq!(append(&mut log, b"epoch 2", 2), 3);
    drop(log);
    disk.crash();
    assert!(
        disk.exists("t-0/00000000000000000004.log"),
        "the unlink was undone"
    );

    let log = open(&disk);
    assert_eq!(
        log.log_end_offset(),
        4,
        "epoch 1's offsets 4 and 5 came back"
    );
    let bytes = log.read(3, 1 << 20, 4).unwrap();
    let (_, header) = record_batch::headers(&bytes).next().unwrap();
    assert_eq!((header.base_offset, header.partition_leader_epoch), (3, 2));
}

/// Without the lowering, the point at 6 still vouches for segment 2 after
/// the crash: this is what the driver's lowering is for.
#[test]
fn a_truncation_lowers_the_recovery_point_only_when_it_is_above_the_cut() {
    let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
    let log = checkpointed_log(&disk);
    assert!(log.recovery_point_lowering(6).unwrap().is_none());
    let lowering = log.recovery_point_lowering(3).unwrap().unwrap();
    assert_eq!(lowering.bytes, b"3\n");
}
