//! DeleteRecords v0–2: moves each partition's log start offset up to the
//! requested offset (-1: the high watermark), as stream processors do to
//! purge repartition topics. The answer's low watermark is the new log
//! start, durable before the answer (see
//! [`crate::server::partition_handle::PartitionHandle::advance_log_start`]).
//! Kafka's errors: an unknown partition is UNKNOWN_TOPIC_OR_PARTITION; an
//! offset below 0 or past the high watermark OFFSET_OUT_OF_RANGE; a topic
//! without `delete` in its cleanup policy POLICY_VIOLATION.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::kafka::error_code::{self, code};
use crate::server::broker::Broker;
use crate::server::partition_handle::DeleteRecordsError;

pub async fn handle(broker: &Broker, request: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.to_string();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let outcome = match broker.partition(&name, p.partition_index) {
                None => Err(code(ResponseError::UnknownTopicOrPartition)),
                // The leader moves the log start; followers follow it.
                Some(handle) if !handle.is_leader() => {
                    Err(code(ResponseError::NotLeaderOrFollower))
                }
                Some(handle) => handle
                    .advance_log_start(p.offset)
                    .await
                    .map_err(|e| match e {
                        DeleteRecordsError::OutOfRange { .. } => {
                            code(ResponseError::OffsetOutOfRange)
                        }
                        DeleteRecordsError::PolicyViolation => code(ResponseError::PolicyViolation),
                        DeleteRecordsError::Log(e) => error_code::for_log_error(&e),
                    }),
            };
            let (low_watermark, error_code) = match outcome {
                Ok(start) => (start, 0),
                Err(error_code) => (-1, error_code),
            };
            partitions.push(
                DeleteRecordsPartitionResult::default()
                    .with_partition_index(p.partition_index)
                    .with_low_watermark(low_watermark)
                    .with_error_code(error_code),
            );
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
