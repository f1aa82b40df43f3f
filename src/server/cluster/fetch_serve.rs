//! The leader's side of a replica fetch: one call from a follower carries
//! every partition it follows from this node (Kafka's replica
//! FetchRequest). Each partition's fetch is one step of its replica
//! machine, fenced by its own leader epoch (KIP-320); the call is answered
//! as soon as any partition has records or an error, or once the
//! follower's wait runs out (long poll, woken by any of the partitions'
//! appends and high watermark moves).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::futures::Notified;

use crate::rpc::{
    PartitionFetchAnswer, RecordBytes, ReplicaFetch, ReplicaFetchAnswer, ReplicaFetchPartition,
    RpcResponse,
};
use crate::server::broker::Broker;
use crate::server::partition_handle::replication::{
    REPLICA_FETCH_BYTES_MAX, REPLICA_FETCH_WAIT_MS_MAX,
};
use crate::server::partition_handle::PartitionHandle;

/// Most partitions one replica fetch may name; a longer one is refused
/// whole (a follower splits its partitions over rounds).
pub const REPLICA_FETCH_PARTITIONS_MAX: usize = 1_000;
/// Most record bytes one answer carries over all its partitions
/// (`replica.fetch.response.max.bytes`; the request may ask for less).
/// Partitions past it are left out and asked again in the next fetch; the
/// first partition with records is always answered, so a fetch makes
/// progress.
pub const REPLICA_FETCH_RESPONSE_BYTES_MAX: usize = 8 * 1024 * 1024;
// Two partitions' worth of records fit one frame with room for the rest.
const _: () = assert!(
    REPLICA_FETCH_RESPONSE_BYTES_MAX + REPLICA_FETCH_BYTES_MAX
        <= crate::rpc::frame::RPC_FRAME_BYTES_MAX
);

/// Answers a follower's `fetch` (every partition of which names the
/// caller as its replica: the handler checked it).
pub(super) async fn serve(broker: &Broker, fetch: ReplicaFetch) -> RpcResponse {
    serve_with(|topic, partition| broker.partition(topic, partition), fetch).await
}

/// [`serve`] over the partitions `lookup` finds by (topic, partition).
pub(super) async fn serve_with(
    lookup: impl Fn(&str, i32) -> Option<Arc<PartitionHandle>>,
    fetch: ReplicaFetch,
) -> RpcResponse {
    if fetch.partitions.len() > REPLICA_FETCH_PARTITIONS_MAX {
        return RpcResponse::Refused(format!(
            "a replica fetch of {} partitions, more than {REPLICA_FETCH_PARTITIONS_MAX}",
            fetch.partitions.len()
        ));
    }
    let targets: Vec<(&ReplicaFetchPartition, Result<Arc<PartitionHandle>, String>)> = fetch
        .partitions
        .iter()
        .map(|p| (p, hosted(&lookup, p)))
        .collect();
    let budget = (fetch.response_max_bytes as usize).clamp(1, REPLICA_FETCH_RESPONSE_BYTES_MAX);
    let wait = Duration::from_millis(u64::from(fetch.max_wait_ms).min(REPLICA_FETCH_WAIT_MS_MAX));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // Enabled before reading, so an append between the reads and the
        // wait still wakes it.
        let mut woken: Vec<Pin<Box<Notified<'_>>>> = targets
            .iter()
            .filter_map(|(_, handle)| handle.as_ref().ok())
            .map(|handle| {
                let mut notified = Box::pin(handle.hw_changed().notified());
                notified.as_mut().enable();
                notified
            })
            .collect();
        let (answers, news) = answer_once(&targets, budget);
        if news || tokio::time::Instant::now() >= deadline {
            return RpcResponse::ReplicaFetch(answers);
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let _ = tokio::time::timeout(left, any_notified(&mut woken)).await;
    }
}

/// The partition `p` names, if this node hosts it under that topic id.
fn hosted(
    lookup: &impl Fn(&str, i32) -> Option<Arc<PartitionHandle>>,
    p: &ReplicaFetchPartition,
) -> Result<Arc<PartitionHandle>, String> {
    match lookup(&p.topic, p.partition) {
        None => Err(format!(
            "this node hosts no partition {}-{}",
            p.topic, p.partition
        )),
        Some(handle) if handle.topic_id != p.topic_id => Err(format!(
            "partition {}-{} is of another topic id",
            p.topic, p.partition
        )),
        Some(handle) => Ok(handle),
    }
}

/// One pass over the partitions, in the request's order, within `budget`
/// record bytes. Returns the answers and whether any carries news (records,
/// a divergence, an error, a refusal): then the fetch is answered now.
fn answer_once(
    targets: &[(&ReplicaFetchPartition, Result<Arc<PartitionHandle>, String>)],
    budget: usize,
) -> (Vec<ReplicaFetchAnswer>, bool) {
    let mut answers = Vec::with_capacity(targets.len());
    let mut news = false;
    let mut bytes_total = 0usize;
    for (p, handle) in targets {
        let answer = match handle {
            Err(why) => PartitionFetchAnswer::Refused(why.clone()),
            Ok(handle) => {
                let left = budget.saturating_sub(bytes_total);
                if left == 0 {
                    // Spent: left out, asked again next time (only
                    // reachable once some partition answered records).
                    continue;
                }
                let max_bytes = (p.max_bytes as usize).clamp(1, left);
                let response = handle.replica_fetch_now(&p.fetch, max_bytes);
                let bytes = record_bytes(&response);
                if bytes > REPLICA_FETCH_BYTES_MAX {
                    // One batch larger than any answer may be (the follower
                    // refuses it too): never put in a frame.
                    PartitionFetchAnswer::Refused(format!(
                        "a batch of {bytes} bytes, more than {REPLICA_FETCH_BYTES_MAX}"
                    ))
                } else if bytes_total > 0 && bytes_total + bytes > budget {
                    continue;
                } else {
                    bytes_total += bytes;
                    if !response.is_empty() {
                        news = true;
                    }
                    PartitionFetchAnswer::Fetched(response.map_records(RecordBytes))
                }
            }
        };
        if matches!(answer, PartitionFetchAnswer::Refused(_)) {
            news = true;
        }
        answers.push(ReplicaFetchAnswer {
            topic_id: p.topic_id,
            partition: p.partition,
            answer,
        });
    }
    assert!(bytes_total <= budget.max(REPLICA_FETCH_BYTES_MAX));
    (answers, news)
}

fn record_bytes(response: &crate::core::partition::FetchResponse<Vec<u8>>) -> usize {
    match &response.result {
        crate::core::partition::FetchResult::Records { batches, .. } => batches
            .iter()
            .map(|b| b.records.len())
            .fold(0, usize::saturating_add),
        _ => 0,
    }
}

/// Resolves when any of `woken` fires.
async fn any_notified(woken: &mut [Pin<Box<Notified<'_>>>]) {
    if woken.is_empty() {
        return std::future::pending().await;
    }
    std::future::poll_fn(|cx| {
        for notified in woken.iter_mut() {
            if notified.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await
}

#[cfg(all(test, not(madsim)))]
#[path = "fetch_serve_tests.rs"]
mod tests;
