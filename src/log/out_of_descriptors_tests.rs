//! Running out of file descriptors fails the operation, never the log: an
//! open that fails with EMFILE wrote nothing and synced nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::io::disk::{Disk, DiskError, DiskResult, SyncFuture};
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::log::record_batch::{self, test_support::batch};
use crate::log::{LogConfig, PartitionLog};

/// A perfect disk whose appends and syncs fail with `TooManyOpenFiles`
/// while `exhausted` is set, as the real disk does when an open gets EMFILE.
struct ExhaustedDisk {
    inner: SimDisk,
    exhausted: AtomicBool,
}

impl ExhaustedDisk {
    fn check(&self, path: &str) -> DiskResult<()> {
        if self.exhausted.load(Ordering::SeqCst) {
            return Err(DiskError::TooManyOpenFiles {
                path: path.to_string(),
            });
        }
        Ok(())
    }
}

impl Disk for ExhaustedDisk {
    fn create_dir_all(&self, dir: &str) -> DiskResult<()> {
        self.inner.create_dir_all(dir)
    }
    fn list_dir(&self, dir: &str) -> DiskResult<Vec<String>> {
        self.inner.list_dir(dir)
    }
    fn exists(&self, path: &str) -> bool {
        self.inner.exists(path)
    }
    fn file_len(&self, path: &str) -> DiskResult<u64> {
        self.inner.file_len(path)
    }
    fn read_at(&self, path: &str, offset: u64, len: usize) -> DiskResult<Vec<u8>> {
        self.inner.read_at(path, offset, len)
    }
    fn append(&self, path: &str, data: &[u8]) -> DiskResult<()> {
        self.check(path)?;
        self.inner.append(path, data)
    }
    fn truncate(&self, path: &str, len: u64) -> DiskResult<()> {
        self.check(path)?;
        self.inner.truncate(path, len)
    }
    fn write_file_unsynced(&self, path: &str, data: &[u8]) -> DiskResult<()> {
        self.inner.write_file_unsynced(path, data)
    }
    fn write_file_durably(&self, path: &str, data: &[u8]) -> SyncFuture {
        self.inner.write_file_durably(path, data)
    }
    fn remove_file(&self, path: &str) -> DiskResult<()> {
        self.inner.remove_file(path)
    }
    fn remove_dir_all(&self, dir: &str) -> DiskResult<()> {
        self.inner.remove_dir_all(dir)
    }
    fn rename(&self, from: &str, to: &str) -> DiskResult<()> {
        self.inner.rename(from, to)
    }
    fn sync(&self, path: &str) -> SyncFuture {
        self.inner.sync(path)
    }
}

fn append(log: &mut PartitionLog, value: &[u8]) -> Result<i64, crate::log::LogError> {
    let mut records = batch(&[value], 1_000);
    let headers = record_batch::validate_produced(&records, 1 << 20).unwrap();
    log.append(&mut records, &headers, 0, 1_000)
        .map(|info| info.base_offset)
}

#[test]
fn an_append_that_cannot_open_its_file_fails_alone() {
    let disk = Arc::new(ExhaustedDisk {
        inner: SimDisk::new(1, SimDiskFaults::default()),
        exhausted: AtomicBool::new(false),
    });
    let (mut log, _) = crate::test_support::block_on(PartitionLog::open(
        disk.clone(),
        "t-0",
        LogConfig::default(),
        1_000,
    ))
    .unwrap();
    assert_eq!(append(&mut log, b"a").unwrap(), 0);
    disk.exhausted.store(true, Ordering::SeqCst);
    assert!(append(&mut log, b"b").is_err());
    assert!(!log.is_offline(), "EMFILE must not take the log offline");
    assert_eq!(log.log_end_offset(), 1);
    disk.exhausted.store(false, Ordering::SeqCst);
    assert_eq!(append(&mut log, b"c").unwrap(), 1);
}

#[test]
fn a_sync_that_cannot_open_its_file_is_retried_later() {
    let disk = Arc::new(ExhaustedDisk {
        inner: SimDisk::new(2, SimDiskFaults::default()),
        exhausted: AtomicBool::new(false),
    });
    let (mut log, _) = crate::test_support::block_on(PartitionLog::open(
        disk.clone(),
        "t-0",
        LogConfig::default(),
        1_000,
    ))
    .unwrap();
    append(&mut log, b"a").unwrap();
    let work = log.take_sync_work();
    assert!(!work.paths.is_empty());
    log.sync_failed(
        &DiskError::TooManyOpenFiles {
            path: work.paths[0].clone(),
        },
        &work,
    );
    assert!(!log.is_offline());
    assert_eq!(log.durable_end_offset(), 0);
    // The next sync takes the same files again.
    let again = log.take_sync_work();
    for path in &work.paths {
        assert!(again.paths.contains(path), "{path} is synced again");
    }
}
