//! Three Peers + Quorum nodes on loopback with real disks: election,
//! ordered apply, NotLeader, fail-over, and catching up from disk (log and
//! snapshot) after a restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::*;
use crate::io::clock::HostClock;
use crate::io::real_disk::RealDisk;

const DIR: &str = "@cluster_metadata/raft";
const WAIT: Duration = Duration::from_secs(20);

fn config(voters: &[u64], snapshot_interval_entries: u64) -> RaftConfig {
    let mut config = RaftConfig::new(voters.iter().copied());
    config.election_timeout_min_ms = 300;
    config.election_timeout_max_ms = 600;
    config.heartbeat_interval_ms = 50;
    config.snapshot_interval_entries = snapshot_interval_entries;
    config
}

/// The application: the records applied, in order.
#[derive(Default)]
struct Image {
    records: Vec<Vec<u8>>,
    snapshots_installed: usize,
}

struct TestNode {
    id: i32,
    peers: Arc<Peers>,
    quorum: Arc<Quorum>,
    image: Arc<Mutex<Image>>,
    apply: JoinHandle<()>,
}

impl TestNode {
    async fn start(
        id: i32,
        data: &tempfile::TempDir,
        listener: TcpListener,
        addresses: BTreeMap<i32, SocketAddr>,
        incarnation: u64,
    ) -> TestNode {
        let disk: Arc<dyn Disk> = Arc::new(RealDisk::new(data.path()));
        let config = config(&[1, 2, 3], 4);
        TestNode::start_on(id, disk, config, listener, addresses, incarnation).await
    }

    async fn start_on(
        id: i32,
        disk: Arc<dyn Disk>,
        config: RaftConfig,
        listener: TcpListener,
        addresses: BTreeMap<i32, SocketAddr>,
        incarnation: u64,
    ) -> TestNode {
        let peers = Peers::start(id, "c1", listener, addresses, incarnation);
        let (quorum, mut events) = Quorum::start(
            disk,
            Arc::new(HostClock::new()),
            DIR,
            config,
            id,
            incarnation * 100 + id as u64,
            Arc::clone(&peers),
        )
        .await
        .unwrap();
        let image = Arc::new(Mutex::new(Image::default()));
        let apply = tokio::spawn({
            let image = Arc::clone(&image);
            let quorum = Arc::clone(&quorum);
            async move {
                while let Some(event) = events.recv().await {
                    match event {
                        QuorumEvent::Apply { payload, .. } => {
                            image.lock().unwrap().records.push(payload)
                        }
                        QuorumEvent::InstallSnapshot { data, .. } => {
                            let mut image = image.lock().unwrap();
                            image.records = bincode::deserialize(&data).unwrap();
                            image.snapshots_installed += 1;
                        }
                        QuorumEvent::TakeSnapshot { index } => {
                            let data = bincode::serialize(&image.lock().unwrap().records).unwrap();
                            quorum.on_snapshot_taken(index, data).await;
                        }
                        QuorumEvent::NoOp { .. } | QuorumEvent::Role(_) => {}
                    }
                }
            }
        });
        TestNode {
            id,
            peers,
            quorum,
            image,
            apply,
        }
    }

    fn records(&self) -> Vec<Vec<u8>> {
        self.image.lock().unwrap().records.clone()
    }

    async fn stop(self) {
        self.quorum.shutdown().await;
        self.peers.shutdown();
        self.apply.abort();
    }
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The one ready leader among `nodes`, once every node agrees on it.
async fn ready_leader(nodes: &[&TestNode]) -> i32 {
    let mut leader = None;
    eventually("a ready leader all agree on", || {
        let ready: Vec<i32> = nodes
            .iter()
            .filter(|n| n.quorum.is_ready_leader())
            .map(|n| n.id)
            .collect();
        leader = ready.first().copied();
        ready.len() == 1 && nodes.iter().all(|n| n.quorum.leader() == leader)
    })
    .await;
    leader.unwrap()
}

fn by_id<'a>(nodes: &'a [&'a TestNode], id: i32) -> &'a TestNode {
    nodes.iter().find(|n| n.id == id).unwrap()
}

async fn propose_all(leader: &TestNode, from: usize, to: usize) {
    for k in from..to {
        let payload = format!("record-{k}").into_bytes();
        tokio::time::timeout(WAIT, leader.quorum.propose_and_wait(payload))
            .await
            .expect("committed in time")
            .expect("committed");
    }
}

fn expected(to: usize) -> Vec<Vec<u8>> {
    (0..to)
        .map(|k| format!("record-{k}").into_bytes())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_replicate_fail_over_and_catch_up() {
    let data: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (listeners, addresses) = bind_three().await;
    let mut nodes = Vec::new();
    for (k, listener) in listeners.into_iter().enumerate() {
        let id = k as i32 + 1;
        nodes.push(TestNode::start(id, &data[k], listener, addresses.clone(), 1).await);
    }

    // Elected, then proposals applied in one order everywhere.
    let refs: Vec<&TestNode> = nodes.iter().collect();
    let first = ready_leader(&refs).await;
    // A stranger's garbage at the leader's rpc port changes nothing.
    let mut garbage = tokio::net::TcpStream::connect(addresses[&first])
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut garbage, &[0x5a; 10_000])
        .await
        .unwrap();
    propose_all(by_id(&refs, first), 0, 10).await;
    eventually("all three applied 10", || {
        nodes.iter().all(|n| n.records() == expected(10))
    })
    .await;
    let follower = nodes.iter().find(|n| n.id != first).unwrap();
    assert_eq!(
        follower.quorum.propose(b"no".to_vec()).await,
        Err(ProposalError::NotLeader {
            leader_hint: Some(first)
        })
    );

    // The leader stops: another is elected and proposals continue,
    // compacting the log behind snapshots.
    let position = nodes.iter().position(|n| n.id == first).unwrap();
    let old = nodes.remove(position);
    old.stop().await;
    let refs: Vec<&TestNode> = nodes.iter().collect();
    let second = ready_leader(&refs).await;
    assert_ne!(second, first);
    propose_all(by_id(&refs, second), 10, 30).await;
    eventually("the two applied 30", || {
        nodes.iter().all(|n| n.records() == expected(30))
    })
    .await;

    // The old leader restarts from its disk (its own snapshot and log) and
    // catches up from the leader's snapshot (its log was compacted).
    let listener = rebind(addresses[&first]).await;
    let restarted = TestNode::start(first, &data[position], listener, addresses.clone(), 2).await;
    eventually("the restarted node caught up", || {
        restarted.records() == expected(30)
    })
    .await;
    assert!(
        restarted.image.lock().unwrap().snapshots_installed >= 2,
        "its own snapshot from disk, then the leader's"
    );
    nodes.push(restarted);
    let refs: Vec<&TestNode> = nodes.iter().collect();
    let leader = ready_leader(&refs).await;
    propose_all(by_id(&refs, leader), 30, 35).await;
    eventually("all three applied 35", || {
        nodes.iter().all(|n| n.records() == expected(35))
    })
    .await;
    for node in nodes {
        node.stop().await;
    }
}

async fn bind_three() -> (Vec<TcpListener>, BTreeMap<i32, SocketAddr>) {
    let mut listeners = Vec::new();
    let mut addresses = BTreeMap::new();
    for id in 1..=3 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addresses.insert(id, listener.local_addr().unwrap());
        listeners.push(listener);
    }
    (listeners, addresses)
}

async fn rebind(address: SocketAddr) -> TcpListener {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match TcpListener::bind(address).await {
            Ok(listener) => return listener,
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "rebind: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_catches_up_from_the_log() {
    let data: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (listeners, addresses) = bind_three().await;
    let mut nodes = Vec::new();
    for (k, listener) in listeners.into_iter().enumerate() {
        let disk: Arc<dyn Disk> = Arc::new(RealDisk::new(data[k].path()));
        let config = config(&[1, 2, 3], 10_000);
        let node =
            TestNode::start_on(k as i32 + 1, disk, config, listener, addresses.clone(), 1).await;
        nodes.push(node);
    }
    let refs: Vec<&TestNode> = nodes.iter().collect();
    let leader = ready_leader(&refs).await;
    propose_all(by_id(&refs, leader), 0, 5).await;
    eventually("all three applied 5", || {
        nodes.iter().all(|n| n.records() == expected(5))
    })
    .await;
    let position = nodes.iter().position(|n| n.id != leader).unwrap();
    let follower = nodes.remove(position);
    let follower_id = follower.id;
    follower.stop().await;
    propose_all(by_id(&nodes.iter().collect::<Vec<_>>(), leader), 5, 15).await;

    let disk: Arc<dyn Disk> = Arc::new(RealDisk::new(data[position].path()));
    let listener = rebind(addresses[&follower_id]).await;
    let config = config(&[1, 2, 3], 10_000);
    let restarted =
        TestNode::start_on(follower_id, disk, config, listener, addresses.clone(), 2).await;
    eventually("the restarted follower caught up", || {
        restarted.records() == expected(15)
    })
    .await;
    assert_eq!(restarted.image.lock().unwrap().snapshots_installed, 0);
    restarted.stop().await;
    for node in nodes {
        node.stop().await;
    }
}

/// One voter on a simulated disk: what was committed survives a crash
/// that drops every unsynced byte; a failed fsync stops the quorum.
#[tokio::test]
async fn a_single_voter_keeps_what_it_committed_across_a_crash() {
    use crate::io::sim_disk::{SimDisk, SimDiskFaults};

    let disk = Arc::new(SimDisk::new(
        7,
        SimDiskFaults {
            crash_torn_write_probability: 0.5,
            crash_zeroed_tail_probability: 0.5,
            ..SimDiskFaults::default()
        },
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let addresses = BTreeMap::from([(1, address)]);
    let start = |listener, incarnation| {
        let disk = Arc::clone(&disk) as Arc<dyn Disk>;
        let addresses = addresses.clone();
        async move {
            TestNode::start_on(1, disk, config(&[1], 3), listener, addresses, incarnation).await
        }
    };
    let node = start(listener, 1).await;
    ready_leader(&[&node]).await;
    propose_all(&node, 0, 10).await;
    node.stop().await;
    disk.crash();

    let node = start(rebind(address).await, 2).await;
    eventually("the committed records are back", || {
        node.records() == expected(10)
    })
    .await;
    ready_leader(&[&node]).await;
    propose_all(&node, 10, 12).await;

    // The disk fails every fsync from now: the quorum stops, never acks.
    disk.set_faults(SimDiskFaults {
        sync_eio_probability: 1.0,
        ..SimDiskFaults::default()
    });
    let lost = node.quorum.propose_and_wait(b"never".to_vec()).await;
    assert!(
        matches!(
            lost,
            Err(ProposalError::Lost(CommitLost::Stopped)) | Err(ProposalError::Stopped)
        ),
        "{lost:?}"
    );
    eventually("the quorum stopped", || node.quorum.is_stopped()).await;
    node.stop().await;
}

/// The driver reports to this thread's `raft_events` listener (the
/// simulator's Figure 8 trap and applied-entries check) each leadership,
/// proposal, leader commit and applied entry, in the order they happen.
#[tokio::test]
async fn the_driver_reports_leadership_appends_commits_and_applied_entries() {
    use crate::raft_events::{self, RaftEvent};

    let heard: Arc<Mutex<Vec<RaftEvent>>> = Arc::default();
    let sink = Arc::clone(&heard);
    raft_events::listen_on_this_thread(Box::new(move |event| {
        sink.lock().unwrap().push(*event);
    }));
    let data = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addresses = BTreeMap::from([(1, listener.local_addr().unwrap())]);
    let disk: Arc<dyn Disk> = Arc::new(RealDisk::new(data.path()));
    let node = TestNode::start_on(1, disk, config(&[1], 1_000), listener, addresses, 1).await;
    ready_leader(&[&node]).await;
    propose_all(&node, 0, 1).await;
    node.stop().await;
    raft_events::stop_on_this_thread();

    let heard = heard.lock().unwrap().clone();
    let term = match heard.first() {
        Some(RaftEvent::BecameLeader { node: 1, term }) => *term,
        other => panic!("first a leadership, not {other:?}: {heard:?}"),
    };
    // The no-op at 1, then the record at 2: each appended (the record
    // only: the no-op is the leader's own), committed, then applied.
    let expected = vec![
        RaftEvent::BecameLeader { node: 1, term },
        RaftEvent::CommitAdvanced {
            node: 1,
            term,
            commit_index: 1,
        },
        RaftEvent::Applied {
            node: 1,
            index: 1,
            term,
        },
        RaftEvent::Appended {
            node: 1,
            term,
            index: 2,
        },
        RaftEvent::CommitAdvanced {
            node: 1,
            term,
            commit_index: 2,
        },
        RaftEvent::Applied {
            node: 1,
            index: 2,
            term,
        },
    ];
    assert_eq!(heard, expected);
}
