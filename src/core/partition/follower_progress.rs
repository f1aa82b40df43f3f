//! What a leader knows of one follower (like raft-rs's `Progress`): how far
//! its log reaches, in which leader epoch it last fetched, and since when it
//! has been caught up (Kafka's `Replica` fetch state).

use crate::core::partition::fetch_messages::{FetchRequest, NO_BROKER_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FollowerProgress {
    /// The follower's log end offset as its last accepted fetch showed it;
    /// `None` until it fetched from this leadership.
    pub log_end_offset: Option<i64>,
    /// The `current_leader_epoch` of that fetch.
    pub fetch_epoch: Option<i32>,
    /// The follower's broker epoch as that fetch carried it (KIP-903;
    /// [`NO_BROKER_EPOCH`] when unknown).
    pub broker_epoch: i64,
    /// When the follower last was at the leader's log end (or reached the
    /// log end the leader had at its previous fetch).
    pub last_caught_up_ms: u64,
    last_fetch_ms: u64,
    last_fetch_leader_end_offset: i64,
}

impl FollowerProgress {
    /// A follower of a leadership that starts at `now_ms` counts as caught
    /// up then (Kafka resets the lag clock on becoming leader).
    pub fn new(now_ms: u64) -> FollowerProgress {
        FollowerProgress {
            log_end_offset: None,
            fetch_epoch: None,
            broker_epoch: NO_BROKER_EPOCH,
            last_caught_up_ms: now_ms,
            last_fetch_ms: now_ms,
            last_fetch_leader_end_offset: 0,
        }
    }

    /// An accepted fetch from `fetch_offset` while the leader's log ended
    /// at `leader_end_offset` (Kafka's `Replica.updateFetchState`).
    pub fn on_fetch(&mut self, fetch: &FetchRequest, leader_end_offset: i64, now_ms: u64) {
        let fetch_offset = fetch.fetch_offset;
        if fetch_offset >= leader_end_offset {
            self.last_caught_up_ms = self.last_caught_up_ms.max(now_ms);
        } else if fetch_offset >= self.last_fetch_leader_end_offset {
            self.last_caught_up_ms = self.last_caught_up_ms.max(self.last_fetch_ms);
        }
        self.log_end_offset = Some(fetch_offset);
        self.fetch_epoch = Some(fetch.current_leader_epoch);
        self.broker_epoch = fetch.replica_epoch;
        self.last_fetch_leader_end_offset = leader_end_offset;
        self.last_fetch_ms = now_ms;
    }

    /// Out of sync: not caught up for longer than `replica.lag.time.max.ms`.
    pub fn is_lagging(&self, now_ms: u64, replica_lag_time_max_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_caught_up_ms) > replica_lag_time_max_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(fetch_offset: i64) -> FetchRequest {
        FetchRequest {
            correlation_id: 1,
            replica_id: 2,
            fetch_offset,
            last_fetched_epoch: None,
            current_leader_epoch: 1,
            replica_epoch: 7,
        }
    }

    #[test]
    fn reaching_the_previous_log_end_counts_as_caught_up_at_the_previous_fetch() {
        let mut p = FollowerProgress::new(0);
        p.on_fetch(&fetch(5), 5, 100);
        assert_eq!(p.last_caught_up_ms, 100);
        // Behind the log end now (8), but at the end the leader had at the
        // previous fetch: caught up as of that fetch.
        p.on_fetch(&fetch(5), 8, 200);
        assert_eq!(p.last_caught_up_ms, 100);
        p.on_fetch(&fetch(8), 12, 300);
        assert_eq!(p.last_caught_up_ms, 200);
        assert!(!p.is_lagging(1_200, 1_000));
        assert!(p.is_lagging(1_201, 1_000));
        assert_eq!((p.log_end_offset, p.fetch_epoch), (Some(8), Some(1)));
        assert_eq!(p.broker_epoch, 7);
    }
}
