//! Where a produced batch is appended and acknowledged: the leader checks
//! idempotent producers' sequences, writes the batch at the log end in its
//! epoch, has the replica machine confirm it, syncs under
//! `fsync.policy=always` and waits for the machine's answer.

use tokio::sync::oneshot;

use crate::core::partition::{Acks, ProduceError as ReplicaProduceError};
use crate::core::producer_state::{ProducerBatch, Verdict};
use crate::core::topic_config::FsyncPolicy;
use crate::log::record_batch::BatchHeader;
use crate::log::AppendInfo;
use crate::server::partition_handle::{
    PartitionHandle, PartitionState, ProduceError, ProduceReceiver,
};

/// What a produce found or wrote under the partition lock.
enum Written {
    /// A retry of batches already in the log, at these offsets.
    Duplicate(AppendInfo),
    /// Appended: the waiter for its acknowledgement (none for acks=0), and
    /// whether the producer syncs before waiting (`fsync.policy=always`).
    Appended {
        info: AppendInfo,
        waiter: Option<ProduceReceiver>,
        sync_now: bool,
    },
}

impl PartitionHandle {
    /// Appends a validated record set and waits for the acknowledgement the
    /// producer asked for, at most `timeout_ms`. Only a leader takes it.
    pub async fn produce(
        &self,
        records: Vec<u8>,
        headers: &[BatchHeader],
        acks: Acks,
        timeout_ms: u64,
        now_ms: i64,
    ) -> Result<AppendInfo, ProduceError> {
        let written = {
            let mut guard = self.lock();
            let state = &mut *guard;
            // The machine refuses these too, but only after the append it
            // confirms: the driver writes first, so it checks first.
            let Some(isr) = state.machine.isr() else {
                return Err(ProduceError::NotLeaderOrFollower);
            };
            if acks == Acks::All && isr.len() < state.machine.config().min_insync_replicas {
                return Err(ProduceError::NotEnoughReplicas {
                    required: state.config.min_insync_replicas,
                });
            }
            if state
                .epoch_cache
                .latest_epoch()
                .is_some_and(|e| e > state.machine.leader_epoch())
            {
                return Err(ProduceError::NotLeaderOrFollower);
            }
            let batches: Vec<ProducerBatch> =
                headers.iter().map(ProducerBatch::from_header).collect();
            let verdict = if state.bugs.no_idempotence {
                Verdict::Append
            } else {
                state.producers.check_batches(&batches)?
            };
            match verdict {
                // A retry of batches already in the log: answer with their
                // offsets once they are as durable as `acks` asks.
                Verdict::Duplicate {
                    base_offset,
                    last_offset,
                } => Written::Duplicate(AppendInfo {
                    base_offset,
                    last_offset,
                    log_start_offset: state.log.log_start_offset(),
                }),
                Verdict::Append => {
                    self.append_as_leader(state, records, headers, &batches, acks, now_ms)?
                }
            }
        };
        let (info, waiter, sync_now) = match written {
            Written::Duplicate(info) => return self.answer_duplicate(info, acks, timeout_ms).await,
            Written::Appended {
                info,
                waiter,
                sync_now,
            } => (info, waiter, sync_now),
        };
        if sync_now {
            self.sync().await?;
        }
        let Some(waiter) = waiter else {
            return Ok(info);
        };
        match tokio::time::timeout(std::time::Duration::from_millis(timeout_ms), waiter).await {
            Ok(Ok(Ok(_))) => Ok(info),
            Ok(Ok(Err(e))) => Err(self.produce_error(e)),
            Ok(Err(_)) => Err(ProduceError::NotLeaderOrFollower),
            Err(_) => Err(ProduceError::TimedOut),
        }
    }

    /// Writes a client's batches at the log end in this leader's epoch and
    /// has the machine confirm them: returns where they landed, the waiter
    /// for their acknowledgement (none for acks=0) and whether to sync now.
    fn append_as_leader(
        &self,
        state: &mut PartitionState,
        mut records: Vec<u8>,
        headers: &[BatchHeader],
        batches: &[ProducerBatch],
        acks: Acks,
        now_ms: i64,
    ) -> Result<Written, ProduceError> {
        let epoch = state.machine.leader_epoch();
        let info = state.log.append(&mut records, headers, epoch, now_ms)?;
        if !state.bugs.no_idempotence {
            let mut base = info.base_offset;
            for batch in batches {
                state.producers.on_appended(batch, base);
                base += batch.last_offset_delta as i64 + 1;
            }
            let max = state.limits.max_producers_per_partition;
            let evicted = state
                .producers
                .evict_least_recent(max, |id| batches.iter().any(|b| b.producer_id == id));
            if !evicted.is_empty() {
                tracing::debug!(topic = %self.topic, partition = self.partition, evicted = evicted.len(), max, "forgot least recent producers (producer.state.max.producers.per.partition)");
            }
        }
        let request_id = state.next_request_id;
        state.next_request_id += 1;
        let waiter = (acks != Acks::None).then(|| {
            let (tx, rx) = oneshot::channel();
            state.waiters.insert(request_id, tx);
            rx
        });
        let end_offset = info.last_offset + 1;
        let record_count = end_offset - info.base_offset;
        let outcome = self.step(
            state,
            None,
            Some((info.base_offset, end_offset)),
            |machine, log, _| {
                // The bytes are in the log already: the machine's
                // append only confirms where.
                machine.client_append(log, request_id, Vec::new(), record_count, acks)
            },
        );
        Ok(Written::Appended {
            info,
            waiter,
            sync_now: Self::sync_needed(state, &outcome),
        })
    }

    fn produce_error(&self, error: ReplicaProduceError) -> ProduceError {
        match error {
            ReplicaProduceError::NotLeaderOrFollower => ProduceError::NotLeaderOrFollower,
            ReplicaProduceError::NotEnoughReplicas => ProduceError::NotEnoughReplicas {
                required: self.lock().config.min_insync_replicas,
            },
            ReplicaProduceError::NotEnoughReplicasAfterAppend => {
                ProduceError::NotEnoughReplicasAfterAppend
            }
        }
    }

    /// Answers a retried batch already in the log once it is as durable as
    /// `acks` asks: synced under `fsync.policy=always`, and below the high
    /// watermark for acks=all, while this replica still leads.
    async fn answer_duplicate(
        &self,
        info: AppendInfo,
        acks: Acks,
        timeout_ms: u64,
    ) -> Result<AppendInfo, ProduceError> {
        let end_offset = info.last_offset + 1;
        let always = {
            let state = self.lock();
            state.config.fsync_policy == FsyncPolicy::Always && !state.bugs.ack_before_sync
        };
        if always && acks != Acks::None {
            self.sync().await?;
        }
        if acks != Acks::All {
            return Ok(info);
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
        loop {
            let notified = self.hw_changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.lock();
                if !state.machine.is_leader() {
                    return Err(ProduceError::NotLeaderOrFollower);
                }
                if state.machine.high_watermark() >= end_offset {
                    return Ok(info);
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if tokio::time::timeout(left, notified).await.is_err() {
                return Err(ProduceError::TimedOut);
            }
        }
    }
}
