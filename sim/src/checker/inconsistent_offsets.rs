//! `inconsistent-offsets`: one offset never holds two different values, in
//! any read or acknowledgement.
//!
//! Per `fsync.policy`: checked under every policy. `always` promises it for
//! acknowledged records too. `interval` and `never` may lose an
//! acknowledged-but-unsynced record at a power loss, and a later record may
//! then be acknowledged at its offset (two acknowledgements, one offset: not
//! reported, the first was never read); but an offset once *read* never
//! holds another value, since the broker serves synced records only.
//!
//! A replicated `never` partition (cluster `--fsync-never`, see
//! [`Durability`]) is held to the `always` rule, acknowledgements included,
//! until a power loss of every replica: its high watermark counts records
//! held only in memory, so such a power loss may take back what was
//! acknowledged or read, and the offsets seen before it are forgotten.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Durability, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset, Partition, ReadValue};

#[derive(Default)]
pub struct InconsistentOffsets {
    /// The first value observed at each offset.
    first_seen: BTreeMap<(Partition, Offset), String>,
    reported: BTreeSet<(Partition, Offset)>,
    durability: Durability,
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
        for partition in self.durability.observe(event) {
            self.first_seen.retain(|(p, _), _| *p != partition);
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
                self.saw(event, *partition, *offset, value, found)
            }
            // The acknowledgement may be undone by a power loss, so it does
            // not fix the offset's value; but an offset already read must
            // not be acknowledged again for another value.
            EventKind::SendAcked {
                partition,
                value,
                offset,
                ..
            } if self.first_seen.contains_key(&(*partition, *offset)) => {
                self.saw(event, *partition, *offset, value, found)
            }
            EventKind::Polled {
                partition,
                invoked_seq,
                ..
            } if self
                .durability
                .read_across_power_loss(*partition, *invoked_seq) => {}
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
    use crate::history::EventKind;

    fn policy(s: &mut Script, partition: i32, fsync_policy: &str) {
        s.push(EventKind::PartitionPolicy {
            partition,
            fsync_policy: fsync_policy.into(),
        });
    }

    #[test]
    fn unsynced_ack_taken_back_before_any_read_is_allowed() {
        let mut s = Script::default();
        policy(&mut s, 0, "never");
        s.send(0, "a", Some(0));
        // A power loss took `a` back; `b` got its offset.
        s.send(0, "b", Some(0));
        s.poll(1, 0, 0, &[(0, "b")]);
        assert!(s.names().is_empty(), "{:?}", s.names());
    }

    #[test]
    fn offset_reused_after_a_read_is_reported_under_every_policy() {
        for fsync_policy in ["always", "interval", "never"] {
            let mut s = Script::default();
            policy(&mut s, 0, fsync_policy);
            s.send(0, "a", Some(0));
            s.poll(1, 0, 0, &[(0, "a")]);
            s.send(0, "b", Some(0));
            // The same producer's later send at the same offset: on an
            // `always` partition also `nonmonotonic-send`.
            let mut expected = vec!["inconsistent-offsets"];
            if fsync_policy == "always" {
                expected.push("nonmonotonic-send");
            }
            assert_eq!(s.names(), expected, "{fsync_policy}");
        }
    }

    #[test]
    fn always_acks_fix_the_offset_even_unread() {
        let mut s = Script::default();
        policy(&mut s, 0, "always");
        s.send(0, "a", Some(0));
        s.send(0, "b", Some(0));
        // The same producer's later send at the same offset.
        assert_eq!(s.names(), vec!["inconsistent-offsets", "nonmonotonic-send"]);
    }

    #[test]
    fn replicated_never_forgets_offsets_at_a_power_loss_of_every_replica() {
        for (power_loss, expected) in [(false, vec!["inconsistent-offsets"]), (true, vec![])] {
            let mut s = Script::default();
            s.replicated(0, "never");
            s.send(0, "a", None);
            s.poll(1, 0, 0, &[(0, "a")]);
            if power_loss {
                s.power_lost(&[1, 2, 3]);
            }
            s.send(0, "b", None);
            s.poll(2, 0, 0, &[(0, "b")]);
            assert_eq!(s.names(), expected, "{power_loss}");
        }
    }

    #[test]
    fn a_read_served_before_a_power_loss_and_received_after_is_forgotten() {
        let mut s = Script::default();
        s.replicated(0, "never");
        s.send(0, "a", None);
        let invoked_seq = s.history.next_seq();
        s.power_lost(&[1, 2, 3]);
        s.push(EventKind::Polled {
            client: 1,
            partition: 0,
            fetch_offset: 0,
            invoked_seq,
            high_watermark: 1,
            records: vec![crate::history::ReadRecord {
                offset: 0,
                value: crate::history::ReadValue::Value("a".into()),
            }],
        });
        s.send(0, "b", None);
        s.poll(2, 0, 0, &[(0, "b")]);
        assert!(s.names().is_empty(), "{:?}", s.names());
    }

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
