//! `committed-past-hw`: an offset the workload committed from a real
//! consume never points past the high watermark. The broker accepts any
//! offset, as Kafka does (it no longer refuses commits past the high
//! watermark, so the workload no longer sends probe commits); what still
//! must hold is that the group workload, which commits only the position
//! after records it read, never gets a position past the high watermark its
//! fetches saw, and that OffsetFetch answers only what was committed. An
//! acknowledged commit, or an OffsetFetch answer, beyond the highest high
//! watermark any fetch observed so far is a violation (a broker that served
//! records past its high watermark, or invented a committed offset).

use std::collections::BTreeMap;

use super::{Checker, Violation, ViolationKind};
use crate::group_history::GroupEvent;
use crate::history::{Event, EventKind, Offset, Partition};

#[derive(Default)]
pub struct CommittedPastHw {
    high_watermark: BTreeMap<Partition, Offset>,
}

impl CommittedPastHw {
    fn judge(
        &self,
        event: &Event,
        partition: Partition,
        offset: Offset,
        what: &str,
        found: &mut Vec<Violation>,
    ) {
        let high_watermark = self.high_watermark.get(&partition).copied().unwrap_or(0);
        if offset > high_watermark {
            let detail = format!(
                "{what} {offset}, past the highest high watermark observed ({high_watermark})"
            );
            found.push(Violation::at(
                ViolationKind::CommittedPastHw,
                event,
                partition,
                detail,
            ));
        }
    }
}

impl Checker for CommittedPastHw {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        match &event.kind {
            EventKind::Polled {
                partition,
                high_watermark,
                ..
            } => {
                let slot = self.high_watermark.entry(*partition).or_insert(0);
                *slot = (*slot).max(*high_watermark);
            }
            EventKind::Group(GroupEvent::Committed {
                partition,
                offset,
                error: None,
                probe,
                ..
            }) => {
                let what = if *probe {
                    "a probe commit was acknowledged at"
                } else {
                    "a commit was acknowledged at"
                };
                self.judge(event, *partition, *offset, what, found);
            }
            EventKind::Group(GroupEvent::OffsetFetched {
                partition, offset, ..
            }) => {
                self.judge(event, *partition, *offset, "OffsetFetch answered", found);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::test_support::Script;

    #[test]
    fn an_acknowledged_commit_past_the_high_watermark() {
        let mut s = Script::default();
        s.send(0, "a", Some(0));
        s.poll(10_000, 0, 0, &[(0, "a")]);
        s.commit(0, 1_000_001, true);
        assert_eq!(s.names(), vec!["committed-past-hw"]);
    }

    #[test]
    fn an_offset_fetch_past_the_high_watermark() {
        let mut s = Script::default();
        s.offset_fetched(0, 3);
        assert_eq!(s.names(), vec!["committed-past-hw"]);
    }

    #[test]
    fn commits_up_to_the_high_watermark_and_refused_commits_pass() {
        let mut s = Script::default();
        s.send(0, "a", Some(0));
        s.poll(10_000, 0, 0, &[(0, "a")]);
        s.commit(0, 1, true);
        s.commit(0, 1_000_001, false);
        s.offset_fetched(0, 1);
        assert!(s.names().is_empty());
    }
}
