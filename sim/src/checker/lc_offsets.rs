//! `inconsistent-offsets` on the lifecycle topic: within one incarnation of
//! the topic, an offset never holds two different records (key and value),
//! in any acknowledgement or read. Retention, DeleteRecords and compaction
//! remove records; they never give an offset a second record. A restart
//! that forgot the log start and handed out an offset again is caught here.
//! A new incarnation (the topic deleted and created again) starts its
//! offsets afresh: facts are keyed by (incarnation, offset).

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset};
use crate::lifecycle_history::{Incarnation, LcEvent, LcRecord};

/// The partition number violations name (the topic has one).
pub(super) const LC_PARTITION: i32 = 0;

#[derive(Default)]
pub struct LcOffsets {
    first_seen: BTreeMap<(Incarnation, Offset), (String, Option<String>)>,
    reported: BTreeSet<(Incarnation, Offset)>,
}

impl LcOffsets {
    fn saw(
        &mut self,
        event: &Event,
        incarnation: Incarnation,
        record: &LcRecord,
        found: &mut Vec<Violation>,
    ) {
        let key = (incarnation, record.offset);
        let now = (record.key.clone(), record.value.clone());
        let first = self.first_seen.entry(key).or_insert_with(|| now.clone());
        if *first != now && self.reported.insert(key) {
            let detail = format!(
                "lifecycle topic incarnation {incarnation}: offset {} held {first:?} and later {now:?}",
                record.offset
            );
            found.push(Violation::at(
                ViolationKind::InconsistentOffsets,
                event,
                LC_PARTITION,
                detail,
            ));
        }
    }
}

impl Checker for LcOffsets {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        let EventKind::Lifecycle(lc) = &event.kind else {
            return;
        };
        let (incarnation, records) = match lc {
            LcEvent::SendAcked {
                incarnation,
                records,
            }
            | LcEvent::Read {
                incarnation,
                records,
                ..
            } => (*incarnation, records),
            _ => return,
        };
        for record in records {
            self.saw(event, incarnation, record, found);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::checker::test_support::Script;
    use crate::history::EventKind;
    use crate::lifecycle_history::{LcEvent, LcRecord};

    pub fn rec(offset: i64, key: &str, value: Option<&str>, ts: i64) -> LcRecord {
        LcRecord {
            offset,
            key: key.into(),
            value: value.map(str::to_string),
            timestamp_ms: ts,
        }
    }

    pub fn acked(s: &mut Script, incarnation: u32, records: Vec<LcRecord>) -> u64 {
        s.push(EventKind::Lifecycle(LcEvent::SendAcked {
            incarnation,
            records,
        }))
    }

    /// A read invoked now; `log_start` as the broker answered.
    pub fn read(
        s: &mut Script,
        incarnation: u32,
        fetch_offset: i64,
        log_start_offset: i64,
        records: Vec<LcRecord>,
    ) -> u64 {
        let invoked_seq = s.history.next_seq();
        let high_watermark = records.last().map_or(fetch_offset, |r| r.offset + 1);
        s.push(EventKind::Lifecycle(LcEvent::Read {
            incarnation,
            fetch_offset,
            invoked_seq,
            log_start_offset,
            high_watermark,
            records,
            last: false,
        }))
    }

    #[test]
    fn an_offset_reused_after_deletion_is_inconsistent() {
        let mut s = Script::default();
        acked(&mut s, 0, vec![rec(0, "k1", Some("k1:1"), 1)]);
        // Retention removed it (log start 1), then offset 0 came back.
        read(&mut s, 0, 1, 1, vec![]);
        acked(&mut s, 0, vec![rec(0, "k2", Some("k2:2"), 2)]);
        assert_eq!(s.names(), vec!["inconsistent-offsets"]);
    }

    #[test]
    fn a_new_incarnation_starts_offsets_afresh() {
        let mut s = Script::default();
        acked(&mut s, 0, vec![rec(0, "k1", Some("k1:1"), 1)]);
        s.push(EventKind::Lifecycle(LcEvent::Deleted { incarnation: 0 }));
        acked(&mut s, 1, vec![rec(0, "k2", Some("k2:2"), 2)]);
        read(&mut s, 1, 0, 0, vec![rec(0, "k2", Some("k2:2"), 2)]);
        assert!(s.names().is_empty());
    }
}
