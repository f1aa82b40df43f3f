//! Background work of a node: the `interval` fsync flusher, retention and
//! compaction, recovery-point checkpoints, the high-watermark checkpoint
//! and producer-id expiry. Each loop is bounded by the
//! node's lifetime and supervised by `server::run`: a loop that ends stops
//! the node loudly.
//!
//! One partition's failure never stops the loop: each partition's work runs
//! as a task of its own, so a panic (a bug) in it fails that partition only
//! (its state is poisoned and it serves nothing more until a restart) and the
//! loop goes on with the others. Under the simulator a panic still stops the
//! whole simulation, so that the bug is found.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::server::broker::Broker;
use crate::server::partition_handle::PartitionHandle;

/// Runs one partition's share of a background pass in a task of its own and
/// waits for it; a panic is logged against the partition and contained.
async fn isolated<F>(handle: &Arc<PartitionHandle>, work: &'static str, job: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    if let Err(e) = tokio::spawn(job).await {
        tracing::error!(
            topic = %handle.topic,
            partition = handle.partition,
            work,
            %e,
            "a background pass failed on this partition; it stops serving until a restart"
        );
    }
}

/// The partitions a background pass should visit: failed ones are skipped.
fn live_partitions(broker: &Broker) -> Vec<Arc<PartitionHandle>> {
    broker
        .all_partitions()
        .into_iter()
        .filter(|h| !h.has_failed())
        .collect()
}

pub async fn flusher(broker: Arc<Broker>) {
    // `log.flush.scheduler.interval.ms`
    let tick = Duration::from_millis(broker.config.log.flush_scheduler_interval_ms.max(1));
    loop {
        tokio::time::sleep(tick).await;
        for handle in live_partitions(&broker) {
            let (h, b) = (Arc::clone(&handle), Arc::clone(&broker));
            isolated(&handle, "sync", async move {
                if h.is_offline() {
                    // One data directory: a failed log means a failed directory.
                    tracing::error!(topic = %h.topic, partition = h.partition, "log offline: stopping the node");
                    b.storage_failed.notify_one();
                    return;
                }
                if h.background_sync_due() {
                    if let Err(e) = h.sync().await {
                        tracing::warn!(topic = %h.topic, partition = h.partition, %e, "background sync failed");
                    }
                }
            })
            .await;
        }
    }
}

pub async fn retention(broker: Arc<Broker>) {
    let interval = Duration::from_millis(broker.config.retention_check_interval_ms.max(10));
    loop {
        tokio::time::sleep(interval).await;
        for handle in live_partitions(&broker) {
            let h = Arc::clone(&handle);
            let clock = Arc::clone(&broker.clock);
            isolated(&handle, "retention and compaction", async move {
                // Wall time, as Kafka: retention.ms compares it with record
                // timestamps (docs/architecture.md, "Clocks").
                if let Err(e) = h.apply_retention(clock.wall_ms()).await {
                    tracing::warn!(topic = %h.topic, partition = h.partition, %e, "retention failed");
                }
                // After retention, in the same task: the cleaner never races a
                // segment deletion.
                if let Err(e) = h.compact(clock.wall_ms()).await {
                    tracing::warn!(topic = %h.topic, partition = h.partition, %e, "compaction failed");
                }
            })
            .await;
        }
    }
}

pub async fn checkpointer(broker: Arc<Broker>) {
    // `log.flush.offset.checkpoint.interval.ms`
    let interval =
        Duration::from_millis(broker.config.log.flush_offset_checkpoint_interval_ms.max(1));
    loop {
        tokio::time::sleep(interval).await;
        for handle in live_partitions(&broker) {
            let h = Arc::clone(&handle);
            isolated(&handle, "checkpoint", async move {
                if let Err(e) = h.checkpoint().await {
                    tracing::warn!(topic = %h.topic, partition = h.partition, %e, "checkpoint failed");
                }
            })
            .await;
        }
    }
}

/// The background loops of a node, by name, for `server::run` to supervise.
pub fn spawn_all(broker: &Arc<Broker>) -> Vec<(&'static str, tokio::task::JoinHandle<()>)> {
    vec![
        ("flusher", tokio::spawn(flusher(Arc::clone(broker)))),
        ("retention", tokio::spawn(retention(Arc::clone(broker)))),
        (
            "checkpointer",
            tokio::spawn(checkpointer(Arc::clone(broker))),
        ),
        (
            "high_watermark_checkpointer",
            tokio::spawn(crate::server::high_watermark_checkpoints::checkpointer(
                Arc::clone(broker),
            )),
        ),
        (
            "producer_expiry",
            tokio::spawn(producer_expiry(Arc::clone(broker))),
        ),
    ]
}

/// Resolves when the first of `tasks` ends (they loop forever, so an end is
/// a panic or a bug), with its name and how it ended.
pub async fn first_to_end(
    tasks: &mut [(&'static str, tokio::task::JoinHandle<()>)],
) -> (&'static str, String) {
    std::future::poll_fn(|cx| {
        for (name, task) in tasks.iter_mut() {
            if let std::task::Poll::Ready(result) = std::pin::Pin::new(task).poll(cx) {
                let how = match result {
                    Ok(()) => "returned".to_string(),
                    Err(e) => e.to_string(),
                };
                return std::task::Poll::Ready((*name, how));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Kafka's `producer.id.expiration.check.interval.ms` default: how often
/// partitions forget producers idle for `producer.id.expiration.ms`.
pub const PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS: u64 = 600_000;

pub async fn producer_expiry(broker: Arc<Broker>) {
    let interval = Duration::from_millis(PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS);
    loop {
        tokio::time::sleep(interval).await;
        for handle in live_partitions(&broker) {
            let h = Arc::clone(&handle);
            let clock = Arc::clone(&broker.clock);
            isolated(&handle, "producer expiry", async move {
                // Wall time against each producer's last batch timestamp, as
                // Kafka's ProducerStateManager does.
                let expired = h.expire_producers(clock.wall_ms());
                if expired > 0 {
                    tracing::debug!(topic = %h.topic, partition = h.partition, expired, "expired idle producer ids");
                }
            })
            .await;
        }
    }
}
