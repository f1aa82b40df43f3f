//! `nonmonotonic-poll`: a consumer's offsets in a partition only go up, within
//! a poll and from one poll to the next. Our consumers fetch from the offset
//! after the last one they read and never seek back, so offsets going
//! backwards mean the broker served them out of order, or lost what they had
//! read and made them start over (offset out of range, reset to the start).

use std::collections::BTreeMap;

use super::{Checker, Violation, ViolationKind};
use crate::history::{ClientId, Event, EventKind, Offset, Partition};

#[derive(Default)]
pub struct NonmonotonicPoll {
    last_offset: BTreeMap<(ClientId, Partition), Offset>,
}

impl Checker for NonmonotonicPoll {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        let EventKind::Polled {
            client,
            partition,
            records,
            ..
        } = &event.kind
        else {
            return;
        };
        for record in records {
            let key = (*client, *partition);
            if let Some(last) = self.last_offset.get(&key) {
                if record.offset <= *last {
                    let detail = format!(
                        "consumer {client} read offset {} after offset {last}",
                        record.offset
                    );
                    found.push(Violation::at(
                        ViolationKind::NonmonotonicPoll,
                        event,
                        *partition,
                        detail,
                    ));
                }
            }
            self.last_offset.insert(key, record.offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::test_support::Script;

    #[test]
    fn going_back_between_polls() {
        let mut s = Script::default();
        for v in ["a", "b", "c"] {
            s.send(0, v, None);
        }
        s.poll(1, 0, 0, &[(0, "a"), (1, "b")]);
        s.poll(1, 0, 0, &[(0, "a")]);
        assert_eq!(s.names(), vec!["nonmonotonic-poll"]);
    }

    #[test]
    fn consumers_are_independent() {
        let mut s = Script::default();
        s.send(0, "a", None);
        s.poll(1, 0, 0, &[(0, "a")]);
        s.poll(2, 0, 0, &[(0, "a")]);
        assert!(s.names().is_empty());
    }
}
