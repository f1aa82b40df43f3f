//! `lost-write` and `unseen` on the lifecycle topic, aware of deletion.
//!
//! Every record acknowledged there (acks=all, fsync.policy=always) stays
//! readable at its offset, except what the topic's configs allow to go:
//! - records below the log start offset (retention by time or size,
//!   DeleteRecords): a fetch that reports a log start above the offset owes
//!   nothing for it;
//! - on a topic whose cleanup.policy included `compact` at any time in its
//!   incarnation (set at creation, by an acknowledged config change, or by
//!   one whose answer was lost and which may therefore have taken effect:
//!   the broker commits a change it never got to acknowledge, and runs one
//!   held up by a pause after the client gave up): a record whose key has a
//!   record at a higher offset (the
//!   older value of a key with a newer one; what the cleaner keeps is the
//!   *latest*, acknowledged or not), and a tombstone (dropped once
//!   delete.retention.ms has passed).
//!
//! So the latest acknowledged value of every key survives compaction, and a
//! consumer whose position fell below the log start and was reset
//! (OFFSET_OUT_OF_RANGE, then earliest) is owed nothing below the start.
//! `lost-write`: a fetch invoked after the acknowledgement covered the
//! offset (read past it) without it and none of the above explains it.
//! `unseen`: the final read of the last incarnation ended (at its high
//! watermark) below an acknowledged offset.
//! Judged at the end, since a newer value of a key may be seen later.

use std::collections::{BTreeMap, BTreeSet};

use super::lc_offsets::LC_PARTITION;
use super::{Checker, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset};
use crate::lifecycle_history::{Incarnation, LcEvent, LcRecord};

struct Acked {
    record: LcRecord,
    seq: u64,
}

struct Read {
    seq: u64,
    invoked_seq: u64,
    fetch_offset: Offset,
    log_start_offset: Offset,
    offsets: BTreeSet<Offset>,
    last: Offset,
}

#[derive(Default)]
struct Topic {
    compacted: bool,
    acked: BTreeMap<Offset, Acked>,
    reads: Vec<Read>,
    /// The highest offset each key was seen at (acknowledged or read).
    newest_by_key: BTreeMap<String, Offset>,
    final_high_watermark: Option<Offset>,
}

#[derive(Default)]
pub struct LcLostWrite {
    topics: BTreeMap<Incarnation, Topic>,
}

fn mentions_compact(configs: &[(String, String)]) -> Option<bool> {
    configs
        .iter()
        .find(|(k, _)| k == "cleanup.policy")
        .map(|(_, v)| v.contains("compact"))
}

impl Topic {
    fn saw(&mut self, record: &LcRecord) {
        let newest = self.newest_by_key.entry(record.key.clone()).or_insert(-1);
        *newest = (*newest).max(record.offset);
    }

    /// Why `acked` may be missing from `read`, if anything explains it.
    fn excused(&self, acked: &LcRecord, read: &Read) -> bool {
        if acked.offset < read.log_start_offset {
            return true;
        }
        self.compacted
            && (acked.value.is_none()
                || self
                    .newest_by_key
                    .get(&acked.key)
                    .is_some_and(|newest| *newest > acked.offset))
    }
}

impl Checker for LcLostWrite {
    fn observe(&mut self, event: &Event, _found: &mut Vec<Violation>) {
        let EventKind::Lifecycle(lc) = &event.kind else {
            return;
        };
        match lc {
            LcEvent::Created {
                incarnation,
                configs,
            }
            | LcEvent::ConfigAltered {
                incarnation,
                configs,
            } => {
                let topic = self.topics.entry(*incarnation).or_default();
                topic.compacted |= mentions_compact(configs).unwrap_or(false);
            }
            LcEvent::ConfigAlterFailed {
                incarnation,
                configs,
                may_have_applied: true,
                ..
            } => {
                let topic = self.topics.entry(*incarnation).or_default();
                topic.compacted |= mentions_compact(configs).unwrap_or(false);
            }
            LcEvent::SendAcked {
                incarnation,
                records,
            } => {
                let topic = self.topics.entry(*incarnation).or_default();
                for record in records {
                    topic.saw(record);
                    topic.acked.entry(record.offset).or_insert(Acked {
                        record: record.clone(),
                        seq: event.seq,
                    });
                }
            }
            LcEvent::Read {
                incarnation,
                fetch_offset,
                invoked_seq,
                log_start_offset,
                records,
                ..
            } => {
                let topic = self.topics.entry(*incarnation).or_default();
                for record in records {
                    topic.saw(record);
                }
                if let Some(last) = records.last() {
                    topic.reads.push(Read {
                        seq: event.seq,
                        invoked_seq: *invoked_seq,
                        fetch_offset: *fetch_offset,
                        log_start_offset: *log_start_offset,
                        offsets: records.iter().map(|r| r.offset).collect(),
                        last: last.offset,
                    });
                }
            }
            LcEvent::FinalReadDone {
                incarnation,
                high_watermark,
            } => {
                let topic = self.topics.entry(*incarnation).or_default();
                topic.final_high_watermark = Some(*high_watermark);
            }
            _ => {}
        }
    }

    fn finish(&mut self, found: &mut Vec<Violation>) {
        for (incarnation, topic) in &self.topics {
            let mut reported = BTreeSet::new();
            for read in &topic.reads {
                for (offset, acked) in topic.acked.range(read.fetch_offset..=read.last) {
                    if acked.seq >= read.invoked_seq
                        || read.offsets.contains(offset)
                        || reported.contains(offset)
                        || topic.excused(&acked.record, read)
                    {
                        continue;
                    }
                    reported.insert(*offset);
                    found.push(Violation {
                        kind: ViolationKind::LostWrite,
                        at_seq: Some(read.seq),
                        partition: Some(LC_PARTITION),
                        detail: format!(
                            "lifecycle topic incarnation {incarnation}: {:?} acked at offset {offset}; a read of {}..={} (log start {}) skipped it and no newer value of its key is known",
                            acked.record.value, read.fetch_offset, read.last, read.log_start_offset
                        ),
                    });
                }
            }
            let Some(high_watermark) = topic.final_high_watermark else {
                continue;
            };
            for (offset, acked) in topic.acked.range(high_watermark..) {
                found.push(Violation {
                    kind: ViolationKind::Unseen,
                    at_seq: None,
                    partition: Some(LC_PARTITION),
                    detail: format!(
                        "lifecycle topic incarnation {incarnation}: {:?} acked at offset {offset}; the final read ended at high watermark {high_watermark}",
                        acked.record.value
                    ),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lc_offsets::tests::{acked, read, rec};
    use crate::checker::test_support::Script;
    use crate::history::EventKind;
    use crate::lifecycle_history::LcEvent;

    fn created(s: &mut Script, policy: &str) {
        s.push(EventKind::Lifecycle(LcEvent::Created {
            incarnation: 0,
            configs: vec![("cleanup.policy".into(), policy.into())],
        }));
    }

    #[test]
    fn a_skipped_record_above_the_log_start_is_lost() {
        let mut s = Script::default();
        created(&mut s, "delete");
        acked(
            &mut s,
            0,
            vec![rec(0, "a", Some("a:0"), 1), rec(1, "a", Some("a:1"), 2)],
        );
        acked(&mut s, 0, vec![rec(2, "a", Some("a:2"), 3)]);
        read(
            &mut s,
            0,
            0,
            0,
            vec![rec(0, "a", Some("a:0"), 1), rec(2, "a", Some("a:2"), 3)],
        );
        s.finish();
        assert_eq!(s.names(), vec!["lost-write"]);
    }

    #[test]
    fn records_below_the_log_start_are_not_lost() {
        let mut s = Script::default();
        created(&mut s, "delete");
        acked(
            &mut s,
            0,
            vec![rec(0, "a", Some("a:0"), 1), rec(1, "a", Some("a:1"), 2)],
        );
        // Reset to earliest after OFFSET_OUT_OF_RANGE: read from 0 covers
        // nothing below the start the broker reports.
        read(&mut s, 0, 1, 1, vec![rec(1, "a", Some("a:1"), 2)]);
        s.finish();
        assert!(s.names().is_empty());
    }

    #[test]
    fn compaction_may_drop_older_values_and_tombstones() {
        let mut s = Script::default();
        created(&mut s, "compact");
        acked(
            &mut s,
            0,
            vec![
                rec(0, "a", Some("a:0"), 1),
                rec(1, "b", None, 2),
                rec(2, "a", Some("a:2"), 3),
                rec(3, "c", Some("c:3"), 4),
            ],
        );
        read(
            &mut s,
            0,
            0,
            0,
            vec![rec(2, "a", Some("a:2"), 3), rec(3, "c", Some("c:3"), 4)],
        );
        s.finish();
        assert!(s.names().is_empty());
    }

    #[test]
    fn compaction_losing_the_latest_value_of_a_key_is_lost() {
        let mut s = Script::default();
        created(&mut s, "compact,delete");
        acked(
            &mut s,
            0,
            vec![
                rec(0, "a", Some("a:0"), 1),
                rec(1, "b", Some("b:1"), 2),
                rec(2, "c", Some("c:2"), 3),
            ],
        );
        read(
            &mut s,
            0,
            0,
            0,
            vec![rec(0, "a", Some("a:0"), 1), rec(2, "c", Some("c:2"), 3)],
        );
        s.finish();
        assert_eq!(s.names(), vec!["lost-write"]);
    }

    #[test]
    fn a_delete_policy_topic_keeps_older_values() {
        let mut s = Script::default();
        created(&mut s, "delete");
        acked(
            &mut s,
            0,
            vec![rec(0, "a", Some("a:0"), 1), rec(1, "a", Some("a:1"), 2)],
        );
        read(&mut s, 0, 0, 0, vec![rec(1, "a", Some("a:1"), 2)]);
        s.finish();
        assert_eq!(s.names(), vec!["lost-write"]);
    }

    /// A delete-policy topic, two values of key `a`, an alter to `compact`
    /// that failed (`may_have_applied` as given), then a read that has only
    /// the newer value: what compaction would leave.
    fn older_value_gone_after_a_failed_alter(may_have_applied: bool) -> Vec<&'static str> {
        let mut s = Script::default();
        created(&mut s, "delete");
        acked(
            &mut s,
            0,
            vec![rec(0, "a", Some("a:0"), 1), rec(1, "a", Some("a:1"), 2)],
        );
        s.push(EventKind::Lifecycle(LcEvent::ConfigAlterFailed {
            incarnation: 0,
            configs: vec![("cleanup.policy".into(), "compact".into())],
            error: "i/o: request timed out".into(),
            may_have_applied,
        }));
        read(&mut s, 0, 0, 0, vec![rec(1, "a", Some("a:1"), 2)]);
        s.finish();
        s.names()
    }

    /// Seeds 2023 and 4721: the broker committed a change to
    /// `cleanup.policy=compact` whose answer a crash (2023) or a pause and
    /// the client's timeout (4721) lost, and compacted the topic. Kafka may
    /// do the same: the older value's loss is excused.
    #[test]
    fn an_alter_to_compact_whose_answer_was_lost_may_have_compacted() {
        assert!(older_value_gone_after_a_failed_alter(true).is_empty());
    }

    #[test]
    fn an_alter_the_broker_refused_compacts_nothing() {
        assert_eq!(
            older_value_gone_after_a_failed_alter(false),
            vec!["lost-write"]
        );
    }

    #[test]
    fn a_lost_alter_to_compact_still_owes_the_latest_value_of_a_key() {
        let mut s = Script::default();
        created(&mut s, "delete");
        acked(
            &mut s,
            0,
            vec![rec(0, "a", Some("a:0"), 1), rec(1, "b", Some("b:1"), 2)],
        );
        s.push(EventKind::Lifecycle(LcEvent::ConfigAlterFailed {
            incarnation: 0,
            configs: vec![("cleanup.policy".into(), "compact".into())],
            error: "i/o: ConnectionReset".into(),
            may_have_applied: true,
        }));
        read(&mut s, 0, 0, 0, vec![rec(1, "b", Some("b:1"), 2)]);
        s.finish();
        assert_eq!(s.names(), vec!["lost-write"]);
    }

    #[test]
    fn a_lost_alter_of_another_config_excuses_nothing() {
        let mut s = Script::default();
        created(&mut s, "delete");
        acked(
            &mut s,
            0,
            vec![rec(0, "a", Some("a:0"), 1), rec(1, "a", Some("a:1"), 2)],
        );
        s.push(EventKind::Lifecycle(LcEvent::ConfigAlterFailed {
            incarnation: 0,
            configs: vec![("min.cleanable.dirty.ratio".into(), "0.05".into())],
            error: "i/o: ConnectionReset".into(),
            may_have_applied: true,
        }));
        read(&mut s, 0, 0, 0, vec![rec(1, "a", Some("a:1"), 2)]);
        s.finish();
        assert_eq!(s.names(), vec!["lost-write"]);
    }

    #[test]
    fn the_final_read_ending_below_an_ack_is_unseen() {
        let mut s = Script::default();
        created(&mut s, "delete");
        acked(
            &mut s,
            0,
            vec![rec(0, "a", Some("a:0"), 1), rec(1, "a", Some("a:1"), 2)],
        );
        s.push(EventKind::Lifecycle(LcEvent::FinalReadDone {
            incarnation: 0,
            high_watermark: 1,
        }));
        s.finish();
        assert_eq!(s.names(), vec!["unseen"]);
    }
}
