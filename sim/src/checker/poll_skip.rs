//! `poll-skip` and `int-poll-skip`: a consumer never jumps over offsets. The
//! workload's topic has no compaction, no transactions and no retention, so
//! offsets are dense: the next record a consumer reads is the one right
//! after the last it read (or at its fetch offset, for its first poll).

use std::collections::BTreeMap;

use super::{Checker, Violation, ViolationKind};
use crate::history::{ClientId, Event, EventKind, Offset, Partition};

#[derive(Default)]
pub struct PollSkip {
    last_offset: BTreeMap<(ClientId, Partition), Offset>,
}

impl Checker for PollSkip {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        let EventKind::Polled {
            client,
            partition,
            fetch_offset,
            records,
            ..
        } = &event.kind
        else {
            return;
        };
        let key = (*client, *partition);
        let mut expected = self
            .last_offset
            .get(&key)
            .map_or(*fetch_offset, |last| last + 1);
        for (index, record) in records.iter().enumerate() {
            if record.offset > expected {
                let kind = if index == 0 {
                    ViolationKind::PollSkip
                } else {
                    ViolationKind::IntPollSkip
                };
                let detail = format!(
                    "consumer {client} expected offset {expected}, read {}",
                    record.offset
                );
                found.push(Violation::at(kind, event, *partition, detail));
            }
            expected = record.offset + 1;
        }
        if let Some(last) = records.last() {
            self.last_offset.insert(key, last.offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::test_support::Script;

    #[test]
    fn gaps_within_and_between_polls() {
        let mut s = Script::default();
        for v in ["a", "b", "c", "d", "e"] {
            s.send(0, v, None);
        }
        s.poll(1, 0, 0, &[(0, "a"), (2, "c")]);
        s.poll(1, 0, 3, &[(4, "e")]);
        assert_eq!(s.names(), vec!["int-poll-skip", "poll-skip"]);
    }

    #[test]
    fn dense_reads_pass() {
        let mut s = Script::default();
        for v in ["a", "b", "c"] {
            s.send(0, v, None);
        }
        s.poll(1, 0, 0, &[(0, "a"), (1, "b")]);
        s.poll(1, 0, 2, &[(2, "c")]);
        assert!(s.names().is_empty());
    }
}
