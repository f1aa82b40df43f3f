//! The leader's side of a multi-partition replica fetch, on real partition
//! handles in temp dirs: node 1 leads partitions t-0 and t-1, node 2
//! follows both, and the test carries node 2's fetches as one call.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::records::Compression;

use super::*;
use crate::core::partition::{Acks, FetchError, FetchRequest, FetchResponse, FetchResult};
use crate::core::topic_config::{TopicConfig, TopicDefaults};
use crate::io::clock::HostClock;
use crate::io::real_disk::RealDisk;
use crate::log::compaction_batch::test_support::keyed_batch;
use crate::log::record_batch;
use crate::server::config::BugSwitches;

const PARTITIONS: i32 = 2;

struct Replicas {
    /// (node, partition) → handle.
    handles: BTreeMap<(i32, i32), Arc<PartitionHandle>>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Replicas {
    async fn open() -> Replicas {
        let mut handles = BTreeMap::new();
        let mut dirs = Vec::new();
        for node in [1, 2] {
            let dir = tempfile::tempdir().unwrap();
            for partition in 0..PARTITIONS {
                let config = TopicConfig::resolve(&BTreeMap::new(), &TopicDefaults::default());
                let (handle, _) = PartitionHandle::open(
                    Arc::new(RealDisk::new(dir.path())),
                    "data",
                    "t",
                    [1; 16],
                    partition,
                    node,
                    100,
                    None,
                    config,
                    BugSwitches::default(),
                    Arc::new(HostClock::new()),
                )
                .await
                .unwrap();
                let handle = Arc::new(handle);
                if node == 1 {
                    handle
                        .become_leader(3, vec![1, 2], vec![1, 2])
                        .await
                        .unwrap();
                } else {
                    handle.become_follower(1, 3).unwrap();
                }
                handles.insert((node, partition), handle);
            }
            dirs.push(dir);
        }
        Replicas {
            handles,
            _dirs: dirs,
        }
    }

    fn leader(&self, partition: i32) -> Arc<PartitionHandle> {
        Arc::clone(&self.handles[&(1, partition)])
    }

    fn follower(&self, partition: i32) -> &Arc<PartitionHandle> {
        &self.handles[&(2, partition)]
    }

    /// Node 2's pending fetches, as one call to node 1.
    fn fetch(&self, max_wait_ms: u32, response_max_bytes: u32) -> ReplicaFetch {
        let partitions = (0..PARTITIONS)
            .map(|partition| {
                let (leader, fetch) = self
                    .follower(partition)
                    .take_fetch()
                    .expect("a fetch is due");
                assert_eq!(leader, 1);
                part(partition, fetch)
            })
            .collect();
        ReplicaFetch {
            partitions,
            max_wait_ms,
            response_max_bytes,
        }
    }

    async fn serve(&self, fetch: ReplicaFetch) -> Vec<ReplicaFetchAnswer> {
        let lookup = |topic: &str, partition: i32| {
            (topic == "t")
                .then(|| self.handles.get(&(1, partition)).cloned())
                .flatten()
        };
        match serve_with(lookup, fetch).await {
            RpcResponse::ReplicaFetch(answers) => answers,
            other => panic!("not a fetch answer: {other:?}"),
        }
    }
}

fn part(partition: i32, fetch: FetchRequest) -> ReplicaFetchPartition {
    ReplicaFetchPartition {
        topic: "t".into(),
        topic_id: [1; 16],
        partition,
        fetch,
        max_bytes: 1 << 20,
    }
}

async fn produce(leader: Arc<PartitionHandle>, count: usize) {
    let kvs: Vec<_> = (0..count)
        .map(|i| (Some(b"k".to_vec()), Some(vec![b'v'; 100 + i]), 1_000))
        .collect();
    let bytes = keyed_batch(0, &kvs, Compression::None, (-1, -1, -1));
    let headers = record_batch::validate_produced(&bytes, 1 << 20).unwrap();
    leader
        .produce(bytes, &headers, Acks::Leader, 5_000, 1_000)
        .await
        .unwrap();
}

fn fetched(answer: &ReplicaFetchAnswer) -> &FetchResponse<RecordBytes> {
    match &answer.answer {
        PartitionFetchAnswer::Fetched(response) => response,
        other => panic!("partition {} not fetched: {other:?}", answer.partition),
    }
}

fn batch_count(answer: &ReplicaFetchAnswer) -> usize {
    match &fetched(answer).result {
        FetchResult::Records { batches, .. } => batches.len(),
        other => panic!("no records: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_new_waits_for_the_longest_wait_then_answers_every_partition() {
    let replicas = Replicas::open().await;
    let started = Instant::now();
    let answers = replicas.serve(replicas.fetch(300, 1 << 20)).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(answers.len(), 2);
    assert!(answers.iter().all(|a| fetched(a).is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_to_any_partition_answers_the_whole_fetch_at_once() {
    let replicas = Replicas::open().await;
    let fetch = replicas.fetch(10_000, 1 << 20);
    let leader = replicas.leader(1);
    let producer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        produce(leader, 3).await
    });
    let started = Instant::now();
    let answers = replicas.serve(fetch).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the append on t-1 woke the long poll"
    );
    producer.await.unwrap();
    let counts: Vec<(i32, usize)> = answers
        .iter()
        .map(|a| (a.partition, batch_count(a)))
        .collect();
    assert_eq!(counts, vec![(0, 0), (1, 1)]);
    // The follower stores it; its next fetch goes out at once (no back-off
    // after t-0's empty answer, nor after t-1's records).
    for answer in answers {
        let response = fetched(&answer).clone().map_records(|r| r.0);
        replicas
            .follower(answer.partition)
            .on_fetch_response(response)
            .await
            .unwrap();
    }
    let next = replicas.fetch(0, 1 << 20);
    assert_eq!(next.partitions[1].fetch.fetch_offset, 3);
    assert_eq!(next.partitions[0].fetch.fetch_offset, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_byte_budget_leaves_later_partitions_out() {
    let replicas = Replicas::open().await;
    produce(replicas.leader(0), 2).await;
    produce(replicas.leader(1), 2).await;
    let fetch = replicas.fetch(0, 1);
    // One byte: the first partition with records is answered whatever its
    // size, the second is left out for the next fetch.
    let answers = replicas.serve(fetch.clone()).await;
    assert_eq!(answers.len(), 1);
    assert_eq!((answers[0].partition, batch_count(&answers[0])), (0, 1));
    // The same fetches again (a fetch is idempotent at the leader), the
    // left-out partition first as the follower sends it, with room for both.
    let again = ReplicaFetch {
        partitions: fetch.partitions.into_iter().rev().collect(),
        response_max_bytes: 1 << 20,
        ..fetch
    };
    let answers = replicas.serve(again).await;
    let counts: Vec<(i32, usize)> = answers
        .iter()
        .map(|a| (a.partition, batch_count(a)))
        .collect();
    assert_eq!(counts, vec![(1, 1), (0, 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_partition_is_fenced_and_refused_on_its_own() {
    let replicas = Replicas::open().await;
    let mut fetch = replicas.fetch(10_000, 1 << 20);
    // t-0 follows an older epoch (KIP-320): fenced, while t-1 is served.
    fetch.partitions[0].fetch.current_leader_epoch = 2;
    // A partition this node does not host.
    fetch.partitions.push(ReplicaFetchPartition {
        partition: 7,
        ..fetch.partitions[1].clone()
    });
    let started = Instant::now();
    let answers = replicas.serve(fetch).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an error answers at once"
    );
    assert_eq!(
        fetched(&answers[0]).result,
        FetchResult::Error(FetchError::FencedLeaderEpoch)
    );
    assert!(fetched(&answers[1]).is_empty());
    assert!(matches!(
        answers[2].answer,
        PartitionFetchAnswer::Refused(_)
    ));
}

#[tokio::test]
async fn too_many_partitions_are_refused_whole() {
    let request = FetchRequest {
        correlation_id: 1,
        replica_id: 2,
        fetch_offset: 0,
        last_fetched_epoch: None,
        current_leader_epoch: 0,
        replica_epoch: 0,
    };
    let fetch = ReplicaFetch {
        partitions: vec![part(0, request); REPLICA_FETCH_PARTITIONS_MAX + 1],
        max_wait_ms: 0,
        response_max_bytes: 1,
    };
    let answer = serve_with(|_, _| None, fetch).await;
    assert!(matches!(answer, RpcResponse::Refused(_)), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_follower_stores_no_late_answer_and_fetches_no_more() {
    let replicas = Replicas::open().await;
    produce(replicas.leader(0), 1).await;
    let answers = replicas.serve(replicas.fetch(0, 1 << 20)).await;
    assert_eq!(batch_count(&answers[0]), 1);
    // Removed while its fetch was out (a fetcher still holds the handle).
    let follower = replicas.follower(0);
    follower.resign();
    let response = fetched(&answers[0]).clone().map_records(|r| r.0);
    follower.on_fetch_response(response).await.unwrap();
    assert_eq!(follower.offsets().2, 0, "the late answer is not stored");
    follower.fetch_failed(u64::MAX);
    tokio::time::sleep(Duration::from_millis(300)).await;
    follower.tick();
    assert!(follower.take_fetch().is_none());
}
