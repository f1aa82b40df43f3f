//! The Raft model: stateright actions that step the metadata quorum's own
//! `RaftNode` (src/core/raft) and carry out each `Ready` as the server does:
//! persists go to a disk where they stay volatile until a `Persist` action
//! makes the oldest durable, messages go into the network, committed
//! entries are recorded for the properties.
//!
//! Time is abstract: a voter's clock stands still except when a `Timeout`
//! fires, which moves it to the node's own next deadline
//! (`poll_timeout_ms`: the election deadline, or a leader's heartbeat) and
//! ticks it. Elections, heartbeats and check-quorum all follow from that.

use odradek::core::raft::{
    DurableState, ElectionRng, EntryKind, Message, NodeId, RaftBugs, RaftConfig, RaftNode, Role,
};
use stateright::{Model, Property};

use super::network;
use super::properties;
use super::state::{Broken, PendingPersist, RaftBudget, RaftHistory, RaftState, Seen, Voter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftBounds {
    pub voters: u8,
    pub proposals: u8,
    pub crashes: u8,
    pub timeouts: u8,
    /// At most this many of the `timeouts` on any one voter (0: no limit
    /// beside the total). A bound like the others: it shapes where the
    /// search spends its timeouts, e.g. 2 per voter for elections in turn.
    pub timeouts_per_voter: u8,
    pub losses: u8,
    pub duplicates: u8,
    /// Bug hunting: every write is durable as soon as it is issued (the
    /// `Persist` interleavings are not explored). Each schedule this allows
    /// is one the full model allows too, so what it finds is real; a clean
    /// run with it proves less.
    pub eager_persist: bool,
    /// Bug hunting: a delivered message's answers to its sender arrive at
    /// once, in the same step (one round: what the sender sends then stays
    /// in flight). Again every schedule it allows is a real one.
    pub replies_at_once: bool,
    /// `RaftConfig::append_entries_max` (the harness's Figure 8 uses 1).
    pub append_entries_max: usize,
    /// Bug hunting: a channel (sender to receiver) holds only the newest
    /// message sent on it; sending another loses the older one. A message
    /// lost so is one the full model never delivers, so again every
    /// schedule it allows is a real one (see network.rs).
    pub newest_per_channel: bool,
}

impl Default for RaftBounds {
    fn default() -> RaftBounds {
        RaftBounds {
            voters: 3,
            proposals: 1,
            crashes: 0,
            timeouts: 3,
            timeouts_per_voter: 0,
            losses: 0,
            duplicates: 0,
            eager_persist: false,
            replies_at_once: false,
            append_entries_max: RaftConfig::new(1..=1).append_entries_max,
            newest_per_channel: false,
        }
    }
}

pub const BUG_NAMES: [&str; 2] = RaftBugs::NAMES;

#[derive(Debug, Clone)]
pub struct RaftModel {
    pub bounds: RaftBounds,
    pub config: RaftConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RaftAction {
    /// A client proposes a record at a voter that believes it leads.
    Propose(NodeId),
    Deliver(Message),
    Duplicate(Message),
    Lose(Message),
    /// The oldest pending persist of a voter becomes durable.
    Persist(NodeId),
    Timeout(NodeId),
    Crash(NodeId),
    Restart(NodeId),
}

impl RaftModel {
    pub fn new(bounds: RaftBounds, bug: Option<&str>) -> Result<RaftModel, String> {
        let mut config = RaftConfig::new(1..=u64::from(bounds.voters));
        // Never snapshot within the bounds (snapshots are the harness's
        // and the simulator's to test).
        config.snapshot_interval_entries = u64::MAX / 2;
        config.append_entries_max = bounds.append_entries_max.max(1);
        if let Some(name) = bug {
            if !config.bugs.enable(name) {
                return Err(format!("no raft bug named {name}"));
            }
        }
        Ok(RaftModel { bounds, config })
    }

    fn seed(id: NodeId) -> u64 {
        0x6f64_7261_6465_6b00 + id
    }

    fn start(&self, voter: &mut Voter) {
        let node = RaftNode::restart(
            self.config.clone(),
            voter.id,
            ElectionRng::from_seed(Self::seed(voter.id)),
            voter.disk.clone(),
            voter.clock_ms,
        )
        .expect("the model's disk holds what the node persisted");
        voter.node = Some(node);
    }

    /// Carries out a voter's `Ready`s until it has none, and posts the
    /// messages it sent.
    fn drive(&self, state: &mut RaftState, at: usize) {
        let sent = self.drive_unposted(state, at);
        network::post(&mut state.network, sent, self.bounds.newest_per_channel);
    }

    /// [`Self::drive`] without posting: returns the messages sent, in order.
    fn drive_unposted(&self, state: &mut RaftState, at: usize) -> Vec<Message> {
        let mut sent = Vec::new();
        loop {
            let voter = &mut state.voters[at];
            let Some(node) = voter.node.as_mut() else {
                return sent;
            };
            if !node.has_ready() {
                return sent;
            }
            let ready = node.ready();
            let (id, term) = (node.id(), node.term());
            assert!(ready.install_snapshot.is_none() && ready.take_snapshot.is_none());
            if let Some(role) = ready.role_change {
                if role.role == Role::Leader {
                    on_leader(&mut state.history, role.term, id);
                }
            }
            for entry in &ready.committed_entries {
                on_commit(&mut state.history, entry.index, entry.term, term);
                if matches!(entry.kind, EntryKind::Command(_)) {
                    state.history.seen |= Seen::COMMAND_COMMITTED;
                }
            }
            let voter = &mut state.voters[at];
            if let Some(persist) = ready.persist {
                voter.pending.push(PendingPersist::from(persist));
            }
            sent.extend(ready.messages);
            if self.bounds.eager_persist {
                while let Some(persisted) = voter.sync_one() {
                    voter.node.as_mut().expect("up").on_persisted(persisted);
                }
            }
        }
    }

    fn index_of(&self, state: &RaftState, id: NodeId) -> usize {
        state
            .voters
            .iter()
            .position(|v| v.id == id)
            .expect("a voter")
    }
}

fn on_leader(history: &mut RaftHistory, term: u64, id: NodeId) {
    history.seen |= Seen::LEADER;
    if history.leaders.iter().any(|(t, l)| *t == term && *l != id) {
        history.broken |= Broken::TWO_LEADERS;
    }
    if !history.leaders.contains(&(term, id)) {
        history.leaders.push((term, id));
    }
    if history
        .committed
        .iter()
        .any(|(_, committed_in)| *committed_in < term)
    {
        history.seen |= Seen::LEADER_CHANGE_AFTER_COMMIT;
    }
}

/// A node applied (so saw committed) `index` with `entry_term` while in
/// `node_term`.
fn on_commit(history: &mut RaftHistory, index: u64, entry_term: u64, node_term: u64) {
    let slot = (index - 1) as usize;
    match history.committed.get_mut(slot) {
        Some((seen, _)) if *seen != entry_term => history.broken |= Broken::COMMITTED_CHANGED,
        Some((_, committed_in)) => *committed_in = (*committed_in).min(node_term),
        None => {
            assert_eq!(slot, history.committed.len(), "applied in order");
            history.committed.push((entry_term, node_term));
        }
    }
}

impl Model for RaftModel {
    type State = RaftState;
    type Action = RaftAction;

    fn init_states(&self) -> Vec<RaftState> {
        let b = self.bounds;
        let mut state = RaftState {
            voters: self
                .config
                .voters
                .iter()
                .map(|&id| Voter {
                    id,
                    node: None,
                    disk: DurableState::default(),
                    pending: Vec::new(),
                    clock_ms: 0,
                    timeouts: match b.timeouts_per_voter {
                        0 => b.timeouts,
                        n => n.min(b.timeouts),
                    },
                })
                .collect(),
            network: Vec::new(),
            budget: RaftBudget {
                proposals: b.proposals,
                crashes: b.crashes,
                timeouts: b.timeouts,
                losses: b.losses,
                duplicates: b.duplicates,
            },
            history: RaftHistory::default(),
        };
        for at in 0..state.voters.len() {
            self.start(&mut state.voters[at]);
            self.drive(&mut state, at);
        }
        vec![state]
    }

    fn actions(&self, state: &RaftState, actions: &mut Vec<RaftAction>) {
        let b = state.budget;
        for voter in &state.voters {
            let Some(node) = &voter.node else {
                actions.push(RaftAction::Restart(voter.id));
                continue;
            };
            if b.proposals > 0 && node.is_leader() {
                actions.push(RaftAction::Propose(voter.id));
            }
            if !voter.pending.is_empty() {
                actions.push(RaftAction::Persist(voter.id));
            }
            if b.timeouts > 0 && voter.timeouts > 0 {
                actions.push(RaftAction::Timeout(voter.id));
            }
            if b.crashes > 0 {
                actions.push(RaftAction::Crash(voter.id));
            }
        }
        for message in &state.network {
            actions.push(RaftAction::Deliver(message.clone()));
            if b.duplicates > 0 {
                actions.push(RaftAction::Duplicate(message.clone()));
            }
            if b.losses > 0 {
                actions.push(RaftAction::Lose(message.clone()));
            }
        }
    }

    fn next_state(&self, last: &RaftState, action: RaftAction) -> Option<RaftState> {
        let mut state = last.clone();
        match action {
            RaftAction::Propose(id) => {
                state.budget.proposals -= 1;
                let at = self.index_of(&state, id);
                let voter = &mut state.voters[at];
                let node = voter.node.as_mut().expect("up");
                let value = u64::from(self.bounds.proposals - state.budget.proposals);
                node.propose(voter.clock_ms, value.to_le_bytes().to_vec())
                    .ok()?;
                self.drive(&mut state, at);
            }
            RaftAction::Deliver(message) => {
                state.network.retain(|m| *m != message);
                let (from, to) = (message.from, message.to);
                let sent = self.deliver_unposted(&mut state, message);
                let newest = self.bounds.newest_per_channel;
                if self.bounds.replies_at_once {
                    let (replies, others): (Vec<_>, Vec<_>) =
                        sent.into_iter().partition(|m| m.from == to && m.to == from);
                    network::post(&mut state.network, others, newest);
                    for reply in replies {
                        self.deliver(&mut state, reply);
                    }
                } else {
                    network::post(&mut state.network, sent, newest);
                }
            }
            RaftAction::Duplicate(message) => {
                state.budget.duplicates -= 1;
                self.deliver(&mut state, message);
            }
            RaftAction::Lose(message) => {
                state.budget.losses -= 1;
                state.network.retain(|m| *m != message);
            }
            RaftAction::Persist(id) => {
                let at = self.index_of(&state, id);
                let voter = &mut state.voters[at];
                let persisted = voter.sync_one().expect("a pending persist");
                voter.node.as_mut().expect("up").on_persisted(persisted);
                self.drive(&mut state, at);
            }
            RaftAction::Timeout(id) => {
                state.budget.timeouts -= 1;
                let at = self.index_of(&state, id);
                let voter = &mut state.voters[at];
                if self.bounds.timeouts_per_voter > 0 {
                    // Counted only when bounded, so that unbounded runs
                    // keep no per-voter count in their states.
                    voter.timeouts -= 1;
                }
                let node = voter.node.as_mut().expect("up");
                voter.clock_ms = voter.clock_ms.max(node.poll_timeout_ms());
                node.tick(voter.clock_ms);
                self.drive(&mut state, at);
            }
            RaftAction::Crash(id) => {
                state.budget.crashes -= 1;
                let at = self.index_of(&state, id);
                let voter = &mut state.voters[at];
                voter.node = None;
                voter.pending.clear();
                state.network.retain(|m| m.to != id);
            }
            RaftAction::Restart(id) => {
                let at = self.index_of(&state, id);
                self.start(&mut state.voters[at]);
                self.drive(&mut state, at);
            }
        }
        network::canonicalize(&mut state.network);
        Some(state)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all()
    }
}

impl RaftModel {
    fn deliver(&self, state: &mut RaftState, message: Message) {
        let sent = self.deliver_unposted(state, message);
        network::post(&mut state.network, sent, self.bounds.newest_per_channel);
    }

    /// Steps the receiver with `message`; returns what it sent.
    fn deliver_unposted(&self, state: &mut RaftState, message: Message) -> Vec<Message> {
        let at = self.index_of(state, message.to);
        let voter = &mut state.voters[at];
        let Some(node) = voter.node.as_mut() else {
            return Vec::new();
        };
        node.step(voter.clock_ms, message)
            .expect("voters send well-formed messages");
        self.drive_unposted(state, at)
    }
}
