//! Which part of the in-memory state is durable, and the messages that
//! wait for it.
//!
//! Every change to the log, the hard state or the snapshot is gathered
//! into the next [`Persist`]; `ready()` hands it out with an id, and the
//! caller reports `on_persisted(id)`. From that the core knows
//! `stable_index`, the end of the log prefix that is on disk exactly as in
//! memory: a leader counts only that for itself, and only that is applied.
//! A message built while a change is not yet durable carries the id of
//! the persist holding the change and leaves only once it is durable, so a
//! vote or an acknowledgement can never be sent for state a crash could
//! still lose.

use std::collections::VecDeque;

use crate::core::raft::message::Message;
use crate::core::raft::types::LogIndex;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Outstanding {
    id: u64,
    /// The in-memory log end when this persist was handed out.
    last_index_after: LogIndex,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Durability {
    /// The id the batch being gathered will get.
    next_id: u64,
    /// Every persist up to this id is durable.
    persisted_id: u64,
    outstanding: VecDeque<Outstanding>,
    /// Log changes of handed-out persists after each outstanding one:
    /// `(id, first changed index)`; used to lower the stable index.
    dirty_after: VecDeque<(u64, LogIndex)>,
    pending_hard_state: bool,
    pending_snapshot: bool,
    /// Lowest log index changed in the batch being gathered.
    pending_log_from: Option<LogIndex>,
    stable_index: LogIndex,
    /// Messages waiting for persist `.0` to be durable, in send order.
    deferred: VecDeque<(u64, Message)>,
}

/// The batch `Durability::take_batch` hands out.
pub struct Batch {
    pub id: u64,
    pub hard_state: bool,
    pub snapshot: bool,
    pub log_from: Option<LogIndex>,
}

impl Durability {
    /// Everything up to `stable_index` is on disk already (a restart).
    pub fn new(stable_index: LogIndex) -> Durability {
        Durability {
            next_id: 1,
            persisted_id: 0,
            outstanding: VecDeque::new(),
            dirty_after: VecDeque::new(),
            pending_hard_state: false,
            pending_snapshot: false,
            pending_log_from: None,
            stable_index,
            deferred: VecDeque::new(),
        }
    }

    pub fn stable_index(&self) -> LogIndex {
        self.stable_index
    }

    pub fn deferred_count(&self) -> usize {
        self.deferred.len()
    }

    pub fn hard_state_changed(&mut self) {
        self.pending_hard_state = true;
    }

    pub fn snapshot_changed(&mut self) {
        self.pending_snapshot = true;
    }

    /// The in-memory log changed at `from` and after (append, truncation,
    /// replacement).
    pub fn log_changed_from(&mut self, from: LogIndex) {
        assert!(from > 0, "log indexes start at 1");
        self.pending_log_from = Some(self.pending_log_from.map_or(from, |old| old.min(from)));
        self.stable_index = self.stable_index.min(from - 1);
    }

    /// Whether changes wait to be handed out.
    pub fn has_batch(&self) -> bool {
        !self.batch_is_empty()
    }

    fn batch_is_empty(&self) -> bool {
        !self.pending_hard_state && !self.pending_snapshot && self.pending_log_from.is_none()
    }

    /// Hands out the gathered batch, if any; `last_index` is the in-memory
    /// log end now.
    pub fn take_batch(&mut self, last_index: LogIndex) -> Option<Batch> {
        if self.batch_is_empty() {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        let batch = Batch {
            id,
            hard_state: std::mem::take(&mut self.pending_hard_state),
            snapshot: std::mem::take(&mut self.pending_snapshot),
            log_from: self.pending_log_from.take(),
        };
        if let Some(from) = batch.log_from {
            self.dirty_after.push_back((id, from));
        }
        self.outstanding.push_back(Outstanding {
            id,
            last_index_after: last_index,
        });
        Some(batch)
    }

    /// Every persist up to `id` is durable. Returns the messages that may
    /// go now.
    pub fn on_persisted(&mut self, id: u64) -> Vec<Message> {
        assert!(id < self.next_id, "only handed-out persists become durable");
        if id <= self.persisted_id {
            return Vec::new();
        }
        self.persisted_id = id;
        let mut last_index_after = None;
        while self.outstanding.front().is_some_and(|o| o.id <= id) {
            last_index_after = self.outstanding.pop_front().map(|o| o.last_index_after);
        }
        while self.dirty_after.front().is_some_and(|&(d, _)| d <= id) {
            self.dirty_after.pop_front();
        }
        if let Some(mut stable) = last_index_after {
            // Later changes (handed out or still gathering) are not on disk.
            for &(_, from) in &self.dirty_after {
                stable = stable.min(from - 1);
            }
            if let Some(from) = self.pending_log_from {
                stable = stable.min(from - 1);
            }
            self.stable_index = stable;
        }
        let mut released = Vec::new();
        while self.deferred.front().is_some_and(|(need, _)| *need <= id) {
            released.extend(self.deferred.pop_front().map(|(_, m)| m));
        }
        released
    }

    /// Sends `message` now (returned) or defers it until the persist
    /// holding every change made so far is durable.
    pub fn gate(&mut self, message: Message) -> Option<Message> {
        let needed = if self.batch_is_empty() {
            self.next_id - 1
        } else {
            self.next_id
        };
        // Messages are not ordered among themselves (the network reorders
        // them anyway): one that needs nothing new goes past deferred ones.
        if needed <= self.persisted_id {
            Some(message)
        } else {
            self.deferred.push_back((needed, message));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::raft::message::MessageBody;

    fn message() -> Message {
        Message {
            from: 1,
            to: 2,
            term: 1,
            body: MessageBody::VoteResponse { granted: true },
        }
    }

    #[test]
    fn a_message_after_a_change_waits_for_its_persist() {
        let mut durability = Durability::new(0);
        assert!(
            durability.gate(message()).is_some(),
            "nothing pending: sent now"
        );
        durability.hard_state_changed();
        assert!(durability.gate(message()).is_none());
        let batch = durability.take_batch(0).expect("a batch");
        assert_eq!(batch.id, 1);
        assert_eq!(durability.on_persisted(1).len(), 1);
        assert!(durability.gate(message()).is_some());
    }

    #[test]
    fn stable_index_ignores_later_truncations_until_they_are_durable() {
        let mut durability = Durability::new(0);
        durability.log_changed_from(1);
        durability.take_batch(5).expect("append 1..=5");
        durability.log_changed_from(4);
        durability.take_batch(4).expect("truncate to 3, append 4'");
        durability.on_persisted(1);
        assert_eq!(durability.stable_index(), 3, "4 and 5 are rewritten later");
        durability.on_persisted(2);
        assert_eq!(durability.stable_index(), 4);
    }

    #[test]
    fn a_handed_out_but_undurable_persist_still_holds_messages() {
        let mut durability = Durability::new(0);
        durability.hard_state_changed();
        durability.take_batch(0);
        assert!(
            durability.gate(message()).is_none(),
            "persist 1 is not durable"
        );
        durability.hard_state_changed();
        durability.take_batch(0);
        assert!(durability.gate(message()).is_none());
        assert_eq!(
            durability.on_persisted(1).len(),
            1,
            "only the first is covered"
        );
        assert_eq!(durability.on_persisted(2).len(), 1);
    }
}
