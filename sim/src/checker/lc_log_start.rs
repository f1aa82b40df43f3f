//! `log-start-regression`: on the lifecycle topic, the log start offset
//! never moves backwards. Records below it are gone (retention,
//! DeleteRecords) and never served again.
//!
//! What is promised, precisely (per incarnation of the topic):
//! - an acknowledged DeleteRecords with low watermark `L` is durable: every
//!   ListOffsets earliest and every fetch invoked after the acknowledgement
//!   answers a log start of at least `L` and serves no record below `L`,
//!   across any number of crashes and restarts;
//! - within one lifetime of the broker process, the log start it reports
//!   (ListOffsets earliest, a fetch's log start offset) never decreases.
//!   Across a restart only the durable moves count: retention may have
//!   moved the start in memory and crashed before writing it down, which
//!   breaks no promise as long as no acknowledged operation depended on it.

use std::collections::BTreeMap;

use super::broker_lifetimes::BrokerLifetimes;
use super::lc_offsets::LC_PARTITION;
use super::{Checker, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset};
use crate::lifecycle_history::{Incarnation, LcEvent};

/// One fact about the log start: known at `seq`, in broker lifetime
/// `lifetime` (`None`: durable, holds in every lifetime; otherwise the
/// lifetime the answer's request was sent in, see [`BrokerLifetimes`]).
struct Floor {
    seq: u64,
    lifetime: Option<u64>,
    offset: Offset,
}

#[derive(Default)]
pub struct LcLogStart {
    lifetimes: BrokerLifetimes,
    floors: BTreeMap<Incarnation, Vec<Floor>>,
    reported: usize,
}

/// At most this many reports (one regression tends to show in every read).
const REPORTS_MAX: usize = 20;

impl LcLogStart {
    /// The start every operation invoked at `invoked_seq` (answered in this
    /// lifetime) must respect, and why.
    fn floor(&self, incarnation: Incarnation, invoked_seq: u64) -> Option<&Floor> {
        self.floors
            .get(&incarnation)?
            .iter()
            .filter(|f| {
                f.seq < invoked_seq && f.lifetime.is_none_or(|l| l == self.lifetimes.current())
            })
            .max_by_key(|f| f.offset)
    }

    /// Learns the start an answer reported; `invoked_seq` is `None` for a
    /// durable fact.
    fn learn(
        &mut self,
        incarnation: Incarnation,
        seq: u64,
        invoked_seq: Option<u64>,
        offset: Offset,
    ) {
        let lifetime = invoked_seq.map(|invoked| self.lifetimes.at(invoked));
        self.floors.entry(incarnation).or_default().push(Floor {
            seq,
            lifetime,
            offset,
        });
    }

    fn report(&mut self, event: &Event, detail: String, found: &mut Vec<Violation>) {
        if self.reported < REPORTS_MAX {
            self.reported += 1;
            found.push(Violation::at(
                ViolationKind::LogStartRegression,
                event,
                LC_PARTITION,
                detail,
            ));
        }
    }

    fn why(floor: &Floor) -> &'static str {
        if floor.lifetime.is_none() {
            "an acknowledged DeleteRecords"
        } else {
            "an earlier answer of this broker process"
        }
    }
}

impl Checker for LcLogStart {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        if self.lifetimes.observe(event) {
            return;
        }
        let EventKind::Lifecycle(lc) = &event.kind else {
            return;
        };
        match lc {
            LcEvent::RecordsDeleted {
                incarnation,
                low_watermark,
                ..
            } => self.learn(*incarnation, event.seq, None, *low_watermark),
            LcEvent::Earliest {
                incarnation,
                invoked_seq,
                offset,
            } => {
                if let Some(floor) = self.floor(*incarnation, *invoked_seq) {
                    if *offset < floor.offset {
                        let detail = format!(
                            "lifecycle topic incarnation {incarnation}: ListOffsets earliest answered {offset}; {} had put the log start at {}",
                            Self::why(floor),
                            floor.offset
                        );
                        self.report(event, detail, found);
                    }
                }
                self.learn(*incarnation, event.seq, Some(*invoked_seq), *offset);
            }
            LcEvent::Read {
                incarnation,
                invoked_seq,
                log_start_offset,
                records,
                ..
            } => {
                if let Some(floor) = self.floor(*incarnation, *invoked_seq) {
                    let (floor_offset, why) = (floor.offset, Self::why(floor));
                    let below = records.iter().find(|r| r.offset < floor_offset);
                    if *log_start_offset < floor_offset || below.is_some() {
                        let detail = format!(
                            "lifecycle topic incarnation {incarnation}: a fetch answered log start {log_start_offset} and served offset {:?}; {why} had put the log start at {floor_offset}",
                            below.map(|r| r.offset)
                        );
                        self.report(event, detail, found);
                    }
                }
                self.learn(
                    *incarnation,
                    event.seq,
                    Some(*invoked_seq),
                    *log_start_offset,
                );
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lc_offsets::tests::{acked, read, rec};
    use crate::checker::test_support::Script;
    use crate::history::{EventKind, NemesisAction};
    use crate::lifecycle_history::LcEvent;

    fn deleted_records(s: &mut Script, low_watermark: i64) {
        s.push(EventKind::Lifecycle(LcEvent::RecordsDeleted {
            incarnation: 0,
            offset: low_watermark,
            low_watermark,
        }));
    }

    fn earliest(s: &mut Script, offset: i64) {
        let invoked_seq = s.history.next_seq();
        s.push(EventKind::Lifecycle(LcEvent::Earliest {
            incarnation: 0,
            invoked_seq,
            offset,
        }));
    }

    fn restart(s: &mut Script) {
        s.push(EventKind::Nemesis(NemesisAction::Kill));
        s.push(EventKind::Nemesis(NemesisAction::Restart));
    }

    fn three(s: &mut Script) {
        acked(
            s,
            0,
            vec![
                rec(0, "k", Some("k:0"), 1),
                rec(1, "k", Some("k:1"), 2),
                rec(2, "k", Some("k:2"), 3),
            ],
        );
    }

    #[test]
    fn delete_records_forgotten_across_a_restart_is_a_regression() {
        let mut s = Script::default();
        three(&mut s);
        deleted_records(&mut s, 2);
        restart(&mut s);
        earliest(&mut s, 0);
        read(&mut s, 0, 0, 0, vec![rec(0, "k", Some("k:0"), 1)]);
        assert_eq!(
            s.names(),
            vec!["log-start-regression", "log-start-regression"]
        );
    }

    #[test]
    fn delete_records_kept_across_a_restart_passes() {
        let mut s = Script::default();
        three(&mut s);
        deleted_records(&mut s, 2);
        restart(&mut s);
        earliest(&mut s, 2);
        read(&mut s, 0, 2, 2, vec![rec(2, "k", Some("k:2"), 3)]);
        s.finish();
        assert!(s.names().is_empty());
    }

    /// Seed 3155: a ListOffsets sent just before the broker exited was
    /// answered by the exiting process (its in-memory start, not yet
    /// durable) and arrived after the exit; the restarted process's lower,
    /// durable start is no regression.
    #[test]
    fn an_answer_from_the_exiting_process_sets_no_floor_for_the_next() {
        let mut s = Script::default();
        three(&mut s);
        let invoked_seq = s.history.next_seq();
        restart(&mut s);
        s.push(EventKind::Lifecycle(LcEvent::Earliest {
            incarnation: 0,
            invoked_seq,
            offset: 2,
        }));
        earliest(&mut s, 1);
        assert!(s.names().is_empty());
        // Within the lifetime the later answer belongs to, the rule holds.
        earliest(&mut s, 0);
        assert_eq!(s.names(), vec!["log-start-regression"]);
    }

    #[test]
    fn within_a_lifetime_the_start_never_moves_back() {
        let mut s = Script::default();
        three(&mut s);
        earliest(&mut s, 1);
        earliest(&mut s, 0);
        assert_eq!(s.names(), vec!["log-start-regression"]);
    }

    #[test]
    fn retention_not_yet_durable_may_be_undone_by_a_crash() {
        let mut s = Script::default();
        three(&mut s);
        earliest(&mut s, 1);
        restart(&mut s);
        earliest(&mut s, 0);
        assert!(s.names().is_empty());
    }

    #[test]
    fn a_new_incarnation_starts_at_zero() {
        let mut s = Script::default();
        three(&mut s);
        deleted_records(&mut s, 2);
        s.push(EventKind::Lifecycle(LcEvent::Deleted { incarnation: 0 }));
        let invoked_seq = s.history.next_seq();
        s.push(EventKind::Lifecycle(LcEvent::Earliest {
            incarnation: 1,
            invoked_seq,
            offset: 0,
        }));
        assert!(s.names().is_empty());
    }
}
