//! Produce: validate each partition's record set, append it, and wait for
//! the acknowledgement `acks` asks for. Partitions are handled concurrently
//! so one slow sync does not serialize the request.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use crate::core::partition::{Acks, ProduceWaitError};
use crate::io::clock::now_ms;
use crate::kafka::error_code::{self, code};
use crate::kafka::str_bytes;
use crate::log::record_batch;
use crate::server::broker::Broker;
use crate::server::partition_handle::ProduceError;

/// Bound on how long a produce may wait for its acknowledgement.
const PRODUCE_TIMEOUT_MS_MAX: i64 = 300_000;

pub async fn handle(broker: &Broker, request: ProduceRequest) -> ProduceResponse {
    let acks = Acks::from_wire(request.acks);
    let timeout_ms = (request.timeout_ms as i64).clamp(0, PRODUCE_TIMEOUT_MS_MAX) as u64;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let name = topic.name.0.to_string();
        let mut jobs = Vec::with_capacity(topic.partition_data.len());
        for partition in topic.partition_data {
            let name = name.clone();
            jobs.push(async move {
                let index = partition.index;
                let result = match acks {
                    None => Err(code(ResponseError::InvalidRequiredAcks)),
                    Some(acks) => {
                        produce_partition(broker, &name, index, partition.records, acks, timeout_ms)
                            .await
                    }
                };
                let response = PartitionProduceResponse::default().with_index(index);
                match result {
                    Ok((base_offset, log_start_offset)) => response
                        .with_base_offset(base_offset)
                        .with_log_start_offset(log_start_offset)
                        .with_log_append_time_ms(-1),
                    Err(error) => response
                        .with_error_code(error)
                        .with_base_offset(-1)
                        .with_log_start_offset(-1),
                }
            });
        }
        let partition_responses = join_all(jobs).await;
        responses.push(
            TopicProduceResponse::default()
                .with_name(kafka_protocol::messages::TopicName(str_bytes(&name)))
                .with_partition_responses(partition_responses),
        );
    }
    ProduceResponse::default().with_responses(responses)
}

/// Runs futures concurrently on this task, keeping their order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, fut) in pinned.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

async fn produce_partition(
    broker: &Broker,
    topic: &str,
    index: i32,
    records: Option<bytes::Bytes>,
    acks: Acks,
    timeout_ms: u64,
) -> Result<(i64, i64), i16> {
    if crate::core::topic_name::is_internal(topic) {
        // Only its coordinator writes an internal topic (Kafka: "Cannot
        // append to internal topic").
        return Err(code(ResponseError::InvalidTopicException));
    }
    let Some(handle) = broker.partition(topic, index) else {
        return Err(code(ResponseError::UnknownTopicOrPartition));
    };
    let records = records.ok_or(code(ResponseError::CorruptMessage))?;
    let config = handle.config();
    let max_message_bytes = config.max_message_bytes.max(0) as usize;
    let headers = record_batch::validate_produced(&records, max_message_bytes)
        .map_err(|e| error_code::for_batch_error(&e))?;
    if config.compacted {
        // Compaction keeps the latest record per key: a keyless record has
        // no place in such a topic (Kafka refuses it the same way).
        crate::log::compaction::requires_keys(&records).map_err(|e| {
            code(match e {
                crate::log::compaction::KeyError::MissingKey => ResponseError::InvalidRecord,
                _ => ResponseError::CorruptMessage,
            })
        })?;
    }
    match handle
        .produce(records.to_vec(), &headers, acks, timeout_ms, now_ms())
        .await
    {
        Ok(info) => Ok((info.base_offset, info.log_start_offset)),
        Err(ProduceError::Log(e)) => Err(error_code::for_log_error(&e)),
        Err(ProduceError::NotEnoughReplicas { .. }) => Err(code(ResponseError::NotEnoughReplicas)),
        Err(ProduceError::Wait(ProduceWaitError::NotEnoughReplicasAfterAppend)) => {
            Err(code(ResponseError::NotEnoughReplicasAfterAppend))
        }
        Err(ProduceError::Wait(ProduceWaitError::NotLeader)) => {
            Err(code(ResponseError::NotLeaderOrFollower))
        }
        Err(ProduceError::TimedOut) => Err(code(ResponseError::RequestTimedOut)),
        Err(ProduceError::Producer(e)) => Err(error_code::for_producer_error(&e)),
    }
}
