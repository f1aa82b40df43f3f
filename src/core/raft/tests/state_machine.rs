//! The application the harness runs on each voter: the list of applied
//! entries, so that checkers can compare what every node applied.

use crate::core::raft::{Entry, EntryKind, LogIndex, Term};

/// A no-op entry's payload in the applied list.
const NO_OP: u64 = u64::MAX;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppState {
    /// `(term, payload)` of every applied entry, index = position + 1.
    pub applied: Vec<(Term, u64)>,
}

impl AppState {
    pub fn applied_index(&self) -> LogIndex {
        self.applied.len() as u64
    }

    /// The payload a proposal carries (8 bytes, a unique id).
    pub fn payload_of(value: u64) -> Vec<u8> {
        value.to_le_bytes().to_vec()
    }

    pub fn value_of(entry: &Entry) -> u64 {
        match &entry.kind {
            EntryKind::NoOp => NO_OP,
            EntryKind::Command(payload) => {
                u64::from_le_bytes(payload.as_slice().try_into().expect("8-byte payloads"))
            }
        }
    }

    pub fn apply(&mut self, entry: &Entry) {
        assert_eq!(
            entry.index,
            self.applied_index() + 1,
            "entries are applied in order, none skipped"
        );
        self.applied.push((entry.term, Self::value_of(entry)));
    }

    pub fn terms(&self) -> Vec<Term> {
        self.applied.iter().map(|&(term, _)| term).collect()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.applied.len() * 16);
        for &(term, value) in &self.applied {
            out.extend_from_slice(&term.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        out
    }

    pub fn decode(data: &[u8]) -> AppState {
        assert_eq!(data.len() % 16, 0, "whole entries");
        let applied = data
            .chunks_exact(16)
            .map(|c| {
                (
                    u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
                    u64::from_le_bytes(c[8..].try_into().expect("8 bytes")),
                )
            })
            .collect();
        AppState { applied }
    }
}
