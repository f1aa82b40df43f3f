//! `lost-write`: a record acknowledged under the durability promise
//! (acks=all on an fsync=always topic) is readable at its acknowledged
//! offset. Violated when a read invoked after the acknowledgement covered
//! that offset (went past it) and did not hold the value there.
//!
//! Per `fsync.policy` (see [`Durability`]): `always` promises every
//! acknowledged record at its offset, and this checker holds it to that.
//! `interval` and `never` acknowledge before the sync, so a power loss may
//! take an acknowledged record back and a later one may take its offset:
//! not checked here. What they still promise — a record once read stays at
//! its offset — is `inconsistent-offsets`' to check.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Durability, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset, Partition, ReadValue};

#[derive(Default)]
pub struct LostWrite {
    /// (partition, offset) -> (value, seq of the acknowledgement).
    acked: BTreeMap<(Partition, Offset), (String, u64)>,
    reported: BTreeSet<(Partition, Offset)>,
    durability: Durability,
}

impl Checker for LostWrite {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        self.durability.observe(event);
        match &event.kind {
            EventKind::SendAcked {
                partition,
                value,
                offset,
                ..
            } if self.durability.acked_survives(*partition) => {
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
                    // A refused record is rot the broker detected and did not
                    // serve: gone from the only copy, checked against the
                    // disk's rot by `spurious-corruption`.
                    if seen == Some(&&ReadValue::Value(value.clone()))
                        || seen == Some(&&ReadValue::Refused)
                    {
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
    fn unsynced_policies_may_lose_acked_records_always_may_not() {
        for (fsync_policy, expected) in [
            ("always", vec!["lost-write", "inconsistent-offsets"]),
            ("interval", vec![]),
            ("never", vec![]),
        ] {
            let mut s = Script::default();
            s.push(crate::history::EventKind::PartitionPolicy {
                partition: 0,
                fsync_policy: fsync_policy.into(),
            });
            s.send(0, "v-1", Some(0));
            // A power loss took v-1 back; v-2 got its offset.
            s.send(0, "v-2", None);
            s.poll(1, 0, 0, &[(0, "v-2")]);
            assert_eq!(s.names(), expected, "{fsync_policy}");
        }
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
