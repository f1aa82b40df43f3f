//! OffsetForLeaderEpoch (API 23, KIP-101/KIP-320): for each partition, where
//! the largest leader epoch `<=` the requested one ends in this log. A
//! follower truncates there; a KIP-320 consumer (librdkafka, Java) asks after
//! a leader change whether the log it read was truncated under it.
//!
//! As Kafka's `ReplicaManager.lastOffsetForLeaderEpoch` and
//! `Partition.lastOffsetForLeaderEpoch`: `current_leader_epoch` is checked
//! first (older → FENCED_LEADER_EPOCH, newer → UNKNOWN_LEADER_EPOCH, -1 → no
//! check); the end comes from the leader-epoch cache
//! (`LeaderEpochCache::end_offset_for`, Kafka's `endOffsetFor`), and an
//! undefined end answers no error with epoch and offset -1. `replica_id` is
//! not looked at (Kafka neither); authorization is in `authorization.rs`.

use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::core::partition::leader_epoch_cache::UNDEFINED_EPOCH_OFFSET;
use crate::core::partition::leader_epoch_fencing::check_current_leader_epoch;
use crate::kafka::error_code;
use crate::kafka::leader_epoch_field::requested_epoch;
use crate::server::broker::Broker;

pub fn handle(
    broker: &Broker,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| answer_topic(broker, topic))
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

fn answer_topic(broker: &Broker, topic: &OffsetForLeaderTopic) -> OffsetForLeaderTopicResult {
    let name = topic.topic.0.as_str();
    OffsetForLeaderTopicResult::default()
        .with_topic(topic.topic.clone())
        .with_partitions(
            topic
                .partitions
                .iter()
                .map(|p| answer_partition(broker, name, p))
                .collect(),
        )
}

fn answer_partition(broker: &Broker, topic: &str, p: &OffsetForLeaderPartition) -> EpochEndOffset {
    // Errors keep the defaults: leader epoch -1, end offset -1.
    let response = EpochEndOffset::default().with_partition(p.partition);
    let handle = match broker.serving_partition(topic, p.partition) {
        Ok(handle) => handle,
        Err(e) => return response.with_error_code(error_code::for_partition_unavailable(&e)),
    };
    handle.with_epochs(|view| {
        let current = requested_epoch(p.current_leader_epoch);
        if let Err(e) = check_current_leader_epoch(view.leader_epoch, current) {
            return response.with_error_code(error_code::for_epoch_fencing(&e));
        }
        let (epoch, end_offset) = view
            .cache
            .end_offset_for(p.leader_epoch, view.log_end_offset);
        // Kafka's `UnifiedLog.endOffsetForEpoch`: an undefined end is no
        // answer at all, leaving both fields -1.
        if end_offset == UNDEFINED_EPOCH_OFFSET {
            return response;
        }
        response
            .with_leader_epoch(epoch)
            .with_end_offset(end_offset)
    })
}
