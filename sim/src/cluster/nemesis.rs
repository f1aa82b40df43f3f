//! The cluster nemesis: one fault at a time, drawn from the seed, each
//! recorded in the history, from `start` to `end`; then every node runs and
//! every link is whole again.
//!
//! | fault | how | promise it tests |
//! |---|---|---|
//! | power loss of any node | `Handle::kill`, its `SimDisk::crash` (unsynced data dropped, torn, ...), down 0–3 s, `restart` | acks=all with fsync=always and min.insync.replicas=2 survives one node's power loss; the restarted node recovers, truncates by leader epoch and rejoins |
//! | power loss of a partition leader | the same, on the node Metadata names leader of a random partition, right after acknowledgements to it | an acknowledged record is on the ISR, not only on the leader (`ack-before-isr` is caught here) |
//! | isolate a node | every link between it and the other nodes clogged both ways for 0.5–5 s; clients still reach it (sometimes cut too) | a minority node cannot acknowledge acks=all, is fenced after its session times out, and catches up after |
//! | isolate a partition leader / the Raft leader | the same, on the leader Metadata names (the active controller is the Raft leader) | the old leader stops acknowledging (min ISR, AlterPartition needs the quorum); a new leader and controller are elected; no acknowledged write lost, no offset reused |
//! | bipartition | the nodes split in two random sides (links between them clogged) | only a majority side makes progress |
//! | pause | `Handle::pause` a node 50 ms – 2.5 s (a GC pause) | a paused leader's late answers and fetches are fenced by epoch |
//!
//! | write/fsync EIO window on any node or a partition leader | `disk_nemesis::eio_window` on its `SimDisk` (0.5–5 s; a failed fsync drops its pages in most seeds: fsyncgate) | a failed write or sync is never acknowledged; the node stops (Kafka with its only log dir failed), the supervisor restarts it, it recovers from what the disk holds, truncates by epoch and rejoins the ISR |
//! | disk full on a node | `disk_nemesis::disk_full_window` (ENOSPC just above current use) | the same: ENOSPC fails, never corrupts, the node comes back |
//! | read EIO on a node | `disk_nemesis::read_eio_window` | a failed read is KAFKA_STORAGE_ERROR, never wrong data; a partition open that cannot read stops the node, and the restart opens it again |
//! | rot of cold data on a node | `disk_nemesis::rot`: 1–3 bits in sealed segments of the checked topic below the durable recovery point (one node's copy) | the damaged batch is refused (CORRUPT_MESSAGE) where it is read, never served; `spurious-corruption` is coarse here (it knows the segment, not the node) |
//! | power loss of every node at once (`--correlated-crashes` only) | every node killed in the same instant, every `SimDisk::crash`ed, down 0–3 s, all restarted; recorded as `NodesPowerLost` naming the nodes | with fsync=always nothing acknowledged is lost (synced on every ISR member, the Raft log synced); with fsync=never acknowledged records may be lost (in memory only), which the checkers excuse for acknowledgements made before it |
//! | clock steps per node | `clock_nemesis::run` per node (its own stream): steps forward and back of 10 ms – 3 h, resynced before faults end | timers run on monotonic time: sessions, elections and ISR timeouts neither fire nor starve |
//! | Figure 8 (a quarter of the seeds; then half the faults) | `figure8::episode`: a metadata proposal prompted, then the Raft leader isolated as it appends, the next leader isolated as it wins (the first let back), the next isolated as its commit index moves (the second let back), at the instant the Raft driver reports each (`odradek::raft_events`); these seeds run one entry per Raft append | a Raft leader commits an earlier term's entry only with one of its own term (Raft §5.4.2; `commit-old-term` is caught here, by `applied_entries`) |
//! | leader churn (half the seeds; then half the faults) | `churn::episode`: 2–5 overlapping steps around one partition of the checked topic (short power losses of its leader, pauses and isolations of its followers, isolating its leader or the Raft leader, one link cut, chasing the next leader epoch, KIP-279's schedule aimed) | fast consecutive leader changes with a lagging follower: truncation walks back epoch by epoch (`kip101-only` is caught here) |
//! | missed epochs (4+ nodes, half the seeds; then 30% of the faults) | `missed_epochs::episode`: a follower `F` cut from every node but its leader `L` (fenced, out of the ISR), the next leader `M` cut from `L` while producers write, `L` power-cycled (`M` leads, `L` rejoins), `M` power-cycled (`L` leads again), then `F` healed | a follower's fetch of an old epoch is fenced (KIP-320): it never appends a newer leader's records after a tail that leader truncated (`unfenced-fetch` is caught here) |
//!
//! Disk faults hit one node's disk at a time (the one-fault-at-a-time
//! loop), so every acknowledged record keeps a good copy on another ISR
//! member: rot on every replica at once is not injected (that would lose
//! data legitimately). Clock steps run in tasks of their own, alongside.
//!
//! The correlated power loss is an experiment (`--correlated-crashes`): it
//! is drawn from a stream of its own, before each fault of the loop, so a
//! seed without it draws every other fault as before. Missed-epochs
//! episodes, then leader churn, then the Figure 8 episode are drawn the
//! same way, each from its own stream, after it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::Handle;
use odradek::io::sim_disk::{SimDisk, SimDiskFaults};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::{sleep, Instant};

use crate::cluster::router::Router;
use crate::cluster::topology::NodeId;
use crate::cluster::{churn, figure8, missed_epochs};
use crate::disk_nemesis;
use crate::history::{EventKind, NemesisAction};
use crate::recorder::Recorder;
use crate::workload::WorkloadControl;

/// One node as the nemesis and the supervisor see it.
pub struct SimNode {
    pub id: NodeId,
    pub madsim_id: madsim::task::NodeId,
    pub disk: Arc<SimDisk>,
    /// Set while the nemesis holds the node down, so the supervisor does
    /// not restart it in the middle of a power loss.
    pub held_down: AtomicBool,
}

#[derive(Debug, Clone)]
pub struct ClusterNemesisPlan {
    pub seed: u64,
    pub start: Duration,
    pub end: Duration,
    /// Pause between two faults (ms).
    pub gap_ms: (u64, u64),
    pub downtime_ms: (u64, u64),
    /// How long a network partition lasts (ms).
    pub window_ms: (u64, u64),
    pub node_pause_ms: (u64, u64),
    /// Weights of: kill any node, kill a leader, isolate any node, isolate
    /// a partition leader, isolate the Raft leader, bipartition, pause,
    /// write/fsync EIO window, disk-full window, read-EIO window, rot.
    pub weights: [u32; 11],
    /// The crash-time fault rates every disk runs with (kept outside
    /// windows).
    pub crash_faults: SimDiskFaults,
    /// Per-operation rates during an EIO window.
    pub write_eio_probability: f64,
    pub sync_eio_probability: f64,
    /// Per read during a read-EIO window.
    pub read_eio_probability: f64,
    /// Bits flipped per rot fault.
    pub rot_per_fault: u32,
    /// The chance, before each fault, that it is a power loss of every
    /// node at once instead (0 without `--correlated-crashes`).
    pub correlated_crash_probability: f64,
    /// The chance, before each fault, that it is a leader-churn episode
    /// instead (`churn::draw`: 0 in the seeds without churn).
    pub churn_probability: f64,
    /// The chance, before each fault, that it is a missed-epochs episode
    /// instead (`missed_epochs::draw`: 0 in the seeds without it).
    pub missed_epochs_probability: f64,
    /// Partitions of the checked topic (the churn picks one).
    pub partitions: i32,
    /// The chance, before each fault, that it is a Figure 8 episode
    /// instead (`figure8::draw`: 0 in the seeds without it).
    pub figure8_probability: f64,
    /// The episode's hook into the nodes' Raft events.
    pub figure8_trap: figure8::Trap,
}

/// The disk faults a node takes (actions 7 to 10), on `node`'s disk; each
/// is recorded after a `NodeDiskFaulted` naming the node.
async fn disk_fault(
    plan: &ClusterNemesisPlan,
    action: usize,
    (node, why): (&SimNode, &str),
    (rng, window): (&mut ChaCha8Rng, Duration),
    recorder: &Recorder,
) {
    recorder.record(EventKind::Nemesis(NemesisAction::NodeDiskFaulted {
        node: node.id,
        why: why.to_string(),
    }));
    let (disk, base) = (node.disk.as_ref(), &plan.crash_faults);
    match action {
        7 => {
            let rates = (plan.write_eio_probability, plan.sync_eio_probability);
            disk_nemesis::eio_window(disk, base, rates, window, recorder).await;
        }
        8 => {
            let slack_bytes = rng.gen_range(0..4096);
            disk_nemesis::disk_full_window(disk, base, slack_bytes, window, recorder).await;
        }
        9 => {
            let rate = plan.read_eio_probability;
            disk_nemesis::read_eio_window(disk, base, rate, window, recorder).await;
        }
        _ => {
            disk_nemesis::rot(disk, plan.rot_per_fault, false, recorder);
        }
    }
}

fn between(rng: &mut ChaCha8Rng, (low, high): (u64, u64)) -> Duration {
    Duration::from_millis(rng.gen_range(low..=high))
}

/// The node a fresh Metadata answer names: the leader of a random
/// partition, or the active controller. `None` if no node answered.
async fn current_leader(
    router: &mut Router,
    rng: &mut ChaCha8Rng,
    controller: bool,
) -> Option<NodeId> {
    router.refresh().await.ok()?;
    let view = router.view();
    let leader = if controller {
        view.controller
    } else {
        let leaders: Vec<NodeId> = view.partitions.values().map(|p| p.leader).collect();
        *leaders.choose(rng)?
    };
    router.nodes().contains(&leader).then_some(leader)
}

/// Applies a power loss to `node`'s disk (its page cache is gone) and
/// records what each unsynced file kept.
fn crash_disk(node: &SimNode, recorder: &Recorder) {
    let outcomes = node
        .disk
        .crash()
        .iter()
        .map(|(path, outcome)| format!("{path}: {}", disk_nemesis::describe(outcome)))
        .collect();
    recorder.record(EventKind::Nemesis(NemesisAction::DiskCrashed { outcomes }));
}

pub(crate) async fn power_loss(node: &SimNode, recorder: &Recorder, downtime: Duration, why: &str) {
    let handle = Handle::current();
    node.held_down.store(true, Ordering::Relaxed);
    handle.kill(node.madsim_id);
    recorder.record(EventKind::Nemesis(NemesisAction::NodeKilled {
        node: node.id,
        why: why.to_string(),
    }));
    crash_disk(node, recorder);
    sleep(downtime).await;
    handle.restart(node.madsim_id);
    node.held_down.store(false, Ordering::Relaxed);
    recorder.record(EventKind::Nemesis(NemesisAction::NodeRestarted {
        node: node.id,
    }));
}

/// Every node loses power in the same instant (a rack's power cut): all
/// killed before any disk crashes, so no node runs while another's page
/// cache is gone; down for `downtime`, then all restarted.
async fn power_loss_everywhere(
    nodes: &BTreeMap<NodeId, Arc<SimNode>>,
    recorder: &Recorder,
    downtime: Duration,
) {
    let handle = Handle::current();
    for node in nodes.values() {
        node.held_down.store(true, Ordering::Relaxed);
        handle.kill(node.madsim_id);
    }
    recorder.record(EventKind::Nemesis(NemesisAction::NodesPowerLost {
        nodes: nodes.keys().copied().collect(),
    }));
    for node in nodes.values() {
        crash_disk(node, recorder);
    }
    sleep(downtime).await;
    for node in nodes.values() {
        handle.restart(node.madsim_id);
        node.held_down.store(false, Ordering::Relaxed);
        recorder.record(EventKind::Nemesis(NemesisAction::NodeRestarted {
            node: node.id,
        }));
    }
}

/// Clogs every link between the two sides, both ways, for `window`; with
/// `clients_cut` side A is cut from everyone (clients too).
async fn partition(
    nodes: &BTreeMap<NodeId, Arc<SimNode>>,
    (side_a, side_b): (Vec<NodeId>, Vec<NodeId>),
    clients_cut: bool,
    window: Duration,
    (recorder, why): (&Recorder, &str),
) {
    let net = NetSim::current();
    for a in &side_a {
        if clients_cut {
            net.clog_node(nodes[a].madsim_id);
        }
        for b in &side_b {
            net.clog_link(nodes[a].madsim_id, nodes[b].madsim_id);
            net.clog_link(nodes[b].madsim_id, nodes[a].madsim_id);
        }
    }
    recorder.record(EventKind::Nemesis(NemesisAction::NetworkPartitioned {
        side_a: side_a.clone(),
        side_b: side_b.clone(),
        clients_cut,
        why: why.to_string(),
    }));
    sleep(window).await;
    heal(nodes);
    recorder.record(EventKind::Nemesis(NemesisAction::NetworkHealed));
}

/// Every node and every link between nodes unclogged.
fn heal(nodes: &BTreeMap<NodeId, Arc<SimNode>>) {
    let net = NetSim::current();
    for a in nodes.values() {
        net.unclog_node(a.madsim_id);
        for b in nodes.values() {
            if a.id != b.id {
                net.unclog_link(a.madsim_id, b.madsim_id);
            }
        }
    }
}

/// `node` on one side, every other node on the other.
fn isolated(nodes: &BTreeMap<NodeId, Arc<SimNode>>, node: NodeId) -> (Vec<NodeId>, Vec<NodeId>) {
    let rest = nodes.keys().copied().filter(|id| *id != node).collect();
    (vec![node], rest)
}

/// Runs the plan; returns after the last fault, every node up and every
/// link healed.
/// How often the nemesis looks whether the workload's setup is done.
const SETUP_POLL: Duration = Duration::from_millis(100);

pub async fn run(
    plan: ClusterNemesisPlan,
    nodes: BTreeMap<NodeId, Arc<SimNode>>,
    recorder: Recorder,
    control: Arc<WorkloadControl>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed ^ 0x0063_6c75_7374_6572);
    // The correlated power losses' own stream ("corr"): drawn only with
    // the experiment on, so `rng`'s draws stay those of seeds without it.
    let mut correlated_rng = ChaCha8Rng::seed_from_u64(plan.seed ^ 0x636f_7272_0000_0000);
    // Leader churn's own stream: drawn only in the seeds with churn.
    let mut churn_rng = churn::rng(plan.seed);
    // The missed-epochs episodes' own stream: drawn only in seeds with it.
    let mut missed_rng = missed_epochs::rng(plan.seed);
    // The Figure 8 episode's own stream: drawn only in the seeds with it.
    let mut figure8_rng = figure8::rng(plan.seed);
    let ids: Vec<NodeId> = nodes.keys().copied().collect();
    let mut router = Router::new("nemesis".into(), &ids, 0);
    let started = Instant::now();
    sleep(plan.start).await;
    // Faults begin once the topic exists: a schedule that fences a broker
    // before creation can keep an RF=3 create failing (Kafka's
    // INVALID_REPLICATION_FACTOR) past the setup deadline (3-node seed
    // 2724 of the 10,000-seed sweep). Seeds whose setup was done by
    // `plan.start` keep their traces.
    while !control.setup_done.load(Ordering::Relaxed) && started.elapsed() < plan.end {
        sleep(SETUP_POLL).await;
    }
    let total_weight: u32 = plan.weights.iter().sum();
    // Bounded by `plan.end`: every iteration sleeps at least `gap_ms.0`.
    assert!(plan.gap_ms.0 > 0, "a zero gap could spin");
    loop {
        sleep(between(&mut rng, plan.gap_ms)).await;
        if started.elapsed() >= plan.end || total_weight == 0 {
            break;
        }
        let mut pick = rng.gen_range(0..total_weight);
        let mut action = 0;
        while pick >= plan.weights[action] {
            pick -= plan.weights[action];
            action += 1;
        }
        let random_node = *ids.choose(&mut rng).expect("nodes");
        let window = between(&mut rng, plan.window_ms);
        let clients_cut = rng.gen_bool(0.25);
        if plan.correlated_crash_probability > 0.0
            && correlated_rng.gen_bool(plan.correlated_crash_probability)
        {
            let downtime = between(&mut correlated_rng, plan.downtime_ms);
            power_loss_everywhere(&nodes, &recorder, downtime).await;
            continue;
        }
        if plan.missed_epochs_probability > 0.0
            && missed_rng.gen_bool(plan.missed_epochs_probability)
        {
            missed_epochs::episode(&mut missed_rng, &nodes, &recorder).await;
            heal(&nodes);
            continue;
        }
        if plan.churn_probability > 0.0 && churn_rng.gen_bool(plan.churn_probability) {
            churn::episode(&mut churn_rng, &nodes, plan.partitions, &recorder).await;
            heal(&nodes);
            continue;
        }
        if plan.figure8_probability > 0.0 && figure8_rng.gen_bool(plan.figure8_probability) {
            let trap = &plan.figure8_trap;
            figure8::episode(&mut figure8_rng, trap, &nodes, &recorder).await;
            heal(&nodes);
            continue;
        }
        match action {
            0 | 1 => {
                let (target, why) = if action == 0 {
                    (Some(random_node), "any node")
                } else {
                    (
                        current_leader(&mut router, &mut rng, false).await,
                        "a partition leader",
                    )
                };
                let Some(target) = target else { continue };
                let downtime = between(&mut rng, plan.downtime_ms);
                power_loss(&nodes[&target], &recorder, downtime, why).await;
            }
            2..=4 => {
                let (target, why) = match action {
                    2 => (Some(random_node), "isolate a node"),
                    3 => (
                        current_leader(&mut router, &mut rng, false).await,
                        "isolate a partition leader",
                    ),
                    _ => (
                        current_leader(&mut router, &mut rng, true).await,
                        "isolate the Raft leader",
                    ),
                };
                let Some(target) = target else { continue };
                let sides = isolated(&nodes, target);
                partition(&nodes, sides, clients_cut, window, (&recorder, why)).await;
            }
            5 => {
                let mut shuffled = ids.clone();
                shuffled.shuffle(&mut rng);
                let cut = rng.gen_range(1..shuffled.len().max(2));
                let side_b = shuffled.split_off(cut.min(shuffled.len()));
                if side_b.is_empty() {
                    continue;
                }
                let sides = (shuffled, side_b);
                partition(&nodes, sides, false, window, (&recorder, "bipartition")).await;
            }
            7..=10 => {
                let target = if rng.gen_bool(0.5) {
                    Some((random_node, "any node"))
                } else {
                    current_leader(&mut router, &mut rng, false)
                        .await
                        .map(|leader| (leader, "a partition leader"))
                };
                let Some((target, why)) = target else {
                    continue;
                };
                let node = (nodes[&target].as_ref(), why);
                disk_fault(&plan, action, node, (&mut rng, window), &recorder).await;
            }
            _ => {
                let pause = between(&mut rng, plan.node_pause_ms);
                let node = &nodes[&random_node];
                let handle = Handle::current();
                handle.pause(node.madsim_id);
                recorder.record(EventKind::Nemesis(NemesisAction::NodePaused {
                    node: node.id,
                    ms: pause.as_millis() as u64,
                }));
                sleep(pause).await;
                handle.resume(node.madsim_id);
                recorder.record(EventKind::Nemesis(NemesisAction::NodeResumed {
                    node: node.id,
                }));
            }
        }
    }
    heal(&nodes);
    recorder.record(EventKind::Nemesis(NemesisAction::FaultsStopped));
}

/// Restarts any node whose `run` returned (and that the nemesis is not
/// holding down), without a power loss. Runs until `stop` is set; each
/// round sleeps, so it is bounded by the run's time limit.
pub async fn supervise(
    nodes: BTreeMap<NodeId, Arc<SimNode>>,
    recorder: Recorder,
    stop: Arc<AtomicBool>,
) {
    let handle = Handle::current();
    while !stop.load(Ordering::Relaxed) {
        sleep(Duration::from_millis(100)).await;
        for node in nodes.values() {
            if handle.is_exit(node.madsim_id) && !node.held_down.load(Ordering::Relaxed) {
                handle.kill(node.madsim_id);
                handle.restart(node.madsim_id);
                recorder.record(EventKind::Nemesis(NemesisAction::NodeRestarted {
                    node: node.id,
                }));
            }
        }
    }
}
