//! A failed fsync is never retried into success: the kernel may have marked
//! the failed pages clean (fsyncgate), so the log cuts itself back to its
//! durable end and goes offline; a restart (which keeps the page cache)
//! then finds only what is really on the device, and no offset served
//! after the restart can vanish at a later crash.

use std::sync::Arc;

use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::log::crash_test_support::{append, open};
use crate::log::record_batch;
use crate::log::PartitionLog;

/// Syncs a log's pending work; the error if a sync failed.
fn sync(disk: &SimDisk, log: &mut PartitionLog) -> Result<(), crate::io::disk::DiskError> {
    let work = log.take_sync_work();
    for path in &work.paths {
        if let Err(e) = disk.sync_now(path) {
            log.sync_failed(&e, &work);
            return Err(e);
        }
    }
    log.complete_sync(&work);
    Ok(())
}

#[test]
fn a_failed_sync_cuts_the_log_to_its_durable_end_and_takes_it_offline() {
    let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
    let mut log = open(&disk);
    assert_eq!(append(&mut log, b"acked"), 0);
    sync(&disk, &mut log).unwrap();
    assert_eq!(append(&mut log, b"unacked"), 1);
    disk.set_faults(SimDiskFaults {
        sync_eio_probability: 1.0,
        sync_eio_drop_probability: 1.0,
        ..SimDiskFaults::default()
    });
    assert!(sync(&disk, &mut log).is_err());
    assert!(log.is_offline());
    assert_eq!(log.log_end_offset(), 1, "cut back to the durable end");
    disk.set_faults(SimDiskFaults::default());
    // The process restarts (page cache kept), serves, takes new writes that
    // are acknowledged as durable; then the power goes.
    drop(log);
    let mut log = open(&disk);
    assert_eq!(log.log_end_offset(), 1, "the dropped pages are not served");
    assert_eq!(append(&mut log, b"acked after restart"), 1);
    sync(&disk, &mut log).unwrap();
    disk.crash();
    let log = open(&disk);
    assert_eq!(
        log.log_end_offset(),
        2,
        "every acknowledged record survives"
    );
    let bytes = log.read(1, 1 << 20, 2).unwrap();
    let (_, header) = record_batch::headers(&bytes).next().unwrap();
    assert_eq!(header.base_offset, 1);
}

/// The sync that makes recovery's view durable at open fails the same way:
/// the previous process's unsynced tail (still in the page cache after a
/// kill) is marked clean without reaching the device. That open fails, but
/// the next one must not find those bytes, sync them "successfully" and
/// serve them: recovery copies what it cannot vouch for (past the recovery
/// point) into a fresh file before the open syncs it.
#[test]
fn a_failed_sync_at_open_never_lets_a_later_open_serve_the_dropped_pages() {
    let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
    let mut log = open(&disk);
    assert_eq!(append(&mut log, b"served"), 0);
    sync(&disk, &mut log).unwrap();
    assert_eq!(append(&mut log, b"never synced"), 1);
    // kill -9: the page cache keeps offset 1, dirty.
    drop(log);
    // The next open recovers both records; syncing its work as
    // `PartitionHandle::open` does, the data file's fsync fails and its
    // dirty pages are dropped. The open fails.
    let mut log = open(&disk);
    assert_eq!(log.log_end_offset(), 2);
    let work = log.take_full_sync_work();
    let data_file = work
        .paths
        .iter()
        .find(|p| p.ends_with(".log"))
        .expect("the segment's data file is synced")
        .clone();
    disk.set_faults(SimDiskFaults {
        sync_eio_probability: 1.0,
        sync_eio_drop_probability: 1.0,
        ..SimDiskFaults::default()
    });
    assert!(disk.sync_now(&data_file).is_err());
    disk.set_faults(SimDiskFaults::default());
    drop(log);
    // A later open succeeds and serves what it synced; then the power goes.
    let mut log = open(&disk);
    let work = log.take_full_sync_work();
    for path in &work.paths {
        disk.sync_now(path).unwrap();
    }
    log.complete_sync(&work);
    let served_end = log.durable_end_offset();
    drop(log);
    disk.crash();
    let log = open(&disk);
    assert!(
        log.log_end_offset() >= served_end,
        "served up to {served_end}, but only {} survived",
        log.log_end_offset()
    );
}

/// Recovery's copy replaces a segment by a rename, and the open makes the
/// rename durable before it returns: a crash right after the open (before
/// anything else syncs the directory) keeps the copy, never the original
/// file, whose tail was only in the page cache. Relying on a later
/// directory sync lost acknowledged records in the simulator (seed 471).
#[test]
fn recovery_copies_are_durable_under_their_names_when_the_open_returns() {
    let disk = Arc::new(SimDisk::new(3, SimDiskFaults::default()));
    let mut log = open(&disk);
    assert_eq!(append(&mut log, b"synced"), 0);
    sync(&disk, &mut log).unwrap();
    assert_eq!(append(&mut log, b"in the page cache"), 1);
    drop(log); // kill -9: offset 1 is recovered from the page cache
    let log = open(&disk);
    assert_eq!(log.log_end_offset(), 2);
    drop(log);
    disk.crash(); // default faults: unsynced data and name changes are lost
    let log = open(&disk);
    assert_eq!(log.log_end_offset(), 2, "the copy recovery synced survives");
}
