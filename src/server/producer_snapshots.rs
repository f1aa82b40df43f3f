//! Producer state beside a partition log: `<offset>.snapshot` files holding
//! the idempotent producers' table as of that offset.
//!
//! A snapshot is written with every recovery point (the log is fully synced
//! then, so the snapshot never describes data a crash can lose). On start the
//! newest readable snapshot at or below the recovered log end is loaded and
//! the batch headers after it are replayed; snapshots above the end describe a
//! lost tail and are deleted.

use crate::core::producer_state::snapshot::{parse_snapshot_file_name, snapshot_file_name};
use crate::core::producer_state::ProducerStateTable;
use crate::io::disk::{join, Disk, DiskError};
use crate::log::log_start::SmallFileWrite;
use crate::log::{LogError, PartitionLog};

/// Snapshots kept per partition (the newest ones).
const SNAPSHOTS_KEPT: usize = 2;

fn snapshot_offsets(disk: &dyn Disk, dir: &str) -> Result<Vec<i64>, DiskError> {
    let mut offsets: Vec<i64> = disk
        .list_dir(dir)?
        .iter()
        .filter_map(|n| parse_snapshot_file_name(n))
        .collect();
    offsets.sort_unstable();
    Ok(offsets)
}

/// Rebuilds the producer table of a just-recovered log.
pub fn load(disk: &dyn Disk, log: &PartitionLog) -> Result<ProducerStateTable, LogError> {
    let dir = log.dir();
    let end = log.log_end_offset();
    let mut table = None;
    for offset in snapshot_offsets(disk, dir)?.into_iter().rev() {
        let path = join(dir, &snapshot_file_name(offset));
        let loaded = if offset > end || offset < log.log_start_offset() {
            None
        } else {
            let len = disk.file_len(&path)?;
            ProducerStateTable::load(&disk.read_at(&path, 0, len as usize)?).ok()
        };
        match loaded {
            Some(t) if table.is_none() => {
                crate::coverage::bump(crate::coverage::Counter::ProducerSnapshotsLoaded);
                table = Some(t)
            }
            Some(_) => {}
            None => {
                tracing::info!(
                    path,
                    "dropping a producer snapshot past the log end or unreadable"
                );
                let _ = disk.remove_file(&path);
            }
        }
    }
    let mut table = table.unwrap_or_else(|| ProducerStateTable::new(log.log_start_offset()));
    let from = table.map_end_offset().max(log.log_start_offset());
    let headers = log.batch_headers_from(from)?;
    table.replay(headers.iter());
    Ok(table)
}

/// The durable write of a snapshot of `table` (which must describe the log
/// up to its durable end). Write it with `Disk::write_file_durably`, then
/// call [`remove_old`].
pub fn snapshot_write(dir: &str, table: &ProducerStateTable) -> SmallFileWrite {
    SmallFileWrite {
        path: join(dir, &snapshot_file_name(table.map_end_offset())),
        bytes: table.snapshot(),
        offset: table.map_end_offset(),
    }
}

/// Removes snapshots older than the few kept.
pub fn remove_old(disk: &dyn Disk, dir: &str) -> Result<(), DiskError> {
    let offsets = snapshot_offsets(disk, dir)?;
    if offsets.len() > SNAPSHOTS_KEPT {
        for offset in &offsets[..offsets.len() - SNAPSHOTS_KEPT] {
            let _ = disk.remove_file(&join(dir, &snapshot_file_name(*offset)));
        }
    }
    Ok(())
}
