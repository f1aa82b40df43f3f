//! One voter's disk: what is durable, and persists written but not yet
//! durable (lost by a crash).

use std::collections::VecDeque;

use crate::core::raft::tests::state_machine::AppState;
use crate::core::raft::{DurableState, LogIndex, Persist, Term};

#[derive(Debug, Default)]
pub struct SimStorage {
    pub durable: DurableState,
    /// Terms of the durable snapshot's entries, decoded once for checkers.
    pub snapshot_terms: Vec<Term>,
    pending: VecDeque<Persist>,
}

impl SimStorage {
    pub fn write(&mut self, persist: Persist) {
        self.pending.push_back(persist);
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Makes the oldest pending persist durable; returns its id.
    pub fn sync_one(&mut self) -> Option<u64> {
        let persist = self.pending.pop_front()?;
        let id = persist.id;
        self.apply(persist);
        Some(id)
    }

    /// A crash: what was not durable is gone.
    pub fn crash(&mut self) {
        self.pending.clear();
    }

    fn durable_last_index(&self) -> LogIndex {
        let snapshot_index = self.snapshot_index();
        self.durable
            .entries
            .last()
            .map_or(snapshot_index, |e| e.index)
    }

    pub fn snapshot_index(&self) -> LogIndex {
        self.durable
            .snapshot
            .as_ref()
            .map_or(0, |s| s.meta.last_index)
    }

    /// The durable term at `index`, from the log or the snapshot.
    pub fn durable_term_at(&self, index: LogIndex) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        if index <= self.snapshot_index() {
            return self.snapshot_terms.get(index as usize - 1).copied();
        }
        let first = self.durable.entries.first()?.index;
        self.durable
            .entries
            .get((index.checked_sub(first)?) as usize)
            .map(|e| e.term)
    }

    fn apply(&mut self, persist: Persist) {
        if let Some(snapshot) = persist.snapshot {
            assert!(
                snapshot.meta.last_index > self.snapshot_index(),
                "durable snapshots move forward"
            );
            self.snapshot_terms = AppState::decode(&snapshot.data).terms();
            assert_eq!(self.snapshot_terms.len() as u64, snapshot.meta.last_index);
            self.durable
                .entries
                .retain(|e| e.index > snapshot.meta.last_index);
            self.durable.snapshot = Some(snapshot);
        }
        if let Some(write) = persist.log {
            assert!(
                write.first_index <= self.durable_last_index() + 1,
                "a log write leaves no hole"
            );
            self.durable.entries.retain(|e| e.index < write.first_index);
            self.durable.entries.extend(write.entries);
        }
        if let Some(hard_state) = persist.hard_state {
            assert!(
                hard_state.term >= self.durable.hard_state.term,
                "durable terms grow"
            );
            self.durable.hard_state = hard_state;
        }
        for (expected, entry) in (self.snapshot_index() + 1..).zip(&self.durable.entries) {
            assert_eq!(entry.index, expected, "the durable log is contiguous");
        }
    }
}
