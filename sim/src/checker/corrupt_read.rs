//! `corrupt-read`: every record a consumer reads is one a producer sent, to
//! that partition, intact. Catches a broker serving the garbage a crash left
//! at a log's tail (a torn write, or flipped bits in unsynced data) that its
//! recovery should have cut off.
//!
//! Per `fsync.policy`: every policy promises it (a read never returns
//! corrupt data, whatever the crash did to unsynced bytes).

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Violation, ViolationKind};
use crate::history::{Event, EventKind, Offset, Partition, ReadValue};

#[derive(Default)]
pub struct CorruptRead {
    /// Every value any producer tried to send, and where to.
    sent: BTreeMap<String, Partition>,
    reported: BTreeSet<(Partition, Offset)>,
}

impl Checker for CorruptRead {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        match &event.kind {
            EventKind::SendInvoked {
                partition, value, ..
            } => {
                self.sent.insert(value.clone(), *partition);
            }
            EventKind::Polled {
                partition, records, ..
            } => {
                for record in records {
                    let problem = match &record.value {
                        ReadValue::Corrupt { reason } => Some(reason.clone()),
                        // Refusing is the right answer to rot; whether rot
                        // was there is `spurious-corruption`'s question.
                        ReadValue::Refused => None,
                        ReadValue::Value(value) => match self.sent.get(value) {
                            None => Some(format!("value {value:?} was never sent")),
                            Some(p) if p != partition => {
                                Some(format!("{value} was sent to partition {p}"))
                            }
                            Some(_) => None,
                        },
                    };
                    if let Some(problem) = problem {
                        if self.reported.insert((*partition, record.offset)) {
                            let detail = format!("offset {}: {problem}", record.offset);
                            found.push(Violation::at(
                                ViolationKind::CorruptRead,
                                event,
                                *partition,
                                detail,
                            ));
                        }
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

    #[test]
    fn unknown_value_and_bad_batch_are_corrupt() {
        let mut s = Script::default();
        s.send(0, "v-1", None);
        s.poll(1, 0, 0, &[(0, "v-1"), (1, "v-\u{1}"), (2, "!")]);
        assert_eq!(s.names(), vec!["corrupt-read", "corrupt-read"]);
    }

    #[test]
    fn value_sent_elsewhere_is_corrupt() {
        let mut s = Script::default();
        s.send(1, "v-1", None);
        s.poll(1, 0, 0, &[(0, "v-1")]);
        assert_eq!(s.names(), vec!["corrupt-read"]);
    }
}
