//! Replication with real components: PartitionHandles of one partition on
//! real disks in temp dirs, as leader and followers, with the test carrying
//! each follower's fetch to its leader and the answer back (the transport's
//! job in the broker), one fetch at a time so every step is deterministic.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::records::Compression;

use crate::core::partition::Acks;
use crate::core::topic_config::{FsyncPolicy, TopicConfig, TopicDefaults};
use crate::io::clock::HostClock;
use crate::io::real_disk::RealDisk;
use crate::log::compaction_batch::test_support::keyed_batch;
use crate::log::record_batch;
use crate::log::AppendInfo;
use crate::server::config::BugSwitches;
use crate::server::partition_handle::{PartitionHandle, ProduceError, ReplicationTiming};

/// Replicas of partition `t-0`, by node id, each on its own temp dir.
struct Cluster {
    nodes: BTreeMap<i32, Arc<PartitionHandle>>,
    dirs: BTreeMap<i32, tempfile::TempDir>,
    defaults: TopicDefaults,
    timing: ReplicationTiming,
}

impl Cluster {
    async fn open(ids: &[i32]) -> Cluster {
        Cluster::open_with(ids, TopicDefaults::default(), ReplicationTiming::default()).await
    }

    /// Replicas with these topic defaults and timers; fetches are sent
    /// again at once after an empty answer (the test decides when fetches
    /// travel).
    async fn open_with(ids: &[i32], defaults: TopicDefaults, timing: ReplicationTiming) -> Cluster {
        let mut cluster = Cluster {
            nodes: BTreeMap::new(),
            dirs: BTreeMap::new(),
            defaults,
            timing,
        };
        for &id in ids {
            cluster.dirs.insert(id, tempfile::tempdir().unwrap());
            cluster.reopen(id).await;
        }
        cluster
    }

    /// Opens node `id`'s replica on its directory (again: a restart).
    async fn reopen(&mut self, id: i32) {
        let config = TopicConfig::resolve(&BTreeMap::new(), &self.defaults);
        let (handle, _) = PartitionHandle::open(
            Arc::new(RealDisk::new(self.dirs[&id].path())),
            "data",
            "t",
            [1; 16],
            0,
            id,
            100,
            None,
            config,
            BugSwitches::default(),
            Arc::new(HostClock::new()),
        )
        .await
        .expect("partition opens");
        handle.set_replication_timing(ReplicationTiming {
            replica_fetch_backoff_ms: 0,
            ..self.timing
        });
        self.nodes.insert(id, Arc::new(handle));
    }

    fn node(&self, id: i32) -> &Arc<PartitionHandle> {
        &self.nodes[&id]
    }

    /// Carries `follower`'s pending fetch to the leader it names and the
    /// answer back. Returns whether a fetch was pending.
    async fn pump(&self, follower: i32) -> bool {
        let Some((leader, request)) = self.node(follower).take_fetch() else {
            return false;
        };
        let response = self.node(leader).replica_fetch(request, 1 << 20, 0).await;
        self.node(follower)
            .on_fetch_response(response)
            .await
            .expect("the leader's answer is valid");
        true
    }

    /// Pumps `followers` round by round until `done` holds (bounded).
    async fn pump_until(&self, followers: &[i32], mut done: impl FnMut(&Cluster) -> bool) {
        for _ in 0..50 {
            if done(self) {
                return;
            }
            for f in followers {
                self.pump(*f).await;
            }
            // Room for spawned producers to see their answers.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            done(self),
            "replication did not converge: (high watermark, log end) {:?}",
            ends(self)
        );
    }

    /// Every replica's committed, synced records (the high watermarks must
    /// agree first).
    async fn logs(&self) -> BTreeMap<i32, Vec<u8>> {
        let mut logs = BTreeMap::new();
        for (id, node) in &self.nodes {
            node.sync().await.unwrap();
            logs.insert(*id, node.read(0, 1 << 20).unwrap().records);
        }
        logs
    }
}

/// One idempotent batch of `count` records from producer `producer_id`
/// starting at `sequence`.
fn batch(producer_id: i64, sequence: i32, count: usize) -> Vec<u8> {
    let kvs: Vec<_> = (0..count)
        .map(|i| {
            let value = format!("p{producer_id}-s{}", sequence + i as i32);
            (Some(b"k".to_vec()), Some(value.into_bytes()), 1_000)
        })
        .collect();
    keyed_batch(0, &kvs, Compression::None, (producer_id, 0, sequence))
}

async fn produce(
    node: &PartitionHandle,
    bytes: Vec<u8>,
    acks: Acks,
) -> Result<AppendInfo, ProduceError> {
    let headers = record_batch::validate_produced(&bytes, 1 << 20).unwrap();
    node.produce(bytes, &headers, acks, 5_000, 1_000).await
}

fn spawn_produce(
    node: &Arc<PartitionHandle>,
    bytes: Vec<u8>,
) -> tokio::task::JoinHandle<Result<AppendInfo, ProduceError>> {
    let node = Arc::clone(node);
    tokio::spawn(async move { produce(&node, bytes, Acks::All).await })
}

/// A produce answered by `timeout_ms` at the latest.
fn spawn_produce_timeout(
    node: &Arc<PartitionHandle>,
    bytes: Vec<u8>,
    timeout_ms: u64,
) -> tokio::task::JoinHandle<Result<AppendInfo, ProduceError>> {
    let node = Arc::clone(node);
    tokio::spawn(async move {
        let headers = record_batch::validate_produced(&bytes, 1 << 20).unwrap();
        node.produce(bytes, &headers, Acks::All, timeout_ms, 1_000)
            .await
    })
}

fn ends(cluster: &Cluster) -> Vec<(i64, i64)> {
    cluster
        .nodes
        .values()
        .map(|n| {
            let (_, hw, end) = n.offsets();
            (hw, end)
        })
        .collect()
}

async fn lead(cluster: &Cluster, leader: i32, epoch: i32, isr: &[i32]) {
    let replicas: Vec<i32> = cluster.nodes.keys().copied().collect();
    cluster
        .node(leader)
        .become_leader(epoch, isr.to_vec(), replicas)
        .await
        .unwrap();
    for id in cluster.nodes.keys().filter(|id| **id != leader) {
        cluster.node(*id).become_follower(leader, epoch).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_waits_for_every_follower_and_the_copies_are_byte_identical() {
    for ids in [&[1, 2][..], &[1, 2, 3][..]] {
        let cluster = Cluster::open(ids).await;
        lead(&cluster, 1, 1, ids).await;
        let followers = &ids[1..];
        let acked = spawn_produce(cluster.node(1), batch(7, 0, 3));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !acked.is_finished(),
            "acks=all answered before the followers fetched"
        );
        // One round hands the records over; the next fetch tells the
        // leader the followers have them.
        for f in followers {
            assert!(cluster.pump(*f).await);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !acked.is_finished(),
            "answered before the followers confirmed"
        );
        for f in followers {
            assert!(cluster.pump(*f).await);
        }
        let info = acked.await.unwrap().expect("acknowledged");
        assert_eq!((info.base_offset, info.last_offset), (0, 2));
        assert!(matches!(
            produce(cluster.node(followers[0]), batch(8, 0, 1), Acks::Leader).await,
            Err(ProduceError::NotLeaderOrFollower)
        ));
        cluster
            .pump_until(followers, |c| ends(c).iter().all(|e| *e == (3, 3)))
            .await;
        let logs = cluster.logs().await;
        assert!(!logs[&1].is_empty());
        assert!(logs.values().all(|l| *l == logs[&1]), "{ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_truncates_a_divergent_suffix_by_epoch_and_dedupes_a_retry() {
    let cluster = Cluster::open(&[1, 2, 3]).await;
    lead(&cluster, 1, 1, &[1, 2, 3]).await;
    // Both followers fetch once in epoch 1, then receive batch A (2
    // records): their high watermark is still 0, as is the leader's.
    let a = batch(7, 0, 2);
    cluster.pump(2).await;
    cluster.pump(3).await;
    produce(cluster.node(1), a.clone(), Acks::Leader)
        .await
        .unwrap();
    cluster.pump(2).await;
    cluster.pump(3).await;
    assert_eq!(cluster.node(2).offsets(), (0, 0, 2));
    // B reaches only the old leader, which is then replaced.
    produce(cluster.node(1), batch(7, 2, 2), Acks::Leader)
        .await
        .unwrap();
    assert_eq!(cluster.node(1).offsets(), (0, 0, 4));

    lead(&cluster, 2, 2, &[2, 3]).await;
    let c = spawn_produce(cluster.node(2), batch(9, 0, 1));
    // Node 1's first fetch in epoch 2 learns that its epoch 1 ends at 2 on
    // the new leader: it cuts B and keeps A, above its high watermark 0.
    assert!(cluster.pump(1).await);
    assert_eq!(
        cluster.node(1).offsets(),
        (0, 0, 2),
        "truncated to the epoch end"
    );
    cluster
        .pump_until(&[1, 3], |c| ends(c).iter().all(|e| *e == (3, 3)))
        .await;
    assert_eq!(c.await.unwrap().unwrap().base_offset, 2);

    // The producer never heard back about A and retries it at the new
    // leader, which has A from replication: answered, not appended again.
    let retry = spawn_produce(cluster.node(2), a);
    cluster.pump_until(&[1, 3], |_| retry.is_finished()).await;
    let info = retry.await.unwrap().expect("the retry is acknowledged");
    assert_eq!((info.base_offset, info.last_offset), (0, 1));
    assert_eq!(cluster.node(2).offsets(), (0, 3, 3), "nothing appended");

    let logs = cluster.logs().await;
    assert_eq!(logs.values().filter(|l| **l == logs[&2]).count(), 3);
}

/// The leader-epoch file can lose an epoch whose records survive: it is
/// written when the log syncs, and under fsync.policy=never a power loss
/// can keep records the page cache wrote back and lose the file's update.
/// Recovery gives the cache the epochs of the batches it scanned (Kafka's
/// `LogSegment.recover`). Without that, the restarted leader, knowing no
/// epoch below its new one, answered the follower ending in epoch 1
/// "diverging at (-1, 0)": the follower cut its log to 0, fetched the same
/// epoch-1 batches again, and so on forever, never back in the ISR
/// (`--cluster 3 --fsync-never --correlated-crashes` seeds 26, 51).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_leader_gets_epochs_its_file_lost_back_from_its_batches() {
    let mut cluster = Cluster::open(&[1, 2]).await;
    lead(&cluster, 1, 1, &[1, 2]).await;
    let acked = spawn_produce(cluster.node(1), batch(7, 0, 3));
    cluster
        .pump_until(&[2], |c| ends(c).iter().all(|e| *e == (3, 3)))
        .await;
    acked.await.unwrap().expect("acknowledged");
    // Node 1 restarts with its records but without its epoch file.
    let epoch_file = cluster.dirs[&1]
        .path()
        .join("data/t-0/leader-epoch-checkpoint");
    std::fs::remove_file(&epoch_file).expect("the epoch file was written");
    cluster.reopen(1).await;
    lead(&cluster, 1, 2, &[1]).await;
    for _ in 0..4 {
        assert!(cluster.pump(2).await);
        assert_eq!(
            cluster.node(2).offsets().2,
            3,
            "the follower keeps its records of epoch 1"
        );
    }
    let cache = cluster
        .node(1)
        .with_epochs(|view| view.cache.entries().to_vec());
    assert_eq!(
        cache,
        vec![(1, 0), (2, 3)],
        "epoch 1 recovered from the batches"
    );
}

/// A leader's answer is untrusted input: a flipped bit or a lying record
/// count is refused with an error, nothing is stored, and the follower
/// fetches again and catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_fetch_answer_is_refused_and_the_follower_fetches_again() {
    use crate::core::partition::FetchResult;
    use crate::log::LogError;

    let cluster = Cluster::open(&[1, 2]).await;
    lead(&cluster, 1, 1, &[1, 2]).await;
    produce(cluster.node(1), batch(7, 0, 2), Acks::Leader)
        .await
        .unwrap();
    type Damage = fn(&mut crate::core::partition::StoredBatch<Vec<u8>>);
    let damages: [Damage; 3] = [
        |b| {
            let last = b.records.len() - 1;
            b.records[last] ^= 1;
        },
        |b| b.record_count += 5,
        |b| b.epoch += 1,
    ];
    for damage in damages {
        let (leader, request) = cluster.node(2).take_fetch().expect("a fetch is due");
        let mut response = cluster
            .node(leader)
            .replica_fetch(request, 1 << 20, 0)
            .await;
        let FetchResult::Records { batches, .. } = &mut response.result else {
            panic!("records expected, got {:?}", response.result);
        };
        damage(&mut batches[0]);
        let refused = cluster.node(2).on_fetch_response(response).await;
        assert!(
            matches!(refused, Err(LogError::RejectedBatch { .. })),
            "{refused:?}"
        );
        assert_eq!(cluster.node(2).offsets().2, 0, "nothing stored");
        // The follower backs off (0 ms here) and fetches again on a tick.
        cluster.node(2).tick();
    }
    cluster
        .pump_until(&[2], |c| {
            c.node(2).tick();
            ends(c).iter().all(|e| *e == (2, 2))
        })
        .await;
}

/// Under `fsync.policy=always` a follower syncs what it copied before it
/// fetches again, so the offset it fetches from (what the leader counts
/// toward the high watermark) is durable: its copy is readable without
/// another sync once the high watermark reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_fsync_always_a_follower_syncs_before_it_fetches_again() {
    let defaults = TopicDefaults {
        fsync_policy: FsyncPolicy::Always,
        ..TopicDefaults::default()
    };
    let cluster = Cluster::open_with(&[1, 2], defaults, ReplicationTiming::default()).await;
    lead(&cluster, 1, 1, &[1, 2]).await;
    let acked = spawn_produce(cluster.node(1), batch(7, 0, 2));
    cluster.pump_until(&[2], |_| acked.is_finished()).await;
    assert_eq!(acked.await.unwrap().unwrap().base_offset, 0);
    cluster
        .pump_until(&[2], |c| ends(c).iter().all(|e| *e == (2, 2)))
        .await;
    let copy = cluster.node(2).read(0, 1 << 20).unwrap().records;
    assert!(!copy.is_empty(), "the follower's copy is durable already");
}

/// The ISR as the machine proposes it and the controller commits it: a
/// caught-up follower is proposed in; a lagging one is proposed out, and
/// then acks=all fails with NOT_ENOUGH_REPLICAS(_AFTER_APPEND) under
/// `min.insync.replicas=2`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_isr_grows_and_shrinks_through_proposals_and_min_insync_replicas_holds() {
    let defaults = TopicDefaults {
        min_insync_replicas: 2,
        ..TopicDefaults::default()
    };
    let timing = ReplicationTiming {
        replica_lag_time_max_ms: 50,
        ..ReplicationTiming::default()
    };
    let cluster = Cluster::open_with(&[1, 2], defaults, timing).await;
    let leader = cluster.node(1);
    lead(&cluster, 1, 1, &[1]).await;
    assert!(matches!(
        produce(leader, batch(7, 0, 1), Acks::All).await,
        Err(ProduceError::NotEnoughReplicas { required: 2 })
    ));
    produce(leader, batch(7, 0, 1), Acks::Leader).await.unwrap();
    // The follower catches up and is proposed into the ISR.
    cluster.pump(2).await;
    cluster.pump(2).await;
    let proposal = tokio::time::timeout(Duration::from_secs(5), leader.next_isr_proposal())
        .await
        .expect("an ISR expansion is proposed");
    assert_eq!((proposal.leader_epoch, proposal.isr), (1, vec![1, 2]));
    leader.isr_committed(1, vec![1, 2]).unwrap();
    assert_eq!(leader.isr(), Some(vec![1, 2]));
    let acked = spawn_produce(leader, batch(7, 1, 1));
    cluster.pump_until(&[2], |_| acked.is_finished()).await;
    assert!(acked.await.unwrap().is_ok());

    // The follower stops fetching: past replica.lag.time.max.ms the leader
    // proposes it out. Below min.insync.replicas the high watermark stands
    // still (KIP-966: the follower is an eligible leader now), so a produce
    // waiting meanwhile is answered by its timeout, as in Kafka.
    let waiting = spawn_produce_timeout(leader, batch(7, 2, 1), 1_000);
    tokio::time::sleep(Duration::from_millis(120)).await;
    leader.tick();
    let proposal = tokio::time::timeout(Duration::from_secs(5), leader.next_isr_proposal())
        .await
        .expect("an ISR shrink is proposed");
    assert_eq!((proposal.leader_epoch, proposal.isr), (1, vec![1]));
    assert!(
        !waiting.is_finished(),
        "the pending proposal still counts the follower"
    );
    leader.isr_committed(1, vec![1]).unwrap();
    assert!(matches!(
        waiting.await.unwrap(),
        Err(ProduceError::TimedOut)
    ));
    assert!(matches!(
        produce(leader, batch(7, 3, 1), Acks::All).await,
        Err(ProduceError::NotEnoughReplicas { required: 2 })
    ));
}

/// A new leader may know a high watermark below what the last leader
/// acknowledged; until its ISR fetches in its epoch it must not answer
/// ListOffsets (Kafka: OFFSET_NOT_AVAILABLE), or a client reading "up to the
/// latest offset" stops short of acknowledged records (the Jepsen
/// harness's final read did, after a leader was paused and replaced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_holds_back_its_latest_offset_until_its_high_watermark_covers_the_old_epoch() {
    let cluster = Cluster::open(&[1, 2, 3]).await;
    lead(&cluster, 1, 1, &[1, 2, 3]).await;
    assert!(!cluster.node(1).high_watermark_lags_epoch_start());
    let acked = spawn_produce(cluster.node(1), batch(7, 0, 3));
    // The produce task appends first (bounded wait), or round one would
    // carry nothing.
    for _ in 0..200 {
        if cluster.node(1).offsets().2 == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Round one hands the records over, round two tells the leader: it
    // acknowledges, but the followers have not heard the new high
    // watermark (that would take a third fetch).
    for _ in 0..2 {
        for f in [2, 3] {
            assert!(cluster.pump(f).await);
        }
    }
    acked.await.unwrap().expect("acknowledged");
    assert_eq!(cluster.node(1).offsets().1, 3);
    assert!(cluster.node(2).offsets().1 < 3, "{:?}", ends(&cluster));
    // Node 1 is gone; node 2 leads epoch 2 with node 3.
    cluster
        .node(2)
        .become_leader(2, vec![2, 3], vec![1, 2, 3])
        .await
        .unwrap();
    cluster.node(3).become_follower(2, 2).unwrap();
    assert!(
        cluster.node(2).high_watermark_lags_epoch_start(),
        "the new leader's high watermark {:?} is below acknowledged offsets",
        ends(&cluster)
    );
    cluster
        .pump_until(&[3], |c| !c.node(2).high_watermark_lags_epoch_start())
        .await;
    assert_eq!(cluster.node(2).offsets().1, 3);
}
