//! `group-unconsumed`: every acknowledged record is eventually consumed by
//! the group. After faults stop, the group's drain reads each partition
//! from its committed offset to the high watermark; a record acknowledged
//! but never read by any group consumer was skipped (e.g. a commit past
//! records no member read, or a committed offset that jumped).
//!
//! Per `fsync.policy` (see [`Durability`]): checked on `always` partitions
//! only, where every acknowledged record survives; under `interval` and
//! `never` a power loss may take back acknowledged records nobody read.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Durability, Violation, ViolationKind};
use crate::group_history::{is_group_reader, GroupEvent};
use crate::history::{Event, EventKind, Offset, Partition, ReadValue};

#[derive(Default)]
pub struct GroupUnconsumed {
    acked: BTreeMap<(Partition, Offset), String>,
    /// (partition, value) a group consumer read.
    consumed: BTreeSet<(Partition, String)>,
    /// Offsets the broker refused to any reader (rot, see `Refused`): no
    /// member could consume them.
    refused: BTreeSet<(Partition, Offset)>,
    /// Partitions the drain finished: (committed, high watermark).
    drained: BTreeMap<Partition, (Offset, Offset)>,
    durability: Durability,
}

impl Checker for GroupUnconsumed {
    fn observe(&mut self, event: &Event, _found: &mut Vec<Violation>) {
        for partition in self.durability.observe(event) {
            self.acked.retain(|(p, _), _| *p != partition);
        }
        match &event.kind {
            EventKind::SendAcked {
                partition,
                value,
                offset,
                ..
            } if self.durability.acked_survives(*partition)
                && !self.durability.acked_across_power_loss(event) =>
            {
                self.acked
                    .entry((*partition, *offset))
                    .or_insert_with(|| value.clone());
            }
            EventKind::Polled {
                client,
                partition,
                records,
                ..
            } => {
                for record in records {
                    match &record.value {
                        ReadValue::Value(value) if is_group_reader(*client) => {
                            self.consumed.insert((*partition, value.clone()));
                        }
                        ReadValue::Refused => {
                            self.refused.insert((*partition, record.offset));
                        }
                        _ => {}
                    }
                }
            }
            EventKind::Group(GroupEvent::DrainDone {
                partition,
                committed,
                high_watermark,
            }) => {
                self.drained
                    .insert(*partition, (*committed, *high_watermark));
            }
            _ => {}
        }
    }

    fn finish(&mut self, found: &mut Vec<Violation>) {
        for ((partition, offset), value) in &self.acked {
            // No finished drain: the workload reports liveness instead.
            let Some((committed, high_watermark)) = self.drained.get(partition) else {
                continue;
            };
            if !self.consumed.contains(&(*partition, value.clone()))
                && !self.refused.contains(&(*partition, *offset))
            {
                found.push(Violation {
                    kind: ViolationKind::GroupUnconsumed,
                    at_seq: None,
                    partition: Some(*partition),
                    detail: format!(
                        "{value} acked at offset {offset} was never consumed by the group (drained to {committed}, high watermark {high_watermark})"
                    ),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::test_support::Script;
    use crate::group_history::GroupEvent;
    use crate::history::EventKind;

    fn drained(s: &mut Script, partition: i32, end: i64) {
        s.push(EventKind::Group(GroupEvent::DrainDone {
            partition,
            committed: end,
            high_watermark: end,
        }));
    }

    #[test]
    fn a_record_no_group_member_read_is_unconsumed() {
        let mut s = Script::default();
        s.send(0, "a", Some(0));
        s.send(0, "b", Some(1));
        s.send(0, "c", Some(2));
        s.poll(10_000, 0, 0, &[(0, "a")]);
        // The committed offset jumped to 2; the drain read from there.
        s.poll(10_001, 0, 2, &[(2, "c")]);
        // A plain consumer's read does not count for the group.
        s.poll(1, 0, 0, &[(0, "a"), (1, "b"), (2, "c")]);
        drained(&mut s, 0, 3);
        s.finish();
        assert_eq!(s.names(), vec!["group-unconsumed"]);
    }

    #[test]
    fn everything_consumed_passes_and_an_undrained_partition_is_not_judged() {
        let mut s = Script::default();
        s.send(0, "a", Some(0));
        s.send(0, "b", Some(1));
        s.send(1, "x", Some(0));
        s.poll(10_000, 0, 0, &[(0, "a")]);
        s.poll(10_003, 0, 1, &[(1, "b")]);
        drained(&mut s, 0, 2);
        s.finish();
        assert!(s.names().is_empty());
    }
}
