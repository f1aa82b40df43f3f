//! `nonmonotonic-send`: one producer's acknowledged sends to one partition
//! get offsets that go up in the order the producer sent them. Jepsen's
//! Kafka workload checks this per process and key over the acknowledged
//! sends; a Jepsen process is single-threaded, so its sends' invocation
//! order and completion order are the same.
//!
//! Here the order is the order of `SendInvoked` (per client and partition):
//! of two acknowledged sends, the one invoked later must have the higher
//! offset. The simulator's producers (plain and idempotent) have one batch
//! in flight at a time and record its values in order, so invocation and
//! acknowledgement orders agree, as in Jepsen; a producer that pipelined
//! several batches would still be judged by invocation order (a broker
//! that keeps one producer's batches in order, as an idempotent producer
//! asks, gives it increasing offsets), which is why the checker keys the
//! comparison on the invocation, not on the acknowledgement. A send
//! retried after a restart and stored below a send invoked after it is
//! exactly this anomaly. A send with no acknowledgement (failed, timed
//! out) says nothing about its offset and is not compared.
//!
//! Per `fsync.policy` (see [`Durability`]): on an `always` partition an
//! acknowledged record keeps its offset and the log only grows, so the
//! rule holds across crashes. On `interval` and `never` partitions a power
//! loss may take acknowledged records back and a later send may get their
//! offsets: not checked there, as `lost-write` and `unseen` leave them. A
//! replicated `never` partition (cluster `--fsync-never`) is checked,
//! except that a power loss of every replica forgets the acknowledgements
//! made before it: sends after it are compared among themselves.

use std::collections::BTreeMap;

use super::{Checker, Durability, Violation, ViolationKind};
use crate::history::{ClientId, Event, EventKind, Offset, Partition};

#[derive(Default)]
pub struct NonmonotonicSend {
    /// (client, partition, value) -> seq of its (first) `SendInvoked`.
    invoked: BTreeMap<(ClientId, Partition, String), u64>,
    /// (client, partition) -> invocation seq -> (offset, value) of the
    /// acknowledged sends.
    acked: BTreeMap<(ClientId, Partition), BTreeMap<u64, (Offset, String)>>,
    durability: Durability,
}

impl Checker for NonmonotonicSend {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        for partition in self.durability.observe(event) {
            self.acked.retain(|(_, p), _| *p != partition);
        }
        match &event.kind {
            EventKind::SendInvoked {
                client,
                partition,
                value,
            } => {
                self.invoked
                    .entry((*client, *partition, value.clone()))
                    .or_insert(event.seq);
            }
            EventKind::SendFailed {
                client,
                partition,
                value,
                ..
            } => {
                self.invoked.remove(&(*client, *partition, value.clone()));
            }
            EventKind::SendAcked {
                client,
                partition,
                value,
                offset,
            } => {
                let Some(invoked) = self.invoked.remove(&(*client, *partition, value.clone()))
                else {
                    return;
                };
                if !self.durability.acked_survives(*partition)
                    || self.durability.acked_across_power_loss(event)
                {
                    return;
                }
                let sends = self.acked.entry((*client, *partition)).or_default();
                if sends.contains_key(&invoked) {
                    // Acknowledged twice: `inconsistent-offsets` or
                    // `duplicate` judge a second, different offset.
                    return;
                }
                let before = sends.range(..invoked).next_back();
                let after = sends.range(invoked + 1..).next();
                let mut report = |detail: String| {
                    found.push(Violation::at(
                        ViolationKind::NonmonotonicSend,
                        event,
                        *partition,
                        detail,
                    ));
                };
                if let Some((_, (earlier_offset, earlier))) = before {
                    if *earlier_offset >= *offset {
                        report(format!(
                            "producer {client} sent {earlier} (acked at offset {earlier_offset}) \
                             before {value}, which was acked at offset {offset}"
                        ));
                    }
                }
                if let Some((_, (later_offset, later))) = after {
                    if *later_offset <= *offset {
                        report(format!(
                            "producer {client} sent {value} (acked at offset {offset}) \
                             before {later}, which was acked at offset {later_offset}"
                        ));
                    }
                }
                sends.insert(invoked, (*offset, value.clone()));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::test_support::Script;
    use crate::history::{EventKind, NemesisAction};

    fn invoke(s: &mut Script, client: u32, value: &str) {
        s.push(EventKind::SendInvoked {
            client,
            partition: 0,
            value: value.into(),
        });
    }

    fn ack(s: &mut Script, client: u32, value: &str, offset: i64) {
        s.push(EventKind::SendAcked {
            client,
            partition: 0,
            value: value.into(),
            offset,
        });
    }

    #[test]
    fn a_later_send_at_a_lower_offset() {
        let mut s = Script::default();
        s.send(0, "v-1", Some(5));
        s.send(0, "v-2", Some(3));
        assert_eq!(s.names(), vec!["nonmonotonic-send"]);
    }

    #[test]
    fn increasing_offsets_and_failed_sends_are_fine() {
        let mut s = Script::default();
        s.send(0, "v-1", Some(0));
        s.send(0, "v-2", None);
        s.send(0, "v-3", Some(2));
        s.send(0, "v-4", Some(3));
        assert!(s.names().is_empty(), "{:?}", s.names());
    }

    #[test]
    fn the_same_offset_twice_is_not_increasing() {
        let mut s = Script::default();
        s.send(0, "v-1", Some(4));
        s.send(0, "v-2", Some(4));
        assert!(s.names().contains(&"nonmonotonic-send"), "{:?}", s.names());
    }

    #[test]
    fn partitions_and_clients_are_independent() {
        let mut s = Script::default();
        s.send(0, "v-1", Some(5));
        s.send(1, "v-2", Some(1));
        invoke(&mut s, 7, "v-3");
        ack(&mut s, 7, "v-3", 2);
        assert!(s.names().is_empty(), "{:?}", s.names());
    }

    #[test]
    fn judged_in_invocation_order_not_acknowledgement_order() {
        // Two sends in flight: acknowledged in the other order, but stored
        // in the order sent: fine.
        let mut s = Script::default();
        invoke(&mut s, 1, "a");
        invoke(&mut s, 1, "b");
        ack(&mut s, 1, "b", 6);
        ack(&mut s, 1, "a", 5);
        assert!(s.names().is_empty(), "{:?}", s.names());
        // Stored in the other order: the first sent got the higher offset.
        let mut s = Script::default();
        invoke(&mut s, 1, "a");
        invoke(&mut s, 1, "b");
        ack(&mut s, 1, "b", 5);
        ack(&mut s, 1, "a", 6);
        assert_eq!(s.names(), vec!["nonmonotonic-send"]);
    }

    #[test]
    fn replicated_never_is_checked_until_every_replica_loses_power() {
        for (power_loss, expected) in [(false, vec!["nonmonotonic-send"]), (true, vec![])] {
            let mut s = Script::default();
            s.replicated(0, "never");
            s.send(0, "v-1", Some(5));
            if power_loss {
                s.power_lost(&[1, 2, 3]);
            }
            s.send(0, "v-2", Some(3));
            assert_eq!(s.names(), expected, "{power_loss}");
        }
    }

    #[test]
    fn unsynced_partitions_are_not_checked_always_is_even_across_a_power_loss() {
        for (fsync_policy, expected) in [
            ("always", vec!["nonmonotonic-send"]),
            ("interval", vec![]),
            ("never", vec![]),
        ] {
            let mut s = Script::default();
            s.push(EventKind::PartitionPolicy {
                partition: 0,
                fsync_policy: fsync_policy.into(),
            });
            s.send(0, "v-1", Some(5));
            s.push(EventKind::Nemesis(NemesisAction::Kill));
            s.send(0, "v-2", Some(3));
            assert_eq!(s.names(), expected, "{fsync_policy}");
        }
    }
}
