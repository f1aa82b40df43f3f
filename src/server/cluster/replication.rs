//! Each hosted partition's traffic with the rest of the cluster: a
//! follower's fetches carried to its leader and the answers back, a
//! leader's ISR proposals carried to the controller (AlterPartition), and
//! the replica's clock tick. One task per partition, started when the
//! partition opens and stopped when it is removed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::rpc::{ControllerRequest, ControllerResponse, ReplicaFetch, RpcRequest, RpcResponse};
use crate::server::cluster::ClusterRuntime;
use crate::server::partition_handle::PartitionHandle;

/// How often the supervisor looks for partitions opened or removed.
pub const REPLICATION_SUPERVISE_INTERVAL_MS: u64 = 100;
/// How often a partition's replica is ticked (ISR shrink, fetch timeouts).
pub const REPLICA_TICK_INTERVAL_MS: u64 = 250;
/// Record bytes one follower fetch asks for (`replica.fetch.max.bytes`).
pub const REPLICA_FETCH_MAX_BYTES: u32 = 1024 * 1024;
/// How long a leader may hold a fetch with nothing new
/// (`replica.fetch.wait.max.ms`).
pub const REPLICA_FETCH_WAIT_MAX_MS: u32 = 500;
/// A fetch unanswered for this long is abandoned (its connection is
/// probably gone); the replica sends another after its timeout.
pub const REPLICA_FETCH_CALL_TIMEOUT_MS: u64 = 5_000;
/// Wait after a failed fetch or AlterPartition before the next attempt.
pub const REPLICATION_RETRY_BACKOFF_MS: u64 = 200;

type Key = (String, i32, [u8; 16]);

pub(super) async fn run(runtime: Arc<ClusterRuntime>) {
    let mut drivers: BTreeMap<Key, tokio::task::JoinHandle<()>> = BTreeMap::new();
    loop {
        tokio::time::sleep(Duration::from_millis(REPLICATION_SUPERVISE_INTERVAL_MS)).await;
        let Some(broker) = runtime.broker() else {
            break;
        };
        let hosted: BTreeMap<Key, Arc<PartitionHandle>> = broker
            .all_partitions()
            .into_iter()
            .map(|h| ((h.topic.clone(), h.partition, h.topic_id), h))
            .collect();
        drivers.retain(|key, task| {
            let keep = hosted.contains_key(key) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for (key, handle) in hosted {
            drivers
                .entry(key)
                .or_insert_with(|| tokio::spawn(drive(Arc::clone(&runtime), handle)));
        }
    }
    for task in drivers.into_values() {
        task.abort();
    }
}

/// One partition: fetches, ISR proposals and ticks, until it is removed.
async fn drive(runtime: Arc<ClusterRuntime>, handle: Arc<PartitionHandle>) {
    let fetches = fetch_loop(&runtime, &handle);
    let proposals = isr_loop(&runtime, &handle);
    let ticks = async {
        loop {
            tokio::time::sleep(Duration::from_millis(REPLICA_TICK_INTERVAL_MS)).await;
            handle.tick();
        }
    };
    tokio::join!(fetches, proposals, ticks);
}

async fn fetch_loop(runtime: &ClusterRuntime, handle: &PartitionHandle) {
    loop {
        let (leader, fetch) = handle.next_fetch().await;
        let correlation_id = fetch.correlation_id;
        let request = RpcRequest::ReplicaFetch(ReplicaFetch {
            topic: handle.topic.clone(),
            topic_id: handle.topic_id,
            partition: handle.partition,
            fetch,
            max_bytes: REPLICA_FETCH_MAX_BYTES,
            max_wait_ms: REPLICA_FETCH_WAIT_MAX_MS,
        });
        let answer = runtime
            .peers
            .call(
                leader,
                request,
                Duration::from_millis(REPLICA_FETCH_CALL_TIMEOUT_MS),
            )
            .await;
        match answer {
            Ok(RpcResponse::ReplicaFetch(response)) => {
                if let Err(e) = handle.on_fetch_response(response).await {
                    tracing::warn!(topic = %handle.topic, partition = handle.partition, leader, %e, "replica fetch answer not stored");
                    tokio::time::sleep(Duration::from_millis(REPLICATION_RETRY_BACKOFF_MS)).await;
                }
            }
            Ok(other) => {
                tracing::debug!(topic = %handle.topic, partition = handle.partition, leader, ?other, "replica fetch refused");
                handle.on_fetch_failed(correlation_id);
                tokio::time::sleep(Duration::from_millis(REPLICATION_RETRY_BACKOFF_MS)).await;
            }
            Err(e) => {
                tracing::debug!(topic = %handle.topic, partition = handle.partition, leader, %e, "replica fetch failed");
                handle.on_fetch_failed(correlation_id);
                tokio::time::sleep(Duration::from_millis(REPLICATION_RETRY_BACKOFF_MS)).await;
            }
        }
    }
}

async fn isr_loop(runtime: &ClusterRuntime, handle: &PartitionHandle) {
    loop {
        let (leader_epoch, isr) = handle.next_isr_proposal().await;
        let request = ControllerRequest::AlterPartition {
            topic_id: handle.topic_id,
            partition: handle.partition,
            leader_id: runtime.node_id,
            leader_epoch,
            isr: isr.clone(),
        };
        match runtime.call_controller(request).await {
            // The committed change reaches the replica through the image
            // (the same leader epoch with the new ISR).
            Ok(ControllerResponse::Done) => {
                tracing::info!(topic = %handle.topic, partition = handle.partition, ?isr, "ISR change committed");
            }
            Ok(other) => {
                tracing::info!(topic = %handle.topic, partition = handle.partition, ?isr, ?other, "ISR change refused");
                proposal_failed(runtime, handle, leader_epoch);
            }
            Err(e) => {
                tracing::debug!(topic = %handle.topic, partition = handle.partition, %e, "ISR change not confirmed");
                proposal_failed(runtime, handle, leader_epoch);
            }
        }
        tokio::time::sleep(Duration::from_millis(REPLICATION_RETRY_BACKOFF_MS)).await;
    }
}

/// The controller did not take an ISR proposal (or its answer was lost):
/// the replica goes back to the ISR the metadata holds, and may propose
/// again. If the change was in fact committed, the image brings it anyway.
fn proposal_failed(runtime: &ClusterRuntime, handle: &PartitionHandle, leader_epoch: i32) {
    let Some(broker) = runtime.broker() else {
        return;
    };
    let image = broker.image();
    let Some(p) = image
        .topic_by_id(&handle.topic_id)
        .and_then(|t| t.partitions.get(&handle.partition))
    else {
        return;
    };
    if p.leader == runtime.node_id && p.leader_epoch == leader_epoch {
        if let Err(e) = handle.isr_committed(leader_epoch, p.isr.clone()) {
            tracing::warn!(topic = %handle.topic, partition = handle.partition, %e, "cannot restore the committed ISR");
        }
    }
}
