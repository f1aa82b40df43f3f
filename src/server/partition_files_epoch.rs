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
use crate::log::recovery::scan_segment;

/// The checkpoint's file name (as the partition handle writes it).
const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";

/// The newest epoch in `dir`'s checkpoint or last segment; `None` if
/// neither names one (a new or empty partition) or cannot be read (the
/// open that follows reports it).
pub fn newest_epoch_on_disk(disk: &dyn Disk, dir: &str) -> Option<i32> {
    let checkpointed = read_checkpoint(disk, &join(dir, LEADER_EPOCH_FILE));
    let logged = last_segment_epoch(disk, dir);
    checkpointed.max(logged)
}

fn read_checkpoint(disk: &dyn Disk, path: &str) -> Option<i32> {
    let len = disk.file_len(path).ok()?;
    let bytes = disk.read_at(path, 0, len as usize).ok()?;
    LeaderEpochCache::decode(&String::from_utf8_lossy(&bytes)).latest_epoch()
}

/// The epoch of the last valid batch of the segment with the highest base
/// offset (a read-only scan; a torn tail simply ends it).
fn last_segment_epoch(disk: &dyn Disk, dir: &str) -> Option<i32> {
    let names = disk.list_dir(dir).ok()?;
    let (base, name) = names
        .iter()
        .filter_map(|name| {
            let base: i64 = name.strip_suffix(".log")?.parse().ok()?;
            Some((base, name))
        })
        .max()?;
    let path = join(dir, name);
    let scan = scan_segment(disk, &path, 0, base, true, i32::MIN..=i32::MAX, false).ok()?;
    scan.batches
        .last()
        .map(|(_, header)| header.partition_leader_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::sim_disk::{SimDisk, SimDiskFaults};

    #[test]
    fn an_empty_or_missing_directory_names_no_epoch() {
        let disk = SimDisk::new(1, SimDiskFaults::default());
        assert_eq!(newest_epoch_on_disk(&disk, "data/t-0"), None);
    }
}
