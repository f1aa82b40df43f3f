//! Leader churn: overlapping faults around one partition of the checked
//! topic, in a fraction of seeds, so the schedules a one-fault-at-a-time
//! nemesis rarely makes become common (issue 12):
//!
//! - consecutive fast leader changes while a follower lags (KIP-279's
//!   example, which truncation by the last epoch alone gets wrong);
//! - a follower that misses leader changes (paused or cut off) and then
//!   fetches from a leader of another epoch, or whose fetch, held in a
//!   clogged link, reaches the leader after it changed (KIP-320);
//! - a partition leader or the Raft leader cut off right after it took
//!   writes, then the next leader cut off too.
//!
//! What these steps do not make is the divergence KIP-320 fences: a
//! follower that misses two leader changes, away from a node and back,
//! while it keeps fetching from that node with a tail the middle leader
//! never had. A churned follower still reaches the controller (or learns
//! the new epochs as soon as it fetches again), so it checks its log
//! against each new leader; `unfenced-fetch` passed 3-node seeds 0..1000
//! here. That schedule is `missed_epochs`, aimed step by step (5-node
//! seeds; docs/testing.md, "Missed epochs").
//!
//! An episode draws 2–5 steps, each started 0–1.5 s after the previous
//! one and running concurrently with the others: a power loss of the
//! partition's current leader with a short downtime (its new registration
//! moves the leadership at once), a pause of one of its followers (0.3–6
//! s), isolating its leader, a follower or the active controller,
//! cutting one link between two nodes (each one eighth of the steps), or
//! chasing (a quarter): waiting for the partition's
//! next leader epoch and then cutting that leader off or powering it off.
//! Links are counted per direction, so one step's heal never reopens a link
//! another step still holds cut; a node is killed or paused by one step at
//! a time. Every node is up and every link whole when the episode ends.
//!
//! Drawn from a stream of its own (`churn` in the seed's config), like the
//! correlated power losses: a seed without churn draws every fault as
//! before.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::Handle;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::{sleep, Instant};

use crate::client::PartitionView;
use crate::cluster::episode_streams;
use crate::cluster::nemesis::{self, SimNode};
use crate::cluster::router::Router;
use crate::cluster::topology::NodeId;
use crate::history::{EventKind, NemesisAction};
use crate::recorder::Recorder;

/// The share of seeds with churn, and in them the chance that a fault of
/// the loop is an episode instead.
const CHURN_SEED_PROBABILITY: f64 = 0.5;
const CHURN_FAULT_PROBABILITY: f64 = 0.5;
/// Steps of one episode.
const STEPS: (usize, usize) = (2, 5);
/// Between the starts of two steps (ms).
const STEP_GAP_MS: (u64, u64) = (0, 1_500);
/// How long a chase waits for the next leader epoch, and how often it asks.
const CHASE_WITHIN: Duration = Duration::from_secs(6);
const CHASE_POLL: Duration = Duration::from_millis(40);

/// The chance that a fault of the loop is a churn episode in `seed`: 0 in
/// the seeds without churn. Its own stream, so no other draw moved.
pub fn draw(seed: u64) -> f64 {
    episode_streams::fault_share(
        seed,
        0x6368_7572_6e00_0000,
        CHURN_SEED_PROBABILITY,
        CHURN_FAULT_PROBABILITY,
    )
}

/// The stream the episodes draw from (its own, see [`draw`]).
pub fn rng(seed: u64) -> ChaCha8Rng {
    episode_streams::stream(seed, 0x6368_7572_6e73_7465)
}

/// Cut links counted per direction (and nodes cut from clients), so that
/// overlapping steps heal only what no other step still holds.
#[derive(Default)]
struct Clogs {
    links: BTreeMap<(NodeId, NodeId), u32>,
    nodes: BTreeMap<NodeId, u32>,
}

/// What the steps of one episode share.
struct Episode {
    nodes: BTreeMap<NodeId, Arc<SimNode>>,
    recorder: Recorder,
    clogs: Mutex<Clogs>,
    /// Nodes a step holds killed or paused.
    busy: Mutex<BTreeSet<NodeId>>,
    /// The partition of the checked topic the episode churns.
    partition: i32,
}

impl Episode {
    fn madsim(&self, node: NodeId) -> madsim::task::NodeId {
        self.nodes[&node].madsim_id
    }

    /// Cuts every link between `side_a` and `side_b` (both ways), and
    /// `side_a` from clients with `clients_cut`.
    fn cut(&self, side_a: &[NodeId], side_b: &[NodeId], clients_cut: bool, why: &str) {
        let net = NetSim::current();
        let mut clogs = self.clogs.lock().expect("not poisoned");
        for &a in side_a {
            if clients_cut {
                *clogs.nodes.entry(a).or_insert(0) += 1;
                net.clog_node(self.madsim(a));
            }
            for &b in side_b {
                for (from, to) in [(a, b), (b, a)] {
                    *clogs.links.entry((from, to)).or_insert(0) += 1;
                    net.clog_link(self.madsim(from), self.madsim(to));
                }
            }
        }
        self.recorder
            .record(EventKind::Nemesis(NemesisAction::NetworkPartitioned {
                side_a: side_a.to_vec(),
                side_b: side_b.to_vec(),
                clients_cut,
                why: format!("churn: {why}"),
            }));
    }

    /// Undoes one [`Episode::cut`]: a link opens when no step holds it.
    fn uncut(&self, side_a: &[NodeId], side_b: &[NodeId], clients_cut: bool) {
        let net = NetSim::current();
        let mut clogs = self.clogs.lock().expect("not poisoned");
        for &a in side_a {
            if clients_cut {
                let count = clogs.nodes.get_mut(&a).expect("cut before");
                *count -= 1;
                if *count == 0 {
                    net.unclog_node(self.madsim(a));
                }
            }
            for &b in side_b {
                for (from, to) in [(a, b), (b, a)] {
                    let count = clogs.links.get_mut(&(from, to)).expect("cut before");
                    *count -= 1;
                    if *count == 0 {
                        net.unclog_link(self.madsim(from), self.madsim(to));
                    }
                }
            }
        }
        let whole = clogs.links.values().all(|c| *c == 0) && clogs.nodes.values().all(|c| *c == 0);
        if whole {
            self.recorder
                .record(EventKind::Nemesis(NemesisAction::NetworkHealed));
        }
    }

    async fn cut_for(
        &self,
        sides: (Vec<NodeId>, Vec<NodeId>),
        clients_cut: bool,
        window: Duration,
        why: &str,
    ) {
        self.cut(&sides.0, &sides.1, clients_cut, why);
        sleep(window).await;
        self.uncut(&sides.0, &sides.1, clients_cut);
    }

    /// `node` and every other node, as two sides.
    fn isolated(&self, node: NodeId) -> (Vec<NodeId>, Vec<NodeId>) {
        let rest = self
            .nodes
            .keys()
            .copied()
            .filter(|id| *id != node)
            .collect();
        (vec![node], rest)
    }

    /// Takes `node` for a kill or a pause; false if another step holds it.
    fn take(&self, node: NodeId) -> bool {
        self.busy.lock().expect("not poisoned").insert(node)
    }

    fn give_back(&self, node: NodeId) {
        self.busy.lock().expect("not poisoned").remove(&node);
    }

    async fn power_loss(&self, node: NodeId, downtime: Duration, why: &str) {
        if !self.take(node) {
            return;
        }
        let why = format!("churn: {why}");
        nemesis::power_loss(&self.nodes[&node], &self.recorder, downtime, &why).await;
        self.give_back(node);
    }

    async fn pause(&self, node: NodeId, pause: Duration) {
        if !self.take(node) {
            return;
        }
        let handle = Handle::current();
        let madsim_id = self.madsim(node);
        handle.pause(madsim_id);
        self.recorder
            .record(EventKind::Nemesis(NemesisAction::NodePaused {
                node,
                ms: pause.as_millis() as u64,
            }));
        sleep(pause).await;
        handle.resume(madsim_id);
        self.recorder
            .record(EventKind::Nemesis(NemesisAction::NodeResumed { node }));
        self.give_back(node);
    }
}

/// What one step does, drawn up front so the episode's draws do not
/// depend on the order the concurrent steps run in.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Power loss of the partition's leader, down this long.
    KillLeader(Duration),
    /// Pause one of its followers (the `usize`th of them, modulo).
    PauseFollower(usize, Duration),
    IsolateLeader(Duration, bool),
    IsolateFollower(usize, Duration),
    IsolateController(Duration),
    /// Cut the link between the `a`th and `b`th node (both ways).
    CutLink(usize, usize, Duration),
    /// KIP-279's schedule, aimed: on a partition whose next leader `B`
    /// (the first other ISR replica in assignment order, as the controller
    /// picks) is not the active controller `C`, a third replica: pause `B`
    /// (it falls behind `C`), then cut the link `B`–`C` and power off the
    /// leader `A` for a moment. `B` leads the next epoch and takes writes
    /// `C` never fetches; the controller `C` stops hearing `B`, fences it
    /// and elects `C`, which holds records of `A`'s epoch past `B`'s end of
    /// it. Fields: `B`'s pause, `A`'s downtime, how long the cut lasts.
    Kip279(Duration, Duration, Duration),
    /// Wait for the next leader epoch, then kill (down this long) or
    /// isolate its leader.
    Chase {
        kill: bool,
        window: Duration,
    },
}

fn between(rng: &mut ChaCha8Rng, (low, high): (u64, u64)) -> Duration {
    Duration::from_millis(rng.gen_range(low..=high))
}

fn draw_step(rng: &mut ChaCha8Rng) -> Step {
    // Ninths: chasing takes two.
    match rng.gen_range(0..9) {
        0 => Step::KillLeader(between(rng, (0, 400))),
        1 => Step::PauseFollower(rng.gen_range(0..8), between(rng, (300, 6_000))),
        2 => Step::IsolateLeader(between(rng, (300, 4_000)), rng.gen_bool(0.3)),
        3 => Step::IsolateFollower(rng.gen_range(0..8), between(rng, (300, 5_000))),
        4 => Step::IsolateController(between(rng, (300, 3_000))),
        5 => Step::CutLink(
            rng.gen_range(0..8),
            rng.gen_range(0..8),
            between(rng, (500, 5_000)),
        ),
        6 => Step::Kip279(
            between(rng, (100, 800)),
            between(rng, (0, 300)),
            between(rng, (3_500, 6_000)),
        ),
        _ => Step::Chase {
            kill: rng.gen_bool(0.5),
            window: between(rng, (0, 3_000)),
        },
    }
}

/// The partition's view in a fresh Metadata answer, and the controller.
async fn look(router: &mut Router, partition: i32) -> Option<(PartitionView, NodeId)> {
    router.refresh().await.ok()?;
    let view = router.view();
    let p = view.partitions.get(&partition)?.clone();
    Some((p, view.controller))
}

async fn run_step(episode: Arc<Episode>, step: Step, index: usize) {
    let ids: Vec<NodeId> = episode.nodes.keys().copied().collect();
    let mut router = Router::new(format!("churn-{index}"), &ids, index);
    let Some((view, controller)) = look(&mut router, episode.partition).await else {
        return;
    };
    let leader = Some(view.leader).filter(|l| ids.contains(l));
    let followers: Vec<NodeId> = view
        .replicas
        .iter()
        .copied()
        .filter(|r| Some(*r) != leader && ids.contains(r))
        .collect();
    let follower = |n: usize| (!followers.is_empty()).then(|| followers[n % followers.len()]);
    match step {
        Step::KillLeader(downtime) => {
            if let Some(leader) = leader {
                episode
                    .power_loss(leader, downtime, "partition leader")
                    .await;
            }
        }
        Step::PauseFollower(n, pause) => {
            if let Some(node) = follower(n) {
                episode.pause(node, pause).await;
            }
        }
        Step::IsolateLeader(window, clients_cut) => {
            if let Some(leader) = leader {
                let sides = episode.isolated(leader);
                episode
                    .cut_for(sides, clients_cut, window, "partition leader")
                    .await;
            }
        }
        Step::IsolateFollower(n, window) => {
            if let Some(node) = follower(n) {
                let sides = episode.isolated(node);
                episode.cut_for(sides, false, window, "follower").await;
            }
        }
        Step::Kip279(pause, downtime, cut) => {
            let Some((a, b, c)) = kip279_roles(&router, controller) else {
                return;
            };
            episode.pause(b, pause).await;
            episode.cut(
                &[b],
                &[c],
                false,
                "KIP-279: next leader from the controller",
            );
            episode
                .power_loss(a, downtime, "KIP-279: partition leader")
                .await;
            sleep(cut).await;
            episode.uncut(&[b], &[c], false);
        }
        Step::IsolateController(window) => {
            if ids.contains(&controller) {
                let sides = episode.isolated(controller);
                episode.cut_for(sides, false, window, "Raft leader").await;
            }
        }
        Step::CutLink(a, b, window) => {
            let (a, b) = (ids[a % ids.len()], ids[b % ids.len()]);
            if a != b {
                episode
                    .cut_for((vec![a], vec![b]), false, window, "one link")
                    .await;
            }
        }
        Step::Chase { kill, window } => {
            let started = Instant::now();
            while started.elapsed() < CHASE_WITHIN {
                sleep(CHASE_POLL).await;
                let Some((now, _)) = look(&mut router, episode.partition).await else {
                    continue;
                };
                if now.leader_epoch > view.leader_epoch && ids.contains(&now.leader) {
                    if kill {
                        episode
                            .power_loss(now.leader, window / 8, "next partition leader")
                            .await;
                    } else {
                        let sides = episode.isolated(now.leader);
                        episode
                            .cut_for(sides, false, window, "next partition leader")
                            .await;
                    }
                    break;
                }
            }
        }
    }
}

/// For [`Step::Kip279`]: a partition of the last Metadata answer led by
/// `a`, whose next leader `b` is a third replica beside the controller
/// `c`, every one of them in its ISR.
fn kip279_roles(router: &Router, controller: NodeId) -> Option<(NodeId, NodeId, NodeId)> {
    let ids = router.nodes().to_vec();
    router.view().partitions.values().find_map(|p| {
        let a = p.leader;
        let in_isr = |r: &NodeId| p.isr.contains(r) && ids.contains(r);
        let b = p.replicas.iter().copied().find(|r| *r != a && in_isr(r))?;
        let third = p
            .replicas
            .iter()
            .any(|r| *r == controller && *r != a && *r != b);
        (in_isr(&a) && in_isr(&controller) && third).then_some((a, b, controller))
    })
}

/// One episode on a random partition of the checked topic (`partitions`
/// of them); returns with every node up and every link whole.
pub async fn episode(
    rng: &mut ChaCha8Rng,
    nodes: &BTreeMap<NodeId, Arc<SimNode>>,
    partitions: i32,
    recorder: &Recorder,
) {
    let partition = rng.gen_range(0..partitions.max(1));
    let steps: Vec<Step> = (0..rng.gen_range(STEPS.0..=STEPS.1))
        .map(|_| draw_step(rng))
        .collect();
    let gaps: Vec<Duration> = steps.iter().map(|_| between(rng, STEP_GAP_MS)).collect();
    recorder.record(EventKind::Nemesis(NemesisAction::ChurnStarted {
        partition,
        steps: steps.iter().map(|s| format!("{s:?}")).collect(),
    }));
    let episode = Arc::new(Episode {
        nodes: nodes.clone(),
        recorder: recorder.clone(),
        clogs: Mutex::new(Clogs::default()),
        busy: Mutex::new(BTreeSet::new()),
        partition,
    });
    let mut tasks = Vec::with_capacity(steps.len());
    for (index, (step, gap)) in steps.into_iter().zip(gaps).enumerate() {
        sleep(gap).await;
        tasks.push(tokio::spawn(run_step(episode.clone(), step, index)));
    }
    for task in tasks {
        task.await.expect("a churn step panicked");
    }
    // Every step undid its own faults; nothing is held.
    assert!(episode.busy.lock().expect("not poisoned").is_empty());
    for node in nodes.values() {
        assert!(
            !node.held_down.load(Ordering::Relaxed),
            "node {} held down",
            node.id
        );
    }
}
