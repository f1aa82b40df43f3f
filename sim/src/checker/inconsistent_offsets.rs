//! `inconsistent-offsets`: one offset never holds two different values, in
//! any read or acknowledgement.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset, Partition, ReadValue};

#[derive(Default)]
pub struct InconsistentOffsets {
    /// The first value observed at each offset.
    first_seen: BTreeMap<(Partition, Offset), String>,
    reported: BTreeSet<(Partition, Offset)>,
}

impl InconsistentOffsets {
    fn saw(
        &mut self,
        event: &Event,
        partition: Partition,
        offset: Offset,
        value: &str,
        found: &mut Vec<Violation>,
    ) {
        let key = (partition, offset);
        let first = self
            .first_seen
            .entry(key)
            .or_insert_with(|| value.to_string());
        if first != value && self.reported.insert(key) {
            let detail = format!("offset {offset} held {first} and later {value}");
            found.push(Violation::at(
                ViolationKind::InconsistentOffsets,
                event,
                partition,
                detail,
            ));
        }
    }
}

impl Checker for InconsistentOffsets {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        match &event.kind {
            EventKind::SendAcked {
                partition,
                value,
                offset,
                ..
            } => self.saw(event, *partition, *offset, value, found),
            EventKind::Polled {
                partition, records, ..
            } => {
                for record in records {
                    // Garbage is corrupt-read's finding, not a second value.
                    if let ReadValue::Value(value) = &record.value {
                        self.saw(event, *partition, record.offset, value, found);
                    }
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
    fn two_reads_disagreeing_are_reported_once() {
        let mut s = Script::default();
        s.send(0, "a", None);
        s.send(0, "b", None);
        s.poll(1, 0, 0, &[(0, "a")]);
        s.poll(2, 0, 0, &[(0, "b")]);
        s.poll(3, 0, 0, &[(0, "b")]);
        assert_eq!(s.names(), vec!["inconsistent-offsets"]);
    }

    #[test]
    fn same_value_again_is_fine() {
        let mut s = Script::default();
        s.send(0, "a", Some(0));
        s.poll(1, 0, 0, &[(0, "a")]);
        s.poll(2, 0, 0, &[(0, "a")]);
        assert!(s.names().is_empty());
    }
}
