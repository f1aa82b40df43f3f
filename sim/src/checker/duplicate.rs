//! `duplicate`: one value is never stored at two offsets. Every value the
//! workload sends is unique and never retried, so any duplicate is the
//! broker's doing.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset, Partition, ReadValue};

#[derive(Default)]
pub struct Duplicate {
    /// Where each value was first observed.
    position: BTreeMap<String, (Partition, Offset)>,
    reported: BTreeSet<String>,
}

impl Duplicate {
    fn saw(
        &mut self,
        event: &Event,
        partition: Partition,
        offset: Offset,
        value: &str,
        found: &mut Vec<Violation>,
    ) {
        let first = *self
            .position
            .entry(value.to_string())
            .or_insert((partition, offset));
        if first != (partition, offset) && self.reported.insert(value.to_string()) {
            let detail = format!(
                "{value} at partition {} offset {} and at partition {partition} offset {offset}",
                first.0, first.1
            );
            found.push(Violation::at(
                ViolationKind::Duplicate,
                event,
                partition,
                detail,
            ));
        }
    }
}

impl Checker for Duplicate {
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
    fn value_at_two_offsets() {
        let mut s = Script::default();
        s.send(0, "a", Some(0));
        s.poll(1, 0, 0, &[(0, "a"), (1, "a")]);
        assert_eq!(s.names(), vec!["duplicate"]);
    }

    #[test]
    fn rereading_is_not_a_duplicate() {
        let mut s = Script::default();
        s.send(0, "a", Some(0));
        s.poll(1, 0, 0, &[(0, "a")]);
        s.poll(2, 0, 0, &[(0, "a")]);
        assert!(s.names().is_empty());
    }
}
