//! `time-lookup`: ListOffsets by timestamp `T` answers the offset of the
//! first record in the log whose timestamp is at least `T` (Kafka's
//! "earliest offset whose timestamp is greater than or equal to"), or -1
//! when there is none.
//!
//! What is checkable when records are deleted (retention, DeleteRecords,
//! compaction) and clocks are involved: the timestamps judged are those the
//! records carry *as read back* (CreateTime: the client's, strictly
//! increasing record by record; LogAppendTime: the broker's, whatever its
//! clock said), and a record counts as being in the log at the lookup only
//! if it was acknowledged before the lookup was sent and a fetch sent after
//! the lookup answered still found it (records never come back once
//! removed within one broker lifetime: a log start moved in memory and
//! lost in a crash brings them back, so no lifetime may end between the
//! lookup's request and that fetch's answer). For such a record at offset `o` with timestamp `t`:
//! - an answer `R >= 0` with `o < R` and `t > T` skipped it (ties, `t == T`,
//!   are left alone: Kafka's time index may land after an equal timestamp
//!   written by an earlier batch);
//! - an answer of -1 with `t >= T` missed it.
//!
//! And an answer `R >= 0` must name a record at or after `T`: its timestamp
//! is at least `T`.

use std::collections::BTreeMap;

use super::broker_lifetimes::BrokerLifetimes;
use super::lc_offsets::LC_PARTITION;
use super::{Checker, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset};
use crate::lifecycle_history::{Incarnation, LcEvent};

struct Lookup {
    seq: u64,
    invoked_seq: u64,
    timestamp_ms: i64,
    offset: Offset,
    found_timestamp_ms: i64,
}

struct RecordRead {
    invoked_seq: u64,
    answered_seq: u64,
    offset: Offset,
    /// The timestamp as read back.
    timestamp_ms: i64,
}

#[derive(Default)]
struct Topic {
    /// Offset -> seq of its acknowledgement.
    acked: BTreeMap<Offset, u64>,
    /// Every record read.
    read: Vec<RecordRead>,
    lookups: Vec<Lookup>,
}

#[derive(Default)]
pub struct LcTimeLookup {
    topics: BTreeMap<Incarnation, Topic>,
    lifetimes: BrokerLifetimes,
}

impl Checker for LcTimeLookup {
    fn observe(&mut self, event: &Event, _found: &mut Vec<Violation>) {
        if self.lifetimes.observe(event) {
            return;
        }
        let EventKind::Lifecycle(lc) = &event.kind else {
            return;
        };
        match lc {
            LcEvent::SendAcked {
                incarnation,
                records,
            } => {
                let topic = self.topics.entry(*incarnation).or_default();
                for record in records {
                    topic.acked.entry(record.offset).or_insert(event.seq);
                }
            }
            LcEvent::Read {
                incarnation,
                invoked_seq,
                records,
                ..
            } => {
                let topic = self.topics.entry(*incarnation).or_default();
                for record in records {
                    topic.read.push(RecordRead {
                        invoked_seq: *invoked_seq,
                        answered_seq: event.seq,
                        offset: record.offset,
                        timestamp_ms: record.timestamp_ms,
                    });
                }
            }
            LcEvent::TimeLookup {
                incarnation,
                invoked_seq,
                timestamp_ms,
                offset,
                found_timestamp_ms,
            } => {
                self.topics
                    .entry(*incarnation)
                    .or_default()
                    .lookups
                    .push(Lookup {
                        seq: event.seq,
                        invoked_seq: *invoked_seq,
                        timestamp_ms: *timestamp_ms,
                        offset: *offset,
                        found_timestamp_ms: *found_timestamp_ms,
                    });
            }
            _ => {}
        }
    }

    fn finish(&mut self, found: &mut Vec<Violation>) {
        for (incarnation, topic) in &self.topics {
            for lookup in &topic.lookups {
                let target = lookup.timestamp_ms;
                let answer = lookup.offset;
                let mut problem = None;
                if answer >= 0 && lookup.found_timestamp_ms < target {
                    problem = Some(format!(
                        "answered offset {answer} with timestamp {}, before the time looked up",
                        lookup.found_timestamp_ms
                    ));
                }
                // Records in the log at the lookup, with their timestamps.
                let present = topic.read.iter().filter(|read| {
                    read.invoked_seq > lookup.seq
                        && !self
                            .lifetimes
                            .ended_between(lookup.invoked_seq, read.answered_seq)
                        && topic
                            .acked
                            .get(&read.offset)
                            .is_some_and(|ack_seq| *ack_seq < lookup.invoked_seq)
                });
                for RecordRead {
                    offset,
                    timestamp_ms: timestamp,
                    ..
                } in present
                {
                    if problem.is_some() {
                        break;
                    }
                    if answer >= 0 && *offset < answer && *timestamp > target {
                        problem = Some(format!(
                            "answered offset {answer}, but offset {offset} (timestamp {timestamp}) was in the log"
                        ));
                    } else if answer < 0 && *timestamp >= target {
                        problem = Some(format!(
                            "answered none, but offset {offset} (timestamp {timestamp}) was in the log"
                        ));
                    }
                }
                if let Some(problem) = problem {
                    found.push(Violation {
                        kind: ViolationKind::TimeLookup,
                        at_seq: Some(lookup.seq),
                        partition: Some(LC_PARTITION),
                        detail: format!(
                            "lifecycle topic incarnation {incarnation}: ListOffsets by timestamp {target} {problem}"
                        ),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lc_offsets::tests::{acked, read, rec};
    use crate::checker::test_support::Script;
    use crate::history::{EventKind, NemesisAction};
    use crate::lifecycle_history::{LcEvent, LcRecord};

    fn lookup(s: &mut Script, timestamp_ms: i64, offset: i64, found_timestamp_ms: i64) {
        let invoked_seq = s.history.next_seq();
        s.push(EventKind::Lifecycle(LcEvent::TimeLookup {
            incarnation: 0,
            invoked_seq,
            timestamp_ms,
            offset,
            found_timestamp_ms,
        }));
    }

    fn records() -> Vec<LcRecord> {
        vec![
            rec(0, "a", Some("a:0"), 100),
            rec(1, "b", Some("b:1"), 200),
            rec(2, "c", Some("c:2"), 300),
        ]
    }

    #[test]
    fn skipping_a_surviving_record_is_caught() {
        let mut s = Script::default();
        acked(&mut s, 0, records());
        lookup(&mut s, 150, 2, 300);
        read(&mut s, 0, 0, 0, records());
        s.finish();
        assert_eq!(s.names(), vec!["time-lookup"]);
    }

    #[test]
    fn answering_none_while_a_later_record_survives_is_caught() {
        let mut s = Script::default();
        acked(&mut s, 0, records());
        lookup(&mut s, 250, -1, -1);
        read(&mut s, 0, 0, 0, records());
        s.finish();
        assert_eq!(s.names(), vec!["time-lookup"]);
    }

    /// Seed 4747: retention moved the log start past the records in
    /// memory, the lookup rightly found none, and the start's write failed:
    /// the restarted broker serves them again. No lifetime promise broken.
    #[test]
    fn records_back_after_a_restart_do_not_count() {
        let mut s = Script::default();
        acked(&mut s, 0, records());
        lookup(&mut s, 250, -1, -1);
        s.push(EventKind::Nemesis(NemesisAction::BrokerExited {
            detail: "log-start-offset: EIO on fsync".into(),
        }));
        read(&mut s, 0, 0, 0, records());
        s.finish();
        assert!(s.names().is_empty());
    }

    #[test]
    fn an_answer_before_the_time_is_caught() {
        let mut s = Script::default();
        acked(&mut s, 0, records());
        lookup(&mut s, 150, 0, 100);
        s.finish();
        assert_eq!(s.names(), vec!["time-lookup"]);
    }

    #[test]
    fn the_first_surviving_record_is_right_after_deletion() {
        let mut s = Script::default();
        acked(&mut s, 0, records());
        // Offset 1 was deleted (DeleteRecords / retention): the lookup of
        // 150 rightly answers 2, and the later read starts at the new start.
        lookup(&mut s, 150, 2, 300);
        read(&mut s, 0, 2, 2, vec![rec(2, "c", Some("c:2"), 300)]);
        lookup(&mut s, 400, -1, -1);
        read(&mut s, 0, 2, 2, vec![rec(2, "c", Some("c:2"), 300)]);
        s.finish();
        assert!(s.names().is_empty());
    }

    #[test]
    fn a_record_read_only_before_the_lookup_proves_nothing() {
        let mut s = Script::default();
        acked(&mut s, 0, records());
        read(&mut s, 0, 0, 0, records());
        // Compaction or retention may have removed 1 since.
        lookup(&mut s, 150, 2, 300);
        s.finish();
        assert!(s.names().is_empty());
    }
}
