//! The data directory's `replication-offset-checkpoint`: every hosted
//! partition's high watermark, written as Kafka's `ReplicaManager`
//! (`checkpointHighWatermarks`) writes it — every
//! `replica.high.watermark.checkpoint.interval.ms` and at shutdown, the whole
//! file replaced durably (temporary file, fsync, rename, directory fsync) —
//! and read once at start, before the partitions open. The format and why it
//! exists: `core/partition/high_watermark_checkpoint.rs`.
//!
//! Failures follow Kafka, which takes the log directory offline on either:
//! a file that cannot be read or parsed stops the node at start, and a
//! failed write stops it (`storage_failed`), as with one data directory
//! Kafka stops.

use std::sync::Arc;
use std::time::Duration;

use crate::core::partition::high_watermark_checkpoint::{
    decode, encode, HighWatermarks, HIGH_WATERMARK_CHECKPOINT_FILE,
};
use crate::coverage::{self, Counter};
use crate::io::disk::{join, Disk, DiskError};
use crate::server::broker::Broker;

pub fn path(data_dir: &str) -> String {
    join(data_dir, HIGH_WATERMARK_CHECKPOINT_FILE)
}

/// The checkpointed high watermarks; none when the file does not exist (a
/// new data directory, or one from before the file).
pub fn load(disk: &dyn Disk, data_dir: &str) -> Result<HighWatermarks, String> {
    let path = path(data_dir);
    let len = match disk.file_len(&path) {
        Ok(len) => len,
        Err(DiskError::NotFound { .. }) => return Ok(HighWatermarks::new()),
        Err(e) => return Err(format!("cannot read {path}: {e}")),
    };
    let bytes = disk
        .read_at(&path, 0, len as usize)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        format!("{path} is damaged: not UTF-8 text (remove it to start from the log ends)")
    })?;
    decode(text)
        .map_err(|e| format!("{path} is damaged: {e} (remove it to start from the log ends)"))
}

/// Writes the high watermark of every partition that still serves.
pub async fn write(broker: &Broker) -> Result<(), DiskError> {
    let high_watermarks: HighWatermarks = broker
        .all_partitions()
        .iter()
        .filter(|h| !h.has_failed())
        .map(|h| ((h.topic.clone(), h.partition), h.high_watermark()))
        .collect();
    broker
        .disk()
        .write_file_durably(
            &path(&broker.config.data_dir),
            encode(&high_watermarks).as_bytes(),
        )
        .await?;
    coverage::bump(Counter::HighWatermarkCheckpointsWritten);
    Ok(())
}

/// The background loop: a failed write stops the node, as Kafka's offline
/// log directory does (`server::run` stops on `storage_failed`; the loop
/// itself never ends, which would read as a bug).
pub async fn checkpointer(broker: Arc<Broker>) {
    let interval = Duration::from_millis(
        broker
            .config
            .log
            .high_watermark_checkpoint_interval_ms
            .max(1),
    );
    loop {
        tokio::time::sleep(interval).await;
        if let Err(e) = write(&broker).await {
            tracing::error!(%e, "cannot write the high-watermark checkpoint: stopping the node");
            broker.storage_failed.notify_one();
        }
    }
}
