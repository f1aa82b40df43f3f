//! Fetch: serve committed batches (below the high watermark) as stored,
//! long-polling up to `max_wait_ms` until `min_bytes` are available. Only
//! synced batches are served: a reader that reached unsynced ones (policy
//! `interval` or `never`) syncs the partition first, so no offset a consumer
//! read is ever reused after a power loss.
//!
//! Sizes follow Kafka's rule (see `fetch_budget`): the response limit bounds
//! the whole reply, per-partition limits apply within it, and only the first
//! batch of the first non-empty partition may exceed them. A partition named
//! twice is read and answered once, as Kafka's request map keeps one entry
//! per partition (at its first position, with its last parameters).
//!
//! A waiting fetch is woken only by the partitions it reads.
//!
//! KIP-320 comes before each partition's read (`check_epochs`): a
//! `current_leader_epoch` other than ours refuses that partition only, and a
//! `last_fetched_epoch` whose epoch ends here before the fetch offset gets
//! `diverging_epoch` instead of records, as Kafka's `Partition.fetchRecords`.

use std::collections::BTreeMap;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use tokio::sync::futures::Notified;

use crate::core::partition::fetch_divergence::{check_last_fetched_epoch, FetchEpochCheck};
use crate::core::partition::leader_epoch_fencing::check_current_leader_epoch;
use crate::kafka::error_code::{self, code};
use crate::kafka::fetch_budget::{FetchBudget, PartitionLimit};
use crate::kafka::leader_epoch_field::fetch_epoch;
use crate::kafka::str_bytes;
use crate::server::broker::Broker;
use crate::server::partition_handle::PartitionHandle;

/// Bound on how long one fetch may wait.
const FETCH_WAIT_MS_MAX: i64 = 60_000;

/// One partition the request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    topic: String,
    partition: i32,
    fetch_offset: i64,
    partition_max_bytes: i32,
    /// v9+: the leader epoch the fetcher believes in (KIP-320 fencing).
    current_leader_epoch: Option<i32>,
    /// v12+: the epoch of the fetcher's last record (divergence check).
    last_fetched_epoch: Option<i32>,
}

pub async fn handle(broker: &Broker, request: FetchRequest) -> FetchResponse {
    let wanted = distinct_partitions(&request);
    let wait_ms = (request.max_wait_ms as i64).clamp(0, FETCH_WAIT_MS_MAX) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
    let response_max_bytes =
        FetchBudget::new(request.max_bytes, broker.config.fetch_max_bytes).response_max_bytes();
    // Kafka waits for no more than the response may hold.
    let min_bytes = (request.min_bytes as i64).min(response_max_bytes);
    loop {
        let handles: Vec<Option<Arc<PartitionHandle>>> = wanted
            .iter()
            .map(|w| broker.partition(&w.topic, w.partition))
            .collect();
        sync_what_reads_wait_for(&wanted, &handles).await;
        // Register interest before reading so a high watermark move between
        // the read and the wait is not missed.
        let mut waits: Vec<Pin<Box<Notified<'_>>>> = handles
            .iter()
            .flatten()
            .map(|h| Box::pin(h.hw_changed().notified()))
            .collect();
        for wait in &mut waits {
            wait.as_mut().enable();
        }
        // An error or a diverging epoch is answered at once, as Kafka's
        // `fetchMessages` does (`errorReadingData || hasDivergingEpoch`).
        let (response, total_bytes, respond_now) =
            read_once(broker, request.max_bytes, &wanted, &handles);
        let now = tokio::time::Instant::now();
        if total_bytes as i64 >= min_bytes || respond_now || waits.is_empty() || now >= deadline {
            return response;
        }
        tokio::select! {
            biased; // tokio's unbiased order draws from a process-seeded generator (docs/testing.md)
            _ = any_notified(&mut waits) => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Reads serve synced records only (see `PartitionHandle::read_limited`):
/// a partition whose reader caught up with its synced records is synced now
/// (`fsync.policy` `interval` or `never`; concurrent syncs share one fsync),
/// so consumers are not held back to the next background sync. A failed
/// sync takes the log offline, and the read below answers with its error.
async fn sync_what_reads_wait_for(wanted: &[Wanted], handles: &[Option<Arc<PartitionHandle>>]) {
    for (w, handle) in wanted.iter().zip(handles) {
        let Some(handle) = handle else { continue };
        if !handle.has_failed() && handle.read_waits_for_sync(w.fetch_offset) {
            if let Err(e) = handle.sync().await {
                tracing::warn!(topic = %w.topic, partition = w.partition, %e, "sync before a read failed");
            }
        }
    }
}

/// Each partition once, at its first position, with the parameters of its
/// last mention (a `LinkedHashMap` put, as Kafka builds its fetch data).
fn distinct_partitions(request: &FetchRequest) -> Vec<Wanted> {
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut index: BTreeMap<(String, i32), usize> = BTreeMap::new();
    for topic in &request.topics {
        let name = topic.topic.0.to_string();
        for p in &topic.partitions {
            let entry = Wanted {
                topic: name.clone(),
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes,
                current_leader_epoch: fetch_epoch(p.current_leader_epoch),
                last_fetched_epoch: fetch_epoch(p.last_fetched_epoch),
            };
            match index.get(&(name.clone(), p.partition)) {
                Some(&at) => wanted[at] = entry,
                None => {
                    index.insert((name.clone(), p.partition), wanted.len());
                    wanted.push(entry);
                }
            }
        }
    }
    wanted
}

/// Resolves when any of the partitions' notifications fires.
async fn any_notified(waits: &mut [Pin<Box<Notified<'_>>>]) {
    std::future::poll_fn(|cx| {
        for wait in waits.iter_mut() {
            if wait.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await
}

fn read_once(
    broker: &Broker,
    request_max_bytes: i32,
    wanted: &[Wanted],
    handles: &[Option<Arc<PartitionHandle>>],
) -> (FetchResponse, usize, bool) {
    let mut budget = FetchBudget::new(request_max_bytes, broker.config.fetch_max_bytes);
    let mut total = 0usize;
    let mut respond_now = false;
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    for (w, handle) in wanted.iter().zip(handles) {
        let data = match handle {
            // Kafka answers these outside the read loop: they use no budget.
            None => PartitionData::default()
                .with_partition_index(w.partition)
                .with_error_code(code(ResponseError::UnknownTopicOrPartition))
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_records(Some(Bytes::new())),
            // A partition stopped by an internal error serves nothing more.
            Some(handle) if handle.has_failed() => PartitionData::default()
                .with_partition_index(w.partition)
                .with_error_code(code(ResponseError::KafkaStorageError))
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_records(Some(Bytes::new())),
            // Only the leader serves consumers (no follower reads, KIP-392).
            Some(handle) if !handle.is_leader() => PartitionData::default()
                .with_partition_index(w.partition)
                .with_error_code(code(ResponseError::NotLeaderOrFollower))
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_records(Some(Bytes::new())),
            Some(handle) => read_partition(handle, w, &mut budget),
        };
        respond_now |= data.error_code != 0 || data.diverging_epoch.epoch >= 0;
        total += data.records.as_ref().map_or(0, Bytes::len);
        // Consecutive partitions of one topic share its entry (Kafka's
        // FetchResponse keeps the request order the same way).
        match topics.last_mut() {
            Some(last) if last.topic.0.as_str() == w.topic => last.partitions.push(data),
            _ => topics.push(
                FetchableTopicResponse::default()
                    .with_topic(TopicName(str_bytes(&w.topic)))
                    .with_partitions(vec![data]),
            ),
        }
    }
    (
        FetchResponse::default().with_responses(topics),
        total,
        respond_now,
    )
}

fn read_partition(handle: &PartitionHandle, w: &Wanted, budget: &mut FetchBudget) -> PartitionData {
    let data = PartitionData::default().with_partition_index(w.partition);
    match check_epochs(handle, w) {
        EpochGate::Read => {}
        // Kafka's `createLogReadResult(e)`: no offsets with the error.
        EpochGate::Refused(error) => {
            budget.spend(0);
            return data
                .with_error_code(error)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_records(Some(Bytes::new()));
        }
        // The offsets as they were at the check, no records.
        EpochGate::Diverging {
            diverging,
            high_watermark,
            log_start_offset,
        } => {
            budget.spend(0);
            return data
                .with_high_watermark(high_watermark)
                .with_last_stable_offset(high_watermark)
                .with_log_start_offset(log_start_offset)
                .with_diverging_epoch(diverging)
                .with_records(Some(Bytes::new()));
        }
    }
    let read = match budget.next_limit(w.partition_max_bytes) {
        PartitionLimit::Read {
            max_bytes,
            min_one_batch,
        } => handle
            .read_limited(w.fetch_offset, max_bytes, min_one_batch)
            .map_err(|e| error_code::for_log_error(&e)),
        // Kafka fails such a read ("Invalid max size") only when there is
        // something to read; at the log end it answers with no records.
        PartitionLimit::Invalid { max_bytes } => {
            match handle.read_limited(w.fetch_offset, 0, false) {
                Ok(read) if w.fetch_offset < read.high_watermark => {
                    tracing::debug!(max_bytes, "fetch with a negative size limit");
                    Err(code(ResponseError::UnknownServerError))
                }
                other => other.map_err(|e| error_code::for_log_error(&e)),
            }
        }
    };
    match read {
        Ok(read) => {
            // The watermarks read with the records, under one lock: the
            // response never claims a HW its records contradict.
            budget.spend(read.records.len());
            data.with_high_watermark(read.high_watermark)
                .with_last_stable_offset(read.high_watermark)
                .with_log_start_offset(read.log_start_offset)
                .with_records(Some(Bytes::from(read.records)))
        }
        Err(error) => {
            budget.spend(0);
            let (log_start, high_watermark, _) = handle.offsets();
            data.with_error_code(error)
                .with_high_watermark(high_watermark)
                .with_last_stable_offset(high_watermark)
                .with_log_start_offset(log_start)
                .with_records(Some(Bytes::new()))
        }
    }
}

/// What the KIP-320 checks say about one partition of a fetch.
enum EpochGate {
    Read,
    /// FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH or OFFSET_OUT_OF_RANGE.
    Refused(i16),
    Diverging {
        diverging: EpochEndOffset,
        high_watermark: i64,
        log_start_offset: i64,
    },
}

/// Kafka's `Partition.fetchRecords` before the read: the fetcher's current
/// leader epoch must be ours, and its last fetched epoch must not diverge
/// from our log (`fetch_divergence`).
fn check_epochs(handle: &PartitionHandle, w: &Wanted) -> EpochGate {
    handle.with_epochs(|view| {
        if let Err(e) = check_current_leader_epoch(view.leader_epoch, w.current_leader_epoch) {
            return EpochGate::Refused(error_code::for_epoch_fencing(&e));
        }
        let Some(last_fetched_epoch) = w.last_fetched_epoch else {
            return EpochGate::Read;
        };
        match check_last_fetched_epoch(
            view.cache,
            view.log_start_offset,
            view.log_end_offset,
            last_fetched_epoch,
            w.fetch_offset,
        ) {
            FetchEpochCheck::Read => EpochGate::Read,
            FetchEpochCheck::OutOfRange => {
                EpochGate::Refused(code(ResponseError::OffsetOutOfRange))
            }
            FetchEpochCheck::Diverging { epoch, end_offset } => EpochGate::Diverging {
                diverging: EpochEndOffset::default()
                    .with_epoch(epoch)
                    .with_end_offset(end_offset),
                high_watermark: view.high_watermark,
                log_start_offset: view.log_start_offset,
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};

    use super::*;

    fn partition(index: i32, offset: i64, max_bytes: i32) -> FetchPartition {
        FetchPartition::default()
            .with_partition(index)
            .with_fetch_offset(offset)
            .with_partition_max_bytes(max_bytes)
    }

    #[test]
    fn a_partition_named_twice_is_read_once_with_its_last_parameters() {
        let request = FetchRequest::default().with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(str_bytes("a")))
                .with_partitions(vec![partition(0, 1, 10), partition(1, 0, 10)]),
            FetchTopic::default()
                .with_topic(TopicName(str_bytes("b")))
                .with_partitions(vec![partition(0, 0, 10)]),
            FetchTopic::default()
                .with_topic(TopicName(str_bytes("a")))
                .with_partitions((0..200).map(|i| partition(0, 5, i)).collect::<Vec<_>>()),
        ]);
        let wanted = distinct_partitions(&request);
        let keys: Vec<(&str, i32, i64, i32)> = wanted
            .iter()
            .map(|w| {
                (
                    w.topic.as_str(),
                    w.partition,
                    w.fetch_offset,
                    w.partition_max_bytes,
                )
            })
            .collect();
        assert_eq!(
            keys,
            vec![("a", 0, 5, 199), ("a", 1, 0, 10), ("b", 0, 0, 10)]
        );
    }
}
