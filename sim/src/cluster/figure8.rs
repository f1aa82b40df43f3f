//! The Figure 8 episode: Raft's Figure 8 schedule (Raft §5.4.2) played on
//! the metadata quorum, in a share of seeds, with faults that hit at
//! message precision. A polling nemesis cannot make it: a new leader
//! appends its own no-op at once, so the window in which only an older
//! term's entry sits on a majority lasts one round trip. The nodes' Raft
//! drivers report the instants (`odradek::raft_events`) and the [`Trap`]
//! cuts links synchronously, before the driver sends what that step
//! produced:
//!
//! 1. armed, the nemesis prompts a metadata proposal (a CreateTopics of a
//!    fresh topic through a random node); the Raft leader's next append
//!    isolates it, so its entry X sits on it alone;
//! 2. the next leader, of a later term on another node, is isolated as
//!    soon as it wins (its no-op reaches nobody), and the first one is
//!    let back;
//! 3. the next leader of a still later term (the first node: its log is
//!    the most up to date) is isolated as soon as its commit index moves,
//!    and the second is let back. With one entry per append (these seeds
//!    run `append_entries_max` 1) X reaches a follower before the no-op
//!    does, so under `commit-old-term` the commit index moves to X, of an
//!    earlier term; correct Raft waits for its no-op;
//! 4. the episode ends once a leader of a later term commits: under the
//!    bug the second node, whose last term beats X's, overwrites X, which
//!    the first node applied (`applied_entries` reports it); in correct
//!    Raft the follower holding the third term's no-op leads instead.
//!
//! Every cut is one node isolated from every other node (clients still
//! reach it), recorded as a partition; a stage that waits longer than
//! [`STAGE_WITHIN`] ends the episode, and every link is whole again when
//! it returns. The faults are generic ("isolate the leader as soon as it
//! appends, wins, commits"): harmless to a correct quorum.
//!
//! Drawn from a stream of its own, like the leader churn: a seed without
//! the episode draws every fault as before, runs the default entries per
//! append, and the trap is never armed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::net::NetSim;
use odradek::raft_events::RaftEvent;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::{sleep, Instant};

use crate::client;
use crate::cluster::episode_streams;
use crate::cluster::nemesis::SimNode;
use crate::cluster::router::Router;
use crate::cluster::topology::NodeId;
use crate::history::{EventKind, NemesisAction};
use crate::recorder::Recorder;
use crate::workload::with_timeout;

/// The share of seeds with the episode, and in them the chance that a
/// fault of the loop is an episode instead.
const FIGURE8_SEED_PROBABILITY: f64 = 0.25;
const FIGURE8_FAULT_PROBABILITY: f64 = 0.5;
/// Entries per Raft append in the seeds with the episode.
pub const APPEND_ENTRIES_MAX: usize = 1;
/// How long one stage waits for its event before the episode gives up.
const STAGE_WITHIN: Duration = Duration::from_secs(8);
/// How often the episode looks at the trap's stage.
const POLL: Duration = Duration::from_millis(20);
/// After the last stage: time for the new leader's appends to land.
const SETTLE: Duration = Duration::from_millis(500);

/// The chance that a fault of the loop is a Figure 8 episode in `seed`: 0
/// in the seeds without it. Its own stream, so no other draw moved.
pub fn draw(seed: u64) -> f64 {
    episode_streams::fault_share(
        seed,
        0x6669_6738_0000_0000,
        FIGURE8_SEED_PROBABILITY,
        FIGURE8_FAULT_PROBABILITY,
    )
}

/// The stream the episodes draw from (its own, see [`draw`]).
pub fn rng(seed: u64) -> ChaCha8Rng {
    episode_streams::stream(seed, 0x6669_6738_7374_6570)
}

/// Where an armed episode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// 1: the Raft leader's next append isolates it.
    Proposal,
    /// 2: a leader of a term after `term`, not `first`, is isolated as
    /// soon as it wins.
    NewLeader {
        first: NodeId,
        term: u64,
    },
    /// 3: a leader of a term after `term`, not `second`, is isolated as
    /// soon as its commit index moves.
    Commit {
        second: NodeId,
        term: u64,
    },
    /// 4: a leader of a term after `term` commits: done.
    LastCommit {
        term: u64,
    },
    Done,
}

impl Stage {
    fn number(self) -> u8 {
        match self {
            Stage::Proposal => 1,
            Stage::NewLeader { .. } => 2,
            Stage::Commit { .. } => 3,
            Stage::LastCommit { .. } => 4,
            Stage::Done => 5,
        }
    }
}

struct Armed {
    /// Broker id to madsim node.
    nodes: BTreeMap<NodeId, madsim::task::NodeId>,
    recorder: Recorder,
    stage: Stage,
    /// The node cut off now, if any.
    isolated: Option<NodeId>,
}

impl Armed {
    /// Cuts `node` from every other node, both ways, and lets every other
    /// node back (clients are never cut here).
    fn isolate(&mut self, node: NodeId, why: &str) {
        let net = NetSim::current();
        for (&a, &a_id) in &self.nodes {
            for (&b, &b_id) in &self.nodes {
                if a == b {
                    continue;
                }
                if a == node || b == node {
                    net.clog_link(a_id, b_id);
                } else {
                    net.unclog_link(a_id, b_id);
                }
            }
        }
        if self.isolated.is_some() {
            self.recorder
                .record(EventKind::Nemesis(NemesisAction::NetworkHealed));
        }
        self.isolated = Some(node);
        let rest = self
            .nodes
            .keys()
            .copied()
            .filter(|id| *id != node)
            .collect();
        self.recorder
            .record(EventKind::Nemesis(NemesisAction::NetworkPartitioned {
                side_a: vec![node],
                side_b: rest,
                clients_cut: false,
                why: format!("figure 8: {why}"),
            }));
    }

    fn heal(&mut self) {
        if self.isolated.take().is_none() {
            return;
        }
        let net = NetSim::current();
        for &a in self.nodes.values() {
            for &b in self.nodes.values() {
                if a != b {
                    net.unclog_link(a, b);
                }
            }
        }
        self.recorder
            .record(EventKind::Nemesis(NemesisAction::NetworkHealed));
    }

    fn on_event(&mut self, event: &RaftEvent) {
        match (self.stage, *event) {
            (Stage::Proposal, RaftEvent::Appended { node, term, .. }) => {
                self.isolate(node, "the Raft leader, as it appends a proposal");
                self.stage = Stage::NewLeader { first: node, term };
            }
            (Stage::NewLeader { first, term }, RaftEvent::BecameLeader { node, term: won })
                if node != first && won > term =>
            {
                self.isolate(node, "a new Raft leader, as it wins");
                self.stage = Stage::Commit {
                    second: node,
                    term: won,
                };
            }
            (
                Stage::Commit { second, term },
                RaftEvent::CommitAdvanced {
                    node, term: led, ..
                },
            ) if node != second && led > term => {
                self.isolate(node, "the Raft leader, as its commit index moves");
                self.stage = Stage::LastCommit { term: led };
            }
            (Stage::LastCommit { term }, RaftEvent::CommitAdvanced { term: led, .. })
                if led > term =>
            {
                self.stage = Stage::Done;
            }
            _ => {}
        }
    }
}

/// The episode's hook into the nodes' Raft events: the seed's listener
/// hands it every event; it acts only while an episode is armed.
#[derive(Clone, Default)]
pub struct Trap(Arc<Mutex<Option<Armed>>>);

impl std::fmt::Debug for Trap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stage = self.stage();
        f.debug_tuple("Trap").field(&stage).finish()
    }
}

impl Trap {
    /// The seed's listener calls this for every Raft event.
    pub fn on_event(&self, event: &RaftEvent) {
        if let Some(armed) = self.0.lock().expect("not poisoned").as_mut() {
            armed.on_event(event);
        }
    }

    fn arm(&self, nodes: &BTreeMap<NodeId, Arc<SimNode>>, recorder: &Recorder) {
        let nodes = nodes.iter().map(|(id, n)| (*id, n.madsim_id)).collect();
        *self.0.lock().expect("not poisoned") = Some(Armed {
            nodes,
            recorder: recorder.clone(),
            stage: Stage::Proposal,
            isolated: None,
        });
    }

    /// The armed stage's number (0: not armed).
    fn stage(&self) -> u8 {
        let armed = self.0.lock().expect("not poisoned");
        armed.as_ref().map_or(0, |armed| armed.stage.number())
    }

    /// Stops reacting and lets every node back; returns the stage reached.
    fn disarm(&self) -> u8 {
        let armed = self.0.lock().expect("not poisoned").take();
        armed.map_or(0, |mut armed| {
            armed.heal();
            armed.stage.number()
        })
    }
}

/// One episode: armed, a proposal prompted, the stages followed until the
/// last one or a stage's timeout; every link whole when it returns.
pub async fn episode(
    rng: &mut ChaCha8Rng,
    trap: &Trap,
    nodes: &BTreeMap<NodeId, Arc<SimNode>>,
    recorder: &Recorder,
) {
    trap.arm(nodes, recorder);
    let ids: Vec<NodeId> = nodes.keys().copied().collect();
    let via = *ids.choose(rng).expect("nodes");
    let topic = format!("figure8-{}", rng.gen::<u32>());
    // The prompt's answer waits for the commit the trap delays: its own
    // task (bounded by the request timeout), so the stages are watched.
    let prompt = tokio::spawn(async move {
        let mut router = Router::new("figure8".into(), &ids, 0);
        let session = router.session(via);
        let _ = with_timeout!(session, |connection, versions| {
            client::create_topic(connection, versions, &topic, 1, &[])
        });
    });
    let (mut stage, mut since) = (trap.stage(), Instant::now());
    while stage != Stage::Done.number() && since.elapsed() < STAGE_WITHIN {
        sleep(POLL).await;
        let now = trap.stage();
        if now != stage {
            (stage, since) = (now, Instant::now());
        }
    }
    if stage == Stage::Done.number() {
        sleep(SETTLE).await;
    }
    let reached = trap.disarm();
    tracing::info!(stage = reached, "figure 8 episode ended");
    let _ = prompt.await;
}
