//! The metadata-log checker: the voters' Raft state, read from their
//! disks while the seed runs and once more at its end, must keep Raft's
//! safety properties (the Raft harness's checkers, `src/core/raft/tests`,
//! on the real cluster). The clients cannot see most of what breaks them:
//! a metadata record lost or replaced shows, if at all, as a partition
//! leader elected from an older image long after.
//!
//! Each sample takes, per voter, what a power loss would leave
//! (`SimDisk::durable_content`): its `hard_state` (term, vote) and its log
//! (the snapshot it follows, then the entries). Judged:
//!
//! - `raft-election-safety`: a voter voted for two candidates in one term,
//!   or two candidates hold a majority of the votes of one term;
//! - `raft-log-matching`: two voters hold an entry of the same index and
//!   term, and differ at or below it;
//! - `raft-committed-lost`: an entry known committed is replaced by
//!   another at its index (in what is known committed later), or is no
//!   longer durable on a majority (held, or covered by a snapshot).
//!
//! An entry is known committed once a majority of voters durably hold it
//! while their durable term is the entry's term: each of them took it from
//! that term's leader in that term, which is Raft's commit rule (§5.4.2)
//! whether or not the leader has counted yet; every entry before it is
//! committed with it. An entry of an earlier term replicated by a later
//! leader is not (Figure 8), so a sample never calls committed what Raft
//! does not.

use std::collections::{BTreeMap, BTreeSet};

use odradek::core::raft::{Entry, EntryKind, HardState, SnapshotMeta};
use odradek::io::disk::join;
use odradek::io::sim_disk::SimDisk;
use odradek::server::cluster::RAFT_DIR;
use odradek::server::quorum::storage::{
    read_hard_state_bytes, read_log_bytes, read_log_entries_from, RAFT_HARD_STATE_FILE,
    RAFT_LOG_FILE,
};

use crate::checker::{Violation, ViolationKind};
use crate::cluster::topology::NodeId;

/// Where each node keeps its data (`BrokerConfig::data_dir`).
const DATA_DIR: &str = "data";
/// Violations reported per kind, at most (the first ones tell the story).
const EXAMPLES_PER_KIND: usize = 3;

/// One entry as compared: its term and a digest of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryId {
    pub term: u64,
    pub digest: u32,
}

impl EntryId {
    fn of(entry: &Entry) -> Self {
        let digest = match &entry.kind {
            EntryKind::NoOp => 0,
            EntryKind::Command(payload) => crc32c::crc32c(payload) | 1,
        };
        EntryId {
            term: entry.term,
            digest,
        }
    }
}

/// One voter's durable Raft state at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoterState {
    pub hard_state: HardState,
    /// The last index its snapshot covers (0: none).
    pub snapshot_index: u64,
    /// Its log after the snapshot, by index.
    pub entries: BTreeMap<u64, EntryId>,
}

/// Reads one voter's durable state again and again, parsing only what its
/// log file gained since the last read while the bytes read before are
/// unchanged (a new snapshot rewrites the file; a truncation changes it).
#[derive(Debug, Default)]
pub struct VoterReader {
    /// The log file's bytes at the last read.
    log: Vec<u8>,
    /// Where the last entry read ends in them.
    parsed_end: usize,
    state: VoterState,
}

impl VoterReader {
    /// Reads `disk` as a power loss would leave it; `None` if the node
    /// never wrote its Raft state (or its log header is unreadable).
    pub fn read(&mut self, disk: &SimDisk) -> Option<&VoterState> {
        let dir = join(DATA_DIR, RAFT_DIR);
        let bytes = disk.durable_content(&join(&dir, RAFT_LOG_FILE))?;
        let end = self.parsed_end;
        let grown = end > 0 && bytes.len() >= end && bytes[..end] == self.log[..end];
        if grown {
            let state = &mut self.state;
            let next_index = state.snapshot_index + 1 + state.entries.len() as u64;
            let (more, after) = read_log_entries_from(&bytes, end, next_index);
            state
                .entries
                .extend(more.iter().map(|e| (e.index, EntryId::of(e))));
            self.parsed_end = after;
        } else {
            let (base, entries, after): (SnapshotMeta, Vec<Entry>, usize) = read_log_bytes(&bytes)?;
            self.state.snapshot_index = base.last_index;
            self.state.entries = entries.iter().map(|e| (e.index, EntryId::of(e))).collect();
            self.parsed_end = after;
        }
        self.log = bytes;
        self.state.hard_state = disk
            .durable_content(&join(&dir, RAFT_HARD_STATE_FILE))
            .and_then(|bytes| read_hard_state_bytes(&bytes))
            .unwrap_or_default();
        Some(&self.state)
    }
}

impl VoterState {
    /// Whether it holds `id` at `index`, or a snapshot covering `index`.
    fn keeps(&self, index: u64, id: EntryId) -> bool {
        index <= self.snapshot_index || self.entries.get(&index) == Some(&id)
    }
}

/// What the samples so far established, and what they found.
#[derive(Debug, Default)]
pub struct MetadataLogChecker {
    voters: usize,
    /// Per term, each voter's durable vote.
    votes: BTreeMap<u64, BTreeMap<NodeId, u64>>,
    /// Entries known committed.
    committed: BTreeMap<u64, EntryId>,
    violations: Vec<Violation>,
    samples: u64,
}

impl MetadataLogChecker {
    pub fn new(voters: usize) -> Self {
        assert!(voters > 0);
        MetadataLogChecker {
            voters,
            ..MetadataLogChecker::default()
        }
    }

    fn majority(&self) -> usize {
        self.voters / 2 + 1
    }

    fn report(&mut self, kind: ViolationKind, detail: String) {
        let reported = self.violations.iter().filter(|v| v.kind == kind).count();
        if reported < EXAMPLES_PER_KIND {
            self.violations.push(Violation {
                kind,
                at_seq: None,
                partition: None,
                detail: format!("sample {}: {detail}", self.samples),
            });
        }
    }

    /// Judges one sample: every voter's state at one instant (a voter
    /// missing from it wrote none yet).
    pub fn observe(&mut self, sample: &BTreeMap<NodeId, &VoterState>) {
        self.samples += 1;
        self.check_votes(sample);
        self.check_log_matching(sample);
        self.learn_committed(sample);
        self.check_committed_kept(sample);
    }

    fn check_votes(&mut self, sample: &BTreeMap<NodeId, &VoterState>) {
        let mut touched = BTreeSet::new();
        for (&voter, state) in sample {
            let HardState { term, voted_for } = state.hard_state;
            let Some(candidate) = voted_for else { continue };
            let votes = self.votes.entry(term).or_default();
            match votes.insert(voter, candidate) {
                Some(before) if before != candidate => self.report(
                    ViolationKind::RaftElectionSafety,
                    format!("voter {voter} voted for {before} and then {candidate} in term {term}"),
                ),
                _ => {}
            }
            touched.insert(term);
        }
        for term in touched {
            let mut tally: BTreeMap<u64, usize> = BTreeMap::new();
            for candidate in self.votes[&term].values() {
                *tally.entry(*candidate).or_default() += 1;
            }
            let elected: Vec<u64> = tally
                .into_iter()
                .filter(|(_, count)| *count >= self.majority())
                .map(|(candidate, _)| candidate)
                .collect();
            if elected.len() > 1 {
                self.report(
                    ViolationKind::RaftElectionSafety,
                    format!("term {term}: candidates {elected:?} each hold a majority of votes"),
                );
            }
        }
    }

    fn check_log_matching(&mut self, sample: &BTreeMap<NodeId, &VoterState>) {
        let voters: Vec<(&NodeId, &&VoterState)> = sample.iter().collect();
        for (i, (a, left)) in voters.iter().enumerate() {
            for (b, right) in &voters[i + 1..] {
                if let Some(detail) = mismatch(left, right) {
                    self.report(
                        ViolationKind::RaftLogMatching,
                        format!("voters {a} and {b}: {detail}"),
                    );
                }
            }
        }
    }

    /// Marks committed the highest entry a majority holds in its own term,
    /// and every entry before it (from one of that majority's logs).
    fn learn_committed(&mut self, sample: &BTreeMap<NodeId, &VoterState>) {
        let mut best: Option<(u64, NodeId)> = None;
        for (&voter, state) in sample {
            let term = state.hard_state.term;
            // Its entries of its current term: the tail of its log.
            for (&index, id) in state.entries.iter().rev() {
                if id.term != term {
                    break;
                }
                if best.is_some_and(|(at, _)| at >= index) {
                    break;
                }
                let holders = sample
                    .values()
                    .filter(|s| s.hard_state.term == term && s.entries.get(&index) == Some(id))
                    .count();
                if holders >= self.majority() {
                    best = Some((index, voter));
                    break;
                }
            }
        }
        let Some((top, voter)) = best else { return };
        let log = &sample[&voter].entries;
        for (&index, &id) in log.range(..=top).rev() {
            match self.committed.insert(index, id) {
                Some(before) if before != id => self.report(
                    ViolationKind::RaftCommittedLost,
                    format!(
                        "index {index} was committed with term {} and is now committed with term {} (voter {voter})",
                        before.term, id.term
                    ),
                ),
                Some(_) => break, // the rest was learned before, unchanged
                None => {}
            }
        }
    }

    fn check_committed_kept(&mut self, sample: &BTreeMap<NodeId, &VoterState>) {
        if sample.len() < self.majority() {
            return; // a voter that never wrote its state is no evidence
        }
        let mut lost = Vec::new();
        for (&index, &id) in &self.committed {
            let keepers = sample.values().filter(|s| s.keeps(index, id)).count();
            if keepers < self.majority() {
                lost.push((index, id, keepers));
            }
        }
        if let Some(&(index, id, keepers)) = lost.first() {
            self.report(
                ViolationKind::RaftCommittedLost,
                format!(
                    "committed index {index} (term {}) is durable on {keepers} voters, fewer than a majority ({} indexes so)",
                    id.term,
                    lost.len()
                ),
            );
        }
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    pub fn committed_len(&self) -> usize {
        self.committed.len()
    }

    pub fn into_violations(self) -> Vec<Violation> {
        self.violations
    }
}

/// Raft's log matching between two logs: where both hold an entry of the
/// same index and term, they agree on every index both hold below it.
fn mismatch(left: &VoterState, right: &VoterState) -> Option<String> {
    let mut matched_at = None;
    for (&index, id) in left.entries.iter().rev() {
        let Some(other) = right.entries.get(&index) else {
            continue;
        };
        match matched_at {
            None if other.term == id.term => {
                if other != id {
                    return Some(format!("index {index} term {}: different content", id.term));
                }
                matched_at = Some(index);
            }
            None => {}
            Some(at) if other != id => {
                return Some(format!(
                    "both hold index {at} in one term, yet differ at index {index} (terms {} and {})",
                    id.term, other.term
                ));
            }
            Some(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(term: u64, digest: u32) -> EntryId {
        EntryId { term, digest }
    }

    /// A voter in `term` that voted for `vote`, holding `(term, digest)` at
    /// indexes from 1.
    fn voter(term: u64, vote: Option<u64>, log: &[(u64, u32)]) -> VoterState {
        VoterState {
            hard_state: HardState {
                term,
                voted_for: vote,
            },
            snapshot_index: 0,
            entries: log
                .iter()
                .enumerate()
                .map(|(i, (t, d))| (i as u64 + 1, id(*t, *d)))
                .collect(),
        }
    }

    fn kinds(checker: MetadataLogChecker) -> Vec<ViolationKind> {
        checker.into_violations().iter().map(|v| v.kind).collect()
    }

    fn sample(states: &[VoterState]) -> BTreeMap<NodeId, &VoterState> {
        states
            .iter()
            .enumerate()
            .map(|(i, s)| (i as NodeId + 1, s))
            .collect()
    }

    #[test]
    fn agreeing_voters_and_a_lagging_one_with_a_stale_entry_are_fine() {
        let mut checker = MetadataLogChecker::new(3);
        // 1 and 2 hold (2, b) at index 2 in term 2: committed. Voter 3 lags
        // with an uncommitted entry of term 1 there, which is allowed.
        checker.observe(&sample(&[
            voter(2, Some(1), &[(1, 1), (2, 2)]),
            voter(2, Some(1), &[(1, 1), (2, 2)]),
            voter(1, Some(3), &[(1, 1), (1, 9)]),
        ]));
        assert_eq!(checker.committed_len(), 2);
        // Later 3 catches up; a snapshot on 1 covers everything.
        let mut compacted = voter(3, Some(2), &[]);
        compacted.snapshot_index = 2;
        checker.observe(&sample(&[
            compacted,
            voter(3, Some(2), &[(1, 1), (2, 2)]),
            voter(3, Some(2), &[(1, 1), (2, 2)]),
        ]));
        assert_eq!(kinds(checker), vec![]);
    }

    /// Figure 8's state before the bug bites: an entry of term 2 held by a
    /// majority whose term is 4 is not committed by that alone.
    #[test]
    fn an_old_term_entry_on_a_majority_is_not_taken_for_committed() {
        let mut checker = MetadataLogChecker::new(3);
        checker.observe(&sample(&[
            voter(4, Some(1), &[(1, 1), (2, 2)]),
            voter(3, Some(2), &[(1, 1), (3, 3)]),
            voter(4, Some(1), &[(1, 1), (2, 2)]),
        ]));
        assert_eq!(checker.committed_len(), 0);
        checker.observe(&sample(&[
            voter(5, Some(2), &[(1, 1), (3, 3)]),
            voter(5, Some(2), &[(1, 1), (3, 3)]),
            voter(5, Some(2), &[(1, 1), (3, 3)]),
        ]));
        assert_eq!(kinds(checker), vec![]);
    }

    #[test]
    fn a_committed_entry_replaced_or_no_longer_on_a_majority_is_reported() {
        let mut checker = MetadataLogChecker::new(3);
        checker.observe(&sample(&[
            voter(2, Some(1), &[(1, 1), (2, 2)]),
            voter(2, Some(1), &[(1, 1), (2, 2)]),
            voter(1, None, &[(1, 1)]),
        ]));
        assert_eq!(checker.committed_len(), 2);
        // A voter that missed index 2 leads term 3 and overwrites it.
        checker.observe(&sample(&[
            voter(3, Some(3), &[(1, 1), (3, 5)]),
            voter(3, Some(3), &[(1, 1), (3, 5)]),
            voter(3, Some(3), &[(1, 1), (3, 5)]),
        ]));
        let found = kinds(checker);
        assert!(
            found.contains(&ViolationKind::RaftCommittedLost),
            "{found:?}"
        );
    }

    #[test]
    fn two_leaders_of_one_term_and_a_double_vote_are_reported() {
        let mut checker = MetadataLogChecker::new(3);
        checker.observe(&sample(&[
            voter(2, Some(1), &[]),
            voter(2, Some(1), &[]),
            voter(2, Some(3), &[]),
        ]));
        checker.observe(&sample(&[
            voter(2, Some(1), &[]),
            voter(2, Some(3), &[]),
            voter(2, Some(3), &[]),
        ]));
        let found = kinds(checker);
        assert!(
            found.contains(&ViolationKind::RaftElectionSafety),
            "{found:?}"
        );
    }

    #[test]
    fn logs_that_share_an_entry_but_differ_below_it_break_log_matching() {
        // Terms 4: no entry of the voters' own term, so none is known
        // committed and log matching alone speaks.
        let mut checker = MetadataLogChecker::new(3);
        checker.observe(&sample(&[
            voter(4, None, &[(1, 1), (2, 2), (3, 3)]),
            voter(4, None, &[(1, 1), (2, 7), (3, 3)]),
        ]));
        // Same index and term, different content.
        checker.observe(&sample(&[
            voter(4, None, &[(1, 1), (2, 2)]),
            voter(4, None, &[(1, 1), (2, 8)]),
        ]));
        let violations = checker.into_violations();
        assert_eq!(violations.len(), 2, "{violations:?}");
        assert!(violations
            .iter()
            .all(|v| v.kind == ViolationKind::RaftLogMatching));
    }
}
