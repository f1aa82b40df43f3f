//! Raft's state machine safety over what the nodes applied: no two nodes
//! apply different entries at one index of the metadata log. Each node's
//! Raft driver reports every entry it hands to its apply task
//! (`odradek::raft_events`), so this sees a commit the leader made by its
//! own count, which the disk samples of `metadata_log` do not know of: an
//! entry of an earlier term committed by counting replicas (Figure 8,
//! `commit-old-term`) and overwritten afterwards is applied by the leader
//! that counted and replaced on the others. Reported as
//! `raft-committed-lost`: an entry a node applied, so committed, was
//! replaced at its index.

use std::collections::BTreeMap;

use crate::checker::{Violation, ViolationKind};
use crate::cluster::topology::NodeId;

/// Indexes remembered, at most (a seed applies a few thousand; past it new
/// indexes are not checked and the count says so).
pub const APPLIED_INDEXES_MAX: usize = 1_000_000;
/// Violations reported, at most (the first ones tell the story).
const EXAMPLES_MAX: usize = 3;

/// The first node to apply each index, and the term it applied there.
#[derive(Debug, Default)]
pub struct AppliedEntries {
    first: BTreeMap<u64, (u64, NodeId)>,
    violations: Vec<Violation>,
    /// Applications that disagreed with the first one at their index.
    pub conflicts: u64,
    /// Indexes not checked because the map was full.
    pub unchecked: u64,
}

impl AppliedEntries {
    /// `node` applied the entry of `term` at `index`.
    pub fn applied(&mut self, node: NodeId, index: u64, term: u64) {
        let full = self.first.len() >= APPLIED_INDEXES_MAX;
        match self.first.get(&index) {
            None if full => self.unchecked += 1,
            None => {
                self.first.insert(index, (term, node));
            }
            Some(&(first_term, _)) if first_term == term => {}
            Some(&(first_term, first_node)) => {
                self.conflicts += 1;
                if self.violations.len() < EXAMPLES_MAX {
                    self.violations.push(Violation {
                        kind: ViolationKind::RaftCommittedLost,
                        at_seq: None,
                        partition: None,
                        detail: format!(
                            "metadata log index {index}: node {first_node} applied the entry \
                             of term {first_term}, node {node} applied one of term {term} \
                             (a committed entry was replaced)"
                        ),
                    });
                }
            }
        }
    }

    pub fn into_violations(self) -> Vec<Violation> {
        self.violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_entry_applied_everywhere_is_fine() {
        let mut applied = AppliedEntries::default();
        for node in 1..=3 {
            applied.applied(node, 1, 1);
            applied.applied(node, 2, 1);
            applied.applied(node, 3, 2);
        }
        // A restart applies its log again.
        applied.applied(2, 2, 1);
        assert_eq!(applied.conflicts, 0);
        assert!(applied.into_violations().is_empty());
    }

    #[test]
    fn another_term_applied_at_an_index_is_a_lost_commit() {
        let mut applied = AppliedEntries::default();
        applied.applied(1, 7, 2);
        applied.applied(3, 7, 3);
        applied.applied(2, 7, 3);
        assert_eq!(applied.conflicts, 2);
        let violations = applied.into_violations();
        assert_eq!(violations.len(), 2);
        assert_eq!(violations[0].kind, ViolationKind::RaftCommittedLost);
        assert!(violations[0]
            .detail
            .contains("node 1 applied the entry of term 2"));
    }
}
