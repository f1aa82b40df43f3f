//! Fetch: serve committed batches (below the high watermark) as stored,
//! long-polling up to `max_wait_ms` until `min_bytes` are available.
//!
//! Limits follow KIP-74: `partition_max_bytes` per partition and `max_bytes`
//! per response, except that the first non-empty partition always returns at
//! least one whole batch so a large batch can never stall a consumer.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};

use crate::kafka::error_code::{self, code};
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

/// Bound on how long one fetch may wait.
const FETCH_WAIT_MS_MAX: i64 = 60_000;

pub async fn handle(broker: &Broker, request: FetchRequest) -> FetchResponse {
    let wait_ms = (request.max_wait_ms as i64).clamp(0, FETCH_WAIT_MS_MAX) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
    let min_bytes = request.min_bytes.max(0) as usize;
    loop {
        // Register interest before reading so a high watermark move between
        // the read and the wait is not missed.
        let notified = broker.hw_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (response, total_bytes, any_error) = read_once(broker, &request);
        let now = tokio::time::Instant::now();
        if total_bytes >= min_bytes || any_error || now >= deadline {
            return response;
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn read_once(broker: &Broker, request: &FetchRequest) -> (FetchResponse, usize, bool) {
    let mut budget = if request.max_bytes <= 0 {
        usize::MAX
    } else {
        request.max_bytes as usize
    };
    let mut total = 0usize;
    let mut any_error = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.topic.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let data = PartitionData::default().with_partition_index(p.partition);
            let Some(handle) = broker.partition(&name, p.partition) else {
                any_error = true;
                partitions.push(
                    data.with_error_code(code(ResponseError::UnknownTopicOrPartition))
                        .with_high_watermark(-1)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1)
                        .with_records(Some(Bytes::new())),
                );
                continue;
            };
            // Until something was returned a read gets at least one whole
            // batch (KIP-74); after that the budget is strict, and a spent
            // budget reads nothing (only the watermarks).
            let max_bytes = (p.partition_max_bytes.max(0) as usize).min(budget);
            let max_bytes = if total == 0 {
                max_bytes.max(1)
            } else {
                max_bytes
            };
            let read = handle.read(p.fetch_offset, max_bytes);
            match read {
                Ok(read) => {
                    // The watermarks read with the records, under one lock:
                    // the response never claims a HW its records contradict.
                    let size = read.records.len();
                    total += size;
                    budget = budget.saturating_sub(size);
                    partitions.push(
                        data.with_high_watermark(read.high_watermark)
                            .with_last_stable_offset(read.high_watermark)
                            .with_log_start_offset(read.log_start_offset)
                            .with_records(Some(Bytes::from(read.records))),
                    );
                }
                Err(e) => {
                    any_error = true;
                    let (log_start, high_watermark, _) = handle.offsets();
                    partitions.push(
                        data.with_error_code(error_code::for_log_error(&e))
                            .with_high_watermark(high_watermark)
                            .with_last_stable_offset(high_watermark)
                            .with_log_start_offset(log_start)
                            .with_records(Some(Bytes::new())),
                    );
                }
            }
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(TopicName(str_bytes(&name)))
                .with_partitions(partitions),
        );
    }
    (
        FetchResponse::default().with_responses(topics),
        total,
        any_error,
    )
}
