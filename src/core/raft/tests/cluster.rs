//! N voters (and M observers), each a `RaftNode` with its disk and
//! application, over a `SimNet`, driven one event at a time the way a
//! server would drive them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::core::raft::tests::checkers::{Checker, Violation};
use crate::core::raft::tests::sim_net::{NetFaults, SimNet};
use crate::core::raft::tests::sim_storage::SimStorage;
use crate::core::raft::tests::state_machine::AppState;
use crate::core::raft::{
    ElectionRng, LogIndex, NodeId, ProposeError, RaftConfig, RaftNode, Role, Term,
};

/// Lines of trace kept for a failure report.
const TRACE_LINES_MAX: usize = 60;

#[derive(Debug)]
pub struct SimNode {
    /// `None` while crashed.
    pub raft: Option<RaftNode>,
    pub storage: SimStorage,
    pub app: AppState,
    /// The last `now_ms` given to this node (its clock never goes back).
    pub clock_ms: u64,
    pub restarts: u64,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ClusterStats {
    pub proposals_accepted: u64,
    pub crashes: u64,
    pub partitions: u64,
    pub snapshots_taken: u64,
    pub snapshots_installed: u64,
    pub elections_won: u64,
}

pub struct SimCluster {
    pub config: RaftConfig,
    pub nodes: BTreeMap<NodeId, SimNode>,
    pub net: SimNet,
    pub now_ms: u64,
    pub rng: ChaCha8Rng,
    pub checker: Checker,
    pub stats: ClusterStats,
    /// Clock jitter: a node's `now_ms` is the global time plus up to this.
    pub clock_jitter_ms: u64,
    next_value: u64,
    trace: VecDeque<String>,
}

impl SimCluster {
    pub fn new(seed: u64, config: RaftConfig, faults: NetFaults) -> SimCluster {
        SimCluster::with_observers(seed, config, faults, 0)
    }

    /// `observer_count` observers get the ids after the highest voter's.
    pub fn with_observers(
        seed: u64,
        config: RaftConfig,
        faults: NetFaults,
        observer_count: u64,
    ) -> SimCluster {
        let mut cluster = SimCluster {
            nodes: BTreeMap::new(),
            net: SimNet::new(faults),
            now_ms: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            checker: Checker::default(),
            stats: ClusterStats::default(),
            clock_jitter_ms: 3,
            next_value: 1,
            trace: VecDeque::new(),
            config,
        };
        let mut ids: Vec<NodeId> = cluster.config.voters.iter().copied().collect();
        let first_observer = ids.last().copied().unwrap_or(0) + 1;
        ids.extend(first_observer..first_observer + observer_count);
        for id in ids {
            cluster.nodes.insert(
                id,
                SimNode {
                    raft: None,
                    storage: SimStorage::default(),
                    app: AppState::default(),
                    clock_ms: 0,
                    restarts: 0,
                },
            );
            cluster.start(id);
        }
        cluster
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    pub fn up_nodes(&self) -> impl Iterator<Item = &RaftNode> {
        self.nodes.values().filter_map(|n| n.raft.as_ref())
    }

    pub fn node(&self, id: NodeId) -> Option<&RaftNode> {
        self.nodes[&id].raft.as_ref()
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.nodes[&id].raft.is_some()
    }

    /// The leader of the highest term among up nodes, if any leads it.
    pub fn leader(&self) -> Option<NodeId> {
        let max_term = self.up_nodes().map(RaftNode::term).max()?;
        self.up_nodes()
            .find(|n| n.is_leader() && n.term() == max_term)
            .map(RaftNode::id)
    }

    pub fn max_term(&self) -> Term {
        self.up_nodes().map(RaftNode::term).max().unwrap_or(0)
    }

    pub fn note(&mut self, line: String) {
        if self.trace.len() == TRACE_LINES_MAX {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("t={} {line}", self.now_ms));
    }

    /// The trace, then every node's state now.
    pub fn trace(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.trace.iter().cloned().collect();
        for (id, node) in &self.nodes {
            lines.push(match &node.raft {
                None => format!("node {id}: down"),
                Some(raft) => format!(
                    "node {id}: {:?} term {} vote {:?} log ({}..={}] last term {} commit {} \
                     stable {} applied {} (app {}), {} persists pending, {} messages deferred",
                    raft.role(),
                    raft.term(),
                    raft.voted_for(),
                    raft.snapshot_meta().last_index,
                    raft.log().last_index(),
                    raft.log().last_term(),
                    raft.commit_index(),
                    raft.stable_index(),
                    raft.applied_index(),
                    node.app.applied_index(),
                    node.storage.pending_count(),
                    raft.deferred_message_count(),
                ),
            });
        }
        lines
    }

    fn node_now(&mut self, id: NodeId) -> u64 {
        let jitter = self.rng.gen_range(0..=self.clock_jitter_ms);
        let node = self.nodes.get_mut(&id).expect("a voter");
        node.clock_ms = node.clock_ms.max(self.now_ms + jitter);
        node.clock_ms
    }

    fn start(&mut self, id: NodeId) {
        let now_ms = self.node_now(id);
        let seed = self.rng.gen();
        let node = self.nodes.get_mut(&id).expect("a voter");
        let raft = RaftNode::restart(
            self.config.clone(),
            id,
            ElectionRng::from_seed(seed),
            node.storage.durable.clone(),
            now_ms,
        )
        .expect("the durable state the harness kept is valid");
        node.raft = Some(raft);
        node.app = AppState::default();
        self.checker.on_restart(id);
    }

    // ----- Events -------------------------------------------------------

    pub fn tick(&mut self, id: NodeId) -> Result<(), Violation> {
        let now_ms = self.node_now(id);
        if let Some(raft) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) {
            raft.tick(now_ms);
        }
        self.drive(id)
    }

    /// Delivers one due message, if any; returns whether one was.
    pub fn deliver_one(&mut self) -> Result<bool, Violation> {
        let Some(message) = self.net.take_due(&mut self.rng, self.now_ms) else {
            return Ok(false);
        };
        let to = message.to;
        if !self.is_up(to) {
            return Ok(true);
        }
        let now_ms = self.node_now(to);
        let raft = self
            .nodes
            .get_mut(&to)
            .and_then(|n| n.raft.as_mut())
            .expect("up");
        raft.step(now_ms, message)
            .expect("voters send well-formed messages");
        self.drive(to)?;
        Ok(true)
    }

    /// Makes one pending persist of `id` durable.
    pub fn sync_one(&mut self, id: NodeId) -> Result<(), Violation> {
        let node = self.nodes.get_mut(&id).expect("a voter");
        if let (Some(raft), Some(persist_id)) = (node.raft.as_mut(), node.storage.sync_one()) {
            raft.on_persisted(persist_id);
        }
        self.drive(id)
    }

    pub fn pending_persists(&self, id: NodeId) -> usize {
        self.nodes[&id].storage.pending_count()
    }

    /// Proposes a fresh value at `id`.
    pub fn propose(
        &mut self,
        id: NodeId,
    ) -> Result<Result<(Term, LogIndex), ProposeError>, Violation> {
        let now_ms = self.node_now(id);
        let value = self.next_value;
        let Some(raft) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) else {
            return Ok(Err(ProposeError::NotLeader { leader_hint: None }));
        };
        let result = raft.propose(now_ms, AppState::payload_of(value));
        if result.is_ok() {
            self.next_value += 1;
            self.stats.proposals_accepted += 1;
        }
        self.drive(id)?;
        Ok(result)
    }

    /// A crash: memory and unsynced writes are lost.
    pub fn crash(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("a voter");
        if node.raft.take().is_some() {
            node.storage.crash();
            self.net.forget_node(id);
            self.stats.crashes += 1;
            self.note(format!("crash {id}"));
        }
    }

    pub fn restart(&mut self, id: NodeId) -> Result<(), Violation> {
        if self.is_up(id) {
            return Ok(());
        }
        self.nodes.get_mut(&id).expect("a voter").restarts += 1;
        self.start(id);
        self.note(format!("restart {id}"));
        self.drive(id)
    }

    pub fn partition(&mut self, groups: &[BTreeSet<NodeId>]) {
        self.net.partition(groups);
        self.stats.partitions += 1;
        self.note(format!("partition {groups:?}"));
    }

    pub fn heal(&mut self) {
        self.net.heal();
        self.note("heal".to_string());
    }

    // ----- Carrying out a node's Ready, as a server would ---------------

    fn drive(&mut self, id: NodeId) -> Result<(), Violation> {
        loop {
            let node = self.nodes.get_mut(&id).expect("a voter");
            let Some(raft) = node.raft.as_mut() else {
                return Ok(());
            };
            if !raft.has_ready() {
                return Ok(());
            }
            let ready = raft.ready();
            if let Some(role) = ready.role_change {
                if role.role == Role::Leader {
                    self.stats.elections_won += 1;
                }
                self.note(format!(
                    "{id} is {:?} in term {} (leader {:?})",
                    role.role, role.term, role.leader
                ));
            }
            let node = self.nodes.get_mut(&id).expect("a voter");
            if let Some(snapshot) = &ready.install_snapshot {
                node.app = AppState::decode(&snapshot.data);
                assert_eq!(node.app.applied_index(), snapshot.meta.last_index);
                self.stats.snapshots_installed += 1;
                self.checker.on_install(id, &node.app)?;
            }
            for entry in &ready.committed_entries {
                node.app.apply(entry);
                self.checker.on_apply(id, entry)?;
            }
            if let Some(index) = ready.take_snapshot {
                assert_eq!(
                    node.app.applied_index(),
                    index,
                    "the app applied what it was given"
                );
                let data = node.app.encode();
                let raft = node.raft.as_mut().expect("up");
                raft.on_snapshot_taken(index, data)
                    .expect("a requested snapshot is taken");
                self.stats.snapshots_taken += 1;
            }
            if let Some(persist) = ready.persist {
                node.storage.write(persist);
            }
            for message in ready.messages {
                self.net.send(&mut self.rng, self.now_ms, message);
            }
        }
    }
}

impl SimCluster {
    /// Runs every checker over the cluster as it is now.
    pub fn check(&mut self) -> Result<(), Violation> {
        let mut checker = std::mem::take(&mut self.checker);
        let result = checker.check(self);
        self.checker = checker;
        result
    }
}
