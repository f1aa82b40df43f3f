//! The broker's lifetimes as the history shows them: each kill, exit or
//! healing restart ends one. What a process held only in memory (a log
//! start moved by retention and not yet written down) may be gone in the
//! next lifetime, so checkers that trust such facts must know which
//! lifetime an answer belongs to.
//!
//! An answer belongs to the lifetime its request was sent in, not the one
//! it arrived in: a process that computed an answer and then exited may
//! have its response delivered after the exit was recorded.

use crate::history::{Event, EventKind, NemesisAction};

#[derive(Default)]
pub struct BrokerLifetimes {
    /// The `seq` of each event that ended a lifetime, in order.
    ends: Vec<u64>,
}

impl BrokerLifetimes {
    /// Notes `event`; true if it ended a lifetime.
    pub fn observe(&mut self, event: &Event) -> bool {
        let ends = matches!(
            event.kind,
            EventKind::Nemesis(
                NemesisAction::Kill
                    | NemesisAction::BrokerExited { .. }
                    | NemesisAction::HealingRestart
            )
        );
        if ends {
            self.ends.push(event.seq);
        }
        ends
    }

    /// The lifetime a request sent at `invoked_seq` was sent in (lifetimes
    /// ended before it), counting from 0.
    pub fn at(&self, invoked_seq: u64) -> u64 {
        self.ends.partition_point(|&seq| seq < invoked_seq) as u64
    }

    /// The current lifetime.
    pub fn current(&self) -> u64 {
        self.ends.len() as u64
    }

    /// True if a lifetime ended after a request was sent at `invoked_seq`
    /// and before the event at `answered_seq`.
    pub fn ended_between(&self, invoked_seq: u64, answered_seq: u64) -> bool {
        self.at(answered_seq) > self.at(invoked_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;

    #[test]
    fn a_request_belongs_to_the_lifetime_it_was_sent_in() {
        let mut history = History::default();
        let mut lifetimes = BrokerLifetimes::default();
        let sent = history.next_seq();
        let kill = history
            .push(0, EventKind::Nemesis(NemesisAction::Kill))
            .clone();
        assert!(lifetimes.observe(&kill));
        let restart = history
            .push(0, EventKind::Nemesis(NemesisAction::Restart))
            .clone();
        assert!(!lifetimes.observe(&restart));
        assert_eq!(lifetimes.at(sent), 0);
        assert_eq!(lifetimes.at(history.next_seq()), 1);
        assert_eq!(lifetimes.current(), 1);
        assert!(lifetimes.ended_between(sent, history.next_seq()));
        assert!(!lifetimes.ended_between(restart.seq, history.next_seq()));
    }
}
