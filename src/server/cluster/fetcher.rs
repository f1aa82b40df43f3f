//! The follower's side of replica fetching (Kafka's `ReplicaFetcherThread`):
//! one fetcher per leader node, sending one fetch at a time that carries
//! every partition this node follows from that leader and wants to fetch
//! now, then handing each partition its answer.
//!
//! A partition's replica machine still decides each fetch (offset, epochs,
//! correlation id, back-off); the fetcher only carries the machine's
//! requests together. A partition in a fetcher's queue is a promise: its
//! request is taken from the machine when the fetch is built, so every
//! partition whose answer was just stored is in the next fetch (a
//! partition's own task only queues it; it never takes the request, which
//! let a fetch leave without a partition that was ready and made that
//! partition wait out the leader's long poll: up to 500 ms, seen as the
//! p99 of acks=all at a fixed rate). One that becomes ready while a fetch
//! is out (a new follower, the end of a back-off) joins the next one, after
//! at most the leader's wait, as in Kafka.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
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

/// Storing a fetch's answers taking this long is logged (debug): every
/// partition of that leader waits for it.
const SLOW_STORE_MS: u128 = 50;

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
    /// `None`: take the machine's pending request when the fetch is built.
    /// `Some`: a request already taken, left out of the leader's last
    /// answer (its byte budget was spent), sent again as it is.
    fetch: Option<FetchRequest>,
    /// Left out last time: first in the next fetch, so every partition
    /// gets its turn.
    left_out: bool,
}

/// One partition of a fetch being sent.
struct Outgoing {
    key: Key,
    handle: Arc<PartitionHandle>,
    fetch: FetchRequest,
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

    /// Queues the partition for `leader`'s next fetch: its machine has a
    /// request for `leader` pending. Drops it from other leaders' queues
    /// (what is there is stale: the machine takes only the answer to its
    /// latest request).
    pub(super) fn wake(self: &Arc<Self>, leader: i32, handle: &Arc<PartitionHandle>) {
        self.queue(leader, handle, None);
    }

    /// Queues a request already taken from the machine, for `leader`.
    fn submit(self: &Arc<Self>, leader: i32, handle: &Arc<PartitionHandle>, fetch: FetchRequest) {
        self.queue(leader, handle, Some(fetch));
    }

    fn queue(
        self: &Arc<Self>,
        leader: i32,
        handle: &Arc<PartitionHandle>,
        fetch: Option<FetchRequest>,
    ) {
        let key: Key = (handle.topic.clone(), handle.partition, handle.topic_id);
        let queue = {
            let mut fetchers = self.lock();
            for (node, fetcher) in fetchers.iter() {
                if *node != leader {
                    fetcher.queue.lock().remove(&key);
                }
            }
            let fetcher = fetcher_for(&mut fetchers, leader, |queue| {
                tokio::spawn(run(
                    Arc::downgrade(self),
                    Arc::clone(&self.runtime),
                    leader,
                    queue,
                ))
            });
            Arc::clone(&fetcher.queue)
        };
        {
            let mut waiting = queue.lock();
            let entry = waiting.entry(key).or_insert_with(|| Waiting {
                handle: Arc::clone(handle),
                fetch: None,
                left_out: false,
            });
            // A newer request (pending in the machine) replaces a taken one.
            entry.fetch = fetch;
        }
        queue.wake.notify_one();
    }
}

/// `leader`'s fetcher, its task started by `start` on its queue if there
/// is none yet, or started again if it ended: a fetcher runs until it is
/// aborted, so an ended one panicked (a bug storing some partition's
/// answer), and without a new task every partition followed from that
/// leader would wait in its queue forever. The partitions of the fetch it
/// died in fetch again after their machines' fetch timeout.
fn fetcher_for(
    fetchers: &mut BTreeMap<i32, Fetcher>,
    leader: i32,
    start: impl FnOnce(Arc<Queue>) -> tokio::task::JoinHandle<()>,
) -> &Fetcher {
    let fetcher = match fetchers.entry(leader) {
        std::collections::btree_map::Entry::Vacant(vacant) => {
            let queue = Arc::new(Queue::default());
            let task = start(Arc::clone(&queue));
            return vacant.insert(Fetcher { queue, task });
        }
        std::collections::btree_map::Entry::Occupied(occupied) => occupied.into_mut(),
    };
    if fetcher.task.is_finished() {
        tracing::error!(
            leader,
            "the replica fetcher of this leader ended: started again"
        );
        fetcher.task = start(Arc::clone(&fetcher.queue));
    }
    fetcher
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

    /// Puts back a request the leader left out, unless the partition was
    /// queued again meanwhile (its machine has a newer one).
    fn put_back(&self, outgoing: Outgoing) {
        self.lock().entry(outgoing.key).or_insert(Waiting {
            handle: outgoing.handle,
            fetch: Some(outgoing.fetch),
            left_out: true,
        });
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
        let batch = outgoing(&fetchers, leader, queue.take().await);
        if batch.is_empty() {
            continue;
        }
        assert!(batch.len() <= REPLICA_FETCH_PARTITIONS_MAX);
        // This process's registration (KIP-903): a leader adds this replica
        // to an ISR only as the incarnation it heard from.
        let replica_epoch = runtime.broker_epoch.load(Ordering::Acquire);
        let request = RpcRequest::ReplicaFetch(ReplicaFetch {
            partitions: batch
                .iter()
                .map(|o| ReplicaFetchPartition {
                    topic: o.key.0.clone(),
                    topic_id: o.key.2,
                    partition: o.key.1,
                    fetch: FetchRequest {
                        replica_epoch,
                        ..o.fetch.clone()
                    },
                    max_bytes: REPLICA_FETCH_MAX_BYTES,
                })
                .collect(),
            max_wait_ms: REPLICA_FETCH_WAIT_MAX_MS,
            response_max_bytes: REPLICA_FETCH_RESPONSE_BYTES_MAX as u32,
        });
        let sent = tokio::time::Instant::now();
        let answer = runtime
            .peers
            .call(
                leader,
                request,
                Duration::from_millis(REPLICA_FETCH_CALL_TIMEOUT_MS),
            )
            .await;
        let mut answers = match answer {
            Ok(RpcResponse::ReplicaFetch(answers)) => Some(by_partition(answers)),
            Ok(other) => {
                tracing::debug!(
                    node_id = runtime.node_id,
                    leader,
                    ?other,
                    "replica fetch refused"
                );
                None
            }
            Err(e) => {
                tracing::debug!(node_id = runtime.node_id, leader, %e, "replica fetch failed");
                None
            }
        };
        let mut stores = Vec::new();
        for o in batch {
            let Some(answers) = answers.as_mut() else {
                // No answer at all: every partition backs off.
                o.handle.fetch_failed(o.fetch.correlation_id);
                wake_next(&fetchers, &o.handle);
                continue;
            };
            match answers.remove(&(o.key.2, o.key.1)) {
                Some(PartitionFetchAnswer::Fetched(response)) => {
                    stores.push(store(
                        leader,
                        o.handle,
                        o.fetch.correlation_id,
                        response.map_records(|r| r.0),
                    ));
                }
                Some(PartitionFetchAnswer::Refused(why)) => {
                    tracing::debug!(topic = %o.key.0, partition = o.key.1, leader, why, "replica fetch refused");
                    o.handle.fetch_failed(o.fetch.correlation_id);
                    wake_next(&fetchers, &o.handle);
                }
                // Left out of the answer: asked again at once.
                None => queue.put_back(o),
            }
        }
        // Stored side by side: under fsync.policy=always each syncs before
        // its next fetch goes out.
        let answered = tokio::time::Instant::now();
        let stored_count = stores.len();
        for handle in join_all(stores).await {
            wake_next(&fetchers, &handle);
        }
        let store_ms = answered.elapsed().as_millis();
        if store_ms >= SLOW_STORE_MS {
            tracing::debug!(
                node_id = runtime.node_id,
                leader,
                partitions = stored_count,
                call_ms = answered.duration_since(sent).as_millis() as u64,
                store_ms = store_ms as u64,
                "slow replica fetch round"
            );
        }
    }
}

/// The requests of `taken` for `leader`: those already taken, and the
/// machines' pending ones (a machine that now fetches from another leader
/// is queued there).
fn outgoing(fetchers: &Weak<Fetchers>, leader: i32, taken: Vec<(Key, Waiting)>) -> Vec<Outgoing> {
    let mut batch = Vec::with_capacity(taken.len());
    for (key, w) in taken {
        let fetch = match w.fetch {
            Some(fetch) => fetch,
            None => match w.handle.take_fetch() {
                Some((to, fetch)) if to == leader => fetch,
                Some((to, fetch)) => {
                    if let Some(fetchers) = fetchers.upgrade() {
                        fetchers.submit(to, &w.handle, fetch);
                    }
                    continue;
                }
                // Taken already (queued twice) or no longer wanted.
                None => continue,
            },
        };
        batch.push(Outgoing {
            key,
            handle: w.handle,
            fetch,
        });
    }
    batch
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
    handle: Arc<PartitionHandle>,
    correlation_id: u64,
    response: crate::core::partition::FetchResponse<Vec<u8>>,
) -> Arc<PartitionHandle> {
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

/// Queues the partition with the leader of its machine's next request, if
/// it wants one now (its own task would too, a moment later; queued twice
/// is harmless: the request is taken once).
fn wake_next(fetchers: &Weak<Fetchers>, handle: &Arc<PartitionHandle>) {
    let Some(fetchers) = fetchers.upgrade() else {
        return;
    };
    if let Some(leader) = handle.pending_fetch_leader() {
        fetchers.wake(leader, handle);
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

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fetcher_whose_task_ended_is_started_again_on_its_queue() {
        let mut fetchers = BTreeMap::new();
        let panicking = |_| tokio::spawn(async { panic!("a bug while storing an answer") });
        let queue = Arc::clone(&fetcher_for(&mut fetchers, 1, panicking).queue);
        for _ in 0..10_000 {
            if fetchers[&1].task.is_finished() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(fetchers[&1].task.is_finished());
        // The next partition queued for leader 1 finds a running fetcher,
        // not the dead one (every partition followed there would wait
        // forever), and the partitions already waiting are kept.
        let fetcher = fetcher_for(&mut fetchers, 1, |_| tokio::spawn(std::future::pending()));
        assert!(!fetcher.task.is_finished(), "started again");
        assert!(Arc::ptr_eq(&fetcher.queue, &queue), "on the same queue");
    }
}
