//! The data directory's clean-shutdown marker (Kafka's
//! `.kafka_cleanshutdown`, whose broker epoch KIP-966 sends as
//! PreviousBrokerEpoch): written durably as the last step of a clean stop,
//! after every partition was synced, and taken (removed, durably) at start
//! before anything is written. A node that registers without having found
//! it may have lost records it had not synced (`fsync.policy=never`), so the
//! controller takes it out of every ISR and ELR
//! (`core/partition_leadership.rs`).
//!
//! The removal is durable before the first write of the new process: a
//! crash later must never find a marker left by an earlier clean stop.

use crate::io::disk::{join, Disk, DiskError};

/// The marker's name in the data directory (a dot: never a partition
/// directory's name).
pub const CLEAN_SHUTDOWN_FILE: &str = ".clean_shutdown";

/// Whether the previous process stopped cleanly; removes the marker, and
/// returns only once its removal is durable.
pub async fn take(disk: &dyn Disk, data_dir: &str) -> Result<bool, DiskError> {
    let path = join(data_dir, CLEAN_SHUTDOWN_FILE);
    if !disk.exists(&path) {
        return Ok(false);
    }
    disk.remove_file(&path)?;
    disk.sync(data_dir).await?;
    Ok(true)
}

/// Marks the stop as clean: call only once every partition is synced.
pub async fn mark(disk: &dyn Disk, data_dir: &str) -> Result<(), DiskError> {
    disk.write_file_durably(&join(data_dir, CLEAN_SHUTDOWN_FILE), b"clean\n")
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::sim_disk::{SimDisk, SimDiskFaults};

    #[tokio::test]
    async fn the_marker_is_found_once_and_only_after_a_clean_stop() {
        let disk = SimDisk::new(7, SimDiskFaults::default());
        disk.create_dir_all("data").unwrap();
        assert!(!take(&disk, "data").await.unwrap(), "a new directory");
        mark(&disk, "data").await.unwrap();
        assert!(take(&disk, "data").await.unwrap());
        assert!(!take(&disk, "data").await.unwrap(), "taken: gone");
    }

    #[tokio::test]
    async fn a_crash_after_the_take_does_not_bring_the_marker_back() {
        let disk = SimDisk::new(7, SimDiskFaults::default());
        disk.create_dir_all("data").unwrap();
        disk.sync("data").await.unwrap();
        mark(&disk, "data").await.unwrap();
        assert!(take(&disk, "data").await.unwrap());
        disk.crash();
        assert!(!take(&disk, "data").await.unwrap());
    }
}
