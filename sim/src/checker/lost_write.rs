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
//! its offset — is `inconsistent-offsets`' to check. A replicated `never`
//! partition (cluster `--fsync-never`) is held to the `always` promise
//! except for acknowledgements made before a power loss of every replica:
//! those are set aside, and a read after the power loss that misses one
//! counts it as lost and excused (`acked_lost_to_correlated_crashes`), not
//! as a violation.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Durability, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset, Partition, ReadValue};

#[derive(Default)]
pub struct LostWrite {
    /// (partition, offset) -> (value, seq of the acknowledgement).
    acked: BTreeMap<(Partition, Offset), (String, u64)>,
    reported: BTreeSet<(Partition, Offset)>,
    /// Acknowledgements a power loss of every replica excused: (partition,
    /// offset) -> (value, seq of the power loss).
    excused: BTreeMap<(Partition, Offset), (String, u64)>,
    /// Excused acknowledgements found missing.
    excused_lost: BTreeSet<(Partition, Offset)>,
    durability: Durability,
}

impl LostWrite {
    /// Sets `partition`'s acknowledgements aside at a power loss (seq
    /// `power_lost_seq`) of all its replicas.
    fn excuse(&mut self, partition: Partition, power_lost_seq: u64) {
        let keys: Vec<_> = self
            .acked
            .range((partition, Offset::MIN)..=(partition, Offset::MAX))
            .map(|(key, _)| *key)
            .collect();
        for key in keys {
            let (value, _) = self.acked.remove(&key).expect("just listed");
            self.excused.insert(key, (value, power_lost_seq));
        }
    }

    /// A read invoked at `invoked_seq` of `partition`'s `covered` offsets
    /// found `read`: an excused acknowledgement it covered is settled,
    /// found or lost.
    fn settle_excused(
        &mut self,
        (partition, covered): (Partition, std::ops::RangeInclusive<Offset>),
        invoked_seq: u64,
        read: &BTreeMap<Offset, &ReadValue>,
    ) {
        let range = (partition, *covered.start())..=(partition, *covered.end());
        let settled: Vec<_> = self
            .excused
            .range(range)
            .filter(|(_, (_, power_lost_seq))| *power_lost_seq < invoked_seq)
            .map(|(key, (value, _))| {
                let seen = read.get(&key.1);
                let found = seen == Some(&&ReadValue::Value(value.clone()))
                    || seen == Some(&&ReadValue::Refused);
                (*key, found)
            })
            .collect();
        for (key, found) in settled {
            self.excused.remove(&key);
            if !found {
                self.excused_lost.insert(key);
            }
        }
    }
}

impl Checker for LostWrite {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        for partition in self.durability.observe(event) {
            self.excuse(partition, event.seq);
        }
        match &event.kind {
            EventKind::SendAcked {
                partition,
                value,
                offset,
                ..
            } if self.durability.acked_survives(*partition) => {
                let key = (*partition, *offset);
                if self.durability.acked_across_power_loss(event) {
                    // Maybe made before the power loss: excused from it on.
                    let power_lost_seq = self.durability.power_lost_seq(*partition);
                    let power_lost_seq = power_lost_seq.expect("a power loss");
                    self.excused
                        .entry(key)
                        .or_insert_with(|| (value.clone(), power_lost_seq));
                    return;
                }
                // An excused record's offset acknowledged again for another
                // value: the excused one is gone.
                if let Some((excused, _)) = self.excused.get(&key) {
                    if excused != value {
                        self.excused.remove(&key);
                        self.excused_lost.insert(key);
                    }
                }
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
                self.settle_excused(
                    (*partition, *fetch_offset..=last.offset),
                    *invoked_seq,
                    &read,
                );
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

    fn excused_losses(&self, into: &mut BTreeSet<(Partition, Offset)>) {
        into.extend(self.excused_lost.iter().copied());
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
    fn replicated_never_acks_are_lost_only_to_a_power_loss_of_every_replica() {
        // (nodes that lost power at once, violations, losses excused)
        let cases: [(&[i32], Vec<&str>, u64); 4] = [
            (&[], vec!["lost-write", "inconsistent-offsets"], 0),
            // Two of three replicas: the third still holds v-1.
            (&[1, 2], vec!["lost-write", "inconsistent-offsets"], 0),
            (&[1, 2, 3], vec![], 1),
            (&[1, 2, 3, 4], vec![], 1),
        ];
        for (nodes, expected, excused) in cases {
            let mut s = Script::default();
            s.replicated(0, "never");
            s.send(0, "v-1", Some(0));
            if !nodes.is_empty() {
                s.power_lost(nodes);
            }
            // v-1 is gone; v-2 got its offset.
            s.send(0, "v-2", None);
            s.poll(1, 0, 0, &[(0, "v-2")]);
            assert_eq!(s.names(), expected, "{nodes:?}");
            assert_eq!(s.checkers.acked_lost_to_correlated_crashes(), excused);
        }
    }

    #[test]
    fn acks_after_a_power_loss_of_every_replica_are_promised_again() {
        let mut s = Script::default();
        s.replicated(0, "never");
        s.send(0, "v-1", Some(0));
        s.power_lost(&[1, 2, 3]);
        // v-1 survived (synced by a roll, say); v-2 was acked after.
        s.send(0, "v-2", Some(1));
        s.send(0, "v-3", None);
        s.poll(1, 0, 0, &[(0, "v-1"), (1, "v-3")]);
        assert_eq!(s.names(), vec!["lost-write", "inconsistent-offsets"]);
        assert_eq!(s.checkers.acked_lost_to_correlated_crashes(), 0);
    }

    #[test]
    fn an_ack_answered_before_the_power_loss_and_received_after_is_excused() {
        use crate::history::EventKind;
        let invoke = |s: &mut Script| {
            s.push(EventKind::SendInvoked {
                client: 100,
                partition: 0,
                value: "v-1".into(),
            })
        };
        let ack = |s: &mut Script| {
            s.push(EventKind::SendAcked {
                client: 100,
                partition: 0,
                value: "v-1".into(),
                offset: 0,
            })
        };
        // (retried after the power loss, violations, losses excused)
        for (retried, expected, excused) in [
            (false, vec![], 1),
            (true, vec!["lost-write", "inconsistent-offsets"], 0),
        ] {
            let mut s = Script::default();
            s.replicated(0, "never");
            invoke(&mut s);
            s.power_lost(&[1, 2, 3]);
            if retried {
                s.push(EventKind::SendRetried {
                    client: 100,
                    partition: 0,
                    producer_id: 7,
                    producer_epoch: 0,
                    base_sequence: 0,
                    values: vec!["v-1".into()],
                    attempt: 2,
                    error: "i/o: ConnectionReset".into(),
                });
            }
            ack(&mut s);
            s.send(0, "v-2", None);
            s.poll(1, 0, 0, &[(0, "v-2")]);
            assert_eq!(s.names(), expected, "{retried}");
            assert_eq!(s.checkers.acked_lost_to_correlated_crashes(), excused);
        }
    }

    #[test]
    fn a_replicated_always_partition_excuses_nothing() {
        let mut s = Script::default();
        s.replicated(0, "always");
        s.send(0, "v-1", Some(0));
        s.power_lost(&[1, 2, 3]);
        s.send(0, "v-2", None);
        s.poll(1, 0, 0, &[(0, "v-2")]);
        assert_eq!(s.names(), vec!["lost-write", "inconsistent-offsets"]);
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
