//! `committed-offset-regression`: a group's committed offset for a partition
//! never moves backwards unless the workload reset it. Once a commit of `c`
//! is acknowledged, an OffsetFetch sent afterwards must answer at least `c`
//! (not -1: a commit must not be lost, e.g. by a broker crash), and a commit
//! of less than `c` sent afterwards must not be acknowledged (stale
//! generations are fenced; the workload only commits positions at or past
//! what it fetched). A `Reset` (the committed position was out of range and
//! the member went back to the earliest offset) starts afresh.
//!
//! "Afterwards" is by the history: the acknowledgement was recorded before
//! the later request was sent (`invoked_seq`), so requests in flight
//! together are never compared.

use std::collections::BTreeMap;

use super::{Checker, Violation, ViolationKind};
use crate::group_history::GroupEvent;
use crate::history::{Event, EventKind, Offset, Partition};

#[derive(Default)]
pub struct CommittedOffsetRegression {
    /// Per partition: (seq of the acknowledgement, offset), since the last reset.
    acked: BTreeMap<Partition, Vec<(u64, Offset)>>,
}

impl CommittedOffsetRegression {
    /// The highest offset acknowledged before `seq`, and the seq of its ack.
    fn floor(&self, partition: Partition, seq: u64) -> Option<(u64, Offset)> {
        self.acked
            .get(&partition)?
            .iter()
            .filter(|(acked_at, _)| *acked_at < seq)
            .max_by_key(|(acked_at, offset)| (*offset, *acked_at))
            .copied()
    }
}

impl Checker for CommittedOffsetRegression {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        let EventKind::Group(group) = &event.kind else {
            return;
        };
        match group {
            GroupEvent::Committed {
                client,
                partition,
                invoked_seq,
                offset,
                error: None,
                ..
            } => {
                if let Some((acked_at, floor)) = self.floor(*partition, *invoked_seq) {
                    if *offset < floor {
                        let detail = format!(
                            "consumer {client}'s commit of {offset} was acknowledged after a commit of {floor} (acknowledged at seq {acked_at})"
                        );
                        found.push(Violation::at(
                            ViolationKind::CommittedOffsetRegression,
                            event,
                            *partition,
                            detail,
                        ));
                    }
                }
                self.acked
                    .entry(*partition)
                    .or_default()
                    .push((event.seq, *offset));
            }
            GroupEvent::OffsetFetched {
                client,
                partition,
                invoked_seq,
                offset,
            } => {
                if let Some((acked_at, floor)) = self.floor(*partition, *invoked_seq) {
                    if *offset < floor {
                        let detail = format!(
                            "consumer {client}'s OffsetFetch answered {offset}, after a commit of {floor} was acknowledged (seq {acked_at})"
                        );
                        found.push(Violation::at(
                            ViolationKind::CommittedOffsetRegression,
                            event,
                            *partition,
                            detail,
                        ));
                    }
                }
            }
            GroupEvent::Reset { partition, .. } => {
                self.acked.remove(partition);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::test_support::Script;

    #[test]
    fn a_fetch_below_an_acknowledged_commit_regresses() {
        let mut s = Script::default();
        // High watermarks of 100, so only the regression is judged.
        s.poll(1, 0, 100, &[]);
        s.poll(1, 1, 100, &[]);
        s.commit(0, 5, true);
        s.offset_fetched(0, 3);
        assert_eq!(s.names(), vec!["committed-offset-regression"]);
    }

    #[test]
    fn a_lost_commit_regresses() {
        let mut s = Script::default();
        // High watermarks of 100, so only the regression is judged.
        s.poll(1, 0, 100, &[]);
        s.poll(1, 1, 100, &[]);
        s.commit(0, 5, true);
        s.offset_fetched(0, -1);
        assert_eq!(s.names(), vec!["committed-offset-regression"]);
    }

    #[test]
    fn an_acknowledged_lower_commit_regresses() {
        let mut s = Script::default();
        // High watermarks of 100, so only the regression is judged.
        s.poll(1, 0, 100, &[]);
        s.poll(1, 1, 100, &[]);
        s.commit(0, 5, true);
        s.commit(0, 4, true);
        assert_eq!(s.names(), vec!["committed-offset-regression"]);
    }

    #[test]
    fn refused_commits_resets_and_forward_moves_pass() {
        let mut s = Script::default();
        // High watermarks of 100, so only the regression is judged.
        s.poll(1, 0, 100, &[]);
        s.poll(1, 1, 100, &[]);
        s.commit(0, 5, true);
        s.commit(0, 2, false);
        s.offset_fetched(0, 5);
        s.commit(0, 9, true);
        s.offset_fetched(0, 9);
        s.offset_fetched(1, -1);
        s.reset(0);
        s.commit(0, 1, true);
        s.offset_fetched(0, 1);
        assert!(s.names().is_empty());
    }
}
