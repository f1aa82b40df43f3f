//! `unseen`: after faults stop, a full read of every partition finds every
//! acknowledged record at its acknowledged offset. What a final read covered
//! but did not find is `lost-write`; what lies past the end of the final
//! read (the log came back shorter than what was acknowledged) is `unseen`.
//!
//! Per `fsync.policy` (see [`Durability`]): only `always` partitions promise
//! that every acknowledged record is still there after a power loss;
//! `interval` and `never` may lose acknowledged-but-unsynced records, so
//! their final read may end short of them. Not checked there. A replicated
//! `never` partition (cluster `--fsync-never`) is checked, except for
//! acknowledgements made before a power loss of every replica: one of those
//! past the end of the final read is counted lost and excused
//! (`acked_lost_to_correlated_crashes`), not reported.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Durability, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset, Partition, FINAL_READER};

#[derive(Default)]
pub struct Unseen {
    acked: BTreeMap<(Partition, Offset), String>,
    /// Where the final read of each partition ended (exclusive).
    final_read_end: BTreeMap<Partition, Offset>,
    /// Partitions whose final read completed.
    final_read_done: BTreeMap<Partition, Offset>,
    /// Acknowledgements a power loss of every replica excused.
    excused: BTreeMap<(Partition, Offset), String>,
    durability: Durability,
}

impl Unseen {
    /// Excused acknowledgements past the end of their partition's
    /// completed final read.
    fn excused_past_the_end(&self) -> impl Iterator<Item = (Partition, Offset)> + '_ {
        self.excused.keys().copied().filter(|(partition, offset)| {
            self.final_read_done.contains_key(partition)
                && *offset >= self.final_read_end.get(partition).copied().unwrap_or(0)
        })
    }
}

impl Checker for Unseen {
    fn observe(&mut self, event: &Event, _found: &mut Vec<Violation>) {
        for partition in self.durability.observe(event) {
            let range = (partition, Offset::MIN)..=(partition, Offset::MAX);
            let keys: Vec<_> = self.acked.range(range).map(|(key, _)| *key).collect();
            for key in keys {
                let value = self.acked.remove(&key).expect("just listed");
                self.excused.insert(key, value);
            }
        }
        match &event.kind {
            EventKind::SendAcked {
                partition,
                value,
                offset,
                ..
            } if self.durability.acked_survives(*partition) => {
                let promised = if self.durability.acked_across_power_loss(event) {
                    &mut self.excused
                } else {
                    &mut self.acked
                };
                promised
                    .entry((*partition, *offset))
                    .or_insert_with(|| value.clone());
            }
            EventKind::Polled {
                client: FINAL_READER,
                partition,
                records,
                ..
            } => {
                if let Some(last) = records.last() {
                    let end = self.final_read_end.entry(*partition).or_insert(0);
                    *end = (*end).max(last.offset + 1);
                }
            }
            EventKind::FinalReadDone {
                partition,
                high_watermark,
            } => {
                self.final_read_done.insert(*partition, *high_watermark);
            }
            _ => {}
        }
    }

    fn finish(&mut self, found: &mut Vec<Violation>) {
        for ((partition, offset), value) in &self.acked {
            let Some(high_watermark) = self.final_read_done.get(partition) else {
                // No complete final read: the harness reports liveness.
                continue;
            };
            let end = self.final_read_end.get(partition).copied().unwrap_or(0);
            if *offset >= end {
                found.push(Violation {
                    kind: ViolationKind::Unseen,
                    at_seq: None,
                    partition: Some(*partition),
                    detail: format!(
                        "{value} acked at offset {offset}; the final read ended at {end} (high watermark {high_watermark})"
                    ),
                });
            }
        }
    }

    fn excused_losses(&self, into: &mut BTreeSet<(Partition, Offset)>) {
        into.extend(self.excused_past_the_end());
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::test_support::Script;
    use crate::history::{EventKind, FINAL_READER};

    #[test]
    fn acked_past_the_end_of_the_final_read_is_unseen() {
        let mut s = Script::default();
        s.send(0, "a", Some(0));
        s.send(0, "b", Some(1));
        s.poll(FINAL_READER, 0, 0, &[(0, "a")]);
        s.push(EventKind::FinalReadDone {
            partition: 0,
            high_watermark: 1,
        });
        s.finish();
        assert_eq!(s.names(), vec!["unseen"]);
    }

    #[test]
    fn a_short_final_read_is_allowed_only_where_acks_may_be_unsynced() {
        for (fsync_policy, expected) in [("always", vec!["unseen"]), ("never", vec![])] {
            let mut s = Script::default();
            s.push(EventKind::PartitionPolicy {
                partition: 0,
                fsync_policy: fsync_policy.into(),
            });
            s.send(0, "a", Some(0));
            s.push(EventKind::FinalReadDone {
                partition: 0,
                high_watermark: 0,
            });
            s.finish();
            assert_eq!(s.names(), expected, "{fsync_policy}");
        }
    }

    #[test]
    fn replicated_never_may_end_short_only_after_every_replica_lost_power() {
        for (power_loss, expected, excused) in [(false, vec!["unseen"], 0), (true, vec![], 1)] {
            let mut s = Script::default();
            s.replicated(0, "never");
            s.send(0, "a", Some(0));
            if power_loss {
                s.power_lost(&[1, 2, 3]);
            }
            s.push(EventKind::FinalReadDone {
                partition: 0,
                high_watermark: 0,
            });
            s.finish();
            assert_eq!(s.names(), expected, "{power_loss}");
            assert_eq!(s.checkers.acked_lost_to_correlated_crashes(), excused);
        }
    }

    #[test]
    fn all_found_passes() {
        let mut s = Script::default();
        s.send(0, "a", Some(0));
        s.poll(FINAL_READER, 0, 0, &[(0, "a")]);
        s.push(EventKind::FinalReadDone {
            partition: 0,
            high_watermark: 1,
        });
        s.finish();
        assert!(s.names().is_empty());
    }
}
