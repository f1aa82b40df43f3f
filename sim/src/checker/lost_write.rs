//! `lost-write`: a record acknowledged under the durability promise
//! (acks=all on an fsync=always topic) is readable at its acknowledged
//! offset. Violated when a read invoked after the acknowledgement covered
//! that offset (went past it) and did not hold the value there.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset, Partition, ReadValue};

#[derive(Default)]
pub struct LostWrite {
    /// (partition, offset) -> (value, seq of the acknowledgement).
    acked: BTreeMap<(Partition, Offset), (String, u64)>,
    reported: BTreeSet<(Partition, Offset)>,
}

impl Checker for LostWrite {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        match &event.kind {
            EventKind::SendAcked {
                partition,
                value,
                offset,
                ..
            } => {
                // A second ack at the same offset is inconsistent-offsets'
                // business; keep the first.
                self.acked
                    .entry((*partition, *offset))
                    .or_insert_with(|| (value.clone(), event.seq));
            }
            EventKind::Polled {
                partition,
                fetch_offset,
                invoked_seq,
                records,
                ..
            } => {
                let Some(last) = records.last() else { return };
                let read: BTreeMap<Offset, &ReadValue> =
                    records.iter().map(|r| (r.offset, &r.value)).collect();
                let covered = (*partition, *fetch_offset)..=(*partition, last.offset);
                for ((p, offset), (value, ack_seq)) in self.acked.range(covered) {
                    if *ack_seq >= *invoked_seq || self.reported.contains(&(*p, *offset)) {
                        continue;
                    }
                    let seen = read.get(offset);
                    if seen == Some(&&ReadValue::Value(value.clone())) {
                        continue;
                    }
                    self.reported.insert((*p, *offset));
                    let detail = match seen {
                        None => format!(
                            "{value} acked at offset {offset}; a read of {fetch_offset}..={} skipped it",
                            last.offset
                        ),
                        Some(other) => format!(
                            "{value} acked at offset {offset}; a later read found {other:?} there"
                        ),
                    };
                    found.push(Violation::at(ViolationKind::LostWrite, event, *p, detail));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::test_support::Script;

    #[test]
    fn acked_then_read_past_without_it_is_lost() {
        let mut s = Script::default();
        s.send(0, "v-1", Some(0));
        s.send(0, "v-2", Some(1));
        s.send(0, "v-3", None);
        s.poll(1, 0, 0, &[(0, "v-1"), (1, "v-3")]);
        assert_eq!(s.names(), vec!["lost-write", "inconsistent-offsets"]);
    }

    #[test]
    fn read_that_stops_before_the_offset_is_not_lost() {
        let mut s = Script::default();
        s.send(0, "v-1", Some(0));
        s.send(0, "v-2", Some(1));
        s.poll(1, 0, 0, &[(0, "v-1")]);
        s.poll(1, 0, 1, &[(1, "v-2")]);
        assert!(s.names().is_empty());
    }

    #[test]
    fn gap_over_an_acked_offset_is_lost() {
        let mut s = Script::default();
        s.send(0, "v-1", Some(0));
        s.send(0, "v-2", Some(1));
        s.send(0, "v-3", Some(2));
        s.poll(1, 0, 0, &[(0, "v-1"), (2, "v-3")]);
        assert!(s.names().contains(&"lost-write"));
    }

    #[test]
    fn other_partition_does_not_count() {
        let mut s = Script::default();
        s.send(1, "v-1", Some(0));
        s.poll(1, 0, 0, &[(0, "v-9"), (1, "v-8")]);
        s.send(0, "v-9", None);
        assert!(!s.names().contains(&"lost-write"));
    }
}
