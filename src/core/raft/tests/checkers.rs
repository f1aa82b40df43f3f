//! The safety properties, checked after every step of a schedule: election
//! safety, log matching, leader completeness, state machine safety, and
//! committed entries never lost (durable on a majority, never replaced).

use std::collections::BTreeMap;
use std::fmt;

use crate::core::raft::tests::cluster::SimCluster;
use crate::core::raft::tests::state_machine::AppState;
use crate::core::raft::{Entry, LogIndex, NodeId, RaftNode, Term};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two leaders in one term.
    ElectionSafety {
        term: Term,
        leaders: (NodeId, NodeId),
    },
    /// Two logs hold the same (index, term) but differ at or before it.
    LogMatching {
        nodes: (NodeId, NodeId),
        index: LogIndex,
    },
    /// A leader lacks an entry committed before.
    LeaderCompleteness {
        leader: NodeId,
        term: Term,
        index: LogIndex,
    },
    /// Two nodes applied different entries at one index.
    StateMachineSafety { node: NodeId, index: LogIndex },
    /// An index once committed with one term is committed with another.
    CommittedChanged { node: NodeId, index: LogIndex },
    /// A committed entry is durable on fewer than a majority.
    CommittedLost { index: LogIndex, durable_on: usize },
    /// An observer led, voted, or was counted toward a vote.
    ObserverVoted { node: NodeId, term: Term },
    /// The core's own invariant assertions fired.
    CorePanic { message: String },
    /// After healing, no proposal committed on every node within the bound.
    Liveness {
        bound_ms: u64,
        leader: Option<NodeId>,
        max_term: Term,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl Violation {
    pub fn name(&self) -> &'static str {
        match self {
            Violation::ElectionSafety { .. } => "election-safety",
            Violation::LogMatching { .. } => "log-matching",
            Violation::LeaderCompleteness { .. } => "leader-completeness",
            Violation::StateMachineSafety { .. } => "state-machine-safety",
            Violation::CommittedChanged { .. } => "committed-changed",
            Violation::CommittedLost { .. } => "committed-lost",
            Violation::ObserverVoted { .. } => "observer-voted",
            Violation::CorePanic { .. } => "core-panic",
            Violation::Liveness { .. } => "liveness",
        }
    }
}

/// What every node has ever committed and applied, across crashes.
#[derive(Debug, Default)]
pub struct Checker {
    leaders: BTreeMap<Term, NodeId>,
    /// Committed index → (the entry's term, the lowest term of a node that
    /// saw it committed: it was committed in that term or before).
    committed: BTreeMap<LogIndex, (Term, Term)>,
    applied: BTreeMap<LogIndex, (Term, u64)>,
    /// Per node lifetime: its commit index already recorded.
    commit_recorded: BTreeMap<NodeId, LogIndex>,
    pub checks: u64,
}

impl Checker {
    pub fn committed_count(&self) -> usize {
        self.committed.len()
    }

    pub fn leader_terms(&self) -> usize {
        self.leaders.len()
    }

    pub fn on_restart(&mut self, node: NodeId) {
        self.commit_recorded.remove(&node);
    }

    /// State machine safety for one applied entry.
    pub fn on_apply(&mut self, node: NodeId, entry: &Entry) -> Result<(), Violation> {
        self.record_applied(node, entry.index, (entry.term, AppState::value_of(entry)))
    }

    /// State machine safety for an installed snapshot's contents.
    pub fn on_install(&mut self, node: NodeId, state: &AppState) -> Result<(), Violation> {
        for (k, &applied) in state.applied.iter().enumerate() {
            self.record_applied(node, k as u64 + 1, applied)?;
        }
        Ok(())
    }

    fn record_applied(
        &mut self,
        node: NodeId,
        index: LogIndex,
        applied: (Term, u64),
    ) -> Result<(), Violation> {
        match self.applied.get(&index) {
            Some(&seen) if seen != applied => Err(Violation::StateMachineSafety { node, index }),
            Some(_) => Ok(()),
            None => {
                self.applied.insert(index, applied);
                Ok(())
            }
        }
    }

    /// Every property over the cluster as it is now.
    pub fn check(&mut self, cluster: &SimCluster) -> Result<(), Violation> {
        self.checks += 1;
        let up: Vec<&RaftNode> = cluster.up_nodes().collect();
        for node in &up {
            self.check_commits(node)?;
        }
        for node in &up {
            if node.is_observer() && (node.voted_for().is_some() || node.is_leader()) {
                return Err(Violation::ObserverVoted {
                    node: node.id(),
                    term: node.term(),
                });
            }
            if node.is_leader() {
                self.check_leader(node)?;
            }
        }
        for (k, a) in up.iter().enumerate() {
            for b in &up[k + 1..] {
                check_log_matching(a, b)?;
            }
        }
        self.check_committed_durable(cluster)
    }

    fn check_commits(&mut self, node: &RaftNode) -> Result<(), Violation> {
        let recorded = self.commit_recorded.entry(node.id()).or_insert(0);
        let from = (*recorded).max(node.log().snapshot_meta().last_index) + 1;
        for index in from..=node.commit_index() {
            let term = node
                .log()
                .term_at(index)
                .expect("committed entries are held");
            match self.committed.get_mut(&index) {
                Some((seen, _)) if *seen != term => {
                    return Err(Violation::CommittedChanged {
                        node: node.id(),
                        index,
                    })
                }
                Some((_, committed_by)) => *committed_by = (*committed_by).min(node.term()),
                None => {
                    self.committed.insert(index, (term, node.term()));
                }
            }
        }
        *recorded = (*recorded).max(node.commit_index());
        Ok(())
    }

    fn check_leader(&mut self, leader: &RaftNode) -> Result<(), Violation> {
        let term = leader.term();
        if let Some(&other) = self.leaders.get(&term) {
            if other != leader.id() {
                return Err(Violation::ElectionSafety {
                    term,
                    leaders: (other, leader.id()),
                });
            }
        }
        self.leaders.insert(term, leader.id());
        let after = leader.log().snapshot_meta().last_index;
        // Raft's leader completeness: an entry committed in a term is in
        // the log of every leader of a later term.
        for (&index, &(entry_term, committed_by)) in self.committed.range(after + 1..) {
            if committed_by < term && leader.log().term_at(index) != Some(entry_term) {
                return Err(Violation::LeaderCompleteness {
                    leader: leader.id(),
                    term,
                    index,
                });
            }
        }
        Ok(())
    }

    /// Every committed entry is durable on a majority of the voters (disk
    /// contents of up and crashed nodes alike), so no set of crashes can
    /// lose it. Observers' copies do not count: a leader that counted one
    /// would commit what a majority of voters may not hold.
    fn check_committed_durable(&self, cluster: &SimCluster) -> Result<(), Violation> {
        let voters = || {
            cluster
                .nodes
                .iter()
                .filter(|(id, _)| cluster.config.is_voter(**id))
                .map(|(_, n)| n)
        };
        let mut snapshot_indexes: Vec<LogIndex> =
            voters().map(|n| n.storage.snapshot_index()).collect();
        snapshot_indexes.sort_unstable_by(|a, b| b.cmp(a));
        let majority = cluster.config.majority();
        // Below this, a majority's durable snapshots hold the index; their
        // contents were checked when applied.
        let covered = snapshot_indexes[majority - 1];
        for (&index, &(term, _)) in self.committed.range(covered + 1..) {
            let durable_on = voters()
                .filter(|n| n.storage.durable_term_at(index) == Some(term))
                .count();
            if durable_on < majority {
                return Err(Violation::CommittedLost { index, durable_on });
            }
        }
        Ok(())
    }
}

/// Raft's log matching property between two in-memory logs.
fn check_log_matching(a: &RaftNode, b: &RaftNode) -> Result<(), Violation> {
    let low = a.log().first_index().max(b.log().first_index());
    let high = a.log().last_index().min(b.log().last_index());
    let mut matched = false;
    let mut index = high;
    while index >= low && index > 0 {
        let (ea, eb) = (a.log().entry(index), b.log().entry(index));
        let same_term = ea.map(|e| e.term) == eb.map(|e| e.term);
        if (matched || same_term) && ea != eb {
            return Err(Violation::LogMatching {
                nodes: (a.id(), b.id()),
                index,
            });
        }
        matched |= same_term;
        index -= 1;
    }
    Ok(())
}
