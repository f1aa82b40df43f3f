//! OffsetCommit v2–v9 (the codec's range; Kafka 4 also dropped v0–v1).
//!
//! The broker answers a partition this node does not know itself
//! (UNKNOWN_TOPIC_OR_PARTITION, as Kafka's KafkaApis does before the
//! coordinator sees the request); the rest go to the group coordinator, and
//! the answers are merged back in request order.
//!
//! Any offset is accepted, as in Kafka: the broker does not compare it with
//! the high watermark (clients store positions of their own, e.g. with
//! metadata, and librdkafka's tests commit offsets past the end). Metadata
//! longer than `offset.metadata.max.bytes` is refused by the coordinator
//! (OFFSET_METADATA_TOO_LARGE), after its group checks, as Kafka orders them.
//!
//! If nothing is left for the coordinator, it is not asked (Kafka also
//! answers at once when every topic is rejected).
//!
//! Version differences: v2–v4 carry a retention time (ignored: committed
//! offsets do not expire); v6+ a leader epoch; v7+ `group.instance.id`; v9
//! turns an unknown group with a generation ≥ 0 into GROUP_ID_NOT_FOUND.

use std::collections::{BTreeMap, VecDeque};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::core::group::{
    self, GroupError, GroupRequest, GroupResponse, OffsetCommitPartition, OffsetCommitTopic,
};
use crate::kafka::error_code::code;
use crate::kafka::unexpected_group_response;
use crate::server::broker::Broker;

/// Where one requested partition's answer comes from.
enum Outcome {
    /// Answered by the broker with this error code.
    Local(i16),
    /// Passed to the coordinator.
    Coordinator,
}

pub async fn handle(
    broker: &Broker,
    request: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    // Per requested topic: (name, [(partition, outcome)]), in request order.
    let mut plan: Vec<(_, Vec<(i32, Outcome)>)> = Vec::with_capacity(request.topics.len());
    let mut forwarded = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let mut outcomes = Vec::with_capacity(topic.partitions.len());
        let mut passed = Vec::new();
        for p in &topic.partitions {
            let outcome = match broker.partition(&name, p.partition_index) {
                None => Outcome::Local(code(ResponseError::UnknownTopicOrPartition)),
                Some(_) => {
                    passed.push(OffsetCommitPartition {
                        partition_index: p.partition_index,
                        committed_offset: p.committed_offset,
                        committed_leader_epoch: if version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        committed_metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    });
                    Outcome::Coordinator
                }
            };
            outcomes.push((p.partition_index, outcome));
        }
        if !passed.is_empty() {
            forwarded.push(OffsetCommitTopic {
                name,
                partitions: passed,
            });
        }
        plan.push((topic.name.clone(), outcomes));
    }

    // The coordinator's answers, by (topic, partition), in the order asked
    // (a partition may appear twice in one request).
    let mut answers: BTreeMap<(String, i32), VecDeque<Option<GroupError>>> = BTreeMap::new();
    if !forwarded.is_empty() {
        let commit = group::OffsetCommitRequest {
            group_id: request.group_id.0.to_string(),
            generation_id: request.generation_id_or_member_epoch,
            member_id: request.member_id.to_string(),
            group_instance_id: request
                .group_instance_id
                .filter(|_| version >= 7)
                .map(|s| s.to_string()),
            topics: forwarded.clone(),
            group_id_not_found_supported: version >= 9,
        };
        let whole_request_error = match broker.group_call(GroupRequest::OffsetCommit(commit)).await
        {
            Ok(GroupResponse::OffsetCommit(response)) => {
                for topic in response.topics {
                    for p in topic.partitions {
                        answers
                            .entry((topic.name.clone(), p.partition_index))
                            .or_default()
                            .push_back(p.error);
                    }
                }
                None
            }
            Ok(other) => Some(unexpected_group_response("OffsetCommit", &other)),
            Err(error) => Some(error),
        };
        if let Some(error) = whole_request_error {
            for topic in &forwarded {
                for p in &topic.partitions {
                    answers
                        .entry((topic.name.clone(), p.partition_index))
                        .or_default()
                        .push_back(Some(error));
                }
            }
        }
    }

    let topics = plan
        .into_iter()
        .map(|(name, outcomes)| {
            let topic = name.0.to_string();
            let partitions = outcomes
                .into_iter()
                .map(|(partition_index, outcome)| {
                    let error_code = match outcome {
                        Outcome::Local(error_code) => error_code,
                        Outcome::Coordinator => {
                            let answer = answers
                                .get_mut(&(topic.clone(), partition_index))
                                .and_then(VecDeque::pop_front);
                            match answer {
                                Some(error) => GroupError::code_of(error),
                                None => {
                                    tracing::error!(
                                        topic,
                                        partition_index,
                                        "the group coordinator did not answer a partition"
                                    );
                                    GroupError::CoordinatorNotAvailable.kafka_code()
                                }
                            }
                        }
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(partition_index)
                        .with_error_code(error_code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
