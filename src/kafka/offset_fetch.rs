//! OffsetFetch v1–v9 (the codec's range; Kafka 4 also dropped v0).
//!
//! v1–v7 ask about one group; v8+ batch groups, each answered by its own
//! coordinator call. Null topics (v2+) mean every committed partition of the
//! group.
//!
//! Partitions of topics that no longer exist (or never did) are answered
//! with no offset (-1) and no error, as Kafka does (Kafka also drops a
//! deleted topic's committed offsets, so they never come back); with null
//! topics they are left out. Existence is checked in the metadata image,
//! not among the partitions this node hosts, so that a committed offset is
//! never hidden merely because its partition lives elsewhere.
//!
//! Version differences: v1 has no top-level error, so a group-level error
//! is reported on every requested partition (as Kafka's
//! `getErrorResponse`); v5+ answer the committed leader epoch; v7+ carry
//! `require_stable` (always satisfied: there are no pending transactional
//! offsets); v9's member id and epoch belong to the new consumer protocol
//! and are not checked for classic groups (as Kafka).

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use crate::core::group::{
    self, GroupError, GroupRequest, GroupResponse, OffsetFetchPartitionResponse, OffsetFetchTopic,
    OffsetFetchTopicResponse,
};
use crate::core::metadata::MetadataImage;
use crate::kafka::{str_bytes, unexpected_group_response};
use crate::server::broker::Broker;

/// Kafka's offset for "nothing committed".
const NO_OFFSET: i64 = -1;

pub async fn handle(
    broker: &Broker,
    request: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if version >= 8 {
        let mut groups = Vec::with_capacity(request.groups.len());
        for g in request.groups {
            let topics = g.topics.map(|topics| {
                topics
                    .into_iter()
                    .map(|t| OffsetFetchTopic {
                        name: t.name.0.to_string(),
                        partition_indexes: t.partition_indexes,
                    })
                    .collect()
            });
            let fetched = fetch(broker, g.group_id.0.to_string(), topics).await;
            let topics = fetched
                .topics
                .into_iter()
                .map(|t| {
                    OffsetFetchResponseTopics::default()
                        .with_name(TopicName(str_bytes(&t.name)))
                        .with_partitions(
                            t.partitions
                                .into_iter()
                                .map(|p| {
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(p.partition_index)
                                        .with_committed_offset(p.committed_offset)
                                        .with_committed_leader_epoch(p.committed_leader_epoch)
                                        .with_metadata(Some(str_bytes(
                                            p.metadata.as_deref().unwrap_or_default(),
                                        )))
                                        .with_error_code(GroupError::code_of(p.error))
                                })
                                .collect(),
                        )
                })
                .collect();
            groups.push(
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_topics(topics)
                    .with_error_code(GroupError::code_of(fetched.error)),
            );
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }

    let requested: Option<Vec<OffsetFetchTopic>> = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| OffsetFetchTopic {
                name: t.name.0.to_string(),
                partition_indexes: t.partition_indexes,
            })
            .collect()
    });
    let mut fetched = fetch(broker, request.group_id.0.to_string(), requested.clone()).await;
    if version < 2 {
        if let Some(error) = fetched.error.take() {
            // No top-level error before v2: every requested partition carries it.
            fetched.topics = requested
                .unwrap_or_default()
                .into_iter()
                .map(|t| OffsetFetchTopicResponse {
                    partitions: t
                        .partition_indexes
                        .iter()
                        .map(|&partition_index| no_offset(partition_index, Some(error)))
                        .collect(),
                    name: t.name,
                })
                .collect();
        }
    }
    let topics = fetched
        .topics
        .into_iter()
        .map(|t| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(&t.name)))
                .with_partitions(
                    t.partitions
                        .into_iter()
                        .map(|p| {
                            let partition = OffsetFetchResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_committed_offset(p.committed_offset)
                                .with_metadata(Some(str_bytes(
                                    p.metadata.as_deref().unwrap_or_default(),
                                )))
                                .with_error_code(GroupError::code_of(p.error));
                            if version >= 5 {
                                partition.with_committed_leader_epoch(p.committed_leader_epoch)
                            } else {
                                partition
                            }
                        })
                        .collect(),
                )
        })
        .collect();
    let response = OffsetFetchResponse::default().with_topics(topics);
    if version >= 2 {
        response.with_error_code(GroupError::code_of(fetched.error))
    } else {
        response
    }
}

/// Asks the coordinator about one group and hides partitions that do not
/// exist (any more).
async fn fetch(
    broker: &Broker,
    group_id: String,
    topics: Option<Vec<OffsetFetchTopic>>,
) -> group::OffsetFetchResponse {
    let all = topics.is_none();
    let request = group::OffsetFetchRequest { group_id, topics };
    let mut fetched = match broker.group_call(GroupRequest::OffsetFetch(request)).await {
        Ok(GroupResponse::OffsetFetch(r)) => r,
        Ok(other) => group::OffsetFetchResponse {
            error: Some(unexpected_group_response("OffsetFetch", &other)),
            topics: Vec::new(),
        },
        Err(error) => group::OffsetFetchResponse {
            error: Some(error),
            topics: Vec::new(),
        },
    };
    hide_missing_partitions(&broker.image(), &mut fetched.topics, all);
    fetched
}

fn exists(image: &MetadataImage, topic: &str, partition: i32) -> bool {
    image
        .topics
        .get(topic)
        .is_some_and(|t| t.partitions.contains_key(&partition))
}

/// Partitions that do not exist get no offset; with `all` (null topics)
/// they are left out instead.
fn hide_missing_partitions(
    image: &MetadataImage,
    topics: &mut Vec<OffsetFetchTopicResponse>,
    all: bool,
) {
    for topic in topics.iter_mut() {
        if all {
            topic
                .partitions
                .retain(|p| exists(image, &topic.name, p.partition_index));
        } else {
            for p in &mut topic.partitions {
                if p.error.is_none() && !exists(image, &topic.name, p.partition_index) {
                    *p = no_offset(p.partition_index, None);
                }
            }
        }
    }
    if all {
        topics.retain(|t| !t.partitions.is_empty());
    }
}

fn no_offset(partition_index: i32, error: Option<GroupError>) -> OffsetFetchPartitionResponse {
    OffsetFetchPartitionResponse {
        partition_index,
        committed_offset: NO_OFFSET,
        committed_leader_epoch: -1,
        metadata: None,
        error,
    }
}
