//! Background work of a node: the `interval` fsync flusher, retention, and
//! recovery-point checkpoints. Each loop is bounded by the node's lifetime.

use std::sync::Arc;
use std::time::Duration;

use crate::io::clock::now_ms;
use crate::server::broker::Broker;

/// How often the flusher looks for partitions due a sync.
const FLUSH_TICK_MS: u64 = 50;
/// How often synced partitions write their recovery point.
const CHECKPOINT_INTERVAL_MS: u64 = 30_000;

pub async fn flusher(broker: Arc<Broker>) {
    loop {
        tokio::time::sleep(Duration::from_millis(FLUSH_TICK_MS)).await;
        for handle in broker.all_partitions() {
            if handle.is_offline() {
                // One data directory: a failed log means a failed directory.
                tracing::error!(topic = %handle.topic, partition = handle.partition, "log offline: stopping the node");
                broker.storage_failed.notify_one();
                return;
            }
            let now = now_ms();
            if handle.background_sync_due(now) {
                if let Err(e) = handle.sync(now).await {
                    tracing::warn!(topic = %handle.topic, partition = handle.partition, %e, "background sync failed");
                }
            }
        }
    }
}

pub async fn retention(broker: Arc<Broker>) {
    let interval = Duration::from_millis(broker.config.retention_check_interval_ms.max(10));
    loop {
        tokio::time::sleep(interval).await;
        for handle in broker.all_partitions() {
            if let Err(e) = handle.apply_retention(now_ms()).await {
                tracing::warn!(topic = %handle.topic, partition = handle.partition, %e, "retention failed");
            }
            // After retention, in the same task: the cleaner never races a
            // segment deletion.
            if let Err(e) = handle.compact(now_ms()).await {
                tracing::warn!(topic = %handle.topic, partition = handle.partition, %e, "compaction failed");
            }
        }
    }
}

pub async fn checkpointer(broker: Arc<Broker>) {
    loop {
        tokio::time::sleep(Duration::from_millis(CHECKPOINT_INTERVAL_MS)).await;
        for handle in broker.all_partitions() {
            if let Err(e) = handle.checkpoint(now_ms()).await {
                tracing::warn!(topic = %handle.topic, partition = handle.partition, %e, "checkpoint failed");
            }
        }
    }
}
