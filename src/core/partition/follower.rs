//! The follower's rules: fetch from the leader of its epoch, append what it
//! gets verbatim, truncate where the leader reports that the logs diverge,
//! and follow the leader's high watermark.

use crate::core::partition::epoch_end_offsets::truncation_offset;
use crate::core::partition::fetch_messages::{
    FetchError, FetchRequest, FetchResponse, FetchResult, NO_BROKER_EPOCH,
};
use crate::core::partition::replica_action::ReplicaAction;
use crate::core::partition::replica_log::{ReplicaLog, StoredBatch};
use crate::core::partition::replica_machine::{ReplicaMachine, Role};
use crate::core::topic_config::FsyncPolicy;

impl ReplicaMachine {
    /// The leader answered a fetch. Answers to another fetch than the one in
    /// flight, from another replica, from another leader epoch (KIP-320) or
    /// to a fetch offset this follower has moved past are dropped.
    pub fn fetch_response<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        response: FetchResponse<L::Records>,
        now_ms: u64,
    ) -> Vec<ReplicaAction<L::Records>> {
        let mut actions = Vec::new();
        let backoff_ms = self.config.replica_fetch_backoff_ms;
        let empty_backoff_ms = self.config.replica_fetch_empty_backoff_ms;
        if !self.takes_answer(log, &response) {
            return actions;
        }
        let Role::Follower(follower) = &mut self.role else {
            return actions;
        };
        follower.fetch_in_flight = None;
        let mut next_fetch_ms = now_ms;
        match response.result {
            FetchResult::Records {
                batches,
                high_watermark,
                ..
            } => {
                follower.epoch_checked = true;
                let refused = !batches.is_empty();
                let appended = self.append_verbatim(log, batches, &mut actions);
                // Nothing new: the leader already held the fetch. Batches
                // that do not continue the log: as an error (no busy loop).
                if !appended {
                    next_fetch_ms = now_ms
                        + if refused {
                            backoff_ms
                        } else {
                            empty_backoff_ms
                        };
                }
                let hw = high_watermark.min(log.log_end_offset());
                if hw > self.high_watermark {
                    self.high_watermark = hw;
                    actions.push(ReplicaAction::HighWatermark { offset: hw });
                }
            }
            FetchResult::Diverging { epoch, end_offset } => {
                let kip101_only = self.config.bugs.kip101_only;
                if kip101_only {
                    follower.epoch_checked = true;
                }
                let offset = truncation_offset(log, epoch, end_offset, kip101_only);
                self.truncate(log, offset, &mut actions);
            }
            FetchResult::Error(FetchError::OffsetOutOfRange {
                log_start_offset,
                log_end_offset,
            }) => {
                // Kafka's fetcher (`AbstractFetcherThread`): a follower
                // below the leader's log start (down while retention deleted
                // what it lacks) can never fetch what it needs: it empties
                // its log and starts over at the leader's start (issue 12;
                // it used to retry forever, never rejoining the ISR). One
                // past the leader's end (only reachable without the epoch
                // check: bug switches) cuts back to it.
                if log.log_end_offset() < log_start_offset {
                    self.start_at(log, log_start_offset, &mut actions);
                } else {
                    self.truncate(log, log_end_offset, &mut actions);
                    next_fetch_ms = now_ms + backoff_ms;
                }
            }
            FetchResult::Error(_) => next_fetch_ms = now_ms + backoff_ms,
        }
        if let Role::Follower(follower) = &mut self.role {
            follower.next_fetch_ms = next_fetch_ms;
        }
        self.maybe_send_fetch(log, now_ms, &mut actions);
        self.assert_invariants(log);
        actions
    }

    /// Whether [`ReplicaMachine::fetch_response`] would act on `response`:
    /// the answer to the fetch in flight, from this follower's leader, of
    /// its epoch (KIP-320), for the offset it still ends at.
    fn takes_answer<L: ReplicaLog>(&self, log: &L, response: &FetchResponse<L::Records>) -> bool {
        let fenced = !self.config.bugs.unfenced_fetch;
        let Role::Follower(follower) = &self.role else {
            return false;
        };
        follower.fetch_in_flight.map(|f| f.0) == Some(response.correlation_id)
            && response.leader_id == follower.leader_id
            && (!fenced || response.leader_epoch == self.leader_epoch)
            && response.fetch_offset == log.log_end_offset()
    }

    /// Where [`ReplicaMachine::fetch_response`] would cut the log back for
    /// `response`, if it would. The driver lowers the log's recovery point
    /// durably to this offset first: a point above a cut vouches, after a
    /// power loss, for a segment the cut changed (seed 27 of `--cluster 3
    /// --fsync-never --correlated-crashes`).
    pub fn planned_truncation<L: ReplicaLog>(
        &self,
        log: &L,
        response: &FetchResponse<L::Records>,
    ) -> Option<i64> {
        if !self.takes_answer(log, response) {
            return None;
        }
        let offset = match &response.result {
            FetchResult::Diverging { epoch, end_offset } => {
                truncation_offset(log, *epoch, *end_offset, self.config.bugs.kip101_only)
            }
            FetchResult::Error(FetchError::OffsetOutOfRange {
                log_start_offset,
                log_end_offset,
            }) if log.log_end_offset() >= *log_start_offset => *log_end_offset,
            _ => return None,
        };
        (offset < log.log_end_offset()).then_some(offset)
    }

    /// The fetch `correlation_id` got no answer: the call failed or the
    /// leader refused it (it does not host the partition yet, or is not
    /// reachable). The next one goes after the backoff, as after an error
    /// answer, not after the in-flight timeout (which left a follower, and
    /// so every acks=all produce, stalled for seconds after a leader
    /// change: found by the simulator, `sim/run.sh --cluster 3`).
    pub fn fetch_failed<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        correlation_id: u64,
        now_ms: u64,
    ) -> Vec<ReplicaAction<L::Records>> {
        let mut actions = Vec::new();
        let backoff_ms = self.config.replica_fetch_backoff_ms;
        let Role::Follower(follower) = &mut self.role else {
            return actions;
        };
        if follower.fetch_in_flight.map(|f| f.0) != Some(correlation_id) {
            return actions;
        }
        follower.fetch_in_flight = None;
        follower.next_fetch_ms = now_ms + backoff_ms;
        self.maybe_send_fetch(log, now_ms, &mut actions);
        self.assert_invariants(log);
        actions
    }

    /// Appends the leader's batches with their offsets and epochs. Stops at
    /// a batch that does not continue the log or whose epoch is below the
    /// log's last one (Kafka's epoch cache ignores such an epoch; here the
    /// batch is not stored). Returns whether anything was appended.
    fn append_verbatim<L: ReplicaLog>(
        &mut self,
        log: &mut L,
        batches: Vec<StoredBatch<L::Records>>,
        actions: &mut Vec<ReplicaAction<L::Records>>,
    ) -> bool {
        let start = log.log_end_offset();
        for batch in batches {
            let continues = batch.base_offset == log.log_end_offset()
                && batch.record_count > 0
                && log.latest_epoch().is_none_or(|e| e <= batch.epoch);
            if !continues {
                break;
            }
            log.append(batch);
        }
        let end = log.log_end_offset();
        if end == start {
            return false;
        }
        actions.push(ReplicaAction::AppendedVerbatim {
            base_offset: start,
            end_offset: end,
        });
        actions.push(ReplicaAction::Sync { end_offset: end });
        true
    }

    /// Sends the next fetch when none is in flight (or the last one timed
    /// out), the backoff is over, and with `fsync.policy=always` the log is
    /// synced (the fetch offset tells the leader what this replica holds
    /// durably).
    pub(crate) fn maybe_send_fetch<L: ReplicaLog>(
        &mut self,
        log: &L,
        now_ms: u64,
        actions: &mut Vec<ReplicaAction<L::Records>>,
    ) {
        let timeout_ms = self.config.replica_fetch_timeout_ms;
        let node_id = self.config.node_id;
        let leader_epoch = self.leader_epoch;
        let synced = self.config.fsync_policy != FsyncPolicy::Always
            || self.durable_end_offset >= log.log_end_offset();
        let check = self.config.bugs.checks_epoch_on_every_fetch();
        let Role::Follower(follower) = &mut self.role else {
            return;
        };
        let due = match follower.fetch_in_flight {
            Some((_, sent_ms)) => now_ms.saturating_sub(sent_ms) >= timeout_ms,
            None => now_ms >= follower.next_fetch_ms,
        };
        if !due || !synced {
            return;
        }
        let last_fetched_epoch = match check {
            None => None,
            Some(true) => log.latest_epoch(),
            Some(false) if follower.epoch_checked => None,
            Some(false) => log.latest_epoch(),
        };
        let fetch_offset = log.log_end_offset();
        follower.last_correlation_id += 1;
        let correlation_id = follower.last_correlation_id;
        follower.fetch_in_flight = Some((correlation_id, now_ms));
        actions.push(ReplicaAction::SendFetch {
            to: follower.leader_id,
            request: FetchRequest {
                correlation_id,
                replica_id: node_id,
                fetch_offset,
                last_fetched_epoch,
                current_leader_epoch: leader_epoch,
                replica_epoch: NO_BROKER_EPOCH,
            },
        });
    }
}
