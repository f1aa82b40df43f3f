//! OffsetDelete v0: deletes a group's committed offsets of some partitions.
//!
//! As Kafka's KafkaApis does, the broker answers partitions it does not know
//! itself (UNKNOWN_TOPIC_OR_PARTITION) and passes the rest to the group
//! coordinator, which is asked even when nothing is left: a group-level
//! error (INVALID_GROUP_ID, GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP,
//! COORDINATOR_*, NOT_COORDINATOR) is then the whole answer, with no topics.
//! Partitions of a topic an active consumer group subscribes to answer
//! GROUP_SUBSCRIBED_TO_TOPIC. The answer comes once the tombstones are
//! durable in the offsets topic. A partition named twice is answered once.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, TopicName};

use crate::core::group::{self, GroupError, GroupRequest, GroupResponse, OffsetDeleteTopic};
use crate::kafka::error_code::code;
use crate::kafka::unexpected_group_response;
use crate::server::broker::Broker;

/// Per requested topic, in request order: (name, [(partition, the code the
/// broker answers itself, if it does)]).
type Plan = Vec<(TopicName, Vec<(i32, Option<i16>)>)>;

pub async fn handle(broker: &Broker, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let mut plan: Plan = Vec::new();
    let mut seen = BTreeSet::new();
    let mut forwarded: Vec<OffsetDeleteTopic> = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let mut outcomes = Vec::new();
        let mut passed = Vec::new();
        for p in &topic.partitions {
            if !seen.insert((name.clone(), p.partition_index)) {
                continue;
            }
            let local = match broker.partition(&name, p.partition_index) {
                None => Some(code(ResponseError::UnknownTopicOrPartition)),
                Some(_) => {
                    passed.push(p.partition_index);
                    None
                }
            };
            outcomes.push((p.partition_index, local));
        }
        if !passed.is_empty() {
            forwarded.push(OffsetDeleteTopic {
                name,
                partition_indexes: passed,
            });
        }
        plan.push((topic.name.clone(), outcomes));
    }

    let delete = group::OffsetDeleteRequest {
        group_id: request.group_id.0.to_string(),
        topics: forwarded,
    };
    let response = match broker.group_call(GroupRequest::OffsetDelete(delete)).await {
        Ok(GroupResponse::OffsetDelete(response)) => response,
        Ok(other) => group::OffsetDeleteResponse {
            error: Some(unexpected_group_response("OffsetDelete", &other)),
            topics: Vec::new(),
        },
        Err(error) => group::OffsetDeleteResponse {
            error: Some(error),
            topics: Vec::new(),
        },
    };
    if let Some(error) = response.error {
        return OffsetDeleteResponse::default().with_error_code(error.kafka_code());
    }
    let answers: BTreeMap<(String, i32), Option<GroupError>> = response
        .topics
        .into_iter()
        .flat_map(|t| {
            t.partitions
                .into_iter()
                .map(move |p| ((t.name.clone(), p.partition_index), p.error))
        })
        .collect();

    let topics = plan
        .into_iter()
        .filter(|(_, outcomes)| !outcomes.is_empty())
        .map(|(name, outcomes)| {
            let topic = name.0.to_string();
            let partitions = outcomes
                .into_iter()
                .map(|(partition_index, local)| {
                    let error_code = match local {
                        Some(error_code) => error_code,
                        None => match answers.get(&(topic.clone(), partition_index)) {
                            Some(error) => GroupError::code_of(*error),
                            None => {
                                tracing::error!(
                                    topic,
                                    partition_index,
                                    "the group coordinator did not answer a partition"
                                );
                                GroupError::CoordinatorNotAvailable.kafka_code()
                            }
                        },
                    };
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(partition_index)
                        .with_error_code(error_code)
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
