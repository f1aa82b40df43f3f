//! The follower's side of replica fetching (Kafka's `ReplicaFetcherThread`):
//! one fetcher per leader node, sending one fetch at a time that carries
//! every partition this node follows from that leader and wants to fetch
//! now, then handing each partition its answer.
//!
//! A partition's replica machine still decides each fetch (offset, epochs,
//! correlation id, back-off); the fetcher only carries the machine's
//! requests together. A partition's next request is taken as soon as its
//! answer is stored, so the partitions of one leader move in one rhythm;
//! one that becomes ready while a fetch is out (a new follower, the end of
//! a back-off) joins the next one, after at most the leader's wait, as in
//! Kafka.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Notify;

use crate::core::partition::{FetchRequest, FetchResult};
use crate::rpc::{
    PartitionFetchAnswer, ReplicaFetch, ReplicaFetchAnswer, ReplicaFetchPartition, RpcRequest,
    RpcResponse,
};
use crate::server::cluster::fetch_serve::{
    REPLICA_FETCH_PARTITIONS_MAX, REPLICA_FETCH_RESPONSE_BYTES_MAX,
};
use crate::server::cluster::ClusterRuntime;
use crate::server::partition_handle::PartitionHandle;

/// Record bytes one fetch asks for per partition (`replica.fetch.max.bytes`).
pub const REPLICA_FETCH_MAX_BYTES: u32 = 1024 * 1024;
/// How long a leader may hold a fetch with nothing new for any of its
/// partitions (`replica.fetch.wait.max.ms`).
pub const REPLICA_FETCH_WAIT_MAX_MS: u32 = 500;
/// A fetch unanswered for this long is abandoned (its connection is
/// probably gone); each of its partitions fetches again after its back-off.
pub const REPLICA_FETCH_CALL_TIMEOUT_MS: u64 = 5_000;

/// A hosted partition: (topic, partition, topic id).
pub(super) type Key = (String, i32, [u8; 16]);

/// This node's fetchers, one per leader node, started on first use and
/// stopped when this is dropped (the replication supervisor ends).
pub(super) struct Fetchers {
    runtime: Arc<ClusterRuntime>,
    state: Mutex<BTreeMap<i32, Fetcher>>,
}

struct Fetcher {
    queue: Arc<Queue>,
    task: tokio::task::JoinHandle<()>,
}

/// The fetches waiting for a leader's next round.
#[derive(Default)]
struct Queue {
    waiting: Mutex<BTreeMap<Key, Waiting>>,
    wake: Notify,
}

struct Waiting {
    handle: Arc<PartitionHandle>,
    fetch: FetchRequest,
    /// Left out of the leader's last answer (its byte budget was spent):
    /// first in the next fetch, so every partition gets its turn.
    left_out: bool,
}

impl Drop for Fetchers {
    fn drop(&mut self) {
        for fetcher in self.lock().values() {
            fetcher.task.abort();
        }
    }
}

impl Fetchers {
    pub(super) fn new(runtime: Arc<ClusterRuntime>) -> Arc<Fetchers> {
        Arc::new(Fetchers {
            runtime,
            state: Mutex::new(BTreeMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<i32, Fetcher>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues the fetch the partition's machine wants sent to `leader`. It
    /// replaces an older one of the same partition, for any leader (that
    /// one is stale: the machine takes only the answer to its latest).
    pub(super) fn submit(
        self: &Arc<Self>,
        leader: i32,
        handle: &Arc<PartitionHandle>,
        fetch: FetchRequest,
    ) {
        let key: Key = (handle.topic.clone(), handle.partition, handle.topic_id);
        let queue = {
            let mut fetchers = self.lock();
            for (node, fetcher) in fetchers.iter() {
                if *node != leader {
                    fetcher.queue.lock().remove(&key);
                }
            }
            let fetcher = fetchers.entry(leader).or_insert_with(|| {
                let queue = Arc::new(Queue::default());
                let task = tokio::spawn(run(
                    Arc::downgrade(self),
                    Arc::clone(&self.runtime),
                    leader,
                    Arc::clone(&queue),
                ));
                Fetcher { queue, task }
            });
            Arc::clone(&fetcher.queue)
        };
        queue.lock().insert(
            key,
            Waiting {
                handle: Arc::clone(handle),
                fetch,
                left_out: false,
            },
        );
        queue.wake.notify_one();
    }
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<Key, Waiting>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for at least one fetch, then takes up to
    /// `REPLICA_FETCH_PARTITIONS_MAX`, those left out last time first.
    async fn take(&self) -> Vec<(Key, Waiting)> {
        loop {
            let woken = self.wake.notified();
            {
                let mut waiting = self.lock();
                if !waiting.is_empty() {
                    let mut keys: Vec<(bool, Key)> = waiting
                        .iter()
                        .map(|(key, w)| (!w.left_out, key.clone()))
                        .collect();
                    keys.sort();
                    keys.truncate(REPLICA_FETCH_PARTITIONS_MAX);
                    return keys
                        .into_iter()
                        .filter_map(|(_, key)| waiting.remove(&key).map(|w| (key, w)))
                        .collect();
                }
            }
            woken.await;
        }
    }

    /// Puts back a fetch the leader left out, unless the partition queued a
    /// newer one meanwhile.
    fn put_back(&self, key: Key, mut waiting: Waiting) {
        waiting.left_out = true;
        self.lock().entry(key).or_insert(waiting);
        self.wake.notify_one();
    }
}

/// One leader's fetcher: fetch, store every answer, repeat.
async fn run(
    fetchers: Weak<Fetchers>,
    runtime: Arc<ClusterRuntime>,
    leader: i32,
    queue: Arc<Queue>,
) {
    loop {
        let batch = queue.take().await;
        assert!(!batch.is_empty() && batch.len() <= REPLICA_FETCH_PARTITIONS_MAX);
        let request = RpcRequest::ReplicaFetch(ReplicaFetch {
            partitions: batch
                .iter()
                .map(|((topic, partition, topic_id), w)| ReplicaFetchPartition {
                    topic: topic.clone(),
                    topic_id: *topic_id,
                    partition: *partition,
                    fetch: w.fetch.clone(),
                    max_bytes: REPLICA_FETCH_MAX_BYTES,
                })
                .collect(),
            max_wait_ms: REPLICA_FETCH_WAIT_MAX_MS,
            response_max_bytes: REPLICA_FETCH_RESPONSE_BYTES_MAX as u32,
        });
        let answer = runtime
            .peers
            .call(
                leader,
                request,
                Duration::from_millis(REPLICA_FETCH_CALL_TIMEOUT_MS),
            )
            .await;
        let mut answers = match answer {
            Ok(RpcResponse::ReplicaFetch(answers)) => by_partition(answers),
            Ok(other) => {
                tracing::debug!(
                    node_id = runtime.node_id,
                    leader,
                    ?other,
                    "replica fetch refused"
                );
                BTreeMap::new()
            }
            Err(e) => {
                tracing::debug!(node_id = runtime.node_id, leader, %e, "replica fetch failed");
                for (_, w) in &batch {
                    w.handle.fetch_failed(w.fetch.correlation_id);
                }
                requeue_next(&fetchers, &batch);
                continue;
            }
        };
        let refused_whole = answers.is_empty();
        let mut stores = Vec::new();
        for (key, w) in batch {
            let answer = answers.remove(&(key.2, key.1));
            match answer {
                Some(PartitionFetchAnswer::Fetched(response)) => {
                    stores.push(store(leader, w, response.map_records(|r| r.0)));
                }
                Some(PartitionFetchAnswer::Refused(why)) => {
                    tracing::debug!(topic = %key.0, partition = key.1, leader, why, "replica fetch refused");
                    w.handle.fetch_failed(w.fetch.correlation_id);
                    submit_next(&fetchers, &w.handle);
                }
                None if refused_whole => {
                    w.handle.fetch_failed(w.fetch.correlation_id);
                    submit_next(&fetchers, &w.handle);
                }
                // Left out of the answer: asked again at once.
                None => queue.put_back(key, w),
            }
        }
        // Stored side by side: under fsync.policy=always each syncs before
        // its next fetch goes out.
        for handle in join_all(stores).await {
            submit_next(&fetchers, &handle);
        }
    }
}

/// The answers by (topic id, partition); a partition answered twice keeps
/// its first answer (a leader never does that).
fn by_partition(
    answers: Vec<ReplicaFetchAnswer>,
) -> BTreeMap<([u8; 16], i32), PartitionFetchAnswer> {
    let mut by = BTreeMap::new();
    for a in answers {
        by.entry((a.topic_id, a.partition)).or_insert(a.answer);
    }
    by
}

/// Stores one partition's answer; returns its handle for its next fetch.
async fn store(
    leader: i32,
    w: Waiting,
    response: crate::core::partition::FetchResponse<Vec<u8>>,
) -> Arc<PartitionHandle> {
    let handle = w.handle;
    let correlation_id = w.fetch.correlation_id;
    let refused = matches!(response.result, FetchResult::Error(_));
    if let Err(e) = handle.on_fetch_response(response).await {
        tracing::warn!(topic = %handle.topic, partition = handle.partition, leader, %e, "replica fetch answer not stored");
        handle.fetch_failed(correlation_id);
    } else if refused {
        // An error answer the replica did not take (e.g. from a node not
        // yet leading this epoch) leaves the fetch in flight: retry after
        // the back-off, not the timeout.
        handle.fetch_failed(correlation_id);
    }
    handle
}

/// Queues the partition's next fetch if its machine wants one now (the
/// partition's own driver would too, a moment later: whoever takes the
/// machine's request queues it).
fn submit_next(fetchers: &Weak<Fetchers>, handle: &Arc<PartitionHandle>) {
    let Some(fetchers) = fetchers.upgrade() else {
        return;
    };
    if let Some((leader, fetch)) = handle.take_fetch() {
        fetchers.submit(leader, handle, fetch);
    }
}

fn requeue_next(fetchers: &Weak<Fetchers>, batch: &[(Key, Waiting)]) {
    for (_, w) in batch {
        submit_next(fetchers, &w.handle);
    }
}

/// Runs `futures` side by side; their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut running: Vec<Option<Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in running.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}
