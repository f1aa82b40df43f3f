//! `duplicate`: one value is never stored at two offsets. Every value the
//! workload sends is unique. A plain producer never resends one; an
//! idempotent producer resends only the same batch (same producer id,
//! epoch, sequence), which the broker must store once and answer with the
//! original offsets. So any duplicate is the broker's doing; for a value that
//! was resent the report says so (a retried batch kept twice: the
//! idempotent producer's dedupe failed).
//!
//! On a replicated `never` partition (cluster `--fsync-never`, see
//! [`Durability`]) a power loss of every replica may take back a stored
//! batch, with the producer state that would have recognised its resend:
//! where values were seen before it is forgotten.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Durability, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset, Partition, ReadValue};

#[derive(Default)]
pub struct Duplicate {
    /// Where each value was first observed.
    position: BTreeMap<String, (Partition, Offset)>,
    reported: BTreeSet<String>,
    /// Values an idempotent producer resent: (producer id, epoch, base
    /// sequence, attempts so far).
    resent: BTreeMap<String, (i64, i16, i32, u32)>,
    durability: Durability,
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
            let mut detail = format!(
                "{value} at partition {} offset {} and at partition {partition} offset {offset}",
                first.0, first.1
            );
            if let Some((producer_id, epoch, sequence, attempts)) = self.resent.get(value) {
                detail.push_str(&format!(
                    " (sent {attempts} times in the batch of producer {producer_id} epoch {epoch} \
                     sequence {sequence}: a retried batch was stored again)"
                ));
            }
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
        for partition in self.durability.observe(event) {
            self.position.retain(|_, (p, _)| *p != partition);
        }
        match &event.kind {
            EventKind::SendAcked {
                partition,
                value,
                offset,
                ..
            } => self.saw(event, *partition, *offset, value, found),
            EventKind::SendRetried {
                producer_id,
                producer_epoch,
                base_sequence,
                values,
                attempt,
                ..
            } => {
                for value in values {
                    self.resent.insert(
                        value.clone(),
                        (*producer_id, *producer_epoch, *base_sequence, *attempt),
                    );
                }
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

    #[test]
    fn value_at_two_offsets() {
        let mut s = Script::default();
        s.send(0, "a", Some(0));
        s.poll(1, 0, 0, &[(0, "a"), (1, "a")]);
        assert_eq!(s.names(), vec!["duplicate"]);
    }

    fn resend(s: &mut Script, values: &[&str], attempt: u32) {
        s.push(EventKind::SendRetried {
            client: 100,
            partition: 0,
            producer_id: 7,
            producer_epoch: 0,
            base_sequence: 3,
            values: values.iter().map(|v| v.to_string()).collect(),
            attempt,
            error: "i/o: request timed out".into(),
        });
    }

    #[test]
    fn retried_batch_stored_twice_is_a_duplicate() {
        let mut s = Script::default();
        s.send(0, "a", None);
        resend(&mut s, &["a"], 2);
        s.push(EventKind::SendAcked {
            client: 100,
            partition: 0,
            value: "a".into(),
            offset: 4,
        });
        s.poll(1, 0, 3, &[(3, "a"), (4, "a")]);
        assert_eq!(s.names(), vec!["duplicate"]);
        let detail = &s.checkers.violations()[0].detail;
        assert!(detail.contains("sent 2 times"), "{detail}");
    }

    #[test]
    fn retried_batch_deduped_is_fine() {
        let mut s = Script::default();
        s.send(0, "a", None);
        resend(&mut s, &["a"], 2);
        s.push(EventKind::SendAcked {
            client: 100,
            partition: 0,
            value: "a".into(),
            offset: 3,
        });
        s.poll(1, 0, 3, &[(3, "a")]);
        assert!(s.names().is_empty(), "{:?}", s.names());
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
