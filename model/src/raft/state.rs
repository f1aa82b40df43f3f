//! The Raft model's state: each voter's node and disk, the messages in
//! flight, the fault budgets, and the history the properties need.

use odradek::core::raft::{
    DurableState, Entry, HardState, LogIndex, Message, NodeId, Persist, RaftNode, Snapshot, Term,
};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RaftState {
    pub voters: Vec<Voter>,
    /// Messages in flight: a set in a fixed-hash order.
    pub network: Vec<Message>,
    pub budget: RaftBudget,
    pub history: RaftHistory,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Voter {
    pub id: NodeId,
    /// `None` while crashed.
    pub node: Option<RaftNode>,
    /// What survives a crash.
    pub disk: DurableState,
    /// Persists written and not yet durable, oldest first (lost by a crash).
    pub pending: Vec<PendingPersist>,
    /// Only a `Timeout` moves it (see model.rs).
    pub clock_ms: u64,
    /// Timeouts this voter may still take (`--timeouts-per-voter`).
    pub timeouts: u8,
}

/// A [`Persist`] as the disk holds it until it is durable (`Persist` itself
/// is not `Hash`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PendingPersist {
    pub id: u64,
    pub snapshot: Option<Snapshot>,
    pub log: Option<(LogIndex, Vec<Entry>)>,
    pub hard_state: Option<HardState>,
}

impl From<Persist> for PendingPersist {
    fn from(p: Persist) -> PendingPersist {
        PendingPersist {
            id: p.id,
            snapshot: p.snapshot,
            log: p.log.map(|w| (w.first_index, w.entries)),
            hard_state: p.hard_state,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RaftBudget {
    pub proposals: u8,
    pub crashes: u8,
    pub timeouts: u8,
    pub losses: u8,
    pub duplicates: u8,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RaftHistory {
    /// Per index (from 1): the term of the entry committed there, and the
    /// lowest term of a node that saw it committed.
    pub committed: Vec<(Term, Term)>,
    /// (term, leader) of every leadership seen.
    pub leaders: Vec<(Term, NodeId)>,
    pub broken: u8,
    pub seen: u8,
}

pub struct Broken;
impl Broken {
    /// Two leaders in one term.
    pub const TWO_LEADERS: u8 = 1;
    /// An index committed with one term was committed with another.
    pub const COMMITTED_CHANGED: u8 = 2;
}

pub struct Seen;
impl Seen {
    pub const LEADER: u8 = 1;
    pub const COMMAND_COMMITTED: u8 = 2;
    pub const LEADER_CHANGE_AFTER_COMMIT: u8 = 4;
}

impl Voter {
    /// The durable term at `index` (0 before the first entry).
    pub fn durable_term_at(&self, index: LogIndex) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        let first = self.disk.entries.first()?.index;
        self.disk
            .entries
            .get(usize::try_from(index.checked_sub(first)?).ok()?)
            .map(|e| e.term)
    }

    /// Makes the oldest pending persist durable, as the harness's disk does
    /// (src/core/raft/tests/sim_storage.rs); returns its id.
    pub fn sync_one(&mut self) -> Option<u64> {
        if self.pending.is_empty() {
            return None;
        }
        let persist = self.pending.remove(0);
        assert!(persist.snapshot.is_none(), "the model never snapshots");
        if let Some((first_index, entries)) = persist.log {
            self.disk.entries.retain(|e| e.index < first_index);
            self.disk.entries.extend(entries);
        }
        if let Some(hard_state) = persist.hard_state {
            assert!(
                hard_state.term >= self.disk.hard_state.term,
                "durable terms grow"
            );
            self.disk.hard_state = hard_state;
        }
        Some(persist.id)
    }
}
