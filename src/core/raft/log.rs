//! The in-memory Raft log: the snapshot's last entry, then the entries
//! after it. What is durable is tracked apart (`durability`).

use crate::core::raft::types::{Entry, LogIndex, SnapshotMeta, Term};

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RaftLog {
    snapshot: SnapshotMeta,
    /// `entries[k].index == snapshot.last_index + 1 + k`.
    entries: Vec<Entry>,
}

impl RaftLog {
    /// A log behind `snapshot` holding `entries` (validated by the caller).
    pub fn new(snapshot: SnapshotMeta, entries: Vec<Entry>) -> RaftLog {
        let log = RaftLog { snapshot, entries };
        log.assert_contiguous();
        log
    }

    pub fn snapshot_meta(&self) -> SnapshotMeta {
        self.snapshot
    }

    /// The first index held as an entry (one past the snapshot).
    pub fn first_index(&self) -> LogIndex {
        self.snapshot.last_index + 1
    }

    pub fn last_index(&self) -> LogIndex {
        self.snapshot.last_index + self.entries.len() as u64
    }

    pub fn last_term(&self) -> Term {
        self.entries
            .last()
            .map_or(self.snapshot.last_term, |entry| entry.term)
    }

    /// The term at `index`: known for the snapshot's last entry and every
    /// entry after it (0 at index 0); `None` when compacted or past the end.
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == self.snapshot.last_index {
            return Some(self.snapshot.last_term);
        }
        self.entry(index).map(|entry| entry.term)
    }

    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        if index < self.first_index() {
            return None;
        }
        self.entries.get((index - self.first_index()) as usize)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Entries from `from` (at least one when `from` is held), at most
    /// `count_max` of them and, after the first, at most `bytes_max` bytes.
    pub fn entries_from(&self, from: LogIndex, count_max: usize, bytes_max: usize) -> Vec<Entry> {
        assert!(from >= self.first_index(), "compacted entries are not read");
        let start = (from - self.first_index()) as usize;
        let mut out = Vec::new();
        let mut bytes = 0;
        for entry in self.entries.iter().skip(start).take(count_max) {
            bytes += entry.size_bytes();
            if !out.is_empty() && bytes > bytes_max {
                break;
            }
            out.push(entry.clone());
        }
        out
    }

    /// Entries in `(after, through]`, all held.
    pub fn slice(&self, after: LogIndex, through: LogIndex) -> Vec<Entry> {
        if through <= after {
            return Vec::new();
        }
        assert!(
            after >= self.snapshot.last_index,
            "compacted entries are not read"
        );
        assert!(
            through <= self.last_index(),
            "entries past the end are not read"
        );
        let start = (after - self.snapshot.last_index) as usize;
        let end = (through - self.snapshot.last_index) as usize;
        self.entries[start..end].to_vec()
    }

    pub fn append(&mut self, entry: Entry) {
        assert_eq!(entry.index, self.last_index() + 1, "the log grows by one");
        assert!(
            entry.term >= self.last_term(),
            "terms never go backwards in a log"
        );
        self.entries.push(entry);
    }

    /// Drops every entry at `from` and after.
    pub fn truncate_from(&mut self, from: LogIndex) {
        assert!(
            from > self.snapshot.last_index,
            "the snapshot is never truncated"
        );
        let keep = (from - self.first_index()) as usize;
        self.entries.truncate(keep);
    }

    /// Drops the entries a new snapshot covers; the snapshot's last entry
    /// must be in this log with that term.
    pub fn compact_to(&mut self, meta: SnapshotMeta) {
        assert!(
            meta.last_index > self.snapshot.last_index,
            "snapshots move forward"
        );
        assert_eq!(
            self.term_at(meta.last_index),
            Some(meta.last_term),
            "a compaction keeps a matching log"
        );
        let drop = (meta.last_index - self.snapshot.last_index) as usize;
        self.entries.drain(..drop);
        self.snapshot = meta;
    }

    /// Replaces the whole log by a snapshot (its last entry conflicts with
    /// or lies past this log).
    pub fn reset_to(&mut self, meta: SnapshotMeta) {
        assert!(
            meta.last_index > self.snapshot.last_index,
            "snapshots move forward"
        );
        self.entries.clear();
        self.snapshot = meta;
    }

    /// Raft §5.4.1: a log ending at `(last_term, last_index)` is at least as
    /// up to date as this one.
    pub fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }

    /// The first index of the run of `term` that contains `index` (for the
    /// rejection hint); never below the first held entry.
    pub fn first_index_of_term_run(&self, index: LogIndex, term: Term) -> LogIndex {
        let mut first = index;
        while first > self.first_index() && self.term_at(first - 1) == Some(term) {
            first -= 1;
        }
        first
    }

    /// The last index holding `term`, if this log (after the snapshot's last
    /// entry) has it.
    pub fn last_index_of_term(&self, term: Term) -> Option<LogIndex> {
        if let Some(entry) = self.entries.iter().rev().find(|entry| entry.term <= term) {
            return (entry.term == term).then_some(entry.index);
        }
        (self.snapshot.last_term == term && self.snapshot.last_index > 0)
            .then_some(self.snapshot.last_index)
    }

    fn assert_contiguous(&self) {
        let mut term = self.snapshot.last_term;
        for (k, entry) in self.entries.iter().enumerate() {
            assert_eq!(
                entry.index,
                self.first_index() + k as u64,
                "entries are contiguous"
            );
            assert!(entry.term >= term, "terms never go backwards in a log");
            term = entry.term;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::raft::types::EntryKind;

    fn log_of(snapshot: (u64, u64), terms: &[u64]) -> RaftLog {
        let meta = SnapshotMeta {
            last_index: snapshot.0,
            last_term: snapshot.1,
        };
        let entries = terms
            .iter()
            .enumerate()
            .map(|(k, &term)| Entry {
                term,
                index: snapshot.0 + 1 + k as u64,
                kind: EntryKind::NoOp,
            })
            .collect();
        RaftLog::new(meta, entries)
    }

    #[test]
    fn terms_and_bounds_around_a_snapshot() {
        let log = log_of((3, 2), &[2, 3, 3]);
        assert_eq!(log.first_index(), 4);
        assert_eq!(log.last_index(), 6);
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(2), None, "compacted");
        assert_eq!(log.term_at(6), Some(3));
        assert_eq!(log.term_at(7), None);
        assert_eq!(log.last_term(), 3);
        assert_eq!(log.first_index_of_term_run(6, 3), 5);
        assert_eq!(log.last_index_of_term(2), Some(4));
        assert_eq!(log.last_index_of_term(1), None);
        assert_eq!(log_of((3, 2), &[]).last_index_of_term(2), Some(3));
    }

    #[test]
    fn up_to_date_compares_last_term_then_length() {
        let log = log_of((0, 0), &[1, 2, 2]);
        assert!(log.is_up_to_date(3, 2));
        assert!(
            log.is_up_to_date(1, 3),
            "a later term wins over a longer log"
        );
        assert!(!log.is_up_to_date(2, 2));
        assert!(
            !log.is_up_to_date(9, 1),
            "a longer log of an older term loses"
        );
    }

    #[test]
    fn entries_from_respects_count_and_bytes_but_sends_one() {
        let log = log_of((0, 0), &[1, 1, 1, 1]);
        assert_eq!(log.entries_from(1, 2, 1 << 20).len(), 2);
        assert_eq!(log.entries_from(2, 10, 1).len(), 1, "one entry always goes");
        assert_eq!(log.entries_from(5, 10, 1 << 20).len(), 0);
    }

    #[test]
    fn compaction_and_truncation_keep_indexes() {
        let mut log = log_of((0, 0), &[1, 1, 2, 2]);
        log.compact_to(SnapshotMeta {
            last_index: 2,
            last_term: 1,
        });
        assert_eq!(log.entry(3).map(|e| e.index), Some(3));
        log.truncate_from(4);
        assert_eq!(log.last_index(), 3);
        log.reset_to(SnapshotMeta {
            last_index: 9,
            last_term: 4,
        });
        assert_eq!(
            (log.first_index(), log.last_index(), log.last_term()),
            (10, 9, 4)
        );
    }
}
