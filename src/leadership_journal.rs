//! The leadership journal: what every replica of a simulated cluster did as
//! a partition leader, for the simulator's checkers on leadership
//! (`one-leader-per-epoch`, `leader-completeness`; the replication
//! harness's names, docs/replication.md). The client history cannot see
//! two nodes leading one epoch, or a leader elected without records an
//! earlier epoch committed, until a read happens to land on the damage.
//!
//! Per thread and off unless started: a seed runs all its simulated nodes on
//! one thread (madsim), the simulator starts the journal there before the
//! seed and takes it after; a real broker never starts it, so recording is
//! one thread-local check and nothing is kept.

use std::cell::RefCell;
use std::collections::BTreeMap;

/// Most (partition, leader epoch) keys the journal holds; past it, new keys
/// are dropped and the journal says it overflowed (a seed makes a few
/// hundred; the bound keeps a runaway election loop from eating memory).
pub const JOURNAL_KEYS_MAX: usize = 100_000;

/// A partition: (topic id, partition index).
pub type PartitionKey = ([u8; 16], i32);

/// What one seed's replicas did as leaders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadershipJournal {
    /// Per partition and leader epoch: each node that became leader in that
    /// epoch, with its log end offset when it did (the first time).
    pub claims: BTreeMap<(PartitionKey, i32), BTreeMap<i32, i64>>,
    /// Per partition and leader epoch: the highest high watermark its
    /// leader reached over durably written records (`fsync.policy=always`:
    /// the leader's own end counts only once synced). Records below it are
    /// committed: on every ISR member's disk.
    pub durable_high_watermarks: BTreeMap<(PartitionKey, i32), i64>,
    /// Topic names by id, for the checkers' messages.
    pub topic_names: BTreeMap<[u8; 16], String>,
    /// Some key was dropped at [`JOURNAL_KEYS_MAX`].
    pub overflowed: bool,
}

thread_local! {
    static JOURNAL: RefCell<Option<LeadershipJournal>> = const { RefCell::new(None) };
}

/// Starts an empty journal on this thread (the simulator, before a seed).
pub fn start_on_this_thread() {
    JOURNAL.with(|j| *j.borrow_mut() = Some(LeadershipJournal::default()));
}

/// Stops this thread's journal and returns it (`None` if never started).
pub fn take_on_this_thread() -> Option<LeadershipJournal> {
    JOURNAL.with(|j| j.borrow_mut().take())
}

fn record(update: impl FnOnce(&mut LeadershipJournal)) {
    JOURNAL.with(|j| {
        if let Some(journal) = j.borrow_mut().as_mut() {
            update(journal);
        }
    });
}

/// `node` became leader of `partition` of `topic` in `epoch` with its log
/// ending at `log_end_offset`.
pub fn leader_claimed(
    topic: &str,
    partition: PartitionKey,
    epoch: i32,
    node: i32,
    log_end_offset: i64,
) {
    record(|journal| {
        let key = (partition, epoch);
        if !journal.claims.contains_key(&key) && journal.claims.len() >= JOURNAL_KEYS_MAX {
            journal.overflowed = true;
            return;
        }
        journal
            .topic_names
            .entry(partition.0)
            .or_insert_with(|| topic.to_string());
        journal
            .claims
            .entry(key)
            .or_default()
            .entry(node)
            .or_insert(log_end_offset);
    });
}

/// The leader of `partition` in `epoch` moved its high watermark to
/// `offset` over durably written records.
pub fn durable_high_watermark(partition: PartitionKey, epoch: i32, offset: i64) {
    record(|journal| {
        let key = (partition, epoch);
        let known = journal.durable_high_watermarks.contains_key(&key);
        if !known && journal.durable_high_watermarks.len() >= JOURNAL_KEYS_MAX {
            journal.overflowed = true;
            return;
        }
        let highest = journal.durable_high_watermarks.entry(key).or_insert(offset);
        *highest = (*highest).max(offset);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_kept_unless_started() {
        leader_claimed("t", ([1; 16], 0), 1, 1, 10);
        assert_eq!(take_on_this_thread(), None);
    }

    #[test]
    fn a_started_journal_keeps_first_claims_and_highest_watermarks() {
        start_on_this_thread();
        leader_claimed("t", ([1; 16], 0), 3, 2, 10);
        leader_claimed("t", ([1; 16], 0), 3, 2, 15);
        durable_high_watermark(([1; 16], 0), 3, 7);
        durable_high_watermark(([1; 16], 0), 3, 5);
        let journal = take_on_this_thread().expect("started");
        assert_eq!(journal.claims[&(([1; 16], 0), 3)][&2], 10);
        assert_eq!(journal.durable_high_watermarks[&(([1; 16], 0), 3)], 7);
        assert_eq!(journal.topic_names[&[1; 16]], "t");
        assert_eq!(take_on_this_thread(), None, "taking stops it");
    }
}
