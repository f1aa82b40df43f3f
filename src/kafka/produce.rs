//! Produce: validate each partition's record set, append it, and wait for
//! the acknowledgement `acks` asks for. Partitions are handled concurrently
//! so one slow sync does not serialize the request.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use crate::core::partition::Acks;
use crate::core::topic_config::{TimestampType, TopicConfig};
use crate::kafka::error_code::{self, code};
use crate::kafka::str_bytes;
use crate::log::client_batch::{self, ValidationError, ValidationRules};
use crate::server::broker::Broker;
use crate::server::partition_handle::ProduceError;

/// Bound on how long a produce may wait for its acknowledgement.
const PRODUCE_TIMEOUT_MS_MAX: i64 = 300_000;

pub async fn handle(broker: &Broker, request: ProduceRequest, version: i16) -> ProduceResponse {
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
                    None => Err(PartitionFailure::code(ResponseError::InvalidRequiredAcks)),
                    Some(acks) => {
                        let request = PartitionProduce {
                            topic: &name,
                            index,
                            records: partition.records,
                            acks,
                            timeout_ms,
                            version,
                        };
                        produce_partition(broker, request).await
                    }
                };
                let response = PartitionProduceResponse::default().with_index(index);
                match result {
                    Ok(done) => response
                        .with_base_offset(done.base_offset)
                        .with_log_start_offset(done.log_start_offset)
                        .with_log_append_time_ms(done.log_append_time_ms),
                    Err(failure) => response
                        .with_error_code(failure.error_code)
                        .with_error_message(failure.message.map(|m| str_bytes(&m)))
                        .with_record_errors(failure.record_errors)
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
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

/// Where an accepted batch landed.
struct Produced {
    base_offset: i64,
    log_start_offset: i64,
    /// The LogAppendTime the broker stamped, or -1 (CreateTime).
    log_append_time_ms: i64,
}

/// A refused partition: its error code, and for validation failures the
/// message and the records at fault (KIP-467, Produce v8+).
struct PartitionFailure {
    error_code: i16,
    message: Option<String>,
    record_errors: Vec<BatchIndexAndErrorMessage>,
}

impl PartitionFailure {
    fn code(error: ResponseError) -> PartitionFailure {
        PartitionFailure::from(code(error))
    }
}

impl From<i16> for PartitionFailure {
    fn from(error_code: i16) -> PartitionFailure {
        PartitionFailure {
            error_code,
            message: None,
            record_errors: Vec::new(),
        }
    }
}

impl From<ValidationError> for PartitionFailure {
    fn from(e: ValidationError) -> PartitionFailure {
        let message = Some(e.to_string());
        let (error, record_errors) = match e {
            ValidationError::Corrupt(_) => (ResponseError::CorruptMessage, Vec::new()),
            ValidationError::TooLarge { .. } => (ResponseError::MessageTooLarge, Vec::new()),
            ValidationError::InvalidRecord { record_errors, .. } => {
                (ResponseError::InvalidRecord, record_errors)
            }
            ValidationError::InvalidTimestamp { record_errors, .. } => {
                (ResponseError::InvalidTimestamp, record_errors)
            }
            ValidationError::UnsupportedCompression(_) => {
                (ResponseError::UnsupportedCompressionType, Vec::new())
            }
            ValidationError::NotInTransaction(_) => (ResponseError::InvalidTxnState, Vec::new()),
        };
        PartitionFailure {
            error_code: code(error),
            message,
            record_errors: record_errors
                .into_iter()
                .map(|r| {
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(r.batch_index)
                        .with_batch_index_error_message(Some(str_bytes(&r.message)))
                })
                .collect(),
        }
    }
}

/// One partition's part of a Produce request.
struct PartitionProduce<'a> {
    topic: &'a str,
    index: i32,
    records: Option<bytes::Bytes>,
    acks: Acks,
    timeout_ms: u64,
    version: i16,
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
    request: PartitionProduce<'_>,
) -> Result<Produced, PartitionFailure> {
    if crate::core::topic_name::is_internal(request.topic) {
        // Only its coordinator writes an internal topic (Kafka: "Cannot
        // append to internal topic").
        return Err(PartitionFailure::code(ResponseError::InvalidTopicException));
    }
    let handle = broker
        .serving_partition(request.topic, request.index)
        .map_err(|e| PartitionFailure::from(error_code::for_partition_unavailable(&e)))?;
    let records = request
        .records
        .ok_or(PartitionFailure::code(ResponseError::CorruptMessage))?;
    // LogAppendTime, the timestamp bounds and segment.ms are wall time.
    let now = broker.clock.wall_ms();
    let rules = validation_rules(&handle.config(), request.version, now);
    let batch = client_batch::validate_client_records(&records, &rules)?;
    // A batch rebuilt larger than it arrived (recompressed, or stored
    // uncompressed) holds memory the frame's reservation did not count.
    let _grown = (batch.bytes.len() > records.len()).then(|| {
        broker
            .connection_limits
            .charge_request_bytes(batch.bytes.len() - records.len())
    });
    drop(records);
    let produced = handle
        .produce(
            batch.bytes,
            &[batch.header],
            request.acks,
            request.timeout_ms,
            now,
        )
        .await;
    let failure = |e: ResponseError| Err(PartitionFailure::code(e));
    match produced {
        Ok(info) => Ok(Produced {
            base_offset: info.base_offset,
            log_start_offset: info.log_start_offset,
            log_append_time_ms: batch.log_append_time_ms,
        }),
        Err(ProduceError::Log(e)) => Err(PartitionFailure::from(error_code::for_log_error(&e))),
        Err(ProduceError::NotEnoughReplicas { .. }) => failure(ResponseError::NotEnoughReplicas),
        Err(ProduceError::NotEnoughReplicasAfterAppend) => {
            failure(ResponseError::NotEnoughReplicasAfterAppend)
        }
        Err(ProduceError::NotLeaderOrFollower) => failure(ResponseError::NotLeaderOrFollower),
        Err(ProduceError::TimedOut) => failure(ResponseError::RequestTimedOut),
        Err(ProduceError::Producer(e)) => {
            Err(PartitionFailure::from(error_code::for_producer_error(&e)))
        }
    }
}

/// What the topic's configs ask of a produced batch.
fn validation_rules(config: &TopicConfig, version: i16, now_ms: i64) -> ValidationRules {
    ValidationRules {
        max_batch_size_bytes: config.max_message_bytes.max(0) as usize,
        compacted: config.compacted,
        target_codec: config.compression_type.batch_codec(),
        log_append_time: config.message_timestamp_type == TimestampType::LogAppendTime,
        timestamp_before_max_ms: config.message_timestamp_before_max_ms,
        timestamp_after_max_ms: config.message_timestamp_after_max_ms,
        now_ms,
        produce_version: version,
    }
}
