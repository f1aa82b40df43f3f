//! The newest leader epoch a partition's files on this node have seen: the
//! leader-epoch checkpoint's latest epoch and the last segment's batches.
//!
//! A cluster node that restarts replays its committed metadata entry by
//! entry, so its image passes through history. A partition opened from a
//! historic image would take its files' newer epochs for damage (log
//! recovery cuts batches "from the future", the checkpoint is refused) and
//! lose synced, acknowledged records: found by the simulator (`sim/run.sh
//! --cluster 3 --seed 3`). The broker asks this first, read-only, and opens
//! the partition only once the image has caught up with its files.

use crate::core::partition::leader_epoch_cache::LeaderEpochCache;
use crate::io::disk::{join, Disk};
use crate::log::partition_log::read_recovery_point;
use crate::log::recovery::scan_segment;

/// The checkpoint's file name (as the partition handle writes it).
const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";

/// The newest epoch in `dir`'s checkpoint or in the segments an open's
/// recovery scans; `None` if none names one (a new or empty partition) or
/// cannot be read (the open that follows reports it).
pub fn newest_epoch_on_disk(disk: &dyn Disk, dir: &str) -> Option<i32> {
    let checkpointed = read_checkpoint(disk, &join(dir, LEADER_EPOCH_FILE));
    let logged = scanned_segments_epoch(disk, dir);
    checkpointed.max(logged)
}

fn read_checkpoint(disk: &dyn Disk, path: &str) -> Option<i32> {
    let len = disk.file_len(path).ok()?;
    let bytes = disk.read_at(path, 0, len as usize).ok()?;
    LeaderEpochCache::decode(&String::from_utf8_lossy(&bytes)).latest_epoch()
}

/// The largest epoch of the valid batches in the segments recovery scans
/// (from the one holding the recovery point on; read-only, a torn tail
/// simply ends a segment). Recovery gives the epoch cache each newer epoch
/// it scans (Kafka's `LogSegment.recover`), so an epoch a power loss
/// flipped into the future in any of them, not only in the last segment's
/// last batch, must keep the open waiting until it can recover up to the
/// image's epoch: opened early, the flipped epoch reached the cache and its
/// checkpoint, and the replica refused every role after (`--cluster 3
/// --fsync-never --correlated-crashes --seed 136`).
fn scanned_segments_epoch(disk: &dyn Disk, dir: &str) -> Option<i32> {
    let names = disk.list_dir(dir).ok()?;
    let mut bases: Vec<(i64, &String)> = names
        .iter()
        .filter_map(|name| {
            let base: i64 = name.strip_suffix(".log")?.parse().ok()?;
            Some((base, name))
        })
        .collect();
    bases.sort_unstable();
    let point = read_recovery_point(disk, dir).unwrap_or(0);
    let first = bases.iter().rposition(|(b, _)| *b < point).unwrap_or(0);
    bases
        .get(first..)?
        .iter()
        .filter_map(|(base, name)| {
            let path = join(dir, name);
            let scan =
                scan_segment(disk, &path, 0, *base, true, i32::MIN..=i32::MAX, false).ok()?;
            scan.batches
                .iter()
                .map(|(_, header)| header.partition_leader_epoch)
                .max()
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::sim_disk::{SimDisk, SimDiskFaults};
    use kafka_protocol::records::Compression;

    #[test]
    fn an_empty_or_missing_directory_names_no_epoch() {
        let disk = SimDisk::new(1, SimDiskFaults::default());
        assert_eq!(newest_epoch_on_disk(&disk, "data/t-0"), None);
    }

    /// One record at `offset` stamped with `epoch`.
    fn batch(offset: i64, epoch: i32) -> Vec<u8> {
        use crate::log::compaction_batch::test_support::keyed_batch;
        let kvs = [(Some(b"k".to_vec()), Some(b"v".to_vec()), 1_000)];
        let mut bytes = keyed_batch(offset, &kvs, Compression::None, (-1, -1, -1));
        crate::log::record_batch::patch_leader_epoch(&mut bytes, epoch);
        bytes
    }

    /// A flipped epoch in a batch before the last segment counts: recovery
    /// scans that segment and would give its epoch to the cache (seed 136
    /// of `--cluster 3 --fsync-never --correlated-crashes` opened early,
    /// on the last segment's epoch 0, and took epoch 16777216 in).
    #[test]
    fn an_epoch_in_any_scanned_segment_counts_not_only_the_last_batch() {
        let disk = SimDisk::new(1, SimDiskFaults::default());
        disk.create_dir_all("data/t-0").unwrap();
        let first = [batch(0, 0), batch(1, 1 << 24)].concat();
        disk.write_file_unsynced("data/t-0/00000000000000000000.log", &first)
            .unwrap();
        disk.write_file_unsynced("data/t-0/00000000000000000002.log", &batch(2, 0))
            .unwrap();
        assert_eq!(newest_epoch_on_disk(&disk, "data/t-0"), Some(1 << 24));
        // Below the recovery point the segment was synced, its epochs
        // checkpointed first: only the segments from the point's on count.
        disk.write_file_unsynced("data/t-0/recovery-point", b"2\n")
            .unwrap();
        assert_eq!(newest_epoch_on_disk(&disk, "data/t-0"), Some(1 << 24));
        disk.write_file_unsynced("data/t-0/recovery-point", b"3\n")
            .unwrap();
        assert_eq!(newest_epoch_on_disk(&disk, "data/t-0"), Some(0));
    }
}
